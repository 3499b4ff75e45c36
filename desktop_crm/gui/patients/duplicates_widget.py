"""The list of existing patients that look like the one being entered."""

from __future__ import annotations

from PySide6.QtCore import Signal, Slot
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QHeaderView,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from desktop_crm.gui import fields
from desktop_crm.gui.patients import formatting
from desktop_crm.services.patients import DuplicateCandidate

COLUMNS = ("Name", "Date of birth", "MRN", "Why it matches")


class DuplicatesWidget(QWidget):
    """Candidates with their reasons, and what to do about them.

    Signals:
        open_requested(str): open this existing patient instead.
        save_anyway_requested(): store the new patient although it looks alike.
        back_requested(): return to the form.
    """

    open_requested = Signal(str)
    save_anyway_requested = Signal()
    back_requested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._ids: list[str] = []
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setAccessibleName("Possible duplicates")
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.verticalHeader().hide()
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setStretchLastSection(True)
        self.open_button = QPushButton("&Open existing")
        self.save_button = QPushButton("&Save as new anyway")
        self.back_button = QPushButton("&Back")
        self.open_button.clicked.connect(self.on_open_button_clicked)
        self.save_button.clicked.connect(self.save_anyway_requested)
        self.back_button.clicked.connect(self.back_requested)
        self.table.itemSelectionChanged.connect(self.on_table_selection_changed)
        self.table.itemDoubleClicked.connect(self.on_open_button_clicked)
        buttons = QHBoxLayout()
        buttons.addWidget(self.back_button)
        buttons.addStretch(1)
        buttons.addWidget(self.open_button)
        buttons.addWidget(self.save_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(fields.heading("This patient may already be on file"))
        layout.addWidget(
            fields.hint_label(
                "Nothing was saved yet. Check the patients below: open the existing "
                "record if it is the same person, or save the new one if it is not. "
                "Nothing is merged automatically."
            )
        )
        layout.addWidget(self.table, 1)
        layout.addLayout(buttons)

    def show_candidates(self, candidates: list[DuplicateCandidate]) -> None:
        self.table.setRowCount(len(candidates))
        self._ids = [c.patient.id for c in candidates]
        for row, candidate in enumerate(candidates):
            summary = candidate.patient
            values = (
                formatting.summary_name(summary),
                formatting.list_birth_date(summary.birth_date),
                summary.mrn,
                "; ".join(candidate.reasons),
            )
            for column, value in enumerate(values):
                self.table.setItem(row, column, QTableWidgetItem(value))
        self.table.selectRow(0)
        self.on_table_selection_changed()

    def selected_id(self) -> str | None:
        rows = self.table.selectionModel().selectedRows()
        return self._ids[rows[0].row()] if rows else None

    @Slot()
    def on_table_selection_changed(self) -> None:
        self.open_button.setEnabled(self.selected_id() is not None)

    @Slot()
    def on_open_button_clicked(self) -> None:
        patient_id = self.selected_id()
        if patient_id is not None:
            self.open_requested.emit(patient_id)
