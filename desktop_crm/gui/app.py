"""Start the desktop application: one QApplication and the main window."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

from PySide6.QtCore import QElapsedTimer, QEvent, QObject
from PySide6.QtGui import QIcon
from PySide6.QtWidgets import QApplication

from desktop_crm.gui.main_window import APP_NAME, MainWindow
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


def application() -> QApplication:
    """The process's QApplication, made on first use."""
    app = QApplication.instance()
    if not isinstance(app, QApplication):
        app = QApplication(sys.argv[:1])
    app.setApplicationName(APP_NAME)
    app.setOrganizationName(APP_NAME)
    if ICON.exists():
        app.setWindowIcon(QIcon(str(ICON)))
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
