"""Emergency access ("break-glass"): open the closed parts of one record by
stating a reason.  The access is time-limited, audited and reviewed."""

from __future__ import annotations

from PySide6.QtCore import Signal, Slot
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QPlainTextEdit,
    QVBoxLayout,
    QWidget,
)

from desktop_crm.errors import CRMError
from desktop_crm.gui import fields
from desktop_crm.gui.scheduling.common import FieldErrors, name_object
from desktop_crm.services import break_glass
from desktop_crm.services.session import Session


class EmergencyAccessDialog(QDialog):
    """Ask why, then open a break-glass grant for one patient.

    A reason that is too short shows beside the field and nothing is granted.

    Signals:
        granted(object): the ``break_glass.Grant`` just opened.
    """

    granted = Signal(object)

    def __init__(
        self, session: Session, patient_id: str, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.setObjectName("emergency_access_dialog")
        self.setWindowTitle("Emergency access")
        self._session = session
        self._patient_id = patient_id
        self.reason_edit = name_object(
            QPlainTextEdit(), "emergency_reason", "Reason for emergency access"
        )
        self.reason_edit.setTabChangesFocus(True)  # type: ignore[attr-defined]
        self.reason_edit.setPlaceholderText(  # type: ignore[attr-defined]
            "e.g. covering for Dr Lee; patient called with chest pain"
        )
        self.reason_edit.setMaximumHeight(100)
        self.error = fields.error_label("Emergency access error")
        form = QFormLayout()
        self.errors = FieldErrors(form, self.error)
        self.errors.add_row("&Reason:", self.reason_edit, "reason")
        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        self.open_button = self.buttons.button(QDialogButtonBox.StandardButton.Ok)
        self.open_button.setText("&Open record")
        self.open_button.setObjectName("open_emergency")
        self.buttons.accepted.connect(self.on_buttons_accepted)
        self.buttons.rejected.connect(self.reject)
        hours = break_glass.hours(session)
        layout = QVBoxLayout(self)
        layout.addWidget(
            fields.hint_label(
                "Your role does not cover all of this record. In an emergency "
                f"you may read it for {hours:g} h: say why. The access and "
                "your reason go into the audit log, and an admin reviews it."
            )
        )
        layout.addLayout(form)
        layout.addWidget(self.error)
        layout.addWidget(self.buttons)
        self.resize(480, self.sizeHint().height())

    @Slot()
    def on_buttons_accepted(self) -> None:
        self.errors.clear()
        try:
            grant = break_glass.open_grant(
                self._session, self._patient_id, self.reason_edit.toPlainText()
            )
        except CRMError as exc:
            self.errors.show(exc)
            return
        self.granted.emit(grant)
        self.accept()
