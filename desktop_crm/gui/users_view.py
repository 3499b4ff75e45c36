"""Admin > Users: the staff list with Add user and Reset user."""

from __future__ import annotations

from datetime import datetime

from PySide6.QtCore import Slot
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDialog,
    QHBoxLayout,
    QHeaderView,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from desktop_crm.errors import CRMError
from desktop_crm.gui import fields
from desktop_crm.gui.add_user_dialog import AddUserDialog
from desktop_crm.gui.reset_user_dialog import ResetUserDialog
from desktop_crm.gui.worker import user_message
from desktop_crm.services import users
from desktop_crm.services.session import Session
from desktop_crm.services.vault import VaultService

COLUMNS = ("Name", "Roles", "Active", "Authenticator", "Last unlock")


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
        self.dialog: QDialog | None = None
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
        self.reset_button.setEnabled(False)
        self.error = fields.error_label()
        self._build()
        self.add_button.clicked.connect(self.on_add_button_clicked)
        self.reset_button.clicked.connect(self.on_reset_button_clicked)
        self.table.itemSelectionChanged.connect(self.on_table_selection_changed)
        self.refresh()

    def _build(self) -> None:
        buttons = QHBoxLayout()
        buttons.addWidget(self.add_button)
        buttons.addWidget(self.reset_button)
        buttons.addStretch(1)
        layout = QVBoxLayout(self)
        layout.addLayout(buttons)
        layout.addWidget(self.table, 1)
        layout.addWidget(self.error)
        layout.addWidget(
            fields.hint_label(
                "Reset gives a user a temporary PIN and a new authenticator entry; "
                "they choose their own PIN at their next unlock."
            )
        )

    @Slot()
    def refresh(self) -> None:
        try:
            rows = users.list_users(self._session)
        except CRMError as exc:
            fields.show_message(self.error, user_message(exc))
            return
        self.table.setRowCount(len(rows))
        for row, user in enumerate(rows):
            values = (
                user.name,
                ", ".join(user.roles),
                "yes" if user.active else "no",
                "enrolled" if user.totp_enrolled else "not yet",
                _when(user.last_unlock_at),
            )
            for column, value in enumerate(values):
                self.table.setItem(row, column, QTableWidgetItem(value))

    def selected_name(self) -> str | None:
        rows = self.table.selectionModel().selectedRows()
        return self.table.item(rows[0].row(), 0).text() if rows else None

    @Slot()
    def on_table_selection_changed(self) -> None:
        self.reset_button.setEnabled(self.selected_name() is not None)

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

    def _open(self, dialog: QDialog) -> None:
        dialog.finished.connect(dialog.deleteLater)
        self.dialog = dialog
        dialog.open()
