"""Reset a user: a temporary PIN and a new authenticator entry."""

from __future__ import annotations

from PySide6.QtCore import Signal, Slot
from PySide6.QtWidgets import (
    QDialogButtonBox,
    QFormLayout,
    QVBoxLayout,
    QWidget,
)

from desktop_crm.gui import fields
from desktop_crm.gui.enrolment_widget import EnrolmentWidget
from desktop_crm.gui.step_dialog import StepDialog
from desktop_crm.gui.worker import run_task, user_message
from desktop_crm.services import users
from desktop_crm.services.session import Session
from desktop_crm.services.vault import Enrolment, VaultService


class ResetUserDialog(StepDialog):
    """Gives one user a temporary PIN and shows their new QR code.

    Signals:
        user_reset(str): the user's name, once the reset is stored.
    """

    user_reset = Signal(str)

    def __init__(
        self,
        vault: VaultService,
        session: Session,
        name: str,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("Reset user")
        self._vault = vault
        self._session = session
        self._name = name
        self.pin_edit = fields.pin_edit("Temporary PIN")
        self.confirm_edit = fields.pin_edit("Confirm temporary PIN")
        self.enrolment = EnrolmentWidget(ask_code=False)
        self._build()

    def _build(self) -> None:
        page = QWidget()
        form = QFormLayout(page)
        form.addRow(
            fields.hint_label(
                f"{self._name} gets a temporary PIN and a new authenticator entry. "
                "At their next unlock they must choose their own PIN. Tell them the "
                "temporary PIN in person."
            )
        )
        form.addRow("&Temporary PIN:", self.pin_edit)
        form.addRow("&Confirm:", self.confirm_edit)
        form.addRow(fields.hint_label(fields.PIN_POLICY))
        done = QWidget()
        column = QVBoxLayout(done)
        self.done_hint = fields.hint_label(
            f"Ask {self._name} to scan this code now (replacing the old entry "
            "in their app). It is not shown again."
        )
        column.addWidget(self.done_hint)
        column.addWidget(self.enrolment)
        self.pages.addWidget(page)
        self.pages.addWidget(done)
        layout = QVBoxLayout(self)
        self.add_steps_to(layout)
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setText("&Reset")

    @Slot()
    def on_buttons_accepted(self) -> None:
        if self.pages.currentIndex() == 1:
            self.enrolment.forget()
            self.accept()
            return
        pin = self.pin_edit.text()
        if pin != self.confirm_edit.text():
            self.confirm_edit.clear()
            fields.show_message(
                self.error, "Confirm: does not match the temporary PIN."
            )
            return
        self.buttons.setEnabled(False)
        run_task(
            lambda: users.reset_user(self._vault, self._session, self._name, pin),
            self.on_reset_succeeded,
            self.on_reset_failed,
        )

    @Slot(object)
    def on_reset_succeeded(self, enrolment: Enrolment | None) -> None:
        self.pin_edit.clear()
        self.confirm_edit.clear()
        if enrolment is None:
            # Approved on a joined workstation: the user keeps the
            # authenticator entry they set up on another workstation.
            self.enrolment.hide()
            self.done_hint.setText(
                f"{self._name} can now sign in on this workstation with the "
                "temporary PIN and the authenticator entry they already use, "
                "then choose their own PIN. Tell them the temporary PIN in person."
            )
        else:
            self.enrolment.set_enrolment(enrolment)
        self.pages.setCurrentIndex(1)
        self.buttons.setEnabled(True)
        self.buttons.button(QDialogButtonBox.StandardButton.Cancel).hide()
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setText("&Done")
        fields.show_message(self.error, "")
        self.user_reset.emit(self._name)

    @Slot(object)
    def on_reset_failed(self, error: BaseException) -> None:
        self.pin_edit.clear()
        self.confirm_edit.clear()
        self.buttons.setEnabled(True)
        fields.show_message(self.error, user_message(error))
