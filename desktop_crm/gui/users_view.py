"""Admin > Users: the staff list and the admin actions on a user.

Add user, Reset user (temporary PIN), Change roles, Deactivate (then offer to
rotate the database key), Reset authenticator and Unlock (after too many
failed unlocks).  Every action goes through ``services.users``, which checks
the permission and audits it.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from PySide6.QtCore import Slot
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDialog,
    QGridLayout,
    QHeaderView,
    QMessageBox,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from desktop_crm.errors import CRMError
from desktop_crm.gui import fields
from desktop_crm.gui.add_user_dialog import AddUserDialog
from desktop_crm.gui.change_roles_dialog import ChangeRolesDialog
from desktop_crm.gui.reset_user_dialog import ResetUserDialog
from desktop_crm.gui.worker import run_task, user_message
from desktop_crm.services import keys, users
from desktop_crm.services.session import Session
from desktop_crm.services.vault import VaultService
from desktop_crm.storage.queries import UserRow

COLUMNS = ("Name", "Roles", "Active", "Authenticator", "Locked out", "Last unlock")


def _when(text: str | None) -> str:
    if not text:
        return "never"
    return datetime.fromisoformat(text).astimezone().strftime("%Y-%m-%d %H:%M")


class UsersView(QWidget):
    """A read-only table of users and the admin actions on them.

    Signals: none (dialogs report back and the table refreshes).
    """

    def __init__(
        self, vault: VaultService, session: Session, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self._vault = vault
        self._session = session
        self._rows: list[UserRow] = []
        self._locked: set[str] = set()
        self.dialog: QDialog | None = None
        self.confirmation: QMessageBox | None = None
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setObjectName("users_table")
        self.table.setAccessibleName("Users")
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.verticalHeader().hide()
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setStretchLastSection(True)
        self.add_button = QPushButton("&Add user…")
        self.reset_button = QPushButton("&Reset user…")
        self.roles_button = QPushButton("Change r&oles…")
        self.deactivate_button = QPushButton("&Deactivate…")
        self.totp_button = QPushButton("Reset au&thenticator…")
        self.unlock_button = QPushButton("U&nlock")
        self.status = fields.hint_label("")
        self.error = fields.error_label()
        self._build()
        self.add_button.clicked.connect(self.on_add_button_clicked)
        self.reset_button.clicked.connect(self.on_reset_button_clicked)
        self.roles_button.clicked.connect(self.on_roles_button_clicked)
        self.deactivate_button.clicked.connect(self.on_deactivate_button_clicked)
        self.totp_button.clicked.connect(self.on_totp_button_clicked)
        self.unlock_button.clicked.connect(self.on_unlock_button_clicked)
        self.table.itemSelectionChanged.connect(self.on_table_selection_changed)
        self.refresh()

    def _build(self) -> None:
        buttons = QGridLayout()
        for index, button in enumerate(
            (
                self.add_button,
                self.reset_button,
                self.roles_button,
                self.deactivate_button,
                self.totp_button,
                self.unlock_button,
            )
        ):
            buttons.addWidget(button, index // 3, index % 3)
        buttons.setColumnStretch(3, 1)
        layout = QVBoxLayout(self)
        layout.addLayout(buttons)
        layout.addWidget(self.table, 1)
        layout.addWidget(self.status)
        layout.addWidget(self.error)
        layout.addWidget(
            fields.hint_label(
                "Reset gives a user a temporary PIN and a new authenticator entry; "
                "they choose their own PIN at their next unlock. Reset authenticator "
                "keeps their PIN and shows them a new entry at their next unlock."
            )
        )

    @Slot()
    def refresh(self) -> None:
        try:
            self._rows = users.list_users(self._session)
            self._locked = {
                u.id for u in self._rows if users.is_locked_out(self._vault, u.id)
            }
        except CRMError as exc:
            fields.show_message(self.error, user_message(exc))
            return
        self.table.setRowCount(len(self._rows))
        for row, user in enumerate(self._rows):
            values = (
                user.name,
                ", ".join(user.roles),
                "yes" if user.active else "no",
                "enrolled" if user.totp_enrolled else "not yet",
                "yes" if user.id in self._locked else "no",
                _when(user.last_unlock_at),
            )
            for column, value in enumerate(values):
                self.table.setItem(row, column, QTableWidgetItem(value))
        self.on_table_selection_changed()

    def selected_user(self) -> UserRow | None:
        rows = self.table.selectionModel().selectedRows()
        if not rows or rows[0].row() >= len(self._rows):
            return None
        return self._rows[rows[0].row()]

    def selected_name(self) -> str | None:
        user = self.selected_user()
        return None if user is None else user.name

    @Slot()
    def on_table_selection_changed(self) -> None:
        user = self.selected_user()
        active = user is not None and user.active
        self.reset_button.setEnabled(active)
        self.roles_button.setEnabled(active)
        self.totp_button.setEnabled(active)
        self.deactivate_button.setEnabled(
            active and user is not None and user.id != self._session.user_id
        )
        self.unlock_button.setEnabled(user is not None and user.id in self._locked)

    @Slot()
    def on_add_button_clicked(self) -> None:
        dialog = AddUserDialog(self._vault, self._session, self)
        dialog.user_added.connect(self.refresh)
        self._open(dialog)

    @Slot()
    def on_reset_button_clicked(self) -> None:
        name = self.selected_name()
        if name is None:
            return
        dialog = ResetUserDialog(self._vault, self._session, name, self)
        dialog.user_reset.connect(self.refresh)
        self._open(dialog)

    @Slot()
    def on_roles_button_clicked(self) -> None:
        user = self.selected_user()
        if user is None:
            return
        dialog = ChangeRolesDialog(
            self._vault, self._session, user.name, user.roles, self
        )
        dialog.roles_changed.connect(self.refresh)
        self._open(dialog)

    @Slot()
    def on_deactivate_button_clicked(self) -> None:
        name = self.selected_name()
        if name is None:
            return
        self.confirmation = fields.confirm(
            self,
            "Deactivate user?",
            f"{name} will no longer be able to unlock Desktop CRM on any "
            "workstation. Their key slot is removed at once; their entries in the "
            "audit log stay.",
            "Deactivate",
            lambda: self._act(
                lambda: users.deactivate_user(self._vault, self._session, name),
                f"{name} was deactivated.",
                self._offer_rekey,
            ),
        )

    def _offer_rekey(self, advised: object) -> None:
        if not advised:
            return
        self.confirmation = fields.confirm(
            self,
            "Rotate the database key now?",
            "The deactivated user could have kept a copy of the database key. "
            "Rotating it re-encrypts the database under a new key that only the "
            "remaining users (and the recovery key) can open. Users keep their "
            "PINs. This takes a moment.",
            "Rotate the database key now",
            self._rekey,
        )

    def _rekey(self) -> None:
        self.setEnabled(False)
        self.status.setText("Rotating the database key…")
        run_task(
            lambda: keys.rotate_dek(self._vault, self._session),
            self.on_rotated,
            self.on_failed,
        )

    @Slot(object)
    def on_rotated(self, _result: object) -> None:
        self.setEnabled(True)
        self.status.setText("The database key was rotated.")

    @Slot(object)
    def on_failed(self, error: BaseException) -> None:
        self.setEnabled(True)
        self.status.setText("")
        fields.show_message(self.error, user_message(error))

    @Slot()
    def on_totp_button_clicked(self) -> None:
        name = self.selected_name()
        if name is None:
            return
        self.confirmation = fields.confirm(
            self,
            "Reset authenticator?",
            f"At {name}'s next unlock, after their PIN, Desktop CRM shows a new "
            "authenticator entry to scan; their old entry stops working. Until "
            "then their PIN alone leads to that step, so tell them to unlock soon.",
            "Reset authenticator",
            lambda: self._act(
                lambda: users.reset_totp(self._vault, self._session, name),
                f"{name} will set up a new authenticator entry at their next unlock.",
            ),
        )

    @Slot()
    def on_unlock_button_clicked(self) -> None:
        name = self.selected_name()
        if name is not None:
            self._act(
                lambda: users.unlock_user(self._vault, self._session, name),
                f"{name} can try to unlock again.",
            )

    def _act(
        self,
        action: Callable[[], object],
        done: str,
        then: Callable[[object], None] | None = None,
    ) -> None:
        fields.show_message(self.error, "")
        try:
            result = action()
        except CRMError as exc:
            fields.show_message(self.error, user_message(exc))
            return
        self.status.setText(done)
        self.refresh()
        if then is not None:
            then(result)

    def _open(self, dialog: QDialog) -> None:
        dialog.finished.connect(dialog.deleteLater)
        self.dialog = dialog
        dialog.open()
