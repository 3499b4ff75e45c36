"""The front desk's Today board: the practice's day in time order."""

from __future__ import annotations

from datetime import UTC, date, datetime

from PySide6.QtCore import Qt, Slot
from PySide6.QtGui import QBrush, QColor
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from desktop_crm.errors import CRMError
from desktop_crm.gui import fields
from desktop_crm.gui.scheduling.change_dialogs import StartVisitDialog
from desktop_crm.gui.scheduling.common import MODALITY_TEXT, status_text
from desktop_crm.gui.scheduling.details_dialog import (
    CHECK_IN_FROM,
    NO_SHOW_FROM,
    STARTABLE,
    AppointmentDialog,
    check_in,
    mark_no_show,
)
from desktop_crm.gui.worker import run_task, user_message
from desktop_crm.services.clock import Clock, SystemClock
from desktop_crm.services.roles import allows
from desktop_crm.services.scheduling import appointments, schedule_view, today
from desktop_crm.services.scheduling.timezones import zone_of
from desktop_crm.services.session import Session

COLUMNS = ("Time", "Patient", "Patient's time", "Provider", "Modality", "Status",
           "Reminder")  # fmt: skip
REMINDER_TEXT = {
    "failed": "Failed: call the patient",
    "late": "Late: not sent in time",
    "sent": "Sent",
    "pending": "Queued",
    "": "",
}
FLAG = QColor(176, 0, 32)


