"""The History tab: who did what to a record and its documents, and when.

It offers Undo for the newest merge of the record that is not undone yet,
whichever session made it (the merge ids live in the vault).
"""

from __future__ import annotations

from PySide6.QtCore import Signal, Slot
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from desktop_crm.gui.patients import formatting

COLUMNS = ("When", "Who", "What", "Fields")
# Bookkeeping columns every change touches; listing them tells a reader nothing.
HIDDEN = frozenset({"updated_at", "created_at"})
HistoryRow = tuple[str, str, str, list[str], str]


class HistoryView(QWidget):
    """A read-only table of the record's audit entries, newest first.

    Signals:
        undo_merge_requested(str): the user asked to undo this merge id.
    """

    undo_merge_requested = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._merge_id: str | None = None
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setObjectName("history_table")
        self.table.setAccessibleName("History")
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.verticalHeader().hide()
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setStretchLastSection(True)
        self.undo_label = QLabel()
        self.undo_label.setAccessibleName("Merge that can be undone")
        self.undo_button = QPushButton("&Undo merge")
        self.undo_button.clicked.connect(self.on_undo_button_clicked)
        undo = QHBoxLayout()
        undo.addWidget(self.undo_label, 1)
        undo.addWidget(self.undo_button)
        layout = QVBoxLayout(self)
        layout.addWidget(self.table, 1)
        layout.addLayout(undo)
        self.set_undoable_merge(None)

    def show_history(self, rows: list[HistoryRow]) -> None:
        ordered = list(reversed(rows))
        self.table.setRowCount(len(ordered))
        for row, (at, user, action, changed, outcome) in enumerate(ordered):
            what = formatting.action_text(action)
            if outcome != "ok":
                what = f"{what} ({outcome})"
            values = (
                formatting.when_text(at),
                user or "—",
                what,
                ", ".join(c.replace("_", " ") for c in changed if c not in HIDDEN),
            )
            for column, value in enumerate(values):
                self.table.setItem(row, column, QTableWidgetItem(value))

    def actions(self) -> list[str]:
        """The "What" column, newest first (for tests and accessibility)."""
        return [self.table.item(r, 2).text() for r in range(self.table.rowCount())]

    @property
    def merge_id(self) -> str | None:
        """The merge this record can still undo from here, if any."""
        return self._merge_id

    def set_undoable_merge(self, merge_id: str | None, merged_at: str = "") -> None:
        """Offer Undo for ``merge_id`` (the newest merge not undone yet)."""
        self._merge_id = merge_id
        when = f" on {formatting.when_text(merged_at)}" if merged_at else ""
        self.undo_label.setText(
            f"This record was merged{when}; the merge can be undone."
        )
        self.undo_label.setVisible(merge_id is not None)
        self.undo_button.setVisible(merge_id is not None)

    @Slot()
    def on_undo_button_clicked(self) -> None:
        if self._merge_id is not None:
            self.undo_merge_requested.emit(self._merge_id)
