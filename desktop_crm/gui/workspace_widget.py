"""The unlocked workspace: navigation on the left, the chosen page on the right."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal, Slot
from PySide6.QtWidgets import (
    QHBoxLayout,
    QListWidget,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from desktop_crm.gui import fields
from desktop_crm.gui.admin_widget import AdminWidget
from desktop_crm.gui.audit_view import AuditView
from desktop_crm.gui.clipboard import SensitiveClipboard
from desktop_crm.gui.patients.patients_widget import PatientsWidget
from desktop_crm.gui.scheduling.messages_view import MessagesView
from desktop_crm.gui.scheduling.schedule_widget import ScheduleWidget
from desktop_crm.gui.scheduling.today_board import TodayBoard
from desktop_crm.services.roles import allows
from desktop_crm.services.session import Session
from desktop_crm.services.vault import VaultService


class WorkspaceWidget(QWidget):
    """Navigation list and pages for one unlocked session.

    Signals:
        settings_saved(int): an admin saved settings (idle minutes now in force).
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
        self.setObjectName("workspace")
        self.nav = QListWidget()
        self.nav.setAccessibleName("Sections")
        self.nav.setFixedWidth(160)
        self.nav.setStyleSheet(
            "QListWidget { outline: 0; } QListWidget::item { padding: 6px 10px; }"
        )
        self.pages = QStackedWidget()
        self.admin: AdminWidget | None = None
        self.patients: PatientsWidget | None = None
        self.audit: AuditView | None = None
        if allows(session.roles, "patients.read"):
            self.patients = PatientsWidget(session, clipboard)
            self._add("Patients", self.patients)
        self.today: TodayBoard | None = None
        self.schedule: ScheduleWidget | None = None
        if allows(session.roles, "appointments.read"):
            self.today = TodayBoard(session, vault.clock)
            self._add("Today", self.today)
            self.schedule = ScheduleWidget(session, vault.clock)
            self._add("Schedule", self.schedule)
        self.messages: MessagesView | None = None
        if allows(session.roles, "communications.read"):
            self.messages = MessagesView(session, vault.clock)
            self._add("Messages", self.messages)
        if allows(session.roles, "audit.read"):
            self.audit = AuditView(session)
            self._add("Audit", self.audit)
        if allows(session.roles, "users.manage"):
            self.admin = AdminWidget(vault, session, clipboard)
            self.admin.settings_saved.connect(self.settings_saved)
            self._add("Admin", self.admin)
        # What the unlock found that the user must know (an audit head
        # problem, break-glass accesses waiting for review).
        self.notices = fields.error_label("Notices")
        self.notices.setObjectName("notices")
        fields.show_message(self.notices, "\n".join(session.notices))
        right = QVBoxLayout()
        right.addWidget(self.notices)
        right.addWidget(self.pages, 1)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.nav)
        layout.addLayout(right, 1)
        self.nav.currentRowChanged.connect(self.on_nav_current_row_changed)
        self.nav.setCurrentRow(0)

    def _add(self, title: str, page: QWidget) -> None:
        self.nav.addItem(title)
        self.pages.addWidget(page)

    def sections(self) -> list[str]:
        return [self.nav.item(i).text() for i in range(self.nav.count())]

    def show_section(self, title: str) -> None:
        matches = self.nav.findItems(title, Qt.MatchFlag.MatchExactly)
        if matches:
            self.nav.setCurrentItem(matches[0])

    @Slot(int)
    def on_nav_current_row_changed(self, row: int) -> None:
        self.pages.setCurrentIndex(row)
