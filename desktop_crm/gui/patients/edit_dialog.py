"""Edit an existing patient's record."""

from __future__ import annotations

from PySide6.QtCore import Signal, Slot
from PySide6.QtWidgets import QDialog, QDialogButtonBox, QVBoxLayout, QWidget

from desktop_crm.errors import InvalidInput
from desktop_crm.gui import fields
from desktop_crm.gui.patients.patient_form import PatientFormWidget
from desktop_crm.gui.worker import run_task, user_message
from desktop_crm.services import patients
from desktop_crm.services.patient_model import Patient
from desktop_crm.services.session import Session


class PatientEditDialog(QDialog):
    """The patient form filled from a record; Save stores what was changed.

    A failed save keeps everything the user typed and names the field.

    Signals:
        patient_saved(list): the record was stored; the names of changed fields.
    """

    patient_saved = Signal(list)

    def __init__(
        self, session: Session, patient: Patient, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        # The title stays generic: window titles must not carry patient data.
        self.setWindowTitle("Edit patient")
        self._session = session
        self._patient_id = patient.id
        self.form = PatientFormWidget()
        self.form.load(patient)
        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Save
            | QDialogButtonBox.StandardButton.Cancel
        )
        self.save_button = self.buttons.button(QDialogButtonBox.StandardButton.Save)
        self.buttons.accepted.connect(self.on_buttons_accepted)
        self.buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(fields.heading("Edit patient"))
        layout.addWidget(self.form, 1)
        layout.addWidget(self.buttons)
        self.resize(860, 680)

    @Slot()
    def on_buttons_accepted(self) -> None:
        self.form.clear_error()
        try:
            edited = self.form.patient()
        except InvalidInput as exc:
            self.form.show_error(exc)
            return
        self.save_button.setEnabled(False)
        session, patient_id = self._session, self._patient_id
        run_task(
            lambda: patients.update_patient(session, patient_id, edited),
            self.on_task_succeeded,
            self.on_task_failed,
        )

    @Slot(object)
    def on_task_succeeded(self, changed: object) -> None:
        self.patient_saved.emit(list(changed))  # type: ignore[call-overload]
        self.accept()

    @Slot(object)
    def on_task_failed(self, error: object) -> None:
        self.save_button.setEnabled(True)
        if isinstance(error, InvalidInput):
            self.form.show_error(error)
        else:
            fields.show_message(self.form.error, user_message(error))  # type: ignore[arg-type]
