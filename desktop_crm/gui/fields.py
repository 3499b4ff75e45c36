"""Small factories for the inputs and messages every screen shares."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QEvent, QRegularExpression
from PySide6.QtGui import (
    QColor,
    QFont,
    QFontDatabase,
    QPalette,
    QRegularExpressionValidator,
)
from PySide6.QtWidgets import QApplication, QLabel, QLineEdit, QMessageBox, QWidget

PIN_POLICY = (
    "A PIN is 6 to 12 digits. One repeated digit (111111) and runs such as "
    "123456 or 654321 are refused."
)
CODE_DIGITS = 6


def pin_edit(accessible_name: str) -> QLineEdit:
    """A masked field that accepts up to 12 digits."""
    edit = QLineEdit()
    edit.setEchoMode(QLineEdit.EchoMode.Password)
    edit.setValidator(QRegularExpressionValidator(QRegularExpression(r"\d{0,12}")))
    edit.setMaxLength(12)
    edit.setAccessibleName(accessible_name)
    edit.setObjectName(accessible_name.lower().replace(" ", "_"))
    return edit


def code_edit(accessible_name: str = "Authenticator code") -> QLineEdit:
    """A six-digit field for a code from an authenticator app."""
    edit = QLineEdit()
    edit.setValidator(QRegularExpressionValidator(QRegularExpression(r"\d{0,6}")))
    edit.setMaxLength(CODE_DIGITS)
    edit.setPlaceholderText("6 digits")
    edit.setAccessibleName(accessible_name)
    edit.setObjectName("code")
    edit.setFont(monospace_font())
    return edit


class ErrorLabel(QLabel):
    """An inline error message in red that stays readable on light and dark
    palettes (it follows palette changes).

    Signals: none.
    """

    LIGHT_BACKGROUND_RED = QColor(176, 0, 32)
    DARK_BACKGROUND_RED = QColor(255, 138, 128)

    def __init__(self) -> None:
        super().__init__()
        self._recolouring = False
        self._recolour()

    def changeEvent(self, event: QEvent) -> None:
        super().changeEvent(event)
        palette_events = (
            QEvent.Type.PaletteChange,
            QEvent.Type.ApplicationPaletteChange,
        )
        if event.type() in palette_events and not self._recolouring:
            self._recolour()

    def _recolour(self) -> None:
        palette = self.palette()
        dark = palette.color(QPalette.ColorRole.Window).lightness() < 128
        red = self.DARK_BACKGROUND_RED if dark else self.LIGHT_BACKGROUND_RED
        palette.setColor(QPalette.ColorRole.WindowText, red)
        self._recolouring = True
        try:
            self.setPalette(palette)
        finally:
            self._recolouring = False


def set_attention(label: QLabel, on: bool) -> None:
    """Show ``label`` in bold, readable red (or back to normal text)."""
    font = label.font()
    font.setBold(on)
    label.setFont(font)
    palette = QApplication.palette(label)
    if on:
        dark = palette.color(QPalette.ColorRole.Window).lightness() < 128
        palette.setColor(
            QPalette.ColorRole.WindowText,
            ErrorLabel.DARK_BACKGROUND_RED if dark else ErrorLabel.LIGHT_BACKGROUND_RED,
        )
    label.setPalette(palette)


def error_label(accessible_name: str = "Error message") -> QLabel:
    """A hidden, word-wrapped label for an inline error."""
    label = ErrorLabel()
    label.setObjectName("error")
    label.setAccessibleName(accessible_name)
    label.setWordWrap(True)
    label.hide()
    return label


def show_message(label: QLabel, text: str) -> None:
    """Show ``text`` in an inline message label, or hide the label if empty."""
    label.setText(text)
    label.setVisible(bool(text))


def hint_label(text: str) -> QLabel:
    """A word-wrapped explanatory paragraph."""
    label = QLabel(text)
    label.setWordWrap(True)
    label.setStyleSheet("color: palette(placeholder-text);")
    return label


def heading(text: str) -> QLabel:
    """A bold, larger label at the top of a screen or page."""
    label = QLabel(text)
    font = label.font()
    font.setPointSizeF(font.pointSizeF() * 1.4)
    font.setBold(True)
    label.setFont(font)
    label.setWordWrap(True)
    return label


def monospace_font() -> QFont:
    return QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont)


def confirm(
    parent: QWidget,
    title: str,
    text: str,
    yes_text: str,
    on_confirmed: Callable[[], None],
) -> QMessageBox:
    """Ask a yes/no question without blocking; ``on_confirmed`` runs on yes.

    Returns:
        The open message box, so tests (and the lock) can reach it.
    """
    box = QMessageBox(QMessageBox.Icon.Warning, title, text, parent=parent)
    yes = box.addButton(yes_text, QMessageBox.ButtonRole.AcceptRole)
    box.addButton(QMessageBox.StandardButton.Cancel)
    box.setDefaultButton(QMessageBox.StandardButton.Cancel)

    def finished() -> None:
        if box.clickedButton() is yes:
            on_confirmed()
        box.deleteLater()

    box.finished.connect(finished)
    box.open()
    return box
