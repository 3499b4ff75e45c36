"""Idle detection: keyboard and mouse activity anywhere in the application."""

from __future__ import annotations

from PySide6.QtCore import QEvent, QObject, QTimer, Signal, Slot
from PySide6.QtGui import QKeyEvent, QKeySequence
from PySide6.QtWidgets import QApplication

from desktop_crm.services.clock import Clock

LOCK_SHORTCUT = QKeySequence("Ctrl+L")
_ACTIVITY = frozenset(
    {
        QEvent.Type.KeyPress,
        QEvent.Type.MouseButtonPress,
        QEvent.Type.MouseMove,
        QEvent.Type.Wheel,
        QEvent.Type.TouchBegin,
    }
)


def _is_lock_key(event: QEvent) -> bool:
    assert isinstance(event, QKeyEvent)
    return QKeySequence(event.keyCombination()) == LOCK_SHORTCUT


class IdleLockController(QObject):
    """Emits once when no input arrived for the configured number of minutes.

    The time comes from an injected clock checked by a one-second timer, so
    tests move the clock instead of sleeping.

    It also watches for the lock shortcut: a window-modal dialog blocks the
    main window's shortcuts, yet Ctrl+L must lock from inside any dialog.

    Signals:
        idle_timed_out(): the idle period passed while armed.
        lock_requested(): the lock shortcut was pressed where no action took it.
    """

    idle_timed_out = Signal()
    lock_requested = Signal()

    def __init__(
        self, clock: Clock, parent: QObject | None = None, tick_ms: int = 1000
    ) -> None:
        super().__init__(parent)
        self._clock = clock
        self._limit = 0.0
        self._last_activity = clock.now()
        self._timer = QTimer(self)
        self._timer.setInterval(tick_ms)
        self._timer.timeout.connect(self.on_timer_timeout)
        app = QApplication.instance()
        if app is not None:
            app.installEventFilter(self)

    @property
    def armed(self) -> bool:
        return self._timer.isActive()

    def start(self, minutes: int) -> None:
        """Arm the controller; the idle period starts now."""
        self._limit = max(1, minutes) * 60.0
        self._last_activity = self._clock.now()
        self._timer.start()

    def stop(self) -> None:
        self._timer.stop()

    def set_minutes(self, minutes: int) -> None:
        self._limit = max(1, minutes) * 60.0

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        kind = event.type()
        if kind not in _ACTIVITY:
            return False
        self._last_activity = self._clock.now()
        if kind == QEvent.Type.KeyPress and self.armed and _is_lock_key(event):
            self.lock_requested.emit()
            return True
        return False

    @Slot()
    def on_timer_timeout(self) -> None:
        if self._clock.now() - self._last_activity >= self._limit:
            self._timer.stop()
            self.idle_timed_out.emit()
