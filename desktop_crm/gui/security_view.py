"""Admin > Security: lock timing, notes scope, unattended tasks, keys, reports."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6.QtCore import Signal, Slot
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QMessageBox,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from desktop_crm.gui import fields
from desktop_crm.gui.clipboard import SensitiveClipboard
from desktop_crm.gui.new_recovery_key_dialog import NewRecoveryKeyDialog
from desktop_crm.gui.worker import run_task, user_message
from desktop_crm.services import compliance, keys
from desktop_crm.services import settings_keys as setting
from desktop_crm.services.session import Session
from desktop_crm.services.settings import save as save_settings
from desktop_crm.services.vault import VaultService

UNATTENDED_WARNING = (
    "Unattended tasks let reminders and scheduled backups run while the screen "
    "is locked. The trade-off: anyone who can use this computer account can "
    "then open the vault without a PIN. Leave this off unless the computer "
    "account itself is well protected."
)


class SecurityView(QWidget):
    """Security settings and key actions for admins.

    Signals:
        settings_saved(int): the idle-lock minutes now in force.
    """

    settings_saved = Signal(int)

    def __init__(
        self,
        vault: VaultService,
        session: Session,
        clipboard: SensitiveClipboard,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self._vault = vault
        self._session = session
        self._clipboard = clipboard
        self.confirmation: QMessageBox | None = None
        self.dialog: QDialog | None = None
        self.idle_spin = QSpinBox()
        self.idle_spin.setRange(1, 240)
        self.idle_spin.setSuffix(" min")
        self.idle_spin.setAccessibleName("Lock after idle minutes")
        self.quick_spin = QSpinBox()
        self.quick_spin.setRange(0, 24)
        self.quick_spin.setSuffix(" h")
        self.quick_spin.setSpecialValueText("off")
        self.quick_spin.setAccessibleName("Quick re-unlock hours")
        for spin in (self.idle_spin, self.quick_spin):
            spin.setFixedWidth(110)
        self.save_button = QPushButton("&Save")
        self.unattended_box = QCheckBox("Allow &unattended tasks on this computer")
        self.rotate_button = QPushButton("Rotate &database key…")
        self.recovery_button = QPushButton("New &recovery key…")
        self.scope_combo = QComboBox()
        self.scope_combo.addItem("their own patients", "own")
        self.scope_combo.addItem("all patients", "all")
        self.scope_combo.setAccessibleName("Providers read notes of")
        self.report_button = QPushButton("&Compliance report…")
        self.report_button.setAccessibleName("Save the compliance report as PDF")
        self.status = fields.hint_label("")
        self.error = fields.error_label()
        self._build()
        self._load()
        self.save_button.clicked.connect(self.on_save_button_clicked)
        self.unattended_box.clicked.connect(self.on_unattended_box_clicked)
        self.rotate_button.clicked.connect(self.on_rotate_button_clicked)
        self.recovery_button.clicked.connect(self.on_recovery_button_clicked)
        self.report_button.clicked.connect(self.on_report_button_clicked)

    def _build(self) -> None:
        locking = QGroupBox("Locking")
        form = QFormLayout(locking)
        form.addRow("&Lock after idle for:", self.idle_spin)
        form.addRow("&Quick re-unlock (PIN only) for:", self.quick_spin)
        form.addRow("&Providers read notes of:", self.scope_combo)
        form.addRow(
            fields.hint_label(
                "Quick re-unlock lets the same user unlock this computer with the "
                "PIN alone for this long after a full unlock. 0 turns it off. "
                "Providers read visit reasons and notes of the patients they see "
                "(an appointment or visit with them) unless widened to all."
            )
        )
        save_row = QHBoxLayout()
        save_row.addStretch(1)
        save_row.addWidget(self.save_button)
        form.addRow(save_row)
        unattended = QGroupBox("Unattended tasks")
        column = QVBoxLayout(unattended)
        column.addWidget(self.unattended_box)
        column.addWidget(fields.hint_label(UNATTENDED_WARNING))
        key_box = QGroupBox("Keys")
        key_column = QVBoxLayout(key_box)
        key_column.addWidget(
            fields.hint_label(
                "Rotate the database key after a user leaves or a laptop is "
                "lost. A new recovery key makes the old one stop working."
            )
        )
        key_row = QHBoxLayout()
        key_row.addWidget(self.rotate_button)
        key_row.addWidget(self.recovery_button)
        key_row.addStretch(1)
        key_column.addLayout(key_row)
        reports = QGroupBox("Reports")
        report_row = QHBoxLayout(reports)
        report_row.addWidget(
            fields.hint_label(
                "The compliance report states, for each HIPAA technical "
                "safeguard, what this vault does now and what the practice "
                "must still do. It holds no patient data."
            ),
            1,
        )
        report_row.addWidget(self.report_button)
        layout = QVBoxLayout(self)
        for widget in (locking, unattended, key_box, reports, self.status, self.error):
            layout.addWidget(widget)
        layout.addStretch(1)

    def _load(self) -> None:
        s = self._session
        idle = s.setting(setting.IDLE_MINUTES, setting.DEFAULT_IDLE_MINUTES)
        quick = s.setting(
            setting.QUICK_UNLOCK_HOURS, setting.DEFAULT_QUICK_UNLOCK_HOURS
        )
        self.idle_spin.setValue(int(float(idle)))
        self.quick_spin.setValue(int(float(quick)))
        self.unattended_box.setChecked(s.setting(setting.UNATTENDED, "0") == "1")
        scope = s.setting(
            setting.PROVIDER_NOTES_SCOPE, setting.DEFAULT_PROVIDER_NOTES_SCOPE
        )
        self.scope_combo.setCurrentIndex(max(0, self.scope_combo.findData(scope)))

    def _run(
        self, busy: str, work: Callable[[], Any], done: Callable[[Any], None]
    ) -> None:
        self.setEnabled(False)
        self.status.setText(busy)
        fields.show_message(self.error, "")
        run_task(work, done, self.on_task_failed)

    @Slot(object)
    def on_task_failed(self, error: BaseException) -> None:
        self.setEnabled(True)
        self.status.clear()
        fields.show_message(self.error, user_message(error))
        self._load()

    @Slot()
    def on_save_button_clicked(self) -> None:
        values = {
            setting.IDLE_MINUTES: str(self.idle_spin.value()),
            setting.QUICK_UNLOCK_HOURS: str(self.quick_spin.value()),
            setting.PROVIDER_NOTES_SCOPE: str(self.scope_combo.currentData()),
        }
        self._run(
            "Saving…", lambda: save_settings(self._session, values), self.on_saved
        )

    @Slot(object)
    def on_saved(self, _result: object) -> None:
        self.setEnabled(True)
        self.status.setText("Settings saved.")
        self.settings_saved.emit(self.idle_spin.value())

    @Slot(bool)
    def on_unattended_box_clicked(self, checked: bool) -> None:
        # The box only changes once the service has done it.
        self.unattended_box.setChecked(not checked)
        if checked:
            self.confirmation = fields.confirm(
                self,
                "Allow unattended tasks?",
                UNATTENDED_WARNING,
                "Allow",
                lambda: self._set_unattended(True),
            )
        else:
            self._set_unattended(False)

    def _set_unattended(self, enable: bool) -> None:
        action = keys.enable_unattended if enable else keys.disable_unattended
        self._run(
            "Updating the unattended-task key…",
            lambda: action(self._vault, self._session),
            lambda _r: self._unattended_done(enable),
        )

    def _unattended_done(self, enabled: bool) -> None:
        self.setEnabled(True)
        self.unattended_box.setChecked(enabled)
        self.status.setText(
            "Unattended tasks are allowed on this computer."
            if enabled
            else "Unattended tasks are off."
        )

    @Slot()
    def on_rotate_button_clicked(self) -> None:
        self.confirmation = fields.confirm(
            self,
            "Rotate the database key?",
            "The database is re-encrypted under a new key and every user's access "
            "is updated. Users keep their PINs. This takes a moment.",
            "Rotate",
            lambda: self._run(
                "Rotating the database key…",
                lambda: keys.rotate_dek(self._vault, self._session),
                self.on_rotated,
            ),
        )

    @Slot(object)
    def on_rotated(self, _result: object) -> None:
        self.setEnabled(True)
        self.status.setText("The database key was rotated.")

    @Slot()
    def on_recovery_button_clicked(self) -> None:
        self.confirmation = fields.confirm(
            self,
            "Issue a new recovery key?",
            "The current recovery key stops working at once. Have paper ready: the "
            "new key is shown only once.",
            "Issue new key",
            lambda: self._run(
                "Issuing a new recovery key…",
                lambda: keys.new_recovery_key(self._vault, self._session),
                self.on_recovery_key_issued,
            ),
        )

    @Slot(object)
    def on_recovery_key_issued(self, key: str) -> None:
        self.setEnabled(True)
        self.status.setText(
            "A new recovery key was issued; the old one no longer works."
        )
        dialog = NewRecoveryKeyDialog(key, self._clipboard, parent=self)
        dialog.finished.connect(dialog.deleteLater)
        self.dialog = dialog
        dialog.open()

    @Slot()
    def on_report_button_clicked(self) -> None:
        name, _ = QFileDialog.getSaveFileName(
            self, "Save compliance report", "compliance-report.pdf", "PDF files (*.pdf)"
        )
        if name:
            self.save_report(Path(name))

    def save_report(self, path: Path) -> None:
        """Generate the report off the GUI thread and write it to ``path``."""
        self._run(
            "Generating the compliance report…",
            lambda: compliance.save_report(self._session, path),
            self.on_report_saved,
        )

    @Slot(object)
    def on_report_saved(self, path: Path) -> None:
        self.setEnabled(True)
        self.status.setText(f"Compliance report saved to {path.name}.")
