"""Shows a recovery key once, with a button that copies it for 30 s."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal, Slot
from PySide6.QtWidgets import QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

from desktop_crm.gui import fields
from desktop_crm.gui.clipboard import SensitiveClipboard


def display_form(key: str, per_line: int = 6) -> str:
    """The key broken into two lines of groups, for reading and writing down."""
    parts = key.split("-")
    lines = ["-".join(parts[i : i + per_line]) for i in range(0, len(parts), per_line)]
    return "-\n".join(lines)


class RecoveryKeyWidget(QWidget):
    """A selectable, monospace recovery key and a Copy button.

    Signals:
        key_copied(): the key was put on the clipboard.
    """

    key_copied = Signal()

    def __init__(self, clipboard: SensitiveClipboard, parent: QWidget | None = None):
        super().__init__(parent)
        self._clipboard = clipboard
        self._key = ""
        self.key_label = QLabel()
        self.key_label.setObjectName("recovery_key")
        self.key_label.setAccessibleName("Recovery key")
        font = fields.monospace_font()
        font.setPointSizeF(font.pointSizeF() * 1.25)
        self.key_label.setFont(font)
        self.key_label.setTextInteractionFlags(
            Qt.TextInteractionFlag.TextSelectableByMouse
        )
        self.key_label.setStyleSheet(
            "padding: 10px; border: 1px solid palette(mid); background: palette(base);"
        )
        self.copy_button = QPushButton("&Copy")
        self.copy_button.setToolTip("Copies the key; the clipboard is cleared in 30 s")
        self.copy_button.clicked.connect(self.on_copy_button_clicked)
        self.copied_label = fields.hint_label("")
        buttons = QHBoxLayout()
        buttons.addWidget(self.copy_button)
        buttons.addWidget(self.copied_label, 1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.key_label)
        layout.addLayout(buttons)

    def set_key(self, key: str) -> None:
        self._key = key
        self.key_label.setText(display_form(key))
        self.copied_label.clear()

    def forget(self) -> None:
        self._key = ""
        self.key_label.clear()

    @Slot()
    def on_copy_button_clicked(self) -> None:
        self._clipboard.copy_sensitive(self._key)
        self.copied_label.setText("Copied. The clipboard will be cleared in 30 s.")
        self.key_copied.emit()
