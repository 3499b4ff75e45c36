"""Background sync for an unlocked session, and its line in the status bar.

``SyncActivity`` (one per open database, see ``activity_for``) decides when to
sync: a few seconds after the last local change (debounced), every minute,
and when a user asks.  It never starts a second run while one is going; a
request during a run queues one more round after it.  Background failures
only change the status line (red, with the whole message in its tooltip);
they never open a dialog.  Locking stops it (``SyncStatusLine.detach``).

How a run shares the session's SQLCipher connection with the GUI thread is
explained in ``desktop_crm.services.sync_activity``: the run holds the
connection's lock except while a request is on the network, so a merge never
interleaves with a user's edit and the screens never wait for the server.

Finding out about local changes: the database's commit hook (every write of
the write path ends there) emits a queued signal; the debounce timer then
checks the pending count, a cheap indexed count, and syncs only when there
is something to send.  The run's own commits trigger the same hook and find
nothing pending, so runs do not chain.
"""

from __future__ import annotations

import logging
import weakref
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, Qt, QTimer, Signal, Slot
from PySide6.QtWidgets import QHBoxLayout, QLabel, QPushButton, QWidget

from desktop_crm.errors import CRMError
from desktop_crm.gui import fields
from desktop_crm.gui.worker import run_task, user_message
from desktop_crm.services.clock import Clock, from_iso
from desktop_crm.services.session import Session, SessionLocked

if TYPE_CHECKING:
    # The sync modules (HTTP, TLS) load at the first unlock, not at start-up:
    # the lock screen paints before any of them is needed.
    from desktop_crm.services.sync_service import SyncResult, SyncStatus
    from desktop_crm.services.vault import VaultService
    from desktop_crm.storage.database import Database
    from desktop_crm.sync.transport import TransportFactory

log = logging.getLogger(__name__)

DEBOUNCE_MS = 3_000
INTERVAL_MS = 60_000
#: How long a user's action waits for a background run to finish.
USER_WAIT_SECONDS = 60.0
MAX_CHARS = 60

_activities: weakref.WeakKeyDictionary[Database, SyncActivity] = (
    weakref.WeakKeyDictionary()
)


def activity_for(vault: VaultService, session: Session) -> SyncActivity:
    """The one ``SyncActivity`` of this session's database (made on first use)."""
    db = session.database()
    found = _activities.get(db)
    if found is None:
        found = _activities[db] = SyncActivity(vault, session)
    return found


def find_activity(session: Session) -> SyncActivity | None:
    """The session's activity if a screen made one (None when locked)."""
    if session.locked:
        return None
    return _activities.get(session.database())


