"""With no OS keyring the first screen says Desktop CRM cannot start."""

from __future__ import annotations

from PySide6.QtWidgets import QLabel

from desktop_crm.errors import KeyringUnavailable
from desktop_crm.gui.main_window import MainWindow
from desktop_crm.gui.worker import wait_for_tasks
from desktop_crm.platform.secret_store import NO_BACKEND_MESSAGE
from desktop_crm.services.clock import ManualClock
from desktop_crm.services.vault import VaultService


def no_keyring():
    raise KeyringUnavailable(NO_BACKEND_MESSAGE)


def test_setup_without_a_keyring_explains_and_creates_nothing(qtbot, tmp_path):
    vault = VaultService(tmp_path / "vault", no_keyring, ManualClock())
    window = MainWindow(vault, ManualClock())
    qtbot.addWidget(window)

    window.start()
    window.show()

    def explained() -> bool:
        texts = [label.text() for label in window.findChildren(QLabel)]
        return any("cannot start" in t for t in texts) and any(
            "gnome-keyring" in t for t in texts
        )

    qtbot.waitUntil(explained, timeout=5000)
    wait_for_tasks()
    window.grab().save(str(tmp_path / "cannot-start.png"))
    assert not (tmp_path / "vault").exists()
