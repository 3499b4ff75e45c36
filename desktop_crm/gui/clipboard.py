"""Copy secrets to the clipboard for at most 30 seconds."""

from __future__ import annotations

from PySide6.QtCore import QMimeData, QObject, QTimer, Signal, Slot
from PySide6.QtGui import QGuiApplication

from desktop_crm.services.clock import Clock, SystemClock

CLEAR_AFTER_SECONDS = 30
# Clipboard managers that honour these hints keep the text out of their
# history (KDE Klipper; the Windows and macOS names are read by their
# clipboard-history tools).
_SECRET_HINTS = {
    "x-kde-passwordManagerHint": b"secret",
    "ExcludeClipboardContentFromMonitorProcessing": b"1",
    "org.nspasteboard.ConcealedType": b"",
}


class SensitiveClipboard(QObject):
    """Puts text on the clipboard and takes it off again after 30 s.

    Signals:
        cleared(): text this object had copied was removed from the clipboard.
    """

    cleared = Signal()

    def __init__(
        self,
        clock: Clock | None = None,
        parent: QObject | None = None,
        tick_ms: int = 1000,
    ) -> None:
        super().__init__(parent)
        self._clock = clock or SystemClock()
        self._text: str | None = None
        self._deadline = 0.0
        self._timer = QTimer(self)
        self._timer.setInterval(tick_ms)
        self._timer.timeout.connect(self.on_timer_timeout)

    @property
    def pending(self) -> bool:
        """Whether copied text is still waiting to be cleared."""
        return self._text is not None

    def copy_sensitive(self, text: str) -> None:
        """Copy ``text`` with "do not keep" hints and schedule its removal."""
        mime = QMimeData()
        mime.setText(text)
        for name, value in _SECRET_HINTS.items():
            mime.setData(name, value)
        QGuiApplication.clipboard().setMimeData(mime)
        self._text = text
        self._deadline = self._clock.now() + CLEAR_AFTER_SECONDS
        self._timer.start()

    def clear_now(self) -> None:
        """Remove our text if the clipboard still holds it (lock and quit)."""
        text, self._text = self._text, None
        self._timer.stop()
        if text is None:
            return
        clipboard = QGuiApplication.clipboard()
        if clipboard.text() == text:
            clipboard.clear()
            self.cleared.emit()

    @Slot()
    def on_timer_timeout(self) -> None:
        if self._clock.now() >= self._deadline:
            self.clear_now()
