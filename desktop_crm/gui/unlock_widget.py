"""The lock screen: choose a user, type the PIN and an authenticator code."""

from __future__ import annotations

from PySide6.QtCore import Qt, QTimer, Signal, Slot
from PySide6.QtGui import QPaintEvent, QShowEvent
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QFormLayout,
    QFrame,
    QHBoxLayout,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from desktop_crm.errors import (
    AuthenticationFailed,
    CRMError,
    DeviceSecretMissing,
    LockedOut,
    TOTPRequired,
)
from desktop_crm.gui import fields
from desktop_crm.gui.worker import run_task, user_message
from desktop_crm.services.clock import Clock
from desktop_crm.services.session import Session
from desktop_crm.services.vault import TOTPEnrolmentRequired, VaultService

CODE_NEEDED = "Enter the code from your authenticator app."
NO_DEVICE_KEY = (
    "This computer's keyring holds no device key for this vault (a new "
    "computer, or the keyring was reset). Use “Recover with recovery key”."
)


def _wait_text(seconds: int) -> str:
    minutes, secs = divmod(max(0, seconds), 60)
    wait = f"{minutes} min {secs:02d} s" if minutes else f"{secs} s"
    return f"Too many failed attempts. Try again in {wait}."


class UnlockWidget(QWidget):
    """Unlocks the vault with user, PIN and code (code optional for re-unlock).

    Signals:
        unlocked(object): the new ``Session``.
        recovery_requested(): the user chose to recover with the recovery key.
    """

    unlocked = Signal(object)
    recovery_requested = Signal()

    def __init__(
        self,
        vault: VaultService,
        clock: Clock,
        user: str | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self._vault = vault
        self._clock = clock
        self._prefetched = False
        self._locked_until = 0.0
        self.dialog: QDialog | None = None
        self.user_combo = QComboBox()
        self.user_combo.setAccessibleName("User")
        self.pin_edit = fields.pin_edit("PIN")
        self.code_edit = fields.code_edit()
        self.unlock_button = QPushButton("&Unlock")
        self.unlock_button.setDefault(True)
        self.recover_button = QPushButton("Recover with recovery key…")
        self.recover_button.setFlat(True)
        self.recover_button.setCursor(Qt.CursorShape.PointingHandCursor)
        self.recover_button.setStyleSheet("color: palette(link); text-align: left;")
        self.error = fields.error_label()
        self.countdown = QTimer(self)
        self.countdown.setInterval(1000)
        self.countdown.timeout.connect(self.on_countdown_timeout)
        self._build()
        self._load_users(user)
        self.unlock_button.clicked.connect(self.on_unlock_button_clicked)
        self.pin_edit.returnPressed.connect(self.on_unlock_button_clicked)
        self.code_edit.returnPressed.connect(self.on_unlock_button_clicked)
        self.recover_button.clicked.connect(self.recovery_requested)

    def _build(self) -> None:
        form = QFormLayout()
        form.addRow("&User:", self.user_combo)
        form.addRow("&PIN:", self.pin_edit)
        form.addRow("&Code:", self.code_edit)
        card = self.card = QFrame()
        card.setObjectName("unlock_card")
        card.setFrameShape(QFrame.Shape.StyledPanel)
        # A fixed width lets the wrapped hint text claim the height it needs.
        card.setFixedWidth(460)
        inner = QVBoxLayout(card)
        inner.setContentsMargins(24, 20, 24, 20)
        inner.setSpacing(12)
        inner.addWidget(fields.heading("Desktop CRM is locked"))
        inner.addWidget(
            fields.hint_label(
                "Choose your name, then type your PIN and the 6-digit code from "
                "your authenticator app. Within a few hours of your last full "
                "unlock on this computer the PIN alone is enough."
            )
        )
        inner.addLayout(form)
        inner.addWidget(self.error)
        row = QHBoxLayout()
        row.addWidget(self.recover_button)
        row.addStretch(1)
        row.addWidget(self.unlock_button)
        inner.addLayout(row)
        outer = QVBoxLayout(self)
        outer.addStretch(1)
        outer.addWidget(card, 0, Qt.AlignmentFlag.AlignHCenter)
        outer.addStretch(2)

    def _show_error(self, text: str) -> None:
        """Show a message and let the card grow to the wrapped text's height.

        A centred fixed-width frame does not get height-for-width from its
        parent layout, so its minimum height is set from its own layout.
        """
        fields.show_message(self.error, text)
        if not text:
            # Nothing to fit (and sizing is not free: on first use it makes
            # PySide6 build many enum types, a visible delay at start-up).
            self.card.setMinimumHeight(0)
            return
        layout = self.card.layout()
        self.card.setMinimumHeight(layout.totalHeightForWidth(self.card.width()))

    def _load_users(self, selected: str | None) -> None:
        try:
            names = self._vault.user_names()
        except CRMError as exc:
            names = []
            self._show_error(user_message(exc))
        self.user_combo.addItems(names)
        if selected in names:
            self.user_combo.setCurrentText(selected)

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        (self.pin_edit if self.user_combo.currentText() else self.user_combo).setFocus()

    def paintEvent(self, event: QPaintEvent) -> None:
        super().paintEvent(event)
        if not self._prefetched:
            # Read the keyring while the user types, so unlock pays only
            # Argon2id; start after the first paint, because loading the
            # keyring libraries on a worker would hold the GIL and delay it.
            self._prefetched = True
            QTimer.singleShot(0, self._start_prefetch)

    def _start_prefetch(self) -> None:
        run_task(self._vault.prefetch, self.on_prefetch_done, self.on_prefetch_failed)

    @Slot(object)
    def on_prefetch_done(self, _result: object) -> None:
        """Nothing to show: the keyring answered."""

    @Slot(object)
    def on_prefetch_failed(self, error: BaseException) -> None:
        text = NO_DEVICE_KEY if isinstance(error, DeviceSecretMissing) else None
        self._show_error(text or user_message(error))

    @Slot()
    def on_unlock_button_clicked(self) -> None:
        if not self.unlock_button.isEnabled():
            return
        name, pin = self.user_combo.currentText(), self.pin_edit.text()
        code = self.code_edit.text().strip() or None
        if not name:
            self._show_error("User: choose your name.")
            return
        if not pin:
            self._show_error("PIN: type your PIN.")
            self.pin_edit.setFocus()
            return
        self.unlock_button.setEnabled(False)
        self._show_error("")
        run_task(
            lambda: self._vault.unlock(name, pin, code),
            self.on_unlock_succeeded,
            self.on_unlock_failed,
        )

    @Slot(object)
    def on_unlock_succeeded(self, session: Session) -> None:
        self.pin_edit.clear()
        self.code_edit.clear()
        self.unlock_button.setEnabled(True)
        self.unlocked.emit(session)

    @Slot(object)
    def on_unlock_failed(self, error: BaseException) -> None:
        self.unlock_button.setEnabled(True)
        self.code_edit.clear()
        if isinstance(error, TOTPRequired):
            self._show_error(CODE_NEEDED)
            self.code_edit.setFocus()
            return
        if isinstance(error, TOTPEnrolmentRequired):
            self._reenrol(error)
            return
        self.pin_edit.clear()
        if isinstance(error, LockedOut):
            self._start_countdown(error.seconds)
        elif isinstance(error, DeviceSecretMissing):
            self._show_error(NO_DEVICE_KEY)
        else:
            self._show_error(user_message(error))
            if isinstance(error, AuthenticationFailed):
                self.pin_edit.setFocus()

    def _reenrol(self, error: TOTPEnrolmentRequired) -> None:
        from desktop_crm.gui.reenrol_dialog import ReEnrolDialog

        name, pin = self.user_combo.currentText(), self.pin_edit.text()
        self.pin_edit.clear()
        self._show_error("Your authenticator was reset: set up its new entry.")
        dialog = ReEnrolDialog(self._vault, name, pin, error.enrolment, self)
        dialog.setObjectName("reenrol_dialog")
        dialog.unlocked.connect(self.on_unlock_succeeded)
        dialog.finished.connect(dialog.deleteLater)
        self.dialog = dialog
        dialog.open()

    def _start_countdown(self, seconds: int) -> None:
        self._locked_until = self._clock.now() + seconds
        self.unlock_button.setEnabled(False)
        self._show_error(_wait_text(seconds))
        self.countdown.start()

    @Slot()
    def on_countdown_timeout(self) -> None:
        remaining = int(round(self._locked_until - self._clock.now()))
        if remaining > 0:
            self._show_error(_wait_text(remaining))
            return
        self.countdown.stop()
        self.unlock_button.setEnabled(True)
        self._show_error("You can try again now.")
        self.pin_edit.setFocus()
