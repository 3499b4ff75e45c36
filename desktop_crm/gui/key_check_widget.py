"""Asks for two groups of a recovery key back, proving it was written down."""

from __future__ import annotations

import random

from PySide6.QtWidgets import QFormLayout, QLabel, QLineEdit, QVBoxLayout, QWidget

from desktop_crm.gui import fields


def key_groups(key: str) -> list[str]:
    """The groups after the ``RK1`` prefix.

    This mirrors ``crypto.recovery_key.groups`` so the GUI need not import the
    crypto layer for a text split (see the layer table in DESIGN.md).
    """
    return key.split("-")[1:]


class KeyCheckWidget(QWidget):
    """Two fields for two randomly chosen groups of the recovery key.

    Signals: none (the owner calls ``check()``).
    """

    def __init__(
        self, rng: random.Random | None = None, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self._rng = rng or random.SystemRandom()
        self._groups: list[str] = []
        self.indices: tuple[int, int] = (0, 1)
        self.intro = fields.hint_label("")
        self.edits = (QLineEdit(), QLineEdit())
        self.labels = (QLabel(), QLabel())
        self.error = fields.error_label()
        form = QFormLayout()
        for label, edit in zip(self.labels, self.edits, strict=True):
            edit.setFont(fields.monospace_font())
            edit.setMaxLength(8)
            label.setBuddy(edit)
            form.addRow(label, edit)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.intro)
        layout.addLayout(form)
        layout.addWidget(self.error)
        layout.addStretch(1)

    def set_key(self, key: str) -> None:
        """Choose two groups of ``key`` to ask for and clear the fields."""
        self._groups = key_groups(key)
        first, second = sorted(self._rng.sample(range(len(self._groups)), 2))
        self.indices = (first, second)
        self.intro.setText(
            f"Type groups {first + 1} and {second + 1} of the recovery key "
            "(counting after RK1) from what you wrote down or printed."
        )
        for index, label, edit in zip(
            self.indices, self.labels, self.edits, strict=True
        ):
            label.setText(f"Group {index + 1}:")
            edit.setAccessibleName(f"Group {index + 1} of the recovery key")
            edit.clear()
        fields.show_message(self.error, "")

    def expected(self) -> tuple[str, str]:
        """The two groups asked for (tests type them)."""
        return self._groups[self.indices[0]], self._groups[self.indices[1]]

    def check(self) -> bool:
        """Whether both fields match; shows an inline error naming the group."""
        for index, edit in zip(self.indices, self.edits, strict=True):
            typed = edit.text().strip().upper().replace("0", "O").replace("1", "I")
            if typed != self._groups[index]:
                fields.show_message(
                    self.error,
                    f"Group {index + 1} does not match the recovery key. Check what "
                    "you wrote down; go back to see the key again.",
                )
                edit.setFocus()
                return False
        fields.show_message(self.error, "")
        return True

    def forget(self) -> None:
        self._groups = []
        for edit in self.edits:
            edit.clear()
