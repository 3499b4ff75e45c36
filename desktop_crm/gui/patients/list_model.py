"""A lazy table model over the patient list: pages on demand, or search results."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import (
    QAbstractTableModel,
    QModelIndex,
    QPersistentModelIndex,
    Qt,
    Slot,
)

from desktop_crm.gui.patients import formatting
from desktop_crm.gui.worker import run_task
from desktop_crm.services.patients import PatientSummary

log = logging.getLogger(__name__)

COLUMNS = ("Name", "Date of birth", "MRN", "Status")
PAGE_SIZE = 200
ID_ROLE = Qt.ItemDataRole.UserRole
# Plain integers: data() runs for every cell and role on each repaint, and
# comparing ints is much cheaper than looking up Qt's enum members each time.
_DISPLAY = int(Qt.ItemDataRole.DisplayRole.value)
_ACCESSIBLE = int(Qt.ItemDataRole.AccessibleTextRole.value)
_ID = int(ID_ROLE.value)

Index = QModelIndex | QPersistentModelIndex
PageFetcher = Callable[[int, int], list[PatientSummary]]


class PatientListModel(QAbstractTableModel):
    """Rows of ``PatientSummary``: all patients a page at a time, or search results.

    In list mode only the rows the view has scrolled to are held; the view
    asks for more through ``canFetchMore``/``fetchMore``, so 100,000 patients
    never become 100,000 rows in memory at once.  Pages are read on the
    thread pool: a page deep in a long list takes tens of milliseconds
    (OFFSET paging), too long for the GUI thread.

    Signals: the standard model signals only.
    """

    def __init__(
        self,
        fetch_page: PageFetcher,
        page_size: int = PAGE_SIZE,
        parent: Any = None,
    ) -> None:
        super().__init__(parent)
        self._fetch_page = fetch_page
        self._page_size = page_size
        self._rows: list[PatientSummary] = []
        self._cells: list[tuple[str, str, str, str]] = []
        self._exhausted = True
        self._loading = False
        # Bumped on every reset, so a page that arrives after one is dropped.
        self._generation = 0
        self.searching = False

    # -- switching content ---------------------------------------------------
    def show_all(self) -> None:
        """List every patient; the first page is read now, the rest on demand."""
        self._reset([], exhausted=False, searching=False)
        self.fetchMore()

    def show_results(self, results: list[PatientSummary]) -> None:
        """Replace the rows with search results (no further paging)."""
        self._reset(list(results), exhausted=True, searching=True)

    def clear(self) -> None:
        """Forget every row (the screen is going away)."""
        self._reset([], exhausted=True, searching=False)

    def _reset(
        self, rows: list[PatientSummary], *, exhausted: bool, searching: bool
    ) -> None:
        self.beginResetModel()
        self._generation += 1
        self._rows = rows
        self._cells = [_cells(item) for item in rows]
        self._exhausted = exhausted
        self._loading = False
        self.searching = searching
        self.endResetModel()

    @property
    def loading(self) -> bool:
        """Whether a page is being read."""
        return self._loading

    def summary(self, row: int) -> PatientSummary | None:
        return self._rows[row] if 0 <= row < len(self._rows) else None

    def row_of(self, patient_id: str) -> int:
        for row, item in enumerate(self._rows):
            if item.id == patient_id:
                return row
        return -1

    # -- lazy paging -----------------------------------------------------------
    def canFetchMore(self, parent: Index = QModelIndex()) -> bool:  # noqa: B008
        return not parent.isValid() and not self._exhausted

    def fetchMore(self, parent: Index = QModelIndex()) -> None:  # noqa: B008
        if parent.isValid() or self._exhausted or self._loading:
            return
        self._loading = True
        fetch, offset, limit = self._fetch_page, len(self._rows), self._page_size
        generation = self._generation
        run_task(
            lambda: (generation, offset, fetch(offset, limit)),
            self.on_page_loaded,
            self.on_page_failed,
        )

    @Slot(object)
    def on_page_loaded(self, result: tuple[int, int, list[PatientSummary]]) -> None:
        generation, offset, block = result
        if generation != self._generation or offset != len(self._rows):
            return
        self._loading = False
        if len(block) < self._page_size:
            self._exhausted = True
        if not block:
            return
        self.beginInsertRows(QModelIndex(), offset, offset + len(block) - 1)
        self._rows.extend(block)
        self._cells.extend(_cells(item) for item in block)
        self.endInsertRows()

    @Slot(object)
    def on_page_failed(self, error: BaseException) -> None:
        # Most likely the session was locked under us; the screen is going.
        log.info("patient page not read: %s", type(error).__name__)
        self._loading = False
        self._exhausted = True

    # -- the table -------------------------------------------------------------
    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(COLUMNS)

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        role = int(role)
        if role != _DISPLAY and role != _ACCESSIBLE and role != _ID:
            return None
        row = index.row()
        if not 0 <= row < len(self._rows):
            return None
        if role == _ID:
            return self._rows[row].id
        return self._cells[row][index.column()]

    def headerData(
        self,
        section: int,
        orientation: Qt.Orientation,
        role: int = Qt.ItemDataRole.DisplayRole,
    ) -> Any:
        if (
            role == Qt.ItemDataRole.DisplayRole
            and orientation == Qt.Orientation.Horizontal
            and 0 <= section < len(COLUMNS)
        ):
            return COLUMNS[section]
        return None


def _cells(item: PatientSummary) -> tuple[str, str, str, str]:
    """The four column texts of a row, made once when the row arrives."""
    return (
        formatting.summary_name(item),
        formatting.list_birth_date(item.birth_date),
        item.mrn,
        formatting.STATUS_LABELS.get(item.status, item.status),
    )
