"""Remember the main window's size, position and layout between runs.

Only Qt's own geometry and state blobs are kept, in an INI file in the user's
config folder (:func:`desktop_crm.platform.paths.config_dir`). Nothing from the
vault goes there: no window title, no practice or user name, no patient field.
"""

from __future__ import annotations

import logging
from pathlib import Path

from PySide6.QtCore import QByteArray, QEvent, QObject, QSettings
from PySide6.QtWidgets import QMainWindow

from desktop_crm.platform.paths import config_dir

log = logging.getLogger(__name__)

FILE_NAME = "window.ini"
GEOMETRY_KEY = "main_window/geometry"
STATE_KEY = "main_window/state"
#: Every key this module writes; a test holds the file to exactly these.
KEYS = (GEOMETRY_KEY, STATE_KEY)


def settings_path() -> Path:
    """Where the window state is kept for this OS account."""
    return config_dir() / FILE_NAME


def _settings(path: Path) -> QSettings:
    return QSettings(str(path), QSettings.Format.IniFormat)


def restore(window: QMainWindow, path: Path) -> bool:
    """Apply the saved geometry and state; False when there was none to apply.

    Qt moves a saved geometry back onto a screen that still exists, so a
    window last shown on a monitor since unplugged still opens in view.
    """
    settings = _settings(path)
    geometry = settings.value(GEOMETRY_KEY)
    state = settings.value(STATE_KEY)
    if not isinstance(geometry, QByteArray) or geometry.isEmpty():
        return False
    restored = window.restoreGeometry(geometry)
    if isinstance(state, QByteArray) and not state.isEmpty():
        window.restoreState(state)
    return restored


def save(window: QMainWindow, path: Path) -> None:
    """Write the window's geometry and state (nothing else) to ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    settings = _settings(path)
    settings.setValue(GEOMETRY_KEY, window.saveGeometry())
    settings.setValue(STATE_KEY, window.saveState())
    settings.sync()
    if settings.status() != QSettings.Status.NoError:
        # Losing the window size is not worth an error dialog at quit.
        log.info("window state not saved (%s)", settings.status().name)


class WindowStateKeeper(QObject):
    """Restores a main window's geometry now and saves it when it closes.

    With ``save_on_close`` off (the packaging self-test) the saved state is
    read but never overwritten.

    Signals: none.
    """

    def __init__(
        self,
        window: QMainWindow,
        path: Path | None = None,
        *,
        save_on_close: bool = True,
    ) -> None:
        super().__init__(window)
        self._window = window
        self.path = path or settings_path()
        self.restored = restore(window, self.path)
        if save_on_close:
            window.installEventFilter(self)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if watched is self._window and event.type() == QEvent.Type.Close:
            save(self._window, self.path)
        return False
