"""The Sync page (Admin › Sync, and the Sync dialog), conflict review, and the
conflict banner of a patient's record.

Everyone sees the status and "Sync now"; an admin (``keys.manage``) also
connects the vault to a server, creates pairing codes and revokes
workstations.  Conflicts are listed for whoever may read the record type,
and settled with "Keep current" or "Use other value" (the service checks
the permission to change that record; a refusal is shown, nothing changes).

Network steps run on the thread pool through ``sync_activity.in_turns`` (one
run at a time per vault, connection shared safely with this thread);
settling a conflict is one local write and runs here on the GUI thread.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from PySide6.QtCore import Qt, Signal, Slot
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QFrame,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QMessageBox,
    QPushButton,
    QScrollArea,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from desktop_crm.errors import CRMError, InvalidInput
from desktop_crm.gui import fields
from desktop_crm.gui.clipboard import SensitiveClipboard
from desktop_crm.gui.sync_status import (
    USER_WAIT_SECONDS,
    SyncActivity,
    activity_for,
    find_activity,
)
from desktop_crm.gui.worker import run_task, user_message
from desktop_crm.services import sync_service
from desktop_crm.services.clock import from_iso
from desktop_crm.services.session import Session
from desktop_crm.services.sync_activity import in_turns
from desktop_crm.services.sync_service import ConflictView, SyncStatus, open_conflicts
from desktop_crm.services.vault import VaultService
from desktop_crm.sync.transport import (
    CertificateRefused,
    NotAuthorized,
    ServerUnreachable,
    TransportFactory,
)

MANAGE = "keys.manage"
CONFLICT_COLUMNS = ("Record", "Field", "Kept value", "Other value", "From", "When")
WORKSTATION_COLUMNS = ("Workstation", "Label", "Last seen", "State")
CONNECT_HINT = (
    "Ask the server's operator for its address and the SHA-256 fingerprint of "
    "its certificate (openssl x509 -noout -fingerprint -sha256). This "
    "workstation will trust only that certificate."
)
PAIR_HINT = (
    "A pairing code lets one more workstation join this practice. It works "
    "once and expires after 10 minutes. Type or paste it on the new "
    "workstation (desktop-crm sync join)."
)


def local_time(text: str) -> str:
    """An RFC 3339 time as local "YYYY-MM-DD HH:MM" (the text if unreadable)."""
    if not text:
        return ""
    try:
        moment = datetime.fromtimestamp(from_iso(text.replace("Z", "+00:00")))
    except ValueError:
        return text
    return f"{moment.astimezone():%Y-%m-%d %H:%M}"


def grouped_fingerprint(hex_digits: str) -> str:
    """64 hex digits as colon-separated upper-case pairs, on two lines."""
    pairs = [hex_digits[i : i + 2].upper() for i in range(0, len(hex_digits), 2)]
    half = len(pairs) // 2
    return ":".join(pairs[:half]) + ":\n" + ":".join(pairs[half:]) if pairs else ""


def _value_label(text: str, name: str) -> QLabel:
    label = QLabel(text)
    label.setAccessibleName(name)
    label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
    label.setWordWrap(True)
    return label


def _resolve(session: Session, conflict_id: str, keep: str) -> str:
    """Settle one conflict; returns the error text to show ("" when done)."""
    try:
        sync_service.resolve_conflict(session, conflict_id, keep)
    except CRMError as exc:
        return user_message(exc)
    return ""


# -- conflict review ----------------------------------------------------------------


class ConflictList(QWidget):
    """Open conflicts in a table, with "Keep current" and "Use other value".

    Signals:
        resolved(str, str): a conflict of this record (type, id) was settled.
    """

    resolved = Signal(str, str)

    def __init__(self, session: Session, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._session = session
        self.rows: list[ConflictView] = []
        self.table = QTableWidget(0, len(CONFLICT_COLUMNS))
        self.table.setObjectName("sync_conflicts")
        self.table.setAccessibleName("Open sync conflicts")
        self.table.setHorizontalHeaderLabels(list(CONFLICT_COLUMNS))
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.verticalHeader().setVisible(False)
        self.table.setWordWrap(True)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        header.setStretchLastSection(True)
        self.table.setMinimumHeight(120)
        self.table.setMaximumHeight(260)
        self.empty = fields.hint_label("No open conflicts.")
        self.hidden_hint = fields.hint_label("")
        self.hidden_hint.hide()
        self.keep_button = QPushButton("&Keep current")
        self.keep_button.setToolTip("Keep the value the record has now")
        self.other_button = QPushButton("&Use other value")
        self.other_button.setToolTip(
            "Put the other workstation's value back into the record"
        )
        self.error = fields.error_label("Conflict error")
        self.keep_button.clicked.connect(self.on_keep_button_clicked)
        self.other_button.clicked.connect(self.on_other_button_clicked)
        self.table.itemSelectionChanged.connect(self._update_buttons)
        buttons = QHBoxLayout()
        buttons.addWidget(self.keep_button)
        buttons.addWidget(self.other_button)
        buttons.addStretch(1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.empty)
        layout.addWidget(self.table, 1)
        layout.addWidget(self.hidden_hint)
        layout.addLayout(buttons)
        layout.addWidget(self.error)
        self.refresh()

    def refresh(self) -> None:
        if self._session.locked:
            return
        try:
            self.rows, hidden = open_conflicts(self._session)
        except CRMError as exc:
            fields.show_message(self.error, user_message(exc))
            return
        self.table.setRowCount(len(self.rows))
        for row, found in enumerate(self.rows):
            cells = (
                found.record_label,
                found.field_label,
                found.kept,
                found.lost,
                found.lost_device,
                local_time(found.created_at),
            )
            for column, text in enumerate(cells):
                item = QTableWidgetItem(text)
                item.setToolTip(text)
                self.table.setItem(row, column, item)
        self.table.resizeColumnsToContents()
        for column in range(len(CONFLICT_COLUMNS) - 1):
            width = min(self.table.columnWidth(column), 220)
            self.table.setColumnWidth(column, width)
        self.empty.setVisible(not self.rows)
        self.table.setVisible(bool(self.rows))
        fields.show_message(
            self.hidden_hint,
            f"{hidden} more open conflicts are about records your role does not "
            "show; a user who may read them settles them."
            if hidden
            else "",
        )
        if self.rows and not self.table.selectedItems():
            self.table.selectRow(0)
        self._update_buttons()

    def _update_buttons(self) -> None:
        chosen = self._chosen() is not None
        self.keep_button.setEnabled(chosen)
        self.other_button.setEnabled(chosen)
        self.keep_button.setVisible(bool(self.rows))
        self.other_button.setVisible(bool(self.rows))

    def _chosen(self) -> ConflictView | None:
        row = self.table.currentRow()
        selected = self.table.selectionModel().hasSelection()
        return self.rows[row] if selected and 0 <= row < len(self.rows) else None

    def _settle(self, keep: str) -> None:
        found = self._chosen()
        if found is None:
            return
        problem = _resolve(self._session, found.id, keep)
        fields.show_message(self.error, problem)
        if problem:
            return
        self.refresh()
        self.resolved.emit(found.record_type, found.record_id)

    @Slot()
    def on_keep_button_clicked(self) -> None:
        self._settle("kept")

    @Slot()
    def on_other_button_clicked(self) -> None:
        self._settle("lost")


class ConflictBanner(QFrame):
    """The record view's notice of open conflicts on this record, with buttons.

    Signals:
        resolved(): a conflict of the shown record was settled (reload it).
    """

    resolved = Signal()

    def __init__(self, session: Session, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("sync_conflict_banner")
        self.setAccessibleName("Sync conflicts on this record")
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.setStyleSheet(
            "QFrame#sync_conflict_banner { border: 2px solid palette(highlight); "
            "border-radius: 4px; }"
        )
        self._session = session
        self._record: tuple[str, str] | None = None
        self._activity: SyncActivity | None = None
        self.rows: list[ConflictView] = []
        self.title = QLabel()
        font = self.title.font()
        font.setBold(True)
        self.title.setFont(font)
        self.title.setWordWrap(True)
        self.grid = QGridLayout()
        self.grid.setHorizontalSpacing(12)
        self.grid.setColumnStretch(1, 1)
        self.grid.setColumnStretch(2, 1)
        self.error = fields.error_label("Conflict error")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(10, 8, 10, 8)
        layout.addWidget(self.title)
        layout.addLayout(self.grid)
        layout.addWidget(self.error)
        self.keep_buttons: list[QPushButton] = []
        self.other_buttons: list[QPushButton] = []
        self.hide()

    def show_record(self, record_type: str, record_id: str) -> None:
        """Show the open conflicts of this record (hidden when there are none)."""
        self._record = (record_type, record_id)
        fields.show_message(self.error, "")
        self._follow_sync()
        self.refresh()

    def _follow_sync(self) -> None:
        activity = find_activity(self._session)
        if activity is not None and activity is not self._activity:
            self._activity = activity
            activity.changed.connect(self.refresh)

    @Slot()
    def refresh(self) -> None:
        if self._record is None or self._session.locked:
            return
        try:
            self.rows, _hidden = open_conflicts(self._session, *self._record)
        except CRMError as exc:
            self.rows = []
            fields.show_message(self.error, user_message(exc))
        self._fill()
        self.setVisible(bool(self.rows) or not self.error.isHidden())

    def _fill(self) -> None:
        while self.grid.count():
            item = self.grid.takeAt(0)
            widget = item.widget() if item is not None else None
            if widget is not None:
                widget.deleteLater()
        self.keep_buttons, self.other_buttons = [], []
        count = len(self.rows)
        self.title.setText(
            f"Sync conflict: another workstation changed {count} "
            f"field{'s' if count != 1 else ''} of this record at the same time. "
            "The record shows the kept value; choose which one stays."
        )
        for row, found in enumerate(self.rows):
            self._add_row(row, found)

    def _add_row(self, row: int, found: ConflictView) -> None:
        name = QLabel(found.field_label[:1].upper() + found.field_label[1:])
        name.setStyleSheet("font-weight: bold;")
        kept = _value_label(f"Kept: {found.kept}", "Kept value")
        kept.setTextFormat(Qt.TextFormat.PlainText)
        other = _value_label(
            f"Other: {found.lost}  (from {found.lost_device or 'another workstation'}, "
            f"{local_time(found.created_at)})",
            "Other value",
        )
        other.setTextFormat(Qt.TextFormat.PlainText)
        keep = QPushButton("Keep current")
        keep.setObjectName(f"keep_{row}")
        use = QPushButton("Use other value")
        use.setObjectName(f"use_other_{row}")
        keep.clicked.connect(lambda: self._settle(found, "kept"))
        use.clicked.connect(lambda: self._settle(found, "lost"))
        self.keep_buttons.append(keep)
        self.other_buttons.append(use)
        for column, widget in enumerate((name, kept, other, keep, use)):
            self.grid.addWidget(widget, row, column)

    def _settle(self, found: ConflictView, keep: str) -> None:
        problem = _resolve(self._session, found.id, keep)
        fields.show_message(self.error, problem)
        if problem:
            self.show()
            return
        self.refresh()
        self.resolved.emit()


# -- the page ---------------------------------------------------------------------


class SyncView(QWidget):
    """Sync status, Sync now and conflicts for everyone; server, pairing and
    workstations for admins.

    Signals: none (state changes arrive through ``SyncActivity.changed``).
    """

    def __init__(
        self,
        vault: VaultService,
        session: Session,
        clipboard: SensitiveClipboard | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setObjectName("sync_view")
        self._vault = vault
        self._session = session
        self._clipboard = clipboard
        self.admin = session.allows(MANAGE)
        self.activity = activity_for(vault, session)
        self.workstation_rows: list[dict[str, object]] = []
        self._build_status()
        self._build_connect()
        self._build_pairing()
        self._build_workstations()
        self.conflicts = ConflictList(session)
        conflicts_box = QGroupBox("Conflicts")
        QVBoxLayout(conflicts_box).addWidget(self.conflicts)
        body = QWidget()
        column = QVBoxLayout(body)
        column.addWidget(fields.heading("Sync"))
        for box in (
            self.status_box,
            self.connect_box,
            self.pair_box,
            self.workstations_box,
        ):
            column.addWidget(box)
        column.addWidget(conflicts_box)
        column.addStretch(1)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        scroll.setWidget(body)
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        outer.addWidget(scroll)
        self.activity.changed.connect(self.refresh)
        self.activity.running_changed.connect(self.on_activity_running_changed)
        self.refresh()

    # -- building -------------------------------------------------------------------
    def _build_status(self) -> None:
        self.status_box = QGroupBox("Status")
        form = QFormLayout(self.status_box)
        self.url_label = _value_label("", "Server")
        self.fingerprint_label = _value_label("", "Pinned fingerprint")
        self.fingerprint_label.setFont(fields.monospace_font())
        self.workstation_label = _value_label("", "This workstation")
        self.last_sync_label = _value_label("", "Last sync")
        self.pending_label = _value_label("", "Pending changes")
        self.error_label = _value_label("", "Last sync error")
        self.sync_button = QPushButton("Sync &now")
        self.sync_button.setObjectName("sync_now")
        self.sync_button.clicked.connect(self.on_sync_button_clicked)
        self.result_label = QLabel()
        self.result_label.setAccessibleName("Sync result")
        form.addRow("Server:", self.url_label)
        form.addRow("Pinned certificate:", self.fingerprint_label)
        form.addRow("This workstation:", self.workstation_label)
        form.addRow("Last sync:", self.last_sync_label)
        form.addRow("Pending changes:", self.pending_label)
        form.addRow("Last error:", self.error_label)
        row = QHBoxLayout()
        row.addWidget(self.sync_button)
        row.addWidget(self.result_label, 1)
        form.addRow(row)

    def _build_connect(self) -> None:
        self.connect_box = QGroupBox("Connect to a sync server")
        form = QFormLayout(self.connect_box)
        self.url_edit = QLineEdit()
        self.url_edit.setObjectName("server_url")
        self.url_edit.setAccessibleName("Server URL")
        self.url_edit.setPlaceholderText("https://sync.example.org:8443")
        self.fingerprint_edit = QLineEdit()
        self.fingerprint_edit.setObjectName("fingerprint")
        self.fingerprint_edit.setAccessibleName("Certificate fingerprint")
        self.fingerprint_edit.setPlaceholderText("64 hex digits, colons allowed")
        self.fingerprint_edit.setFont(fields.monospace_font())
        self.registration_edit = QLineEdit()
        self.registration_edit.setObjectName("registration_code")
        self.registration_edit.setAccessibleName("Registration code")
        self.registration_edit.setPlaceholderText(
            "only if the server's operator gave you one"
        )
        self.registration_edit.setEchoMode(QLineEdit.EchoMode.Password)
        self.connect_button = QPushButton("&Connect to server…")
        self.connect_button.setObjectName("connect")
        self.connect_error = fields.error_label("Connect error")
        self.connect_button.clicked.connect(self.on_connect_button_clicked)
        form.addRow(fields.hint_label(CONNECT_HINT))
        form.addRow("Server &URL:", self.url_edit)
        form.addRow("&Fingerprint (SHA-256):", self.fingerprint_edit)
        form.addRow("&Registration code:", self.registration_edit)
        connect_row = QHBoxLayout()
        connect_row.addWidget(self.connect_button)
        connect_row.addStretch(1)
        form.addRow(self.connect_error)
        form.addRow(connect_row)

    def _build_pairing(self) -> None:
        self.pair_box = QGroupBox("Add a workstation")
        form = QFormLayout(self.pair_box)
        self.pair_button = QPushButton("Create &pairing code")
        self.pair_button.setObjectName("create_pairing_code")
        self.code_edit = QLineEdit()
        self.code_edit.setObjectName("pairing_code")
        self.code_edit.setAccessibleName("Pairing code")
        self.code_edit.setReadOnly(True)
        self.code_edit.setFont(fields.monospace_font())
        self.copy_button = QPushButton("Cop&y")
        self.copy_button.setToolTip("Copied for 30 seconds, then cleared")
        self.expiry_label = QLabel()
        self.expiry_label.setAccessibleName("Pairing code expiry")
        self.pair_error = fields.error_label("Pairing error")
        self.pair_button.clicked.connect(self.on_pair_button_clicked)
        self.copy_button.clicked.connect(self.on_copy_button_clicked)
        code_row = QHBoxLayout()
        code_row.addWidget(self.code_edit, 1)
        code_row.addWidget(self.copy_button)
        self.code_row = QWidget()
        self.code_row.setLayout(code_row)
        code_row.setContentsMargins(0, 0, 0, 0)
        pair_row = QHBoxLayout()
        pair_row.addWidget(self.pair_button)
        pair_row.addStretch(1)
        form.addRow(fields.hint_label(PAIR_HINT))
        form.addRow(pair_row)
        form.addRow(self.code_row)
        form.addRow(self.expiry_label)
        form.addRow(self.pair_error)
        self.code_row.hide()
        self.expiry_label.hide()

    def _build_workstations(self) -> None:
        self.workstations_box = QGroupBox("Workstations of this practice")
        self.workstations = QTableWidget(0, len(WORKSTATION_COLUMNS))
        self.workstations.setObjectName("workstations")
        self.workstations.setAccessibleName("Workstations")
        self.workstations.setHorizontalHeaderLabels(list(WORKSTATION_COLUMNS))
        self.workstations.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.workstations.setSelectionBehavior(
            QAbstractItemView.SelectionBehavior.SelectRows
        )
        self.workstations.setSelectionMode(
            QAbstractItemView.SelectionMode.SingleSelection
        )
        self.workstations.verticalHeader().setVisible(False)
        self.workstations.horizontalHeader().setStretchLastSection(True)
        self.workstations.setMinimumHeight(90)
        self.workstations.setMaximumHeight(170)
        self.list_button = QPushButton("&Refresh list")
        self.revoke_button = QPushButton("Re&voke…")
        self.revoke_button.setObjectName("revoke")
        self.revoke_button.setToolTip("The server refuses that workstation from now on")
        self.workstations_error = fields.error_label("Workstations error")
        self.workstations_status = QLabel()
        self.list_button.clicked.connect(self.on_list_button_clicked)
        self.revoke_button.clicked.connect(self.on_revoke_button_clicked)
        self.workstations.itemSelectionChanged.connect(self._update_revoke)
        buttons = QHBoxLayout()
        buttons.addWidget(self.list_button)
        buttons.addWidget(self.revoke_button)
        buttons.addWidget(self.workstations_status, 1)
        layout = QVBoxLayout(self.workstations_box)
        layout.addWidget(self.workstations)
        layout.addLayout(buttons)
        layout.addWidget(self.workstations_error)
        self.confirm_box: QMessageBox | None = None

    # -- state ---------------------------------------------------------------------
    @Slot()
    def refresh(self) -> None:
        status = self.activity.status()
        if status is None:
            return
        connected = status.connected
        self._show_status(status)
        self.connect_box.setVisible(self.admin and not connected)
        self.pair_box.setVisible(self.admin and connected)
        was_visible = not self.workstations_box.isHidden()
        self.workstations_box.setVisible(self.admin and connected)
        if self.admin and connected and not was_visible:
            self.load_workstations()
        self.sync_button.setEnabled(connected and not self.activity.running)
        self.conflicts.refresh()

    def _show_status(self, status: SyncStatus) -> None:
        if not status.connected:
            self.url_label.setText("Not connected: this vault works on its own.")
            for label in (
                self.fingerprint_label,
                self.workstation_label,
                self.last_sync_label,
                self.pending_label,
            ):
                label.setText("—")
            self.error_label.setText("—")
            fields.set_attention(self.error_label, False)
            return
        self.url_label.setText(status.url)
        self.fingerprint_label.setText(grouped_fingerprint(status.fingerprint))
        self.workstation_label.setText(status.workstation_id)
        when = self.activity.last_sync(status)
        self.last_sync_label.setText(
            f"{datetime.fromtimestamp(when).astimezone():%Y-%m-%d %H:%M:%S}"
            if when is not None
            else "never"
        )
        self.pending_label.setText(str(status.pending_changes))
        error = self.activity.error(status)
        self.error_label.setText(error or "none")
        fields.set_attention(self.error_label, bool(error))

    @Slot(bool)
    def on_activity_running_changed(self, running: bool) -> None:
        self.result_label.setText("Syncing…" if running else self._result_text())

    def _result_text(self) -> str:
        result = self.activity.last_result
        if self.activity.failure or result is None:
            return ""
        return (
            f"Sent {result.pushed}, received {result.pulled}, "
            f"new conflicts {result.conflicts}."
        )

    # -- network steps ----------------------------------------------------------------
    def _run(
        self,
        step: Callable[[TransportFactory], object],
        on_done: Callable[[Any], None],
        on_failed: Callable[[BaseException], None],
    ) -> None:
        """Run ``step(turn_factory)`` on the pool, one sync step at a time."""
        session, factory = self._session, self.activity.transport_factory
        run_task(
            lambda: in_turns(session, step, factory, wait=USER_WAIT_SECONDS),
            on_done,
            on_failed,
        )

    @Slot()
    def on_sync_button_clicked(self) -> None:
        self.activity.sync_now()

    @Slot()
    def on_connect_button_clicked(self) -> None:
        url, fingerprint = self.url_edit.text(), self.fingerprint_edit.text()
        code = self.registration_edit.text().strip() or None
        fields.show_message(self.connect_error, "")
        vault, session = self._vault, self._session
        self.connect_button.setEnabled(False)
        self.connect_button.setText("Connecting…")
        self._run(
            lambda f: sync_service.connect(
                vault,
                session,
                url,
                fingerprint,
                registration_code=code,
                transport_factory=f,
            ),
            self.on_connected,
            self.on_connect_failed,
        )

    @Slot(object)
    def on_connected(self, _done: object) -> None:
        self._connect_idle()
        self.url_edit.clear()
        self.fingerprint_edit.clear()
        self.registration_edit.clear()
        self.result_label.setText("Connected. This workstation now syncs.")
        self.activity.changed.emit()
        self.activity.sync_now()

    @Slot(object)
    def on_connect_failed(self, error: BaseException) -> None:
        self._connect_idle()
        text = user_message(error)
        target = None
        if isinstance(error, InvalidInput):
            target = {
                "fingerprint": self.fingerprint_edit,
                "server URL": self.url_edit,
            }.get(error.field)
        elif isinstance(error, CertificateRefused) and "fingerprint" in text:
            text, target = f"Fingerprint: {text}", self.fingerprint_edit
        elif isinstance(error, ServerUnreachable):
            text, target = f"Server URL: {text}", self.url_edit
        elif isinstance(error, NotAuthorized) and "registration code" in text:
            text, target = f"Registration code: {text}", self.registration_edit
        fields.show_message(self.connect_error, text)
        if target is not None:
            target.setFocus()
            target.selectAll()

    def _connect_idle(self) -> None:
        self.connect_button.setEnabled(True)
        self.connect_button.setText("&Connect to server…")

    @Slot()
    def on_pair_button_clicked(self) -> None:
        vault, session = self._vault, self._session
        fields.show_message(self.pair_error, "")
        self.pair_button.setEnabled(False)
        self._run(
            lambda f: sync_service.pair_code(vault, session, transport_factory=f),
            self.on_paired,
            self.on_pair_failed,
        )

    @Slot(object)
    def on_paired(self, made: sync_service.PairingResult) -> None:
        self.pair_button.setEnabled(True)
        self.code_edit.setText(made.code)
        self.code_edit.setCursorPosition(0)
        self.expiry_label.setText(
            f"Valid once, until {local_time(made.expires_at)}. "
            "Create a new code if it expires."
        )
        self.code_row.show()
        self.expiry_label.show()
        self.activity.changed.emit()

    @Slot(object)
    def on_pair_failed(self, error: BaseException) -> None:
        self.pair_button.setEnabled(True)
        fields.show_message(self.pair_error, user_message(error))

    @Slot()
    def on_copy_button_clicked(self) -> None:
        if self._clipboard is not None and self.code_edit.text():
            self._clipboard.copy_sensitive(self.code_edit.text())
            self.expiry_label.setText(
                self.expiry_label.text().split(" Copied")[0]
                + " Copied; the clipboard is cleared in 30 seconds."
            )

    @Slot()
    def on_list_button_clicked(self) -> None:
        self.load_workstations()

    def load_workstations(self) -> None:
        vault, session = self._vault, self._session
        fields.show_message(self.workstations_error, "")
        self.list_button.setEnabled(False)
        self._run(
            lambda f: sync_service.workstations(vault, session, transport_factory=f),
            self.on_workstations_loaded,
            self.on_workstations_failed,
        )

    @Slot(object)
    def on_workstations_loaded(self, rows: list[dict[str, object]]) -> None:
        self.list_button.setEnabled(True)
        self.workstation_rows = rows
        status = self.activity.status()
        me = status.workstation_id if status is not None else ""
        self.workstations.setRowCount(len(rows))
        for row, entry in enumerate(rows):
            ident = str(entry.get("id", ""))
            state = "revoked" if entry.get("revoked") else "active"
            if ident == me:
                state += " (this one)"
            cells = (
                ident,
                str(entry.get("label", "")),
                local_time(str(entry.get("last_seen") or "")),
                state,
            )
            for column, text in enumerate(cells):
                self.workstations.setItem(row, column, QTableWidgetItem(text))
        self.workstations.resizeColumnsToContents()
        self._update_revoke()

    @Slot(object)
    def on_workstations_failed(self, error: BaseException) -> None:
        self.list_button.setEnabled(True)
        fields.show_message(self.workstations_error, user_message(error))

    def _chosen_workstation(self) -> dict[str, object] | None:
        row = self.workstations.currentRow()
        if not self.workstations.selectionModel().hasSelection():
            return None
        return (
            self.workstation_rows[row]
            if 0 <= row < len(self.workstation_rows)
            else None
        )

    def _update_revoke(self) -> None:
        chosen = self._chosen_workstation()
        self.revoke_button.setEnabled(chosen is not None and not chosen.get("revoked"))

    @Slot()
    def on_revoke_button_clicked(self) -> None:
        chosen = self._chosen_workstation()
        if chosen is None:
            return
        ident, label = str(chosen.get("id", "")), str(chosen.get("label", ""))
        self.confirm_box = fields.confirm(
            self,
            "Revoke workstation",
            f"Revoke workstation {label or ident}?\n\nThe server refuses it from "
            "now on; it keeps its own data but no longer syncs. Pair it again "
            "with a new code to let it back.",
            "Revoke",
            lambda: self._revoke(ident),
        )

    def _revoke(self, ident: str) -> None:
        vault, session = self._vault, self._session
        self.revoke_button.setEnabled(False)
        self._run(
            lambda f: sync_service.revoke(vault, session, ident, transport_factory=f),
            lambda _none: self.on_revoked(ident),
            self.on_workstations_failed,
        )

    def on_revoked(self, ident: str) -> None:
        self.workstations_status.setText(f"Revoked {ident}.")
        self.load_workstations()


class SyncDialog(QDialog):
    """The Sync page in a window (for users without the Admin section)."""

    def __init__(
        self,
        vault: VaultService,
        session: Session,
        clipboard: SensitiveClipboard | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setObjectName("sync_dialog")
        self.setWindowTitle("Sync")
        self.view = SyncView(vault, session, clipboard)
        close = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        close.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(self.view, 1)
        layout.addWidget(close)
        self.resize(820, 640)
