"""Register a new patient, checking for likely duplicates before saving."""

from __future__ import annotations

from PySide6.QtCore import Signal, Slot
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from desktop_crm.errors import InvalidInput
from desktop_crm.gui import fields
from desktop_crm.gui.patients.duplicates_widget import DuplicatesWidget
from desktop_crm.gui.patients.patient_form import PatientFormWidget
from desktop_crm.gui.worker import run_task, user_message
from desktop_crm.services import patients
from desktop_crm.services.patient_model import Patient
from desktop_crm.services.patients import DuplicatesFound
from desktop_crm.services.session import Session


class NewPatientDialog(QDialog):
    """The empty patient form; Save shows likely duplicates before storing.

    Signals:
        patient_created(str): the new patient's id.
        open_requested(str): the user chose an existing patient instead.
    """

    patient_created = Signal(str)
    open_requested = Signal(str)

    def __init__(self, session: Session, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("New patient")
        self._session = session
        self._pending: Patient | None = None
        self.form = PatientFormWidget()
        self.form.load(Patient(family=""))
        self.duplicates = DuplicatesWidget()
        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Save
            | QDialogButtonBox.StandardButton.Cancel
        )
        self.save_button = self.buttons.button(QDialogButtonBox.StandardButton.Save)
        self.pages = QStackedWidget()
        self.pages.addWidget(self._form_page())
        self.pages.addWidget(self.duplicates)
        layout = QVBoxLayout(self)
        layout.addWidget(self.pages)
        self.buttons.accepted.connect(self.on_buttons_accepted)
        self.buttons.rejected.connect(self.reject)
        self.duplicates.back_requested.connect(self.on_duplicates_back_requested)
        self.duplicates.open_requested.connect(self.on_duplicates_open_requested)
        self.duplicates.save_anyway_requested.connect(
            self.on_duplicates_save_anyway_requested
        )
        self.resize(860, 680)

    def _form_page(self) -> QWidget:
        page = QWidget()
        box = QVBoxLayout(page)
        box.setContentsMargins(0, 0, 0, 0)
        box.addWidget(fields.heading("New patient"))
        box.addWidget(self.form, 1)
        box.addWidget(self.buttons)
        return page

    def _create(self, patient: Patient, allow_duplicates: bool) -> None:
        self.save_button.setEnabled(False)
        self.duplicates.save_button.setEnabled(False)
        session = self._session
        run_task(
            lambda: patients.create_patient(
                session, patient, allow_duplicates=allow_duplicates
            ),
            self.on_task_succeeded,
            self.on_task_failed,
        )

    @Slot()
    def on_buttons_accepted(self) -> None:
        self.form.clear_error()
        try:
            self._pending = self.form.patient()
        except InvalidInput as exc:
            self.form.show_error(exc)
            return
        self._create(self._pending, allow_duplicates=False)

    @Slot()
    def on_duplicates_save_anyway_requested(self) -> None:
        if self._pending is not None:
            self._create(self._pending, allow_duplicates=True)

    @Slot()
    def on_duplicates_back_requested(self) -> None:
        self.pages.setCurrentIndex(0)

    @Slot(str)
    def on_duplicates_open_requested(self, patient_id: str) -> None:
        self.open_requested.emit(patient_id)
        self.accept()

    @Slot(object)
    def on_task_succeeded(self, patient_id: object) -> None:
        self.patient_created.emit(str(patient_id))
        self.accept()

    @Slot(object)
    def on_task_failed(self, error: object) -> None:
        self.save_button.setEnabled(True)
        self.duplicates.save_button.setEnabled(True)
        if isinstance(error, DuplicatesFound):
            self.duplicates.show_candidates(error.candidates)
            self.pages.setCurrentWidget(self.duplicates)
            return
        self.pages.setCurrentIndex(0)
        if isinstance(error, InvalidInput):
            self.form.show_error(error)
        else:
            fields.show_message(self.form.error, user_message(error))  # type: ignore[arg-type]
