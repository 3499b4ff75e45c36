"""Shows a newly issued recovery key once and checks it was written down."""

from __future__ import annotations

import random

from PySide6.QtCore import Slot
from PySide6.QtWidgets import QDialog, QDialogButtonBox, QVBoxLayout, QWidget

from desktop_crm.gui import fields
from desktop_crm.gui.clipboard import SensitiveClipboard
from desktop_crm.gui.key_check_widget import KeyCheckWidget
from desktop_crm.gui.recovery_key_widget import RecoveryKeyWidget


class NewRecoveryKeyDialog(QDialog):
    """The new key, a Copy button, and two groups to type back before closing.

    Signals: none (``accepted`` once the groups match).
    """

    def __init__(
        self,
        key: str,
        clipboard: SensitiveClipboard,
        rng: random.Random | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("New recovery key")
        self.key_view = RecoveryKeyWidget(clipboard)
        self.key_view.set_key(key)
        self.key_check = KeyCheckWidget(rng)
        self.key_check.set_key(key)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok)
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setText("&Done")
        self.buttons.accepted.connect(self.on_buttons_accepted)
        layout = QVBoxLayout(self)
        layout.addWidget(
            fields.hint_label(
                "The old recovery key no longer works. Write this one down or "
                "print it and keep it offline: it is shown only now."
            )
        )
        layout.addWidget(self.key_view)
        layout.addWidget(self.key_check)
        layout.addWidget(self.buttons)

    @Slot()
    def on_buttons_accepted(self) -> None:
        if self.key_check.check():
            self.key_view.forget()
            self.key_check.forget()
            self.accept()

    def reject(self) -> None:
        """Escape does not close the dialog before the key is confirmed."""
        fields.show_message(
            self.key_check.error,
            "Type the two groups first: this key is shown only once.",
        )
