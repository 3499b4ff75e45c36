"""The status-bar line about backups, the unlock notice, and catch-up runs.

Shows "Last backup: <when>, verified" (or "not verified"), or the overdue or
failed state in red.  While a session is open it checks once a minute
whether a scheduled backup is due and, for a user allowed to make backups,
runs it off the GUI thread (this is how scheduled backups missed while the
computer was locked or off run "at the next unlock").
"""

from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, QTimer, Signal, Slot
from PySide6.QtWidgets import QLabel, QMessageBox, QWidget

from desktop_crm.errors import CRMError
from desktop_crm.gui import fields
from desktop_crm.gui.worker import run_task, user_message
from desktop_crm.services.clock import Clock
from desktop_crm.services.roles import allows
from desktop_crm.services.session import Session

if TYPE_CHECKING:
    from desktop_crm.services.backup_schedule import Health, ScheduledRun

log = logging.getLogger(__name__)

CHECK_EVERY_MS = 60_000
#: Longer messages are cut in the status bar (the tooltip has all of it).
MAX_CHARS = 64


class ProgressRelay(QObject):
    """Carries progress from a pool thread to the GUI thread, and a cancel flag.

    Signals:
        progressed(int, int): bytes done, bytes in all (queued to the GUI).
    """

    progressed = Signal(object, object)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._cancel = threading.Event()

    def report(self, done: int, total: int) -> None:
        """The ``progress`` callback the services call (on any thread)."""
        self.progressed.emit(done, total)

    def cancelled(self) -> bool:
        """The ``cancel`` callback the services call (on any thread)."""
        return self._cancel.is_set()

    def cancel(self) -> None:
        self._cancel.set()

    def reset(self) -> None:
        self._cancel.clear()


class BackupStatus(QLabel):
    """The backup line in the main window's status bar.

    Signals:
        health_changed(object): the new ``Health`` after each refresh.
    """

    health_changed = Signal(object)

    def __init__(self, clock: Clock, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("backup_status")
        self.setAccessibleName("Backup status")
        self._clock = clock
        self._session: Session | None = None
        self.health: Health | None = None
        self.notice: QMessageBox | None = None
        self.running = False
        self.timer = QTimer(self)
        self.timer.setInterval(CHECK_EVERY_MS)
        self.timer.timeout.connect(self.on_timer_timeout)

    # -- the session --------------------------------------------------------
    def attach(self, session: Session, notice_parent: QWidget | None = None) -> None:
        """Show the line for ``session``; tell an admin about a problem."""
        self._session = session
        self.refresh()
        if notice_parent is not None and self.health is not None:
            self._notify(session, notice_parent)
        self.check_now()
        self.timer.start()

    def detach(self) -> None:
        self.timer.stop()
        self._session = None
        self.health = None
        self.clear()
        self.setToolTip("")
        if self.notice is not None:
            self.notice.deleteLater()
            self.notice = None

    def _notify(self, session: Session, parent: QWidget) -> None:
        if "admin" not in session.roles or self.health is None:
            return
        if not self.health.needs_attention:
            return
        box = QMessageBox(
            QMessageBox.Icon.Warning,
            "Backups need attention",
            f"{self.health.message}\n\nOpen Admin › Backups to make a backup now "
            "or to fix the schedule. This notice is shown to every admin at "
            "unlock until a backup succeeds.",
            QMessageBox.StandardButton.Ok,
            parent,
        )
        box.setObjectName("backup_notice")
        box.finished.connect(box.deleteLater)
        self.notice = box
        box.open()

    # -- the line -----------------------------------------------------------
    def refresh(self) -> None:
        session = self._session
        if session is None or session.locked:
            return
        from desktop_crm.services.backup_schedule import backup_health

        try:
            health = backup_health(session, self._clock.now())
        except CRMError as exc:
            log.warning("backup status unavailable: %s", exc.message)
            return
        self.show_health(health)

    def show_health(self, health: Health) -> None:
        self.health = health
        text = health.message
        self.setText(text if len(text) <= MAX_CHARS else text[: MAX_CHARS - 1] + "…")
        fields.set_attention(self, health.needs_attention)
        self.setToolTip(
            f"{text}\n\nBackups are made and checked on the schedule set in "
            "Admin › Backups."
        )
        self.health_changed.emit(health)

    # -- catch-up runs ---------------------------------------------------------------
    @Slot()
    def on_timer_timeout(self) -> None:
        self.check_now()

    def check_now(self) -> bool:
        """Start the scheduled backup if it is due; whether one was started."""
        session = self._session
        if session is None or session.locked or self.running:
            return False
        if not allows(session.roles, "backup.create"):
            return False
        from desktop_crm.services import backup_schedule

        now = self._clock.now()
        try:
            if not backup_schedule.due(session, now):
                return False
        except CRMError:
            return False
        self.running = True
        self.setText("Backing up…")
        fields.set_attention(self, False)
        run_task(
            lambda: backup_schedule.run_scheduled(session, now),
            self.on_run_succeeded,
            self.on_run_failed,
        )
        return True

    @Slot(object)
    def on_run_succeeded(self, _run: ScheduledRun) -> None:
        self.running = False
        self.refresh()

    @Slot(object)
    def on_run_failed(self, error: BaseException) -> None:
        self.running = False
        self.refresh()
        if self.health is None or not self.health.failed:
            self.setText(f"Backup failed: {user_message(error)}")
            fields.set_attention(self, True)