class SyncActivity(QObject):
    """When to sync, and what the last runs said.

    Signals:
        changed(): the sync state may have changed (a run ended, a local
            change was noticed, the vault was connected); screens re-read it.
        running_changed(bool): a run started (True) or ended (False).
    """

    changed = Signal()
    running_changed = Signal(bool)
    _committed = Signal()

    def __init__(self, vault: VaultService, session: Session) -> None:
        super().__init__()
        self.vault = vault
        self.session: Session | None = session
        self._db = session.database()
        self.clock: Clock = vault.clock
        from desktop_crm.services.sync_activity import background_transport

        self.transport_factory: TransportFactory = background_transport
        self.running = False
        self.again = False
        #: Clock time of this session's last good run (the stored time is
        #: refreshed only every few minutes when nothing moved).
        self.last_ok: float | None = None
        self.failure = ""
        self.last_result: SyncResult | None = None
        self._stop_watch: Callable[[], None] | None = None
        self.debounce = QTimer(self)
        self.debounce.setSingleShot(True)
        self.debounce.setInterval(DEBOUNCE_MS)
        self.debounce.timeout.connect(self.on_debounce_timeout)
        self.interval = QTimer(self)
        self.interval.setInterval(INTERVAL_MS)
        self.interval.timeout.connect(self.on_interval_timeout)
        self._committed.connect(self.on_committed, Qt.ConnectionType.QueuedConnection)

    # -- life ---------------------------------------------------------------------
    def start(
        self, debounce_ms: int = DEBOUNCE_MS, interval_ms: int = INTERVAL_MS
    ) -> None:
        """Watch for changes and sync on the timers (called at unlock)."""
        session = self.session
        if session is None or session.locked or self._stop_watch is not None:
            return
        self.debounce.setInterval(debounce_ms)
        self.interval.setInterval(interval_ms)
        from desktop_crm.services.sync_activity import watch_changes

        self._stop_watch = watch_changes(session, self._committed.emit)
        self.interval.start()
        self.debounce.start()

    def stop(self) -> None:
        """Forget the session: no more runs, results of a running one are dropped."""
        if self._stop_watch is not None:
            self._stop_watch()
            self._stop_watch = None
        self.debounce.stop()
        self.interval.stop()
        self.session = None
        if _activities.get(self._db) is self:
            del _activities[self._db]
        self.running = False

    # -- state ----------------------------------------------------------------------
    def status(self) -> SyncStatus | None:
        """The stored sync state (None when locked or unreadable)."""
        session = self.session
        if session is None or session.locked:
            return None
        from desktop_crm.services import sync_service

        try:
            return sync_service.status(session)
        except CRMError as exc:
            log.warning("sync status unavailable: %s", exc.message)
            return None

    def last_sync(self, status: SyncStatus) -> float | None:
        stored = from_iso(status.last_sync_at) if status.last_sync_at else None
        times = [t for t in (stored, self.last_ok) if t is not None]
        return max(times) if times else None

    def error(self, status: SyncStatus) -> str:
        """The error to show: this session's last failure, else the stored one."""
        if self.failure:
            return self.failure
        text = status.last_error
        return text[:1].upper() + text[1:] if text else ""

    # -- runs -----------------------------------------------------------------------
    def sync_now(self, *, by_user: bool = True) -> bool:
        """Start a run unless one is going (then one more follows it)."""
        session = self.session
        if session is None or session.locked:
            return False
        if self.running:
            self.again = self.again or by_user
            return False
        from desktop_crm.services import sync_service
        from desktop_crm.services.sync_activity import in_turns

        vault, factory = self.vault, self.transport_factory
        wait = USER_WAIT_SECONDS if by_user else 0.0

        def work(turn_factory: TransportFactory) -> SyncResult:
            return sync_service.sync_now(vault, session, transport_factory=turn_factory)

        self._set_running(True)
        run_task(
            lambda: in_turns(session, work, factory, wait=wait),
            lambda result: self.on_run_succeeded(session, result),
            lambda error: self.on_run_failed(session, error),
        )
        return True

    def _set_running(self, running: bool) -> None:
        self.running = running
        self.running_changed.emit(running)
        self.changed.emit()

    def _pending(self) -> int:
        status = self.status()
        return status.pending_changes if status is not None and status.connected else 0

    def on_run_succeeded(self, session: Session, result: SyncResult) -> None:
        if session is not self.session:
            return
        self.last_ok = self.clock.now()
        self.failure = ""
        self.last_result = result
        self._finish()

    def on_run_failed(self, session: Session, error: BaseException) -> None:
        if session is not self.session:
            return
        if isinstance(error, SessionLocked):
            return
        from desktop_crm.services.sync_activity import SyncBusy

        if isinstance(error, SyncBusy):
            # Another run (a pairing, a connect) holds the gate: try later.
            self.again = True
        else:
            self.failure = user_message(error)
        self._finish()

    def _finish(self) -> None:
        again, self.again = self.again, False
        self._set_running(False)
        if again:
            self.debounce.start()

    # -- timers ---------------------------------------------------------------------
    @Slot()
    def on_committed(self) -> None:
        if self.session is not None:
            self.debounce.start()  # restarts: fires after the last of a burst

    @Slot()
    def on_debounce_timeout(self) -> None:
        if self.session is None:
            return
        if self.running:
            self.again = True
            return
        if self._pending() > 0:
            self.sync_now(by_user=False)
        else:
            self.changed.emit()

    @Slot()
    def on_interval_timeout(self) -> None:
        status = self.status()
        if status is not None and status.connected:
            self.sync_now(by_user=False)


