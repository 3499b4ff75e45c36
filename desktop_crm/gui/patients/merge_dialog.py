"""Merge another patient's record into this one (or this one into it)."""

from __future__ import annotations

from PySide6.QtCore import Signal, Slot
from PySide6.QtWidgets import (
    QAbstractItemView,
    QButtonGroup,
    QDialog,
    QDialogButtonBox,
    QHeaderView,
    QLineEdit,
    QRadioButton,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from desktop_crm.errors import CRMError
from desktop_crm.gui import fields
from desktop_crm.gui.patients.list_model import PatientListModel
from desktop_crm.gui.worker import run_task, user_message
from desktop_crm.services import patients
from desktop_crm.services.patient_model import Patient
from desktop_crm.services.session import Session


class MergeDialog(QDialog):
    """Pick the other patient by search and choose which record stays.

    Signals:
        patients_merged(str, str, str): merge id, surviving id, retired id.
    """

    patients_merged = Signal(str, str, str)

    def __init__(
        self, session: Session, current: Patient, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("Merge patients")
        self._session = session
        self._current = current
        self.search_edit = QLineEdit()
        self.search_edit.setAccessibleName("Find the other patient")
        self.search_edit.setPlaceholderText(
            "Search name, date of birth, phone, e-mail or MRN"
        )
        self.model = PatientListModel(lambda offset, limit: [], parent=self)
        self.table = QTableView()
        self.table.setAccessibleName("Other patient")
        self.table.setModel(self.model)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.verticalHeader().hide()
        self.table.horizontalHeader().setSectionResizeMode(
            0, QHeaderView.ResizeMode.Stretch
        )
        this = f"{current.display_name()} (MRN {current.mrn})"
        self.keep_current = QRadioButton(f"Keep this record: {this}")
        self.keep_other = QRadioButton("Keep the other record, retire this one")
        self.keep_current.setChecked(True)
        group = QButtonGroup(self)
        group.addButton(self.keep_current)
        group.addButton(self.keep_other)
        self.error = fields.error_label()
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel)
        self.merge_button = self.buttons.addButton(
            "&Merge", QDialogButtonBox.ButtonRole.AcceptRole
        )
        self.merge_button.setEnabled(False)
        self._build()
        self.search_edit.textChanged.connect(self.on_search_edit_text_changed)
        self.table.selectionModel().selectionChanged.connect(
            self.on_table_selection_changed
        )
        self.buttons.accepted.connect(self.on_buttons_accepted)
        self.buttons.rejected.connect(self.reject)
        self.resize(640, 520)

    def _build(self) -> None:
        layout = QVBoxLayout(self)
        layout.addWidget(fields.heading("Merge with another record"))
        layout.addWidget(
            fields.hint_label(
                "The retired record's visits, documents and identifiers move to the "
                "record that stays. The retired record is kept, both histories stay, "
                "and the merge can be undone."
            )
        )
        layout.addWidget(self.search_edit)
        layout.addWidget(self.table, 1)
        layout.addWidget(self.keep_current)
        layout.addWidget(self.keep_other)
        layout.addWidget(self.error)
        layout.addWidget(self.buttons)

    def other_id(self) -> str | None:
        rows = self.table.selectionModel().selectedRows()
        item = self.model.summary(rows[0].row()) if rows else None
        return item.id if item else None

    @Slot(str)
    def on_search_edit_text_changed(self, text: str) -> None:
        # An indexed full-text query (a few ms), so it runs as the user types.
        try:
            found = patients.search(self._session, text)
        except CRMError as exc:
            fields.show_message(self.error, user_message(exc))
            return
        self.model.show_results([p for p in found if p.id != self._current.id])
        self.merge_button.setEnabled(False)

    @Slot()
    def on_table_selection_changed(self) -> None:
        self.merge_button.setEnabled(self.other_id() is not None)

    @Slot()
    def on_buttons_accepted(self) -> None:
        other = self.other_id()
        if other is None:
            return
        current = self._current.id
        survivor, retired = (
            (current, other) if self.keep_current.isChecked() else (other, current)
        )
        self.merge_button.setEnabled(False)
        session = self._session
        run_task(
            lambda: (patients.merge(session, survivor, retired), survivor, retired),
            self.on_task_succeeded,
            self.on_task_failed,
        )

    @Slot(object)
    def on_task_succeeded(self, result: object) -> None:
        merge_id, survivor, retired = result  # type: ignore[misc]
        self.patients_merged.emit(merge_id, survivor, retired)
        self.accept()

    @Slot(object)
    def on_task_failed(self, error: object) -> None:
        self.merge_button.setEnabled(True)
        fields.show_message(self.error, user_message(error))  # type: ignore[arg-type]
