"""New authenticator entry after an admin reset it, then the unlock it allows."""

from __future__ import annotations

from PySide6.QtCore import Signal, Slot
from PySide6.QtWidgets import QVBoxLayout, QWidget

from desktop_crm.gui import fields
from desktop_crm.gui.enrolment_widget import EnrolmentWidget
from desktop_crm.gui.step_dialog import StepDialog
from desktop_crm.gui.worker import run_task
from desktop_crm.services.session import Session
from desktop_crm.services.vault import Enrolment, VaultService


class ReEnrolDialog(StepDialog):
    """Shows the new authenticator entry once and unlocks with its first code.

    The PIN was checked by the unlock that asked for this; it is held only
    until the dialog closes.

    Signals:
        unlocked(object): the new ``Session``.
    """

    unlocked = Signal(object)

    def __init__(
        self,
        vault: VaultService,
        name: str,
        pin: str,
        enrolment: Enrolment,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("Set up your authenticator again")
        self._vault = vault
        self._name = name
        self._pin = pin
        self.enrolment = EnrolmentWidget()
        self.enrolment.set_enrolment(enrolment)
        self.pages.addWidget(self.enrolment)
        layout = QVBoxLayout(self)
        layout.addWidget(fields.heading("Your authenticator was reset"))
        layout.addWidget(
            fields.hint_label(
                "An admin reset your authenticator. Add this new entry to your "
                "authenticator app (remove the old one), then type the code it "
                "shows to unlock."
            )
        )
        self.add_steps_to(layout)
        self.finished.connect(self.on_finished)

    @Slot()
    def on_buttons_accepted(self) -> None:
        code = self.enrolment.code()
        if not code:
            self._fail("Code: type the code your app shows.", self.enrolment.code_edit)
            return
        self.buttons.setEnabled(False)
        vault, name, pin = self._vault, self._name, self._pin
        run_task(
            lambda: vault.unlock(name, pin, code),
            self.on_unlock_succeeded,
            self.on_unlock_failed,
        )

    @Slot(object)
    def on_unlock_succeeded(self, session: Session) -> None:
        self.unlocked.emit(session)
        self.accept()

    @Slot(object)
    def on_unlock_failed(self, error: BaseException) -> None:
        self.buttons.setEnabled(True)
        self.enrolment.show_refusal(self.error, error)

    @Slot(int)
    def on_finished(self, _result: int) -> None:
        self._pin = ""
        self.enrolment.forget()
