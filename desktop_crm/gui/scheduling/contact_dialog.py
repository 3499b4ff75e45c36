"""Log a call, e-mail, SMS, letter or portal message with a patient."""

from __future__ import annotations

from PySide6.QtCore import Qt, QTimer, Signal, Slot
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QPlainTextEdit,
    QVBoxLayout,
    QWidget,
)

from desktop_crm.errors import CRMError, InvalidInput
from desktop_crm.gui import fields
from desktop_crm.gui.scheduling.common import FieldErrors, name_object
from desktop_crm.services import patients
from desktop_crm.services.clock import Clock
from desktop_crm.services.scheduling import communications
from desktop_crm.services.scheduling.communications import Communication
from desktop_crm.services.session import Session

SEARCH_PAUSE_MS = 150
CHANNEL_TEXT = {
    "call": "Phone call",
    "email": "E-mail",
    "sms": "SMS",
    "letter": "Letter",
    "portal": "Portal message",
}
DIRECTION_TEXT = {"in": "Incoming", "out": "Outgoing"}


class PatientPicker(QWidget):
    """A search box and its results; ``patient_id`` is the chosen patient.

    Searching is not audited (``patients.search``); only a chosen id leaves.

    Signals:
        chosen(object): the chosen patient id, or None when the choice clears.
    """

    chosen = Signal(object)

    def __init__(self, session: Session, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._session = session
        self.patient_id: str | None = None
        self.edit = name_object(QLineEdit(), "patient_search", "Patient")
        self.edit.setPlaceholderText("Type a name, date of birth or phone")
        self.results = name_object(QListWidget(), "patient_results", "Patients")
        self.results.setMaximumHeight(90)
        self.timer = QTimer(self)
        self.timer.setSingleShot(True)
        self.timer.setInterval(SEARCH_PAUSE_MS)
        column = QVBoxLayout(self)
        column.setContentsMargins(0, 0, 0, 0)
        column.addWidget(self.edit)
        column.addWidget(self.results)
        self.setFocusProxy(self.edit)
        self.edit.textChanged.connect(self.timer.start)
        self.timer.timeout.connect(self.search)
        self.results.currentItemChanged.connect(self.on_result_chosen)

    def search(self) -> None:
        """Search now (the pause after typing ran out)."""
        self.timer.stop()
        self.results.clear()
        self._choose(None)
        for found in patients.search(self._session, self.edit.text()):
            given = " ".join(n for n in (found.given, found.middle) if n)
            name = f"{found.family}, {given}" if given else found.family
            born = f"  born {found.birth_date}" if found.birth_date else ""
            mrn = f"  MRN {found.mrn}" if found.mrn else ""
            item = QListWidgetItem(f"{name}{born}{mrn}")
            item.setData(Qt.ItemDataRole.UserRole, found.id)
            self.results.addItem(item)
        if self.results.count() == 1:
            self.results.setCurrentRow(0)

    @Slot()
    def on_result_chosen(self) -> None:
        item = self.results.currentItem()
        self._choose(None if item is None else item.data(Qt.ItemDataRole.UserRole))

    def _choose(self, patient_id: str | None) -> None:
        if patient_id != self.patient_id:
            self.patient_id = patient_id
            self.chosen.emit(patient_id)


class ContactDialog(QDialog):
    """Patient, channel, direction, subject and body of one contact.

    Signals:
        logged(str): the new communication's id.
    """

    logged = Signal(str)

    def __init__(
        self,
        session: Session,
        *,
        clock: Clock | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setObjectName("contact_dialog")
        self.setWindowTitle("Log a contact")
        self._session = session
        self._clock = clock
        self.picker = PatientPicker(session)
        self.channel_combo = name_object(QComboBox(), "channel", "Channel")
        for value, text in CHANNEL_TEXT.items():
            self.channel_combo.addItem(text, value)
        self.direction_combo = name_object(QComboBox(), "direction", "Direction")
        for value, text in DIRECTION_TEXT.items():
            self.direction_combo.addItem(text, value)
        self.subject_edit = name_object(QLineEdit(), "subject", "Subject")
        self.subject_edit.setMaxLength(communications.MAX_SUBJECT)
        self.body_edit = name_object(QPlainTextEdit(), "body", "Body")
        self.body_edit.setTabChangesFocus(True)
        self.error = fields.error_label("Contact error")
        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        self.save_button = self.buttons.button(QDialogButtonBox.StandardButton.Ok)
        self.save_button.setText("&Save")
        self.save_button.setObjectName("save_contact")
        self._build()
        self.buttons.accepted.connect(self.on_save)
        self.buttons.rejected.connect(self.reject)

    def _build(self) -> None:
        form = QFormLayout()
        self.errors = FieldErrors(form, self.error)
        self.errors.add_row(
            "&Patient:", self.picker.edit, "patient", container=self.picker
        )
        self.errors.add_row("&Channel:", self.channel_combo, "channel")
        self.errors.add_row("&Direction:", self.direction_combo, "direction")
        self.errors.add_row("S&ubject:", self.subject_edit, "subject")
        self.errors.add_row("&Body:", self.body_edit, "body")
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.error)
        layout.addWidget(self.buttons)
        self.resize(520, self.sizeHint().height())

    def entry(self) -> Communication:
        """The contact the inputs describe (raises InvalidInput naming a field)."""
        if self.picker.patient_id is None:
            raise InvalidInput("patient", "search for the patient and choose one")
        return Communication(
            patient_id=self.picker.patient_id,
            channel=str(self.channel_combo.currentData()),
            direction=str(self.direction_combo.currentData()),
            subject=self.subject_edit.text(),
            body=self.body_edit.toPlainText(),
        )

    @Slot()
    def on_save(self) -> None:
        self.errors.clear()
        try:
            entry_id = communications.log_communication(
                self._session, self.entry(), clock=self._clock
            )
        except CRMError as exc:
            self.errors.show(exc)
            return
        self.logged.emit(entry_id)
        self.accept()
