"""The main window: the lock or setup screen, or the unlocked workspace."""

from __future__ import annotations

import logging
import random
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING

from PySide6.QtCore import Qt, QTimer, Slot
from PySide6.QtGui import QAction, QCloseEvent, QKeySequence
from PySide6.QtWidgets import (
    QApplication,
    QDialog,
    QLabel,
    QMainWindow,
    QMessageBox,
    QPushButton,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from desktop_crm.errors import CRMError, KeyringUnavailable
from desktop_crm.gui import fields
from desktop_crm.gui.backup_status import BackupStatus
from desktop_crm.gui.clipboard import SensitiveClipboard
from desktop_crm.gui.lock_controller import LOCK_SHORTCUT, IdleLockController
from desktop_crm.gui.sync_status import SyncStatusLine
from desktop_crm.gui.unlock_widget import UnlockWidget
from desktop_crm.gui.worker import run_task
from desktop_crm.services import settings_keys as setting
from desktop_crm.services.clock import Clock
from desktop_crm.services.session import Session
from desktop_crm.services.vault import VaultService

if TYPE_CHECKING:
    from desktop_crm.gui.workspace_widget import WorkspaceWidget

# The setup wizard, the workspace and the dialogs are imported where they are
# first shown: the lock screen paints without loading them (and the QR code,
# PDF and crypto libraries they pull in).


def _cannot_start_page(message: str, on_quit: Callable[[], object]) -> QWidget:
    """What replaces the first screen when the OS keyring is missing."""
    page = QWidget()
    layout = QVBoxLayout(page)
    layout.addStretch(1)
    layout.addWidget(fields.heading("Desktop CRM cannot start"))
    text = QLabel(message[:1].upper() + message[1:] + ".")
    text.setWordWrap(True)
    text.setMaximumWidth(560)
    text.setAccessibleName("Why Desktop CRM cannot start")
    layout.addWidget(text)
    quit_button = QPushButton("&Quit")
    quit_button.clicked.connect(on_quit)
    layout.addWidget(quit_button, 0, Qt.AlignmentFlag.AlignLeft)
    layout.addStretch(2)
    page.setContentsMargins(48, 24, 48, 24)
    return page


def _is_instance(obj: object, module: str, name: str) -> bool:
    """isinstance() against a lazily imported class: False until it is loaded."""
    loaded = sys.modules.get(module)
    return loaded is not None and isinstance(obj, getattr(loaded, name))


log = logging.getLogger(__name__)

APP_NAME = "Desktop CRM"
LOCKED_TITLE = f"{APP_NAME} — Locked"
PIN_CHANGE_NEEDED = "You must choose a new PIN before you can continue."


class MainWindow(QMainWindow):
    """Holds at most one session; locking replaces everything with the lock screen.

    Signals: none (the window is the top of the GUI).
    """

    def __init__(
        self,
        vault: VaultService,
        clock: Clock | None = None,
        rng: random.Random | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self._vault = vault
        self._clock = clock or vault.clock
        self._rng = rng
        self.session: Session | None = None
        self._pending: Session | None = None
        self.gate: QWidget | None = None
        self.workspace: WorkspaceWidget | None = None
        self.dialog: QDialog | None = None
        self.clipboard = SensitiveClipboard(self._clock, self)
        self.idle = IdleLockController(self._clock, self)
        self.idle.idle_timed_out.connect(self.on_idle_idle_timed_out)
        self.idle.lock_requested.connect(self.on_lock_action_triggered)
        self.stack = QStackedWidget()
        self.setCentralWidget(self.stack)
        self.user_label = QLabel()
        self.vault_label = QLabel()
        self.statusBar().addWidget(self.user_label, 1)
        self.sync_status = SyncStatusLine(self._clock)
        self.sync_status.conflicts_requested.connect(self.on_sync_dialog_triggered)
        self.statusBar().addPermanentWidget(self.sync_status)
        self.backup_status = BackupStatus(self._clock)
        self.statusBar().addPermanentWidget(self.backup_status)
        self.statusBar().addPermanentWidget(self.vault_label)
        self._build_menus()
        self.resize(960, 640)
        self.setMinimumSize(720, 520)

    def _action(self, text: str, slot: object, shortcut: str | None = None) -> QAction:
        action = QAction(text, self)
        if shortcut:
            action.setShortcut(QKeySequence(shortcut))
            action.setShortcutContext(Qt.ShortcutContext.ApplicationShortcut)
        action.triggered.connect(slot)
        return action

    def _build_menus(self) -> None:
        self.lock_action = self._action(
            "&Lock", self.on_lock_action_triggered, LOCK_SHORTCUT.toString()
        )
        self.switch_action = self._action(
            "&Switch user", self.on_switch_action_triggered
        )
        self.quit_action = self._action("&Quit", self.close, "Ctrl+Q")
        self.change_pin_action = self._action(
            "Change &PIN…", self.on_change_pin_action_triggered
        )
        self.about_action = self._action("&About Desktop CRM", self.on_about_triggered)
        self.sync_now_action = self._action("Sync &now", self.sync_status.sync_now)
        self.sync_dialog_action = self._action(
            "Sync status and &conflicts…", self.on_sync_dialog_triggered
        )
        file_menu = self.menuBar().addMenu("&File")
        file_menu.addActions([self.lock_action, self.switch_action])
        file_menu.addSeparator()
        file_menu.addAction(self.quit_action)
        self.menuBar().addMenu("&Account").addAction(self.change_pin_action)
        self.menuBar().addMenu("S&ync").addActions(
            [self.sync_now_action, self.sync_dialog_action]
        )
        self.menuBar().addMenu("&Help").addAction(self.about_action)
        self._set_unlocked_actions(False)

    def _set_unlocked_actions(self, unlocked: bool) -> None:
        for action in (
            self.lock_action,
            self.switch_action,
            self.change_pin_action,
            self.sync_now_action,
            self.sync_dialog_action,
        ):
            action.setEnabled(unlocked)

    # -- screens -----------------------------------------------------------
    def start(self) -> None:
        """Show setup on a machine without a vault, else the lock screen."""
        if self._vault.exists():
            self.show_unlock()
        else:
            self.show_setup()

    def _set_gate(self, widget: QWidget) -> None:
        old, self.gate = self.gate, widget
        self.stack.addWidget(widget)
        self.stack.setCurrentWidget(widget)
        if old is not None:
            self._discard(old)

    def _discard(self, widget: QWidget) -> None:
        self.stack.removeWidget(widget)
        widget.hide()
        widget.deleteLater()

    def show_setup(self) -> None:
        from desktop_crm.gui.setup_wizard import SetupWizard

        wizard = SetupWizard(self._vault, self.clipboard, self._rng)
        wizard.setup_finished.connect(self.on_wizard_setup_finished)
        wizard.restore_finished.connect(self.show_unlock)
        self._set_gate(wizard)
        # Ask for the keyring once the first screen is up (loading the keyring
        # libraries takes a moment): without one, setup cannot succeed.
        QTimer.singleShot(0, self._check_keyring)

    def _check_keyring(self) -> None:
        def touch() -> str:
            return self._vault.secrets.backend_name()

        run_task(touch, self.on_keyring_checked, self.on_keyring_failed)

    @Slot(object)
    def on_keyring_checked(self, _backend: object) -> None:
        """The keyring answered: setup can go ahead."""

    @Slot(object)
    def on_keyring_failed(self, error: BaseException) -> None:
        if not isinstance(error, KeyringUnavailable):
            log.warning("keyring check failed: %s", type(error).__name__)
            return
        log.info("no usable keyring: showing why Desktop CRM cannot start")
        self._set_gate(_cannot_start_page(error.message, self.close))
        self.setWindowTitle(f"{APP_NAME} — Setup")

    def show_unlock(self, user: str | None = None) -> None:
        unlock = UnlockWidget(self._vault, self._clock, user)
        unlock.unlocked.connect(self.on_unlock_unlocked)
        unlock.recovery_requested.connect(self.on_unlock_recovery_requested)
        self._set_gate(unlock)
        self.setWindowTitle(LOCKED_TITLE)

    def _enter(self, session: Session) -> None:
        self.session, self._pending = session, None
        practice = session.setting(setting.PRACTICE_NAME, "")
        minutes = int(float(session.setting(setting.IDLE_MINUTES, "5")))
        from desktop_crm.gui.workspace_widget import WorkspaceWidget

        workspace = WorkspaceWidget(self._vault, session, self.clipboard)
        workspace.settings_saved.connect(self.on_workspace_settings_saved)
        self.workspace = workspace
        self.stack.addWidget(workspace)
        self.stack.setCurrentWidget(workspace)
        if self.gate is not None:
            self._discard(self.gate)
            self.gate = None
        self.setWindowTitle(f"{APP_NAME} — {practice}" if practice else APP_NAME)
        self.user_label.setText(f"{session.user_name} ({', '.join(session.roles)})")
        self.vault_label.setText(f"Vault {session.vault_id}")
        self._set_unlocked_actions(True)
        self.idle.start(minutes)
        self.backup_status.attach(session, self)
        self.sync_status.attach(self._vault, session)

    # -- locking -----------------------------------------------------------
    def lock(self, reason: str = "manual", *, keep_user: bool = True) -> None:
        """Close the session and leave nothing of it in any window."""
        if self.session is None and self._pending is None:
            return
        session, self.session = self.session, None
        user = session.user_name if session and keep_user else None
        self.idle.stop()
        for held in (session, self._pending):
            self._lock_session(held, reason)
        self._pending = None
        self._close_dialogs()
        self.clipboard.clear_now()
        self.show_unlock(user)
        if self.workspace is not None:
            self._discard(self.workspace)
            self.workspace = None
        self.user_label.clear()
        self.vault_label.clear()
        self.backup_status.detach()
        self.sync_status.detach()
        self._set_unlocked_actions(False)

    @staticmethod
    def _lock_session(session: Session | None, reason: str) -> None:
        if session is None:
            return
        try:
            session.lock(reason)
        except CRMError as exc:
            log.warning("could not record the lock: %s", exc.message)

    def _close_dialogs(self) -> None:
        popup = QApplication.activePopupWidget()
        if popup is not None:
            popup.close()
        for widget in QApplication.topLevelWidgets():
            if isinstance(widget, QDialog) and widget is not self:
                if _is_instance(
                    widget, "desktop_crm.gui.recovery_dialog", "RecoveryDialog"
                ):
                    widget.abandon()
                widget.done(QDialog.DialogCode.Rejected)
                widget.hide()
                widget.deleteLater()
        self.dialog = None

    # -- slots ---------------------------------------------------------------
    @Slot()
    def on_lock_action_triggered(self) -> None:
        self.lock("manual")

    @Slot()
    def on_switch_action_triggered(self) -> None:
        self.lock("switch-user", keep_user=False)

    @Slot()
    def on_idle_idle_timed_out(self) -> None:
        self.lock("idle")

    @Slot(int)
    def on_workspace_settings_saved(self, minutes: int) -> None:
        self.idle.set_minutes(minutes)

    @Slot(object)
    def on_wizard_setup_finished(self, session: Session) -> None:
        self._enter(session)

    @Slot(object)
    def on_unlock_unlocked(self, session: Session) -> None:
        if not session.must_change_pin:
            self._enter(session)
            return
        self._pending = session
        from desktop_crm.gui.change_pin_dialog import ChangePinDialog

        dialog = ChangePinDialog(self._vault, session, forced=True, parent=self)
        dialog.pin_changed.connect(self.on_forced_pin_changed)
        dialog.rejected.connect(self.on_forced_pin_rejected)
        self._open(dialog)

    @Slot()
    def on_forced_pin_changed(self) -> None:
        if self._pending is not None:
            self._enter(self._pending)

    @Slot()
    def on_forced_pin_rejected(self) -> None:
        self._lock_session(self._pending, "pin-change-refused")
        self._pending = None
        if isinstance(self.gate, UnlockWidget):
            fields.show_message(self.gate.error, PIN_CHANGE_NEEDED)

    @Slot()
    def on_unlock_recovery_requested(self) -> None:
        from desktop_crm.gui.recovery_dialog import RecoveryDialog

        dialog = RecoveryDialog(self._vault, self._safe_user_names(), self)
        dialog.recovered.connect(self.on_unlock_unlocked)
        self._open(dialog)

    @Slot()
    def on_change_pin_action_triggered(self) -> None:
        if self.session is not None:
            from desktop_crm.gui.change_pin_dialog import ChangePinDialog

            self._open(ChangePinDialog(self._vault, self.session, parent=self))

    @Slot()
    def on_sync_dialog_triggered(self) -> None:
        if self.session is not None:
            from desktop_crm.gui.sync_view import SyncDialog

            self._open(SyncDialog(self._vault, self.session, self.clipboard, self))

    @Slot()
    def on_about_triggered(self) -> None:
        from desktop_crm.services.about import versions

        facts = versions()
        box = QMessageBox(
            QMessageBox.Icon.Information,
            "About Desktop CRM",
            f"Desktop CRM {facts.product}\n\nAn encrypted CRM for telehealth "
            f"practices.\n\nDatabase: SQLCipher {facts.sqlcipher}\n"
            f"Cryptography: {facts.openssl}\nKeyring: {facts.keyring_backend}",
            parent=self,
        )
        self._open(box)

    def _open(self, dialog: QDialog) -> None:
        dialog.finished.connect(dialog.deleteLater)
        self.dialog = dialog
        dialog.open()

    def _safe_user_names(self) -> list[str]:
        try:
            return self._vault.user_names()
        except CRMError:
            return []

    def closeEvent(self, event: QCloseEvent) -> None:
        if _is_instance(self.gate, "desktop_crm.gui.setup_wizard", "SetupWizard"):
            self.gate.abandon()
        if self.session is not None or self._pending is not None:
            self.lock("quit")
        self.clipboard.clear_now()
        event.accept()
