"""Fixtures for driving the Qt screens offscreen with an injected clock."""

from __future__ import annotations

import random
from collections.abc import Iterator
from pathlib import Path

import pytest
from PySide6.QtWidgets import QApplication
from support.vault_fixtures import VaultHarness, make_vault

from desktop_crm.gui.main_window import MainWindow
from desktop_crm.gui.worker import wait_for_tasks
from desktop_crm.platform.secret_store import MemorySecretStore
from desktop_crm.services.clock import ManualClock
from desktop_crm.services.vault import VaultService


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def empty_vault(tmp_path: Path, clock: ManualClock) -> VaultService:
    """A vault service for a folder with no vault yet (first run)."""
    return VaultService(tmp_path / "vault", MemorySecretStore(), clock)


@pytest.fixture
def harness(tmp_path: Path) -> Iterator[VaultHarness]:
    """A created vault whose setup session is already locked."""
    made = make_vault(tmp_path / "vault", MemorySecretStore())
    made.created.session.lock()
    yield made


def _window(qtbot, vault: VaultService, clock: ManualClock) -> Iterator[MainWindow]:
    window = MainWindow(vault, clock, rng=random.Random(7))
    qtbot.addWidget(window)
    window.start()
    window.show()
    yield window
    wait_for_tasks()
    window.close()
    QApplication.clipboard().clear()


@pytest.fixture
def setup_window(qtbot, empty_vault: VaultService, clock: ManualClock):
    """The main window on a machine without a vault."""
    yield from _window(qtbot, empty_vault, clock)


@pytest.fixture
def window(qtbot, harness: VaultHarness):
    """The main window on the harness vault, showing the lock screen."""
    yield from _window(qtbot, harness.service, harness.clock)
