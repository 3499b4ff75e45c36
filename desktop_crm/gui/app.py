"""Start the desktop application: one QApplication and the main window."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

from PySide6.QtCore import QElapsedTimer, QEvent, QObject, Qt
from PySide6.QtGui import QColor, QGuiApplication, QIcon, QPalette
from PySide6.QtWidgets import QApplication, QStyleFactory

from desktop_crm.gui.main_window import APP_NAME, MainWindow
from desktop_crm.gui.window_state import WindowStateKeeper
from desktop_crm.gui.worker import wait_for_tasks
from desktop_crm.services.clock import Clock
from desktop_crm.services.vault import VaultService

ICON = Path(__file__).resolve().parents[2] / "resources" / "icons" / "desktop-crm.svg"
SELF_TEST_LIMIT_MS = 10_000
REPORT_PAINT_ENV = "DESKTOP_CRM_REPORT_PAINT"


class _FirstPaint(QObject):
    """Notes the first paint event of one widget (the packaging self-test).

    Signals: none.
    """

    def __init__(self) -> None:
        super().__init__()
        self.painted = False

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if event.type() == QEvent.Type.Paint and not self.painted:
            self.painted = True
            if os.environ.get(REPORT_PAINT_ENV) == "1":
                # For benchmarks/unlock.py: wall-clock time of the first paint.
                sys.stdout.write(f"first-paint: {time.time()}\n")
                sys.stdout.flush()
        return False


#: Colours of the dark palette used where the platform offers none of its own
#: (plain X11 desktops, and screenshots). Roles not listed are derived by Qt.
_DISABLED_TEXT = "#7a7a7a"
_FOLLOWING = "desktop_crm_follows_palette"


def _dark_roles() -> dict[QPalette.ColorRole, str]:
    """Dark colours by role; built on use (making Qt's enum values costs time at
    start-up)."""
    roles = {
        QPalette.ColorRole.Window: "#2b2b2b",
        QPalette.ColorRole.WindowText: "#e6e6e6",
        QPalette.ColorRole.Base: "#1f1f1f",
        QPalette.ColorRole.AlternateBase: "#2a2a2a",
        QPalette.ColorRole.ToolTipBase: "#3a3a3a",
        QPalette.ColorRole.ToolTipText: "#e6e6e6",
        QPalette.ColorRole.PlaceholderText: "#9a9a9a",
        QPalette.ColorRole.Text: "#e6e6e6",
        QPalette.ColorRole.Button: "#353535",
        QPalette.ColorRole.ButtonText: "#e6e6e6",
        QPalette.ColorRole.BrightText: "#ff6b6b",
        QPalette.ColorRole.Highlight: "#2a64a8",
        QPalette.ColorRole.HighlightedText: "#ffffff",
        QPalette.ColorRole.Link: "#7fb4ff",
        QPalette.ColorRole.LinkVisited: "#c49bff",
        QPalette.ColorRole.Light: "#505050",
        QPalette.ColorRole.Midlight: "#404040",
        QPalette.ColorRole.Mid: "#303030",
        QPalette.ColorRole.Dark: "#1a1a1a",
        QPalette.ColorRole.Shadow: "#000000",
    }
    return roles


def dark_palette() -> QPalette:
    """A readable dark palette for the Fusion style."""
    palette = QPalette()
    for role, colour in _dark_roles().items():
        palette.setColor(role, QColor(colour))
    disabled = QPalette.ColorGroup.Disabled
    for role in (
        QPalette.ColorRole.WindowText,
        QPalette.ColorRole.Text,
        QPalette.ColorRole.ButtonText,
    ):
        palette.setColor(disabled, role, QColor(_DISABLED_TEXT))
    return palette


def _is_dark(palette: QPalette) -> bool:
    window = palette.color(QPalette.ColorRole.Window)
    text = palette.color(QPalette.ColorRole.WindowText)
    return window.lightness() < text.lightness()


def apply_color_scheme(app: QApplication, scheme: Qt.ColorScheme) -> None:
    """Show ``scheme``: the platform's own palette when it has one, else ours.

    Desktops with a colour-scheme setting (Windows, macOS, GNOME and KDE
    through their platform themes) already hand Qt a matching palette; only
    when the palette does not match the scheme asked for is Fusion with
    :func:`dark_palette` (or the style's light palette) put in its place.
    """
    if scheme == Qt.ColorScheme.Unknown:
        return
    want_dark = scheme == Qt.ColorScheme.Dark
    if _is_dark(app.palette()) == want_dark:
        return
    fusion = QStyleFactory.create("Fusion")
    if fusion is not None:
        app.setStyle(fusion)
    app.setPalette(dark_palette() if want_dark else app.style().standardPalette())


def follow_system_palette(app: QApplication) -> None:
    """Match the system's light or dark setting now and whenever it changes."""
    hints = app.styleHints()
    apply_color_scheme(app, hints.colorScheme())
    if app.property(_FOLLOWING) is True:
        return
    app.setProperty(_FOLLOWING, True)
    hints.colorSchemeChanged.connect(lambda scheme: apply_color_scheme(app, scheme))


def application() -> QApplication:
    """The process's QApplication, made on first use."""
    app = QApplication.instance()
    if not isinstance(app, QApplication):
        # Fractional scale factors (125 %, 150 %) as the system sets them,
        # not rounded to whole numbers: text and the SVG icon stay sharp.
        # Only effective before the application object exists.
        QGuiApplication.setHighDpiScaleFactorRoundingPolicy(
            Qt.HighDpiScaleFactorRoundingPolicy.PassThrough
        )
        app = QApplication(sys.argv[:1])
    app.setApplicationName(APP_NAME)
    app.setOrganizationName(APP_NAME)
    if ICON.exists():
        app.setWindowIcon(QIcon(str(ICON)))
    follow_system_palette(app)
    return app


def run_gui(
    vault: VaultService, *, clock: Clock | None = None, self_test: bool = False
) -> int:
    """Show setup (no vault yet) or the lock screen and run until quit.

    Args:
        vault: the vault service for the data folder in use.
        clock: time for idle locking and clipboard clearing (the vault's clock
            by default).
        self_test: show the window, wait for its first paint and return 0
            (packaging smoke tests); 1 if it never painted.

    Returns:
        The process exit code.
    """
    app = application()
    window = MainWindow(vault, clock)
    # A self-test must not overwrite the size the user's window remembers.
    WindowStateKeeper(window, save_on_close=not self_test)
    window.start()
    if self_test:
        return _self_test(app, window)
    window.show()
    code = app.exec()
    wait_for_tasks()
    return code


def _self_test(app: QApplication, window: MainWindow) -> int:
    watcher = _FirstPaint()
    window.installEventFilter(watcher)
    window.show()
    timer = QElapsedTimer()
    timer.start()
    while not watcher.painted and timer.elapsed() < SELF_TEST_LIMIT_MS:
        app.processEvents()
    window.removeEventFilter(watcher)
    window.close()
    wait_for_tasks()
    window.deleteLater()
    app.processEvents()
    return 0 if watcher.painted else 1
