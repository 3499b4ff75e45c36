"""Regain access with the recovery key: new PIN, then a new authenticator entry."""

from __future__ import annotations

from PySide6.QtCore import Signal, Slot
from PySide6.QtWidgets import (
    QComboBox,
    QDialogButtonBox,
    QFormLayout,
    QLineEdit,
    QVBoxLayout,
    QWidget,
)

from desktop_crm.errors import AuthenticationFailed
from desktop_crm.gui import fields
from desktop_crm.gui.enrolment_widget import EnrolmentWidget
from desktop_crm.gui.step_dialog import StepDialog
from desktop_crm.gui.worker import run_task, user_message
from desktop_crm.services.session import Session
from desktop_crm.services.vault import Enrolment, VaultService


class RecoveryDialog(StepDialog):
    """Rebuilds one user's access from the recovery key.

    Signals:
        recovered(object): the user's new ``Session`` after the first code.
    """

    recovered = Signal(object)

    def __init__(
        self, vault: VaultService, users: list[str], parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("Recover access")
        self._vault = vault
        self.session: Session | None = None
        self.user_combo = QComboBox()
        self.user_combo.setAccessibleName("User")
        self.user_combo.addItems(users)
        self.key_edit = QLineEdit()
        self.key_edit.setAccessibleName("Recovery key")
        self.key_edit.setPlaceholderText("RK1-XXXXX-XXXXX-…")
        self.key_edit.setFont(fields.monospace_font())
        self.pin_edit = fields.pin_edit("New PIN")
        self.confirm_edit = fields.pin_edit("Confirm new PIN")
        self.enrolment = EnrolmentWidget()
        self._build()

    def _build(self) -> None:
        form_page = QWidget()
        form = QFormLayout(form_page)
        form.addRow(
            fields.hint_label(
                "Use this when the keyring of this computer was lost or reset, or "
                "on a new computer. The user gets a new PIN and a new "
                "authenticator entry; every other user then needs an admin reset."
            )
        )
        form.addRow("&User:", self.user_combo)
        form.addRow("Recovery &key:", self.key_edit)
        form.addRow("&New PIN:", self.pin_edit)
        form.addRow("C&onfirm new PIN:", self.confirm_edit)
        form.addRow(fields.hint_label(fields.PIN_POLICY))
        self.pages.addWidget(form_page)
        self.pages.addWidget(self.enrolment)
        layout = QVBoxLayout(self)
        self.add_steps_to(layout)
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setText("&Recover")

    @Slot()
    def on_buttons_accepted(self) -> None:
        if self.pages.currentIndex() == 0:
            self._recover()
        else:
            self._confirm()

    def _recover(self) -> None:
        name, key = self.user_combo.currentText(), self.key_edit.text()
        pin = self.pin_edit.text()
        if not key.strip():
            return self._fail("Recovery key: type the key.", self.key_edit)
        if pin != self.confirm_edit.text():
            self.confirm_edit.clear()
            return self._fail("Confirm new PIN: does not match.", self.confirm_edit)
        self.buttons.setEnabled(False)
        run_task(
            lambda: self._vault.recover(name, key, pin),
            self.on_recover_succeeded,
            self.on_recover_failed,
        )
        return None

    @Slot(object)
    def on_recover_succeeded(self, result: tuple[Session, Enrolment]) -> None:
        self.session, enrolment = result
        self.key_edit.clear()
        self.pin_edit.clear()
        self.confirm_edit.clear()
        self.enrolment.set_enrolment(enrolment)
        self.pages.setCurrentIndex(1)
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setText("&Finish")
        self._fail("")

    @Slot(object)
    def on_recover_failed(self, error: BaseException) -> None:
        self.pin_edit.clear()
        self.confirm_edit.clear()
        self._fail(user_message(error))

    def _confirm(self) -> None:
        session, code = self.session, self.enrolment.code()
        assert session is not None
        self.buttons.setEnabled(False)
        run_task(
            lambda: self._vault.confirm_enrolment(session, code),
            self.on_confirm_succeeded,
            self.on_confirm_failed,
        )

    @Slot(object)
    def on_confirm_succeeded(self, _result: object) -> None:
        session, self.session = self.session, None
        self.enrolment.forget()
        self.accept()
        self.recovered.emit(session)

    @Slot(object)
    def on_confirm_failed(self, error: BaseException) -> None:
        refused = isinstance(error, AuthenticationFailed)
        text = "Code: not accepted; type the code the app shows now."
        self._fail(text if refused else user_message(error), self.enrolment.code_edit)

    def abandon(self) -> None:
        """Lock a recovered session whose first code never came back."""
        if self.session is not None:
            self.session.lock("recovery-abandoned")
            self.session = None

    def reject(self) -> None:
        self.abandon()
        super().reject()