class TodayBoard(QWidget):
    """Arrivals of the practice's day with check-in, start visit and no-show.

    Construct it as ``TodayBoard(session)`` (the workspace), or with an
    injected ``clock`` (tests).  Failed and late reminders are flagged in red.
    The day is today in the practice's zone; ``show_day`` shows another.

    Signals: none.
    """

    def __init__(
        self,
        session: Session,
        clock: Clock | None = None,
        *,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setObjectName("page_today")
        self._session = session
        self._clock = clock or SystemClock()
        self.zone = schedule_view.practice_zone(session)
        self.day = self._today()
        self.rows: list[today.BoardRow] = []
        self.dialog: QDialog | None = None
        self._loading = False
        self._number = 0
        self.title = fields.heading("Today")
        self.table = self._make_table()
        self.summary = QLabel()
        self.summary.setObjectName("today_summary")
        self.error = fields.error_label("Today board error")
        self.check_in_button = self._button("Check &in", "check_in")
        self.start_button = self._button("&Start visit…", "start_visit")
        self.no_show_button = self._button("&No-show", "no_show")
        self.open_button = self._button("&Open…", "open_appointment")
        self.refresh_button = self._button("&Refresh", "refresh")
        self._build()
        self._connect()
        self.reload()

    def _button(self, text: str, name: str) -> QPushButton:
        button = QPushButton(text)
        button.setObjectName(name)
        button.setAccessibleName(text.replace("&", "").rstrip("…"))
        return button

    def _make_table(self) -> QTableWidget:
        table = QTableWidget(0, len(COLUMNS))
        table.setObjectName("today_table")
        table.setAccessibleName("Today's appointments")
        table.setHorizontalHeaderLabels(list(COLUMNS))
        table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        table.verticalHeader().hide()
        table.setAlternatingRowColors(True)
        header = table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        return table

    def _build(self) -> None:
        buttons = QHBoxLayout()
        for button in (
            self.check_in_button,
            self.start_button,
            self.no_show_button,
            self.open_button,
        ):
            buttons.addWidget(button)
        buttons.addStretch(1)
        buttons.addWidget(self.refresh_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(12, 12, 12, 12)
        layout.addWidget(self.title)
        layout.addWidget(self.summary)
        layout.addLayout(buttons)
        layout.addWidget(self.table, 1)
        layout.addWidget(self.error)

    def _connect(self) -> None:
        self.check_in_button.clicked.connect(self.on_check_in)
        self.start_button.clicked.connect(self.on_start)
        self.no_show_button.clicked.connect(self.on_no_show)
        self.open_button.clicked.connect(self.on_open)
        self.refresh_button.clicked.connect(self.reload)
        self.table.itemSelectionChanged.connect(self._enable)
        self.table.itemActivated.connect(lambda _item: self.on_open())

    def _today(self) -> date:
        now = datetime.fromtimestamp(self._clock.now(), UTC)
        return now.astimezone(zone_of(self.zone)).date()

    # -- loading ---------------------------------------------------------------------
    @property
    def busy(self) -> bool:
        return self._loading

    def show_day(self, day: date) -> None:
        self.day = day
        self.reload()

    def reload(self) -> None:
        self.title.setText(f"Today · {self.day:%A %d %B %Y}")
        self._number += 1
        number, session, day, clock = self._number, self._session, self.day, self._clock
        self._loading = True
        run_task(
            lambda: (number, today.today(session, day, clock=clock)),
            self.on_loaded,
            self.on_failed,
        )

    @Slot(object)
    def on_loaded(self, result: tuple[int, list[today.BoardRow]]) -> None:
        number, rows = result
        if number != self._number:
            return
        self._loading = False
        selected = self.selected()
        self.rows = rows
        self.table.setRowCount(len(rows))
        for index, row in enumerate(rows):
            self._fill(index, row)
        arrived = sum(r.status in ("arrived", "checked-in") for r in rows)
        flagged = sum(r.reminders in ("failed", "late") for r in rows)
        text = f"{len(rows)} appointments · {arrived} here now · times in {self.zone}"
        if flagged:
            text += f" · {flagged} reminder problem{'s' if flagged != 1 else ''}"
        self.summary.setText(text)
        fields.show_message(self.error, "")
        if selected is not None:
            self.select(selected.appointment_id)
        self._enable()

    def _fill(self, index: int, row: today.BoardRow) -> None:
        status = status_text(row.status)
        if row.visit_state == "in-progress":
            status += " · in visit"
        values = (
            row.time,
            row.patient_name,
            row.patient_time,
            row.provider_name,
            MODALITY_TEXT.get(row.modality, row.modality),
            status,
            REMINDER_TEXT.get(row.reminders, row.reminders),
        )
        for column, value in enumerate(values):
            item = QTableWidgetItem(value)
            item.setData(Qt.ItemDataRole.UserRole, row.appointment_id)
            if column == len(values) - 1 and row.reminders in ("failed", "late"):
                item.setForeground(QBrush(FLAG))
                font = item.font()
                font.setBold(True)
                item.setFont(font)
            self.table.setItem(index, column, item)

    @Slot(object)
    def on_failed(self, error: BaseException) -> None:
        self._loading = False
        fields.show_message(self.error, user_message(error))

    # -- selection ----------------------------------------------------------------
    def selected(self) -> today.BoardRow | None:
        rows = self.table.selectionModel().selectedRows()
        if not rows or rows[0].row() >= len(self.rows):
            return None
        return self.rows[rows[0].row()]

    def select(self, appointment_id: str) -> bool:
        for index, row in enumerate(self.rows):
            if row.appointment_id == appointment_id:
                self.table.selectRow(index)
                return True
        return False

    @Slot()
    def _enable(self) -> None:
        row = self.selected()
        may_write = allows(self._session.roles, "appointments.write")
        status = row.status if row else ""
        in_visit = row is not None and row.visit_state != "none"
        self.check_in_button.setEnabled(may_write and status in CHECK_IN_FROM)
        self.start_button.setEnabled(
            may_write
            and status in STARTABLE
            and not in_visit
            and row is not None
            and row.modality != "in-person"
        )
        self.no_show_button.setEnabled(
            may_write and status in NO_SHOW_FROM and not in_visit
        )
        self.open_button.setEnabled(row is not None)

    # -- actions ----------------------------------------------------------------
    def _act(self, action) -> None:  # noqa: ANN001 - takes the appointment id
        row = self.selected()
        if row is None:
            return
        try:
            action(row.appointment_id)
        except CRMError as exc:
            fields.show_message(self.error, user_message(exc))
            return
        self.reload()

    @Slot()
    def on_check_in(self) -> None:
        self._act(lambda a: check_in(self._session, a, self._clock))

    @Slot()
    def on_no_show(self) -> None:
        self._act(lambda a: mark_no_show(self._session, a, self._clock))

    def _open(self, dialog: QDialog) -> None:
        dialog.finished.connect(dialog.deleteLater)
        self.dialog = dialog
        dialog.open()

    @Slot()
    def on_start(self) -> None:
        row = self.selected()
        if row is None:
            return
        try:
            appt = appointments.get(self._session, row.appointment_id)
        except CRMError as exc:
            fields.show_message(self.error, user_message(exc))
            return
        dialog = StartVisitDialog(self._session, appt, clock=self._clock, parent=self)
        dialog.started.connect(lambda _visit: self.reload())
        self._open(dialog)

    @Slot()
    def on_open(self) -> None:
        row = self.selected()
        if row is None:
            return
        dialog = AppointmentDialog(
            self._session, row.appointment_id, self.zone, clock=self._clock, parent=self
        )
        dialog.changed.connect(lambda _id: self.reload())
        self._open(dialog)
