"""Add a staff user: name, roles, PIN; then show their authenticator QR code."""

from __future__ import annotations

from PySide6.QtCore import Signal, Slot
from PySide6.QtWidgets import (
    QCheckBox,
    QDialogButtonBox,
    QFormLayout,
    QHBoxLayout,
    QLineEdit,
    QVBoxLayout,
    QWidget,
)

from desktop_crm.gui import fields
from desktop_crm.gui.enrolment_widget import EnrolmentWidget
from desktop_crm.gui.step_dialog import StepDialog
from desktop_crm.gui.worker import run_task, user_message
from desktop_crm.services import users
from desktop_crm.services.roles import ROLES
from desktop_crm.services.session import Session
from desktop_crm.services.vault import Enrolment, VaultService


class AddUserDialog(StepDialog):
    """Creates a user, then shows the enrolment for that user to scan.

    Signals:
        user_added(str): the new user's name.
    """

    user_added = Signal(str)

    def __init__(
        self, vault: VaultService, session: Session, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("Add user")
        self._vault = vault
        self._session = session
        self.name_edit = QLineEdit()
        self.name_edit.setAccessibleName("Name")
        self.name_edit.setMaxLength(100)
        self.role_boxes = {role: QCheckBox(role) for role in ROLES}
        self.pin_edit = fields.pin_edit("PIN")
        self.confirm_edit = fields.pin_edit("Confirm PIN")
        self.enrolment = EnrolmentWidget(ask_code=False)
        self.enrolment_intro = fields.hint_label("")
        self._build()

    def _build(self) -> None:
        roles = QHBoxLayout()
        for role, box in self.role_boxes.items():
            box.setAccessibleName(f"Role {role}")
            roles.addWidget(box)
        roles.addStretch(1)
        page = QWidget()
        form = QFormLayout(page)
        form.addRow("&Name:", self.name_edit)
        form.addRow("Roles:", roles)
        form.addRow("&PIN:", self.pin_edit)
        form.addRow("&Confirm PIN:", self.confirm_edit)
        form.addRow(fields.hint_label(fields.PIN_POLICY))
        done = QWidget()
        column = QVBoxLayout(done)
        column.addWidget(self.enrolment_intro)
        column.addWidget(self.enrolment)
        self.pages.addWidget(page)
        self.pages.addWidget(done)
        layout = QVBoxLayout(self)
        self.add_steps_to(layout)
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setText("&Add user")

    def roles(self) -> list[str]:
        return [role for role, box in self.role_boxes.items() if box.isChecked()]

    @Slot()
    def on_buttons_accepted(self) -> None:
        if self.pages.currentIndex() == 1:
            self.enrolment.forget()
            self.accept()
            return
        name, pin, roles = (
            self.name_edit.text().strip(),
            self.pin_edit.text(),
            self.roles(),
        )
        if not name:
            return self._fail("Name: enter the user's name.", self.name_edit)
        if not roles:
            return self._fail("Roles: choose at least one role.")
        if pin != self.confirm_edit.text():
            self.confirm_edit.clear()
            return self._fail("Confirm PIN: does not match the PIN.", self.confirm_edit)
        self.buttons.setEnabled(False)
        run_task(
            lambda: users.add_user(
                self._vault, self._session, name, ",".join(roles), pin
            ),
            self.on_add_succeeded,
            self.on_add_failed,
        )
        return None

    @Slot(object)
    def on_add_succeeded(self, enrolment: Enrolment) -> None:
        name = self.name_edit.text().strip()
        self.pin_edit.clear()
        self.confirm_edit.clear()
        self.enrolment_intro.setText(
            f"{name} was added. Ask them to scan this code with their "
            "authenticator app now; the code is checked at their first unlock. "
            "It is not shown again."
        )
        self.enrolment.set_enrolment(enrolment)
        self.pages.setCurrentIndex(1)
        self.buttons.button(QDialogButtonBox.StandardButton.Cancel).hide()
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setText("&Done")
        self._fail("")
        self.user_added.emit(name)

    @Slot(object)
    def on_add_failed(self, error: BaseException) -> None:
        self.pin_edit.clear()
        self.confirm_edit.clear()
        self._fail(user_message(error))
