"""Helpers shared by the GUI tests: typing like a user, walking the widget tree."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication, QWidget

from desktop_crm.gui.main_window import MainWindow
from desktop_crm.gui.unlock_widget import UnlockWidget


def all_widgets() -> list[QWidget]:
    """Every widget of every top-level window, the windows included."""
    found: list[QWidget] = []
    for top in QApplication.topLevelWidgets():
        found.append(top)
        found.extend(top.findChildren(QWidget))
    return found


def unlock_with(qtbot, window: MainWindow, name: str, pin: str, code: str = "") -> None:
    """Type into the lock screen like a user and press Unlock."""
    gate = window.gate
    assert isinstance(gate, UnlockWidget)
    gate.user_combo.setCurrentText(name)
    gate.pin_edit.clear()
    qtbot.keyClicks(gate.pin_edit, pin)
    if code:
        qtbot.keyClicks(gate.code_edit, code)
    qtbot.mouseClick(gate.unlock_button, Qt.MouseButton.LeftButton)
