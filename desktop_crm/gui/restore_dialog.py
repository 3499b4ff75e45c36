"""First run › "Restore from backup…": file, key, admin, new PIN, then TOTP.

The restore runs off the GUI thread with a progress bar and Cancel.  When it
has finished, the admin who restored scans a new authenticator QR code and
types one valid code; the session is then locked and the lock screen shown.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Signal, Slot
from PySide6.QtWidgets import (
    QButtonGroup,
    QDialog,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QRadioButton,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from desktop_crm.gui import fields
from desktop_crm.gui.backup_status import ProgressRelay
from desktop_crm.gui.backup_view import passphrase_edit
from desktop_crm.gui.enrolment_widget import EnrolmentWidget
from desktop_crm.gui.worker import run_task, user_message
from desktop_crm.services import backup
from desktop_crm.services.session import Session
from desktop_crm.services.vault import Enrolment, VaultService

FORM, ENROL = range(2)


class RestoreDialog(QDialog):
    """Restores a backup into the vault folder of ``vault`` (which holds none).

    Signals:
        restored(): the restore finished and the admin enrolled; the restored
            session has been locked (show the lock screen).
    """

    restored = Signal()

    def __init__(self, vault: VaultService, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Restore from backup")
        self.setObjectName("restore_dialog")
        self.setMinimumWidth(620)
        self._vault = vault
        self.session: Session | None = None
        self.relay = ProgressRelay(self)
        self.relay.progressed.connect(self.on_relay_progressed)
        self.file_edit = QLineEdit()
        self.file_edit.setAccessibleName("Backup file")
        self.file_edit.setPlaceholderText("a .dcrmbak file")
        self.browse_button = QPushButton("&Browse…")
        self.phrase_radio = QRadioButton("Backup &passphrase")
        self.key_radio = QRadioButton("Recovery &key")
        self.phrase_radio.setChecked(True)
        self.kind_group = QButtonGroup(self)
        self.kind_group.addButton(self.phrase_radio)
        self.kind_group.addButton(self.key_radio)
        self.secret_edit = passphrase_edit("Passphrase or recovery key")
        self.admin_edit = QLineEdit()
        self.admin_edit.setAccessibleName("Admin name")
        self.admin_edit.setPlaceholderText("an admin in the backup")
        self.pin_edit = fields.pin_edit("New PIN")
        self.confirm_edit = fields.pin_edit("Confirm new PIN")
        for edit in (self.pin_edit, self.confirm_edit):
            edit.setFixedWidth(160)
        self.progress = QProgressBar()
        self.progress.setAccessibleName("Restore progress")
        self.status = fields.hint_label("")
        self.error = fields.error_label()
        self.enrolment = EnrolmentWidget()
        self.enrol_error = fields.error_label()
        self.pages = QStackedWidget()
        self.restore_button = QPushButton("&Restore")
        self.restore_button.setDefault(True)
        self.cancel_button = QPushButton("&Cancel")
        self.file_dialog: QFileDialog | None = None
        self._running = False
        self._build()
        self.progress.hide()
        self.browse_button.clicked.connect(self.on_browse_button_clicked)
        self.restore_button.clicked.connect(self.on_restore_button_clicked)
        self.cancel_button.clicked.connect(self.on_cancel_button_clicked)

    def _build(self) -> None:
        form_page = QWidget()
        form = QFormLayout()
        file_row = QHBoxLayout()
        file_row.addWidget(self.file_edit, 1)
        file_row.addWidget(self.browse_button)
        file_label = QLabel("Backup &file:")
        file_label.setBuddy(self.file_edit)
        form.addRow(file_label, file_row)
        kinds = QHBoxLayout()
        kinds.addWidget(self.phrase_radio)
        kinds.addWidget(self.key_radio)
        kinds.addStretch(1)
        form.addRow("Open it with:", kinds)
        form.addRow("P&assphrase or key:", self.secret_edit)
        form.addRow("&Admin who restores:", self.admin_edit)
        form.addRow("&New PIN:", self.pin_edit)
        form.addRow("C&onfirm new PIN:", self.confirm_edit)
        column = QVBoxLayout(form_page)
        column.addWidget(
            fields.hint_label(
                "Restore the practice's vault from a backup file. You need the "
                "file and its backup passphrase or the recovery key. You become "
                "the admin of the restored vault with a new PIN and a new "
                "authenticator entry; every other user stays inactive until you "
                "confirm them."
            )
        )
        column.addLayout(form)
        column.addWidget(fields.hint_label(fields.PIN_POLICY))
        column.addWidget(self.progress)
        column.addWidget(self.status)
        column.addWidget(self.error)
        column.addStretch(1)
        enrol_page = QWidget()
        enrol = QVBoxLayout(enrol_page)
        enrol.addWidget(fields.heading("Connect your authenticator app"))
        enrol.addWidget(self.enrolment)
        enrol.addWidget(self.enrol_error)
        enrol.addStretch(1)
        self.pages.addWidget(form_page)
        self.pages.addWidget(enrol_page)
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        buttons.addWidget(self.cancel_button)
        buttons.addWidget(self.restore_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(20, 16, 20, 16)
        layout.addWidget(self.pages, 1)
        layout.addLayout(buttons)

    # -- the form -----------------------------------------------------------
    @Slot()
    def on_browse_button_clicked(self) -> None:
        dialog = QFileDialog(self, "Choose the backup file")
        dialog.setFileMode(QFileDialog.FileMode.ExistingFile)
        dialog.setNameFilters(["Desktop CRM backups (*.dcrmbak)", "All files (*)"])
        dialog.fileSelected.connect(self.file_edit.setText)
        dialog.finished.connect(dialog.deleteLater)
        self.file_dialog = dialog
        dialog.open()

    def _fail(self, widget: QWidget, message: str) -> None:
        fields.show_message(self.error, message)
        widget.setFocus()

    def _validate(self) -> bool:
        if not self.file_edit.text().strip():
            self._fail(self.file_edit, "Backup file: choose the file.")
        elif not self.secret_edit.text():
            self._fail(self.secret_edit, "Type the backup passphrase or recovery key.")
        elif not self.admin_edit.text().strip():
            self._fail(
                self.admin_edit, "Admin: type the name of an admin in the backup."
            )
        elif not self.pin_edit.text():
            self._fail(self.pin_edit, "New PIN: enter a PIN.")
        elif self.pin_edit.text() != self.confirm_edit.text():
            self.confirm_edit.clear()
            self._fail(self.confirm_edit, "Confirm new PIN: does not match the PIN.")
        else:
            fields.show_message(self.error, "")
            return True
        return False

    def _set_running(self, running: bool) -> None:
        self._running = running
        for widget in (
            self.file_edit,
            self.browse_button,
            self.phrase_radio,
            self.key_radio,
            self.secret_edit,
            self.admin_edit,
            self.pin_edit,
            self.confirm_edit,
            self.restore_button,
        ):
            widget.setEnabled(not running)
        self.progress.setVisible(running)
        if running:
            self.progress.setRange(0, 0)
            self.relay.reset()

    @Slot()
    def on_restore_button_clicked(self) -> None:
        if self.pages.currentIndex() == ENROL:
            self._confirm_code()
            return
        if not self._validate():
            return
        path = Path(self.file_edit.text().strip())
        secret = self.secret_edit.text()
        by_key = self.key_radio.isChecked()
        phrase, key_text = (None, secret) if by_key else (secret, None)
        admin, pin, relay = (
            self.admin_edit.text().strip(),
            self.pin_edit.text(),
            self.relay,
        )
        vault = self._vault
        self._set_running(True)
        self.status.setText("Decrypting and checking the backup…")
        run_task(
            lambda: backup.restore_backup(
                path,
                vault.files.root,
                admin_name=admin,
                new_pin=pin,
                secrets_store=vault.secrets,
                progress=relay.report,
                cancel=relay.cancelled,
                clock=vault.clock,
                passphrase=phrase,
                recovery_key_text=key_text,
            ),
            self.on_restore_succeeded,
            self.on_restore_failed,
        )

    @Slot(object, object)
    def on_relay_progressed(self, done: int, total: int) -> None:
        if total > 0:
            self.progress.setRange(0, 1000)
            self.progress.setValue(int(1000 * min(done, total) / total))

    @Slot(object)
    def on_restore_failed(self, error: BaseException) -> None:
        self._set_running(False)
        self.status.clear()
        self.pin_edit.clear()
        self.confirm_edit.clear()
        text = user_message(error)
        if isinstance(error, backup.BackupCancelled):
            text = "Cancelled: nothing was restored."
        fields.show_message(self.error, text)

    @Slot(object)
    def on_restore_succeeded(self, restored: tuple[Session, Enrolment]) -> None:
        self._running = False
        self.session, enrolment = restored
        self.secret_edit.clear()
        self.pin_edit.clear()
        self.confirm_edit.clear()
        self.status.clear()
        self.enrolment.set_enrolment(enrolment)
        self.pages.setCurrentIndex(ENROL)
        self.resize(self.sizeHint().expandedTo(self.size()))
        self.restore_button.setEnabled(True)
        self.restore_button.setText("&Confirm code")
        self.cancel_button.setEnabled(False)  # the vault exists now: enrol first
        if self.enrolment.code_edit is not None:
            self.enrolment.code_edit.setFocus()

    # -- enrolment ----------------------------------------------------------
    def _confirm_code(self) -> None:
        code = self.enrolment.code()
        if len(code) != fields.CODE_DIGITS:
            fields.show_message(
                self.enrol_error, "Code: type the 6 digits the app shows."
            )
            return
        session = self.session
        assert session is not None
        self.restore_button.setEnabled(False)
        run_task(
            lambda: self._vault.confirm_enrolment(session, code),
            self.on_enrolment_succeeded,
            self.on_enrolment_failed,
        )

    @Slot(object)
    def on_enrolment_succeeded(self, _result: object) -> None:
        self.enrolment.forget()
        if self.session is not None:
            self.session.lock("restore-finished")
        self.restored.emit()
        self.accept()

    @Slot(object)
    def on_enrolment_failed(self, error: BaseException) -> None:
        self.restore_button.setEnabled(True)
        self.enrolment.show_refusal(self.enrol_error, error)

    # -- leaving ------------------------------------------------------------
    @Slot()
    def on_cancel_button_clicked(self) -> None:
        if self._running:
            self.relay.cancel()
            self.status.setText("Cancelling…")
            return
        self.reject()

    def abandon(self) -> None:
        """Lock a restored session if the dialog is closed before enrolment."""
        self.relay.cancel()
        if self.session is not None and not self.session.locked:
            self.session.lock("restore-abandoned")

    def reject(self) -> None:
        if self._running:
            self.relay.cancel()
            return
        if self.pages.currentIndex() == ENROL and self.session is not None:
            return  # enrolment is required once the vault exists
        super().reject()
