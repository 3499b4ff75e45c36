"""The practice's communication log: calls, e-mails, SMS, letters, portal messages."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

from PySide6.QtCore import QDate, Qt, Slot
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QDateEdit,
    QDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPlainTextEdit,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from desktop_crm.errors import InvalidInput
from desktop_crm.gui import fields
from desktop_crm.gui.scheduling.common import name_object
from desktop_crm.gui.scheduling.contact_dialog import (
    CHANNEL_TEXT,
    DIRECTION_TEXT,
    ContactDialog,
)
from desktop_crm.gui.worker import run_task, user_message
from desktop_crm.services.clock import Clock, SystemClock
from desktop_crm.services.roles import allows
from desktop_crm.services.scheduling import communications, schedule_view
from desktop_crm.services.scheduling.communications import LoggedContact
from desktop_crm.services.scheduling.timezones import zone_of
from desktop_crm.services.session import Session

COLUMNS = ("Time", "Patient", "Channel", "Direction", "Subject", "User")
DEFAULT_DAYS = 7


class MessagesView(QWidget):
    """The practice's logged contacts over a range of days, newest first.

    Construct it as ``MessagesView(session)`` (the workspace) or with an
    injected ``clock`` (tests).  Times show in the practice's zone; the range
    is whole days there, the last seven by default.  The list loads on the
    thread pool; ``busy`` is true until it has arrived.

    Signals: none.
    """

    def __init__(
        self,
        session: Session,
        clock: Clock | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setObjectName("page_messages")
        self._session = session
        self._clock = clock or SystemClock()
        self.zone = schedule_view.practice_zone(session)
        self.entries: list[LoggedContact] = []
        self.shown: list[LoggedContact] = []
        self.dialog: QDialog | None = None
        self._loading = False
        self._number = 0
        self._make_inputs()
        self._build()
        self._connect()
        self.reload()

    # -- building ------------------------------------------------------------------
    def _make_inputs(self) -> None:
        today = self._today()
        self.title = fields.heading("Messages")
        self.from_edit = self._date_edit(
            "date_from", "From date", today, 1 - DEFAULT_DAYS
        )
        self.to_edit = self._date_edit("date_to", "To date", today, 0)
        self.channel_combo = name_object(QComboBox(), "channel_filter", "Channel")
        self.channel_combo.addItem("All channels", "")
        for value, text in CHANNEL_TEXT.items():
            self.channel_combo.addItem(text, value)
        self.refresh_button = self._button("&Refresh", "refresh")
        self.log_button = self._button("&Log a contact…", "log_contact")
        self.log_button.setEnabled(allows(self._session.roles, "communications.write"))
        self.summary = QLabel()
        self.summary.setObjectName("messages_summary")
        self.table = self._make_table()
        self.body_view = name_object(QPlainTextEdit(), "message_body", "Message body")
        self.body_view.setReadOnly(True)
        self.body_view.setPlaceholderText("Choose an entry to read it")
        self.error = fields.error_label("Messages error")

    @staticmethod
    def _date_edit(name: str, accessible: str, today: date, days: int) -> QDateEdit:
        edit = name_object(QDateEdit(), name, accessible)
        edit.setCalendarPopup(True)
        edit.setDisplayFormat("yyyy-MM-dd")
        shown = today + timedelta(days=days)
        edit.setDate(QDate(shown.year, shown.month, shown.day))
        return edit

    @staticmethod
    def _button(text: str, name: str) -> QPushButton:
        button = QPushButton(text)
        button.setObjectName(name)
        button.setAccessibleName(text.replace("&", "").rstrip("…"))
        return button

    def _make_table(self) -> QTableWidget:
        table = QTableWidget(0, len(COLUMNS))
        table.setObjectName("messages_table")
        table.setAccessibleName("Logged contacts")
        table.setHorizontalHeaderLabels(list(COLUMNS))
        table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        table.verticalHeader().hide()
        table.setAlternatingRowColors(True)
        header = table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(
            COLUMNS.index("Subject"), QHeaderView.ResizeMode.Stretch
        )
        return table

    def _build(self) -> None:
        filters = QHBoxLayout()
        for title, widget in (
            ("&From:", self.from_edit),
            ("&To:", self.to_edit),
            ("C&hannel:", self.channel_combo),
        ):
            label = QLabel(title)
            label.setBuddy(widget)
            filters.addWidget(label)
            filters.addWidget(widget)
        filters.addWidget(self.refresh_button)
        filters.addStretch(1)
        filters.addWidget(self.log_button)
        body_label = QLabel("&Message:")
        body_label.setBuddy(self.body_view)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(12, 12, 12, 12)
        layout.addWidget(self.title)
        layout.addLayout(filters)
        layout.addWidget(self.summary)
        layout.addWidget(self.table, 3)
        layout.addWidget(body_label)
        layout.addWidget(self.body_view, 1)
        layout.addWidget(self.error)

    def _connect(self) -> None:
        self.from_edit.dateChanged.connect(self.reload)
        self.to_edit.dateChanged.connect(self.reload)
        self.channel_combo.currentIndexChanged.connect(self._show_entries)
        self.refresh_button.clicked.connect(self.reload)
        self.log_button.clicked.connect(self.on_log)
        self.table.itemSelectionChanged.connect(self._show_body)

    def _today(self) -> date:
        now = datetime.fromtimestamp(self._clock.now(), UTC)
        return now.astimezone(zone_of(self.zone)).date()

    # -- loading ---------------------------------------------------------------------
    @property
    def busy(self) -> bool:
        return self._loading

    def _range(self) -> tuple[datetime, datetime]:
        """UTC bounds of the chosen days (from's midnight to the day after to)."""
        zone = zone_of(self.zone)
        first: date = self.from_edit.date().toPython()
        last: date = self.to_edit.date().toPython()
        start = datetime.combine(first, time(0), tzinfo=zone)
        end = datetime.combine(last + timedelta(days=1), time(0), tzinfo=zone)
        return start.astimezone(UTC), end.astimezone(UTC)

    @Slot()
    def reload(self) -> None:
        self._number += 1
        number, session = self._number, self._session
        if self.to_edit.date() < self.from_edit.date():
            self.on_failed(
                InvalidInput("to date", "choose a day on or after the from date")
            )
            return
        since, until = self._range()
        self._loading = True
        run_task(
            lambda: (number, communications.recent(session, since, until)),
            self.on_loaded,
            self.on_failed,
        )

    @Slot(object)
    def on_loaded(self, result: tuple[int, list[LoggedContact]]) -> None:
        number, entries = result
        if number != self._number:
            return
        self._loading = False
        fields.show_message(self.error, "")
        self.entries = entries
        self._show_entries()

    @Slot(object)
    def on_failed(self, error: BaseException) -> None:
        self._loading = False
        self.entries = []
        self._show_entries()
        fields.show_message(self.error, user_message(error))

    @Slot()
    def _show_entries(self) -> None:
        channel = self.channel_combo.currentData()
        self.shown = [
            e for e in self.entries if not channel or e.communication.channel == channel
        ]
        self.table.clearSelection()
        self.table.setRowCount(len(self.shown))
        for index, entry in enumerate(self.shown):
            self._fill(index, entry)
        count = len(self.shown)
        text = f"{count} entr{'y' if count == 1 else 'ies'} · times in {self.zone}"
        if len(self.entries) >= communications.RECENT_LIMIT:
            text += (
                f" · only the newest {communications.RECENT_LIMIT}: choose fewer days"
            )
        self.summary.setText(text)
        self._show_body()

    def _fill(self, index: int, entry: LoggedContact) -> None:
        c = entry.communication
        when = c.at.astimezone(zone_of(self.zone)) if c.at else None
        values = (
            f"{when:%Y-%m-%d %H:%M}" if when else "",
            entry.patient_name,
            CHANNEL_TEXT.get(c.channel, c.channel),
            DIRECTION_TEXT.get(c.direction, c.direction),
            c.subject,
            entry.user_name,
        )
        for column, value in enumerate(values):
            item = QTableWidgetItem(value)
            item.setData(Qt.ItemDataRole.UserRole, c.id)
            self.table.setItem(index, column, item)

    # -- selection ----------------------------------------------------------------
    def selected(self) -> LoggedContact | None:
        rows = self.table.selectionModel().selectedRows()
        if not rows or rows[0].row() >= len(self.shown):
            return None
        return self.shown[rows[0].row()]

    def select(self, communication_id: str) -> bool:
        for index, entry in enumerate(self.shown):
            if entry.communication.id == communication_id:
                self.table.selectRow(index)
                return True
        return False

    @Slot()
    def _show_body(self) -> None:
        entry = self.selected()
        self.body_view.setPlainText("" if entry is None else entry.communication.body)

    # -- logging a contact -----------------------------------------------------------
    @Slot()
    def on_log(self) -> None:
        dialog = ContactDialog(self._session, clock=self._clock, parent=self)
        dialog.logged.connect(lambda _id: self.reload())
        dialog.finished.connect(dialog.deleteLater)
        self.dialog = dialog
        dialog.open()
