"""The TOTP enrolment panel: QR code, secret for manual entry, code field."""

from __future__ import annotations

import io

from PySide6.QtCore import Qt
from PySide6.QtGui import QPixmap
from PySide6.QtWidgets import (
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QVBoxLayout,
    QWidget,
)

from desktop_crm.errors import AuthenticationFailed
from desktop_crm.gui import fields
from desktop_crm.gui.worker import user_message
from desktop_crm.services.vault import Enrolment


def qr_pixmap(uri: str, scale: int = 5) -> QPixmap:
    """Render ``uri`` as a QR code (medium error correction)."""
    buffer = io.BytesIO()
    import segno  # only when a QR code is shown

    segno.make(uri, error="m").save(buffer, kind="png", scale=scale, border=4)
    pixmap = QPixmap()
    pixmap.loadFromData(buffer.getvalue(), "PNG")
    return pixmap


def grouped(secret: str, size: int = 4) -> str:
    """``ABCDEFGH`` as ``ABCD EFGH``, easier to type by hand."""
    return " ".join(secret[i : i + size] for i in range(0, len(secret), size))


CODE_REFUSED = (
    "Code: not accepted. Type the code the app shows now; if it keeps failing, "
    "check that the phone's clock is set automatically."
)


class EnrolmentWidget(QWidget):
    """Shows one enrolment and, optionally, asks for the first code.

    Signals: none (the owning page reads ``code()``).
    """

    def __init__(self, *, ask_code: bool = True, parent: QWidget | None = None):
        super().__init__(parent)
        self.qr_label = QLabel()
        self.qr_label.setAccessibleName("QR code to scan with an authenticator app")
        self.qr_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.qr_label.setMinimumSize(220, 220)
        self.secret_label = QLabel()
        self.secret_label.setObjectName("enrolment_secret")
        self.secret_label.setAccessibleName("Secret for manual entry")
        self.secret_label.setFont(fields.monospace_font())
        self.secret_label.setWordWrap(True)
        self.secret_label.setTextInteractionFlags(
            Qt.TextInteractionFlag.TextSelectableByMouse
        )
        self.code_edit: QLineEdit | None = fields.code_edit() if ask_code else None
        self._build()

    def _build(self) -> None:
        steps = fields.hint_label(
            "Scan the code with an authenticator app (Google Authenticator, "
            "Microsoft Authenticator, FreeOTP, 1Password…). If the app cannot "
            "scan, enter the secret below by hand as a time-based key."
        )
        manual = QFormLayout()
        manual.addRow("Secret:", self.secret_label)
        if self.code_edit is not None:
            manual.addRow("&Code shown by the app:", self.code_edit)
        side = QVBoxLayout()
        side.addWidget(steps)
        side.addLayout(manual)
        side.addStretch(1)
        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.qr_label, 0, Qt.AlignmentFlag.AlignTop)
        row.addLayout(side, 1)

    def set_enrolment(self, enrolment: Enrolment) -> None:
        self.qr_label.setPixmap(qr_pixmap(enrolment.uri))
        self.secret_label.setText(grouped(enrolment.secret))
        if self.code_edit is not None:
            self.code_edit.clear()

    def code(self) -> str:
        return "" if self.code_edit is None else self.code_edit.text().strip()

    def show_refusal(self, label: QLabel, error: BaseException) -> None:
        """Say in ``label`` why a typed code was refused, and ready a new try."""
        refused = isinstance(error, AuthenticationFailed)
        fields.show_message(label, CODE_REFUSED if refused else user_message(error))
        if self.code_edit is not None:
            self.code_edit.clear()
            self.code_edit.setFocus()

    def forget(self) -> None:
        """Drop the shown secret from the widgets."""
        self.qr_label.clear()
        self.secret_label.clear()
        if self.code_edit is not None:
            self.code_edit.clear()
