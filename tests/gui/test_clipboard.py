"""Copied secrets leave the clipboard after 30 s, and only if still ours."""

from __future__ import annotations

import pytest
from PySide6.QtWidgets import QApplication

from desktop_crm.gui.app import run_gui
from desktop_crm.gui.clipboard import SensitiveClipboard
from desktop_crm.services.clock import ManualClock

pytestmark = pytest.mark.gui

KEY = "RK1-AAAAA-BBBBB-CCCCC"


@pytest.fixture
def clipboard(qtbot):
    clock = ManualClock()
    board = SensitiveClipboard(clock, tick_ms=50)
    yield board, clock
    board.clear_now()
    QApplication.clipboard().clear()


def test_copy_marks_the_text_as_secret(clipboard) -> None:
    board, _clock = clipboard

    board.copy_sensitive(KEY)

    mime = QApplication.clipboard().mimeData()
    assert mime.text() == KEY
    assert bytes(mime.data("x-kde-passwordManagerHint")) == b"secret"


def test_cleared_after_30_seconds(qtbot, clipboard) -> None:
    board, clock = clipboard
    board.copy_sensitive(KEY)
    clock.advance(29)
    qtbot.wait(200)
    assert QApplication.clipboard().text() == KEY

    with qtbot.waitSignal(board.cleared, timeout=2000):
        clock.advance(2)

    assert QApplication.clipboard().text() == ""
    assert not board.pending


def test_text_the_user_copied_since_is_left_alone(qtbot, clipboard) -> None:
    board, clock = clipboard
    board.copy_sensitive(KEY)
    QApplication.clipboard().setText("an appointment note")

    clock.advance(31)

    qtbot.waitUntil(lambda: not board.pending, timeout=2000)
    assert QApplication.clipboard().text() == "an appointment note"


def test_clear_now_removes_our_text(clipboard) -> None:
    board, _clock = clipboard
    board.copy_sensitive(KEY)

    board.clear_now()

    assert QApplication.clipboard().text() == ""


def test_run_gui_self_test_paints_and_exits(qtbot, empty_vault) -> None:
    assert run_gui(empty_vault, self_test=True) == 0