def ago(seconds: float, moment: datetime) -> str:
    """ "just now", "5 min ago", "3 h ago", or the date and time."""
    if seconds < 60:
        return "just now"
    if seconds < 3600:
        return f"{int(seconds // 60)} min ago"
    if seconds < 12 * 3600:
        return f"{int(seconds // 3600)} h ago"
    return f"on {moment:%Y-%m-%d %H:%M}"


def _short(text: str) -> str:
    return text if len(text) <= MAX_CHARS else text[: MAX_CHARS - 1] + "…"


class SyncStatusLine(QWidget):
    """The sync part of the main window's status bar (hidden when not connected).

    Signals:
        conflicts_requested(): the user clicked the conflicts hint.
    """

    conflicts_requested = Signal()

    def __init__(self, clock: Clock, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("sync_status")
        self.setAccessibleName("Sync status")
        self._clock = clock
        self.debounce_ms = DEBOUNCE_MS
        self.interval_ms = INTERVAL_MS
        self.activity: SyncActivity | None = None
        self.label = QLabel()
        self.label.setObjectName("sync_status_text")
        self.label.setAccessibleName("Sync status")
        self.conflicts_button = QPushButton()
        self.conflicts_button.setObjectName("sync_conflicts_hint")
        self.conflicts_button.setFlat(True)
        self.conflicts_button.setCursor(Qt.CursorShape.PointingHandCursor)
        self.conflicts_button.setToolTip(
            "Review the values two workstations disagree on"
        )
        self.conflicts_button.clicked.connect(self.conflicts_requested)
        self.sync_button = QPushButton("Sync now")
        self.sync_button.setObjectName("sync_now_status")
        self.sync_button.setFlat(True)
        self.sync_button.setToolTip("Send and fetch changes now")
        self.sync_button.clicked.connect(self.on_sync_button_clicked)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 8, 0)
        layout.setSpacing(4)
        layout.addWidget(self.label)
        layout.addWidget(self.conflicts_button)
        layout.addWidget(self.sync_button)
        self.hide()

    # -- the session --------------------------------------------------------------
    def attach(self, vault: VaultService, session: Session) -> None:
        """Follow ``session``'s sync and start background runs."""
        self.detach()
        activity = activity_for(vault, session)
        self.activity = activity
        activity.changed.connect(self.refresh)
        activity.start(self.debounce_ms, self.interval_ms)
        self.refresh()

    def detach(self) -> None:
        activity, self.activity = self.activity, None
        if activity is not None:
            activity.changed.disconnect(self.refresh)
            activity.stop()
            activity.deleteLater()
        self.label.clear()
        self.label.setToolTip("")
        self.hide()

    def sync_now(self) -> bool:
        return self.activity is not None and self.activity.sync_now()

    # -- the line ---------------------------------------------------------------------
    @Slot()
    def refresh(self) -> None:
        activity = self.activity
        status = activity.status() if activity is not None else None
        if activity is None or status is None or not status.connected:
            self.hide()
            return
        self.show()
        text, tooltip, attention = self._describe(activity, status)
        self.label.setText(_short(text))
        self.label.setToolTip(tooltip)
        fields.set_attention(self.label, attention)
        self.conflicts_button.setText(f"Sync: conflicts {status.open_conflicts}")
        self.conflicts_button.setVisible(status.open_conflicts > 0)
        self.sync_button.setEnabled(not activity.running)

    def _describe(
        self, activity: SyncActivity, status: SyncStatus
    ) -> tuple[str, str, bool]:
        pending = (
            f" · {status.pending_changes} pending" if status.pending_changes else ""
        )
        server = f"Server: {status.url}"
        if activity.running:
            return f"Syncing…{pending}", server, False
        error = activity.error(status)
        if error:
            return (
                f"Sync failed: {error}",
                f"{error}\n\n{server}\nSync tries again every minute.",
                True,
            )
        when = activity.last_sync(status)
        if when is None:
            return f"Not synced yet{pending}", server, False
        now = self._clock.now()
        moment = datetime.fromtimestamp(when).astimezone()
        return (
            f"Synced {ago(max(0.0, now - when), moment)}{pending}",
            f"{server}\nLast sync {moment:%Y-%m-%d %H:%M:%S}",
            False,
        )

    @Slot()
    def on_sync_button_clicked(self) -> None:
        self.sync_now()
