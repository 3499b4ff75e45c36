"""Admin › Backups: the passphrase, the schedule, back up now, verify a file."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6.QtCore import QTime, Signal, Slot
from PySide6.QtWidgets import (
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QTimeEdit,
    QVBoxLayout,
    QWidget,
)

from desktop_crm.crypto import backup_format as fmt
from desktop_crm.crypto import recovery_key
from desktop_crm.gui import fields
from desktop_crm.gui.backup_status import ProgressRelay
from desktop_crm.gui.worker import run_task, user_message
from desktop_crm.services import backup, backup_schedule
from desktop_crm.services.backup_schedule import Retention, Schedule
from desktop_crm.services.clock import Clock
from desktop_crm.services.session import Session

PHRASE_HINT = (
    "Backups are encrypted. Reading one needs this passphrase (at least "
    f"{fmt.MIN_PASSPHRASE_CHARS} characters) or the recovery key. Keep it away "
    "from this computer. Changing it affects new backups only."
)


def looks_like_recovery_key(text: str) -> bool:
    """Whether ``text`` is shaped like a recovery key (RK1- and 55 characters)."""
    cleaned = re.sub(r"[\s\-]+", "", text).upper()
    return cleaned.startswith(recovery_key.PREFIX) and len(cleaned) == 58


def passphrase_edit(name: str) -> QLineEdit:
    edit = QLineEdit()
    edit.setEchoMode(QLineEdit.EchoMode.Password)
    edit.setAccessibleName(name)
    edit.setObjectName(name.lower().replace(" ", "_"))
    return edit


class BackupsView(QWidget):
    """Backup settings and actions for admins.

    Signals:
        health_changed(object): the ``Health`` after a change here.
    """

    health_changed = Signal(object)

    def __init__(
        self, session: Session, clock: Clock, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self._session = session
        self._clock = clock
        #: Chunk size of backups made here (tests make it small).
        self.chunk_size = fmt.DEFAULT_CHUNK_BYTES
        self.relay = ProgressRelay(self)
        self.relay.progressed.connect(self.on_relay_progressed)
        self.health_label = QLabel()
        self.health_label.setObjectName("backup_health")
        self.health_label.setWordWrap(True)
        font = self.health_label.font()
        font.setBold(True)
        self.health_label.setFont(font)
        self.phrase_edit = passphrase_edit("Backup passphrase")
        self.phrase_again = passphrase_edit("Backup passphrase again")
        for edit in (self.phrase_edit, self.phrase_again):
            edit.setFixedWidth(360)
        self.phrase_button = QPushButton("Set &passphrase")
        self.time_edit = QTimeEdit()
        self.time_edit.setDisplayFormat("HH:mm")
        self.time_edit.setAccessibleName("Time of day")
        self.time_edit.setFixedWidth(90)
        self.dest_edit = QLineEdit()
        self.dest_edit.setAccessibleName("Destination folder")
        self.dest_edit.setPlaceholderText("an external drive or a network share")
        self.browse_button = QPushButton("&Browse…")
        self.keep_spins = tuple(
            self._keep_spin(n) for n in ("daily", "weekly", "monthly")
        )
        self.schedule_button = QPushButton("Save &schedule")
        self.backup_button = QPushButton("Back up &now")
        self.verify_button = QPushButton("&Verify a backup file…")
        self.verify_phrase = passphrase_edit("Passphrase or recovery key")
        self.progress = QProgressBar()
        self.progress.setAccessibleName("Progress")
        self.progress.setTextVisible(True)
        self.cancel_button = QPushButton("&Cancel")
        self.status = fields.hint_label("")
        self.status.setObjectName("backup_status_text")
        self.error = fields.error_label()
        self.file_dialog: QFileDialog | None = None
        self._build()
        self._set_busy(False)
        self._load()
        self.phrase_button.clicked.connect(self.on_phrase_button_clicked)
        self.schedule_button.clicked.connect(self.on_schedule_button_clicked)
        self.browse_button.clicked.connect(self.on_browse_button_clicked)
        self.backup_button.clicked.connect(self.on_backup_button_clicked)
        self.verify_button.clicked.connect(self.on_verify_button_clicked)
        self.cancel_button.clicked.connect(self.on_cancel_button_clicked)

    @staticmethod
    def _keep_spin(period: str) -> QSpinBox:
        spin = QSpinBox()
        spin.setRange(*backup_schedule.KEEP_RANGE)
        spin.setAccessibleName(f"{period.capitalize()} copies to keep")
        spin.setFixedWidth(90)
        return spin

    def _build(self) -> None:
        phrase = QGroupBox("Backup passphrase")
        phrase_form = QFormLayout(phrase)
        phrase_form.addRow(fields.hint_label(PHRASE_HINT))
        phrase_form.addRow("Pass&phrase:", self.phrase_edit)
        phrase_row = QHBoxLayout()
        phrase_row.addWidget(self.phrase_again)
        phrase_row.addWidget(self.phrase_button)
        phrase_row.addStretch(1)
        phrase_form.addRow(self._label("&Again:", self.phrase_again), phrase_row)

        schedule = QGroupBox("Schedule")
        form = QFormLayout(schedule)
        form.addRow("Back up &daily at:", self.time_edit)
        dest_row = QHBoxLayout()
        dest_row.addWidget(self.dest_edit, 1)
        dest_row.addWidget(self.browse_button)
        form.addRow(self._label("&Destination folder:", self.dest_edit), dest_row)
        keep_row = QHBoxLayout()
        for label, spin in zip(
            ("daily", "weekly", "monthly"), self.keep_spins, strict=True
        ):
            keep_row.addWidget(spin)
            keep_row.addWidget(QLabel(label))
            keep_row.addSpacing(12)
        keep_row.addStretch(1)
        form.addRow(self._label("&Keep copies:", self.keep_spins[0]), keep_row)
        form.addRow(self._right(self.schedule_button))

        actions = QGroupBox("Back up and check")
        column = QVBoxLayout(actions)
        column.addWidget(
            fields.hint_label(
                "“Back up now” writes a backup into the destination folder. "
                "To check a backup file, type its passphrase (or the recovery key) "
                "below, then choose the file."
            )
        )
        verify_row = QHBoxLayout()
        verify_row.addWidget(QLabel("Passphrase or recovery key:"))
        self.verify_phrase.setMaximumWidth(420)
        verify_row.addWidget(self.verify_phrase, 1)
        verify_row.addStretch(0)
        column.addLayout(verify_row)
        buttons = QHBoxLayout()
        buttons.addWidget(self.backup_button)
        buttons.addWidget(self.verify_button)
        buttons.addStretch(1)
        column.addLayout(buttons)
        progress_row = QHBoxLayout()
        progress_row.addWidget(self.progress, 1)
        progress_row.addWidget(self.cancel_button)
        column.addLayout(progress_row)
        column.addWidget(self.status)
        column.addWidget(self.error)

        layout = QVBoxLayout(self)
        layout.addWidget(self.health_label)
        for widget in (phrase, schedule, actions):
            layout.addWidget(widget)
        layout.addStretch(1)

    @staticmethod
    def _label(text: str, buddy: QWidget) -> QLabel:
        label = QLabel(text)
        label.setBuddy(buddy)
        return label

    @staticmethod
    def _right(button: QPushButton) -> QHBoxLayout:
        row = QHBoxLayout()
        row.addStretch(1)
        row.addWidget(button)
        return row

    # -- state --------------------------------------------------------------
    def _load(self) -> None:
        current = backup_schedule.get_schedule(self._session)
        schedule = current or Schedule("02:00", Path(""), Retention())
        self.time_edit.setTime(QTime.fromString(schedule.at, "HH:mm"))
        self.dest_edit.setText("" if current is None else str(schedule.destination))
        keep = schedule.keep
        for spin, value in zip(
            self.keep_spins, (keep.daily, keep.weekly, keep.monthly), strict=True
        ):
            spin.setValue(value)
        self.refresh_health()

    def refresh_health(self) -> None:
        health = backup_schedule.backup_health(self._session, self._clock.now())
        self.health_label.setText(health.message)
        fields.set_attention(self.health_label, health.needs_attention)
        self.health_changed.emit(health)

    def _set_busy(self, busy: bool, text: str = "") -> None:
        for widget in (
            self.phrase_button,
            self.schedule_button,
            self.backup_button,
            self.verify_button,
            self.browse_button,
        ):
            widget.setEnabled(not busy)
        self.cancel_button.setEnabled(busy)
        self.progress.setVisible(busy)
        self.cancel_button.setVisible(busy)
        if busy:
            self.progress.setRange(0, 0)
            self.relay.reset()
            fields.show_message(self.error, "")
        self.status.setText(text)

    def _run(
        self, busy: str, work: Callable[[], Any], done: Callable[[Any], None]
    ) -> None:
        self._set_busy(True, busy)
        run_task(work, done, self.on_task_failed)

    @Slot(object)
    def on_task_failed(self, error: BaseException) -> None:
        self._set_busy(False)
        text = user_message(error)
        if isinstance(error, backup.BackupCancelled):
            text = "Cancelled: no backup file was written."
        fields.show_message(self.error, text)
        self.refresh_health()

    @Slot(object, object)
    def on_relay_progressed(self, done: int, total: int) -> None:
        if total <= 0:
            return
        self.progress.setRange(0, 1000)
        self.progress.setValue(int(1000 * min(done, total) / total))

    @Slot()
    def on_cancel_button_clicked(self) -> None:
        self.relay.cancel()
        self.cancel_button.setEnabled(False)
        self.status.setText("Cancelling…")

    # -- passphrase ---------------------------------------------------------
    @Slot()
    def on_phrase_button_clicked(self) -> None:
        phrase, again = self.phrase_edit.text(), self.phrase_again.text()
        if len(phrase) < fmt.MIN_PASSPHRASE_CHARS:
            fields.show_message(
                self.error,
                f"Passphrase: use at least {fmt.MIN_PASSPHRASE_CHARS} characters.",
            )
            return
        if phrase != again:
            self.phrase_again.clear()
            fields.show_message(self.error, "Passphrase: the two entries differ.")
            return
        session = self._session
        self._run(
            "Setting the backup passphrase…",
            lambda: backup.set_backup_passphrase(session, phrase),
            self.on_phrase_set,
        )

    @Slot(object)
    def on_phrase_set(self, _result: object) -> None:
        self.phrase_edit.clear()
        self.phrase_again.clear()
        self._set_busy(
            False, "The backup passphrase is set. Backups made before keep the old one."
        )

    # -- schedule -----------------------------------------------------------
    def schedule(self) -> Schedule:
        keep = Retention(*(spin.value() for spin in self.keep_spins))
        at = self.time_edit.time().toString("HH:mm")
        return Schedule(at, Path(self.dest_edit.text().strip()), keep)

    @Slot()
    def on_schedule_button_clicked(self) -> None:
        if not self.dest_edit.text().strip():
            fields.show_message(self.error, "Destination folder: choose a folder.")
            return
        wanted, session, now = self.schedule(), self._session, self._clock.now()
        self._run(
            "Saving the schedule…",
            lambda: backup_schedule.set_schedule(session, wanted, now),
            self.on_schedule_saved,
        )

    @Slot(object)
    def on_schedule_saved(self, _result: object) -> None:
        s = self.schedule()
        self._set_busy(False, f"Backups run daily at {s.at} into {s.destination}.")
        self.refresh_health()

    @Slot()
    def on_browse_button_clicked(self) -> None:
        dialog = QFileDialog(self, "Choose the backup folder", self.dest_edit.text())
        dialog.setFileMode(QFileDialog.FileMode.Directory)
        dialog.setOption(QFileDialog.Option.ShowDirsOnly, True)
        dialog.fileSelected.connect(self.dest_edit.setText)
        dialog.finished.connect(dialog.deleteLater)
        self.file_dialog = dialog
        dialog.open()

    # -- back up now --------------------------------------------------------
    @Slot()
    def on_backup_button_clicked(self) -> None:
        folder = Path(self.dest_edit.text().strip())
        if not self.dest_edit.text().strip():
            fields.show_message(
                self.error, "Destination folder: choose a folder first."
            )
            return
        self.start_backup(folder / backup_schedule.backup_name(self._clock.now()))

    def start_backup(self, out: Path) -> None:
        """Write one backup to ``out`` off the GUI thread, with progress."""
        session, relay, clock, size = (
            self._session,
            self.relay,
            self._clock,
            self.chunk_size,
        )
        self._run(
            f"Backing up to {out}…",
            lambda: backup.create_backup(
                session,
                out,
                relay.report,
                relay.cancelled,
                clock=clock,
                chunk_size=size,
            ),
            self.on_backup_made,
        )

    @Slot(object)
    def on_backup_made(self, result: backup.BackupResult) -> None:
        self._set_busy(False, f"Backup written: {result.path} ({result.size:,} bytes).")
        self.refresh_health()

    # -- verify -------------------------------------------------------------
    @Slot()
    def on_verify_button_clicked(self) -> None:
        if not self.verify_phrase.text():
            fields.show_message(
                self.error, "Type the backup passphrase or the recovery key first."
            )
            return
        dialog = QFileDialog(self, "Choose a backup file", self.dest_edit.text())
        dialog.setFileMode(QFileDialog.FileMode.ExistingFile)
        dialog.setNameFilters(["Desktop CRM backups (*.dcrmbak)", "All files (*)"])
        dialog.fileSelected.connect(lambda name: self.start_verify(Path(name)))
        dialog.finished.connect(dialog.deleteLater)
        self.file_dialog = dialog
        dialog.open()

    def start_verify(self, path: Path) -> None:
        """Decrypt and check ``path`` off the GUI thread, with progress."""
        secret, relay = self.verify_phrase.text(), self.relay
        key = looks_like_recovery_key(secret)
        phrase, key_text = (None, secret) if key else (secret, None)
        self._run(
            f"Checking {path}…",
            lambda: backup.verify_backup(
                path, phrase, key_text, relay.report, relay.cancelled
            ),
            self.on_verified,
        )

    @Slot(object)
    def on_verified(self, result: backup.VerifyResult) -> None:
        self.verify_phrase.clear()
        rows = sum(result.counts.values())
        self._set_busy(
            False,
            f"Backup ok: {result.path.name}, made {result.created_at}, "
            f"{len(result.counts)} tables, {rows} rows, integrity ok.",
        )
