"""Change one's own PIN; after an admin reset, enrol a new authenticator too."""

from __future__ import annotations

from PySide6.QtCore import Signal, Slot
from PySide6.QtWidgets import (
    QDialogButtonBox,
    QFormLayout,
    QVBoxLayout,
    QWidget,
)

from desktop_crm.errors import AuthenticationFailed
from desktop_crm.gui import fields
from desktop_crm.gui.enrolment_widget import EnrolmentWidget
from desktop_crm.gui.step_dialog import StepDialog
from desktop_crm.gui.worker import run_task, user_message
from desktop_crm.services import users
from desktop_crm.services.session import Session
from desktop_crm.services.vault import Enrolment, VaultService

FORCED_TEXT = (
    "An admin reset your access. Choose your own PIN now; you will then "
    "connect your authenticator app again."
)


class ChangePinDialog(StepDialog):
    """New PIN typed twice; shows a new QR code when the service returns one.

    Signals:
        pin_changed(): the new PIN (and any new enrolment) is in place.
    """

    pin_changed = Signal()

    def __init__(
        self,
        vault: VaultService,
        session: Session,
        *,
        forced: bool = False,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("Change your PIN")
        self._vault = vault
        self._session = session
        self.pin_edit = fields.pin_edit("New PIN")
        self.confirm_edit = fields.pin_edit("Confirm new PIN")
        self.enrolment = EnrolmentWidget()
        self._build(FORCED_TEXT if forced else "Type your new PIN twice.")

    def _build(self, intro: str) -> None:
        page = QWidget()
        form = QFormLayout(page)
        form.addRow(fields.hint_label(intro))
        form.addRow("&New PIN:", self.pin_edit)
        form.addRow("C&onfirm new PIN:", self.confirm_edit)
        form.addRow(fields.hint_label(fields.PIN_POLICY))
        self.pages.addWidget(page)
        self.pages.addWidget(self.enrolment)
        layout = QVBoxLayout(self)
        self.add_steps_to(layout)

    @Slot()
    def on_buttons_accepted(self) -> None:
        if self.pages.currentIndex() == 0:
            self._change()
        else:
            self._confirm()

    def _change(self) -> None:
        pin = self.pin_edit.text()
        if pin != self.confirm_edit.text():
            self.confirm_edit.clear()
            self._fail("Confirm new PIN: does not match.", self.confirm_edit)
            return
        self.buttons.setEnabled(False)
        run_task(
            lambda: users.change_own_pin(self._vault, self._session, pin),
            self.on_change_succeeded,
            self.on_change_failed,
        )

    @Slot(object)
    def on_change_succeeded(self, enrolment: Enrolment | None) -> None:
        self.pin_edit.clear()
        self.confirm_edit.clear()
        if enrolment is None:
            self.accept()
            self.pin_changed.emit()
            return
        self.enrolment.set_enrolment(enrolment)
        self.pages.setCurrentIndex(1)
        # The new PIN is in place; only the authenticator remains, so there is
        # nothing left to cancel.
        self.buttons.button(QDialogButtonBox.StandardButton.Cancel).hide()
        self._fail("")

    @Slot(object)
    def on_change_failed(self, error: BaseException) -> None:
        self.pin_edit.clear()
        self.confirm_edit.clear()
        self._fail(user_message(error), self.pin_edit)

    def _confirm(self) -> None:
        code = self.enrolment.code()
        self.buttons.setEnabled(False)
        run_task(
            lambda: self._vault.confirm_enrolment(self._session, code),
            self.on_confirm_succeeded,
            self.on_confirm_failed,
        )

    @Slot(object)
    def on_confirm_succeeded(self, _result: object) -> None:
        self.enrolment.forget()
        self.accept()
        self.pin_changed.emit()

    @Slot(object)
    def on_confirm_failed(self, error: BaseException) -> None:
        refused = isinstance(error, AuthenticationFailed)
        text = "Code: not accepted; type the code the app shows now."
        self._fail(text if refused else user_message(error), self.enrolment.code_edit)
