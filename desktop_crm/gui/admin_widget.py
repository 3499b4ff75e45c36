"""The Admin page: Users, Security, Backups, Sync and Break-glass tabs."""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QTabWidget, QWidget

from desktop_crm.gui.backup_view import BackupsView
from desktop_crm.gui.break_glass_view import BreakGlassView
from desktop_crm.gui.clipboard import SensitiveClipboard
from desktop_crm.gui.security_view import SecurityView
from desktop_crm.gui.sync_view import SyncView
from desktop_crm.gui.users_view import UsersView
from desktop_crm.services.session import Session
from desktop_crm.services.vault import VaultService


class AdminWidget(QTabWidget):
    """Tabs for user administration and security settings.

    Signals:
        settings_saved(int): forwarded from the Security tab (idle minutes).
    """

    settings_saved = Signal(int)

    def __init__(
        self,
        vault: VaultService,
        session: Session,
        clipboard: SensitiveClipboard,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setObjectName("admin")
        self.users_view = UsersView(vault, session)
        self.security_view = SecurityView(vault, session, clipboard)
        self.addTab(self.users_view, "&Users")
        self.addTab(self.security_view, "&Security")
        self.backups_view = BackupsView(session, vault.clock)
        self.addTab(self.backups_view, "&Backups")
        self.sync_view = SyncView(vault, session, clipboard)
        self.addTab(self.sync_view, "S&ync")
        self.break_glass_view: BreakGlassView | None = None
        if session.allows("break_glass.review"):
            self.break_glass_view = BreakGlassView(session)
            self.addTab(self.break_glass_view, "Break-&glass")
        self.security_view.settings_saved.connect(self.settings_saved)
