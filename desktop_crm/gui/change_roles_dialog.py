"""Change a user's roles: one check box per role."""

from __future__ import annotations

from PySide6.QtCore import Signal, Slot
from PySide6.QtWidgets import (
    QCheckBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QVBoxLayout,
    QWidget,
)

from desktop_crm.errors import CRMError
from desktop_crm.gui import fields
from desktop_crm.gui.worker import user_message
from desktop_crm.services import users
from desktop_crm.services.roles import ROLES
from desktop_crm.services.session import Session
from desktop_crm.services.vault import VaultService


class ChangeRolesDialog(QDialog):
    """Sets a user's roles through ``users.change_roles``.

    Signals:
        roles_changed(str): the user's name, after the change was saved.
    """

    roles_changed = Signal(str)

    def __init__(
        self,
        vault: VaultService,
        session: Session,
        name: str,
        held: tuple[str, ...],
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("Change roles")
        self._vault = vault
        self._session = session
        self._name = name
        self.role_boxes = {role: QCheckBox(role) for role in ROLES}
        for role, box in self.role_boxes.items():
            box.setAccessibleName(f"Role {role}")
            box.setChecked(role in held)
        self.error = fields.error_label()
        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setText("&Save roles")
        self._build()
        self.buttons.accepted.connect(self.on_buttons_accepted)
        self.buttons.rejected.connect(self.reject)

    def _build(self) -> None:
        roles = QHBoxLayout()
        for box in self.role_boxes.values():
            roles.addWidget(box)
        roles.addStretch(1)
        form = QFormLayout()
        form.addRow("User:", QLabel(self._name))
        form.addRow("Roles:", roles)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(
            fields.hint_label(
                "New roles apply from the user's next unlock. Visit notes need "
                "the provider role; see docs/permissions.md."
            )
        )
        layout.addWidget(self.error)
        layout.addWidget(self.buttons)

    def roles(self) -> list[str]:
        return [role for role, box in self.role_boxes.items() if box.isChecked()]

    @Slot()
    def on_buttons_accepted(self) -> None:
        try:
            users.change_roles(self._vault, self._session, self._name, self.roles())
        except CRMError as exc:
            fields.show_message(self.error, user_message(exc))
            return
        self.roles_changed.emit(self._name)
        self.accept()
