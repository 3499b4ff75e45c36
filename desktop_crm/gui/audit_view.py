"""The Audit page: search the audit log, export it, and a patient's accounting.

Shown to users with ``audit.read`` (admin, auditor).  The table is a lazy
model: entries are read a page at a time (newest first) as the view scrolls,
so a log of a million entries never becomes a million rows in memory.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

from PySide6.QtCore import (
    QAbstractTableModel,
    QDate,
    QModelIndex,
    QPersistentModelIndex,
    Qt,
    Slot,
)
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QDateEdit,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPushButton,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from desktop_crm.errors import CRMError
from desktop_crm.gui import fields
from desktop_crm.gui.worker import user_message
from desktop_crm.services import audit_log
from desktop_crm.services.audit_log import AuditQuery, LogLine
from desktop_crm.services.roles import allows
from desktop_crm.services.session import Session

log = logging.getLogger(__name__)

Index = QModelIndex | QPersistentModelIndex
Fetcher = Callable[[int | None, int], list[LogLine]]
PAGE_SIZE = 200
ANYONE = "Anyone"
#: QDateEdit cannot be empty: its minimum date stands for "no limit".
NO_LIMIT = QDate(1990, 1, 1)

LOG_COLUMNS = (
    ("Time", lambda e: e.at_local),
    ("User", lambda e: e.user),
    ("Workstation", lambda e: e.workstation),
    ("Action", lambda e: e.action),
    ("Record", lambda e: " ".join(p for p in (e.record_type, e.record_id) if p)),
    ("Fields", lambda e: ", ".join(e.fields)),
    ("Outcome", lambda e: e.outcome),
)
WHO_SAW_COLUMNS = (
    ("When", lambda e: e.at_local),
    ("Who", lambda e: e.user),
    ("What", lambda e: e.kind),
    ("Workstation", lambda e: e.workstation),
    ("Action", lambda e: e.action),
    ("Fields", lambda e: ", ".join(e.fields)),
)
Columns = tuple[tuple[str, Callable[[LogLine], str]], ...]


class AuditTableModel(QAbstractTableModel):
    """Audit entries, newest first, read a page at a time on demand.

    Signals: the standard model signals only.
    """

    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self._fetch: Fetcher | None = None
        self._columns: Columns = LOG_COLUMNS
        self._rows: list[LogLine] = []
        self._cells: list[tuple[str, ...]] = []
        self._exhausted = True

    def show(self, fetch: Fetcher | None, columns: Columns = LOG_COLUMNS) -> None:
        """Start over with ``fetch(before_seq, limit)``; reads the first page."""
        self.beginResetModel()
        self._fetch, self._columns = fetch, columns
        self._rows, self._cells = [], []
        self._exhausted = fetch is None
        self.endResetModel()
        self.fetchMore()

    def entry(self, row: int) -> LogLine | None:
        return self._rows[row] if 0 <= row < len(self._rows) else None

    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self._columns)

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if role in (Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.ToolTipRole):
            return self._cells[index.row()][index.column()]
        return None

    def headerData(
        self,
        section: int,
        orientation: Qt.Orientation,
        role: int = Qt.ItemDataRole.DisplayRole,
    ) -> Any:
        if (
            role == Qt.ItemDataRole.DisplayRole
            and orientation == Qt.Orientation.Horizontal
        ):
            return self._columns[section][0]
        return None

    def canFetchMore(self, parent: Index = QModelIndex()) -> bool:  # noqa: B008
        return not parent.isValid() and not self._exhausted

    def fetchMore(self, parent: Index = QModelIndex()) -> None:  # noqa: B008
        if parent.isValid() or self._exhausted or self._fetch is None:
            return
        before = self._rows[-1].seq if self._rows else None
        try:
            block = self._fetch(before, PAGE_SIZE)
        except CRMError as exc:
            # The session was locked under us; the screen is going away.
            log.info("audit page not read: %s", type(exc).__name__)
            block = []
        if len(block) < PAGE_SIZE:
            self._exhausted = True
        if not block:
            return
        first = len(self._rows)
        self.beginInsertRows(QModelIndex(), first, first + len(block) - 1)
        self._rows.extend(block)
        self._cells.extend(tuple(get(e) for _, get in self._columns) for e in block)
        self.endInsertRows()


def _day(edit: QDateEdit) -> date | None:
    value = edit.date()
    return None if value == NO_LIMIT else date(value.year(), value.month(), value.day())


def _date_edit(name: str) -> QDateEdit:
    edit = QDateEdit()
    edit.setAccessibleName(name)
    edit.setCalendarPopup(True)
    edit.setDisplayFormat("yyyy-MM-dd")
    edit.setMinimumDate(NO_LIMIT)
    edit.setSpecialValueText("Any")
    edit.setDate(NO_LIMIT)
    return edit


class AuditView(QWidget):
    """Filters, the lazy table, exports and the per-patient accounting.

    ``export_csv(path)`` and ``export_pdf(path)`` take the file directly (tests
    and callers that already know it); the buttons ask with a file dialog.

    Signals: none.
    """

    def __init__(self, session: Session, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("page_audit")
        self._session = session
        self.who_saw_mode = False
        self.model = AuditTableModel(self)
        self._build()
        self._load_choices()
        self.search()

    # -- layout ----------------------------------------------------------------
    def _build(self) -> None:
        self.user_combo = QComboBox()
        self.user_combo.setAccessibleName("User")
        self.patient_edit = QLineEdit()
        self.patient_edit.setAccessibleName("Patient record id")
        self.patient_edit.setPlaceholderText("patient record id")
        self.patient_edit.setClearButtonEnabled(True)
        self.action_combo = QComboBox()
        self.action_combo.setAccessibleName("Action")
        self.action_combo.setEditable(True)
        self.from_edit = _date_edit("From date")
        self.to_edit = _date_edit("To date")
        self.search_button = QPushButton("Search")
        self.who_saw_button = QPushButton("Who saw this record…")
        self.csv_button = QPushButton("Export CSV…")
        self.pdf_button = QPushButton("Export PDF…")
        can_export = allows(self._session.roles, "audit.export")
        self.csv_button.setEnabled(can_export)
        self.pdf_button.setEnabled(can_export)
        self.error = fields.error_label()
        self.status = QLabel()
        self.status.setObjectName("audit_status")
        self.table = QTableView()
        self.table.setObjectName("audit_table")
        self.table.setAccessibleName("Audit entries")
        self.table.setModel(self.model)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().hide()
        self.table.horizontalHeader().setSectionResizeMode(
            QHeaderView.ResizeMode.Interactive
        )
        self.table.horizontalHeader().setStretchLastSection(True)
        self._lay_out()
        self.search_button.clicked.connect(self.search)
        self.patient_edit.returnPressed.connect(self.search)
        self.who_saw_button.clicked.connect(self.show_who_saw)
        self.csv_button.clicked.connect(self.on_csv_clicked)
        self.pdf_button.clicked.connect(self.on_pdf_clicked)

    def _lay_out(self) -> None:
        form = QFormLayout()
        form.addRow("User", self.user_combo)
        form.addRow("Patient", self.patient_edit)
        form.addRow("Action", self.action_combo)
        dates = QHBoxLayout()
        dates.addWidget(self.from_edit)
        dates.addWidget(QLabel("to"))
        dates.addWidget(self.to_edit)
        dates.addStretch(1)
        form.addRow("Dates", dates)
        buttons = QHBoxLayout()
        for button in (self.search_button, self.who_saw_button):
            buttons.addWidget(button)
        buttons.addStretch(1)
        buttons.addWidget(self.csv_button)
        buttons.addWidget(self.pdf_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(24, 16, 24, 16)
        layout.addWidget(fields.heading("Audit log"))
        layout.addWidget(
            fields.hint_label(
                "Every view, change, export and sign-in, newest first. Entries "
                "name the fields that changed, never their values. Dates are "
                f"days in the practice's time zone "
                f"({audit_log.practice_zone(self._session)})."
            )
        )
        layout.addLayout(form)
        layout.addLayout(buttons)
        layout.addWidget(self.error)
        layout.addWidget(self.status)
        layout.addWidget(self.table, 1)

    def _load_choices(self) -> None:
        self.user_combo.addItem(ANYONE)
        self.user_combo.addItems(audit_log.user_names(self._session))
        self.action_combo.addItem("")
        self.action_combo.addItems(audit_log.action_names(self._session))

    # -- queries -----------------------------------------------------------------
    def query(self, *, patient_only: bool = False) -> AuditQuery:
        user = self.user_combo.currentText()
        return AuditQuery(
            user=None if patient_only or user == ANYONE else user,
            patient_id=self.patient_edit.text().strip() or None,
            action=None if patient_only else self.action_combo.currentText() or None,
            date_from=_day(self.from_edit),
            date_to=_day(self.to_edit),
        )

    def _show(self, query: AuditQuery, columns: Columns, what: str) -> bool:
        session = self._session
        try:
            matching = audit_log.count(session, query)
        except CRMError as exc:
            fields.show_message(self.error, user_message(exc))
            return False
        fields.show_message(self.error, "")
        zone = audit_log.practice_zone(session)
        self.status.setText(f"{matching:,} {what} · times in {zone}")
        self.model.show(
            lambda before, limit: audit_log.page(session, query, before, limit),
            columns,
        )
        return True

    @Slot()
    def search(self) -> None:
        """Apply the filters to the table (the log view)."""
        if self._show(self.query(), LOG_COLUMNS, "entries match"):
            self.who_saw_mode = False

    @Slot()
    def show_who_saw(self) -> None:
        """The accounting of access for the patient in the patient field."""
        if not self.patient_edit.text().strip():
            fields.show_message(
                self.error, "Patient: enter the patient's record id first."
            )
            self.patient_edit.setFocus()
            return
        query = self.query(patient_only=True)
        if self._show(query, WHO_SAW_COLUMNS, "accesses to this record"):
            self.who_saw_mode = True

    def current_query(self) -> AuditQuery:
        return self.query(patient_only=self.who_saw_mode)

    # -- exports -----------------------------------------------------------------
    def export_csv(self, path: Path) -> int:
        """Write the current filters' entries to ``path`` as CSV; returns the
        count, or -1 when refused (the message is shown)."""
        try:
            written = audit_log.save_csv(self._session, self.current_query(), path)
        except CRMError as exc:
            fields.show_message(self.error, user_message(exc))
            return -1
        self._exported(path, f"{written:,} entries")
        return written

    def export_pdf(self, path: Path) -> bool:
        """Write the current filters' entries to ``path`` as PDF."""
        try:
            audit_log.save_pdf(self._session, self.current_query(), path)
        except CRMError as exc:
            fields.show_message(self.error, user_message(exc))
            return False
        self._exported(path, "PDF")
        return True

    def _exported(self, path: Path, what: str) -> None:
        fields.show_message(self.error, "")
        self.status.setText(f"Exported {what} to {path.name}")
        # The export wrote its own audit entry: offer it in the action list.
        if self.action_combo.findText("audit.export") < 0:
            self.action_combo.addItem("audit.export")

    def _ask_path(self, title: str, suffix: str, pattern: str) -> Path | None:
        name, _ = QFileDialog.getSaveFileName(
            self, title, f"audit-log.{suffix}", pattern
        )
        return Path(name) if name else None

    @Slot()
    def on_csv_clicked(self) -> None:
        path = self._ask_path("Export audit log as CSV", "csv", "CSV files (*.csv)")
        if path is not None:
            self.export_csv(path)

    @Slot()
    def on_pdf_clicked(self) -> None:
        path = self._ask_path("Export audit log as PDF", "pdf", "PDF files (*.pdf)")
        if path is not None:
            self.export_pdf(path)
