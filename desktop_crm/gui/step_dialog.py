"""A dialog whose pages are stepped through with one OK button (form, then result)."""

from __future__ import annotations

from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from desktop_crm.gui import fields


class StepDialog(QDialog):
    """Pages, an inline error line and OK/Cancel; subclasses define
    ``on_buttons_accepted`` to act on the current page.

    Signals: none of its own.
    """

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.error = fields.error_label()
        self.pages = QStackedWidget()
        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        self.buttons.accepted.connect(self.on_buttons_accepted)
        self.buttons.rejected.connect(self.reject)

    def on_buttons_accepted(self) -> None:
        raise NotImplementedError

    def add_steps_to(self, layout: QVBoxLayout) -> None:
        """Put the pages, the error line and the buttons into ``layout``."""
        layout.addWidget(self.pages)
        layout.addWidget(self.error)
        layout.addWidget(self.buttons)

    def _fail(self, message: str, widget: QWidget | None = None) -> None:
        """Show why the step failed, let the user retry, focus the culprit."""
        fields.show_message(self.error, message)
        self.buttons.setEnabled(True)
        if widget is not None:
            widget.setFocus()
