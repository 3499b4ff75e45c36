"""The Schedule page: day and week views per provider or for the practice."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from PySide6.QtCore import Qt, Slot
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QButtonGroup,
    QComboBox,
    QDialog,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QScrollArea,
    QVBoxLayout,
    QWidget,
)

from desktop_crm.errors import InvalidInput
from desktop_crm.gui import fields
from desktop_crm.gui.scheduling.booking_dialog import BookingDialog
from desktop_crm.gui.scheduling.calendar_grid import CalendarGrid, Column
from desktop_crm.gui.scheduling.change_dialogs import MoveDialog
from desktop_crm.gui.scheduling.common import Allowances, AskFirst
from desktop_crm.gui.scheduling.details_dialog import AppointmentDialog
from desktop_crm.gui.scheduling.waitlist_view import WaitlistView
from desktop_crm.gui.worker import run_task, user_message
from desktop_crm.services.clock import Clock, SystemClock
from desktop_crm.services.providers import Provider
from desktop_crm.services.roles import allows
from desktop_crm.services.scheduling import (
    day_sheet,
    edits,
    schedule_view,
    working_hours,
)
from desktop_crm.services.scheduling.schedule_view import Entry
from desktop_crm.services.scheduling.timezones import resolve, zone_of
from desktop_crm.services.session import Session

log = logging.getLogger(__name__)

HEADER_MARGIN = 40
SaveChooser = Callable[[QWidget, str], str]


def choose_pdf_path(parent: QWidget, suggested: str) -> str:
    path, _ = QFileDialog.getSaveFileName(
        parent, "Save day sheet", suggested, "PDF files (*.pdf)"
    )
    return path


@dataclass(frozen=True)
class ViewRequest:
    """What to load: a day or a week, one provider or all."""

    week: bool
    day: date
    provider_id: str | None
    zone: str

    def first_day(self) -> date:
        return self.day - timedelta(days=self.day.weekday()) if self.week else self.day

    def days(self) -> list[date]:
        first = self.first_day()
        return [first + timedelta(days=n) for n in range(7 if self.week else 1)]


@dataclass(frozen=True)
class ViewData:
    request: ViewRequest
    columns: list[Column]
    entries: list[Entry]
    flagged: set[str]


def _columns(request: ViewRequest, staff: list[Provider], entries: list[Entry]):
    if request.week:
        return [Column(f"{d:%a %d %b}", d, request.provider_id) for d in request.days()]
    if request.provider_id is not None:
        chosen = [p for p in staff if p.id == request.provider_id]
    else:
        busy = {e.appointment.provider_id for e in entries}
        chosen = [p for p in staff if p.source == "practice" or p.id in busy]
    return [Column(p.display, request.day, p.id) for p in chosen]


def _shading(session: Session, columns: list[Column], zone: str) -> None:
    for column in columns:
        if column.provider_id is not None:
            spans = working_hours.shaded_intervals(
                session, column.provider_id, column.day, zone
            )
            column.shaded = [(s.start, s.end) for s in spans]


def load_view(
    session: Session, request: ViewRequest, staff: list[Provider]
) -> ViewData:
    """Everything the grid shows (runs on the thread pool)."""
    days = request.days()
    start, end = schedule_view.day_range(days[0], request.zone, len(days))
    entries = schedule_view.entries(session, start, end, request.provider_id)
    columns = _columns(request, staff, entries)
    _shading(session, columns, request.zone)
    active = [e.appointment.id for e in entries if e.appointment.status != "cancelled"]
    flagged = schedule_view.reminder_problems(session, active)
    return ViewData(request, columns, entries, flagged)


class ScheduleWidget(QWidget):
    """The page shown under "Schedule".

    Construct it as ``ScheduleWidget(session)`` (the workspace), or with an
    injected ``clock`` (tests) and ``choose_save`` (a function
    ``(parent, suggested_name) -> path`` used by "Print day sheet…"; "" means
    cancelled).  Times show in the practice's zone; for telehealth the
    patient's local time shows beside them when it differs.

    Keys: arrows move the slot cursor, Shift+arrows move the selected
    appointment, Ctrl+Up/Down change its length, Enter opens it, N books at
    the cursor; Alt+Left/Right go to the previous/next day or week, T to today.

    Signals: none.
    """

    def __init__(
        self,
        session: Session,
        clock: Clock | None = None,
        *,
        choose_save: SaveChooser = choose_pdf_path,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setObjectName("page_schedule")
        self._session = session
        self._clock = clock or SystemClock()
        self._choose_save = choose_save
        self.zone = schedule_view.practice_zone(session)
        self.staff = schedule_view.providers(session)
        self.bookable = [p for p in self.staff if p.source == "practice"] or self.staff
        self.day = self.today()
        self.week = False
        self.dialog: QDialog | None = None
        self.asker: AskFirst | None = None
        self.data: ViewData | None = None
        self._load_number = 0
        self._loading = False
        self._printing = False
        self._make_controls()
        self._build()
        self._connect()
        self.reload()

    # -- building ------------------------------------------------------------------
    def _button(self, text: str, name: str, tip: str = "") -> QPushButton:
        button = QPushButton(text)
        button.setObjectName(name)
        button.setAccessibleName(text.replace("&", "").rstrip("…"))
        if tip:
            button.setToolTip(tip)
        return button

    def _make_controls(self) -> None:
        self.today_button = self._button("&Today", "today", "Go to today (T)")
        self.prev_button = self._button("◀", "previous", "Previous (Alt+Left)")
        self.prev_button.setAccessibleName("Previous")
        self.next_button = self._button("▶", "next", "Next (Alt+Right)")
        self.next_button.setAccessibleName("Next")
        self.title = QLabel()
        self.title.setObjectName("schedule_title")
        font = self.title.font()
        font.setBold(True)
        font.setPointSizeF(font.pointSizeF() * 1.2)
        self.title.setFont(font)
        self.day_button = self._button("&Day", "day_view")
        self.week_button = self._button("&Week", "week_view")
        group = QButtonGroup(self)
        for button in (self.day_button, self.week_button):
            button.setCheckable(True)
            group.addButton(button)
        self.day_button.setChecked(True)
        self.provider_combo = QComboBox()
        self.provider_combo.setObjectName("provider_filter")
        self.provider_combo.setAccessibleName("Provider")
        self.provider_combo.addItem("Whole practice", None)
        for p in self.bookable:
            self.provider_combo.addItem(p.display, p.id)
        may_write = allows(self._session.roles, "appointments.write")
        self.new_button = self._button("&New appointment…", "new_appointment", "N")
        self.new_button.setEnabled(may_write)
        self.move_button = self._button("&Move…", "move_appointment")
        self.move_button.setEnabled(False)
        self.print_button = self._button("&Print day sheet…", "print_day_sheet")
        self.waitlist_button = self._button(
            "W&aitlist…", "waitlist", "Patients waiting for an earlier slot"
        )
        self.grid = CalendarGrid()
        self.scroll = QScrollArea()
        self.scroll.setWidget(self.grid)
        self.scroll.setWidgetResizable(True)
        self.scroll.setObjectName("calendar_scroll")
        self.status = QLabel()
        self.status.setObjectName("schedule_status")
        self.status.setAccessibleName("Schedule status")
        self.error = fields.error_label("Schedule error")

    def _build(self) -> None:
        top = QHBoxLayout()
        for widget in (self.today_button, self.prev_button, self.next_button):
            top.addWidget(widget)
        top.addWidget(self.title, 1)
        for widget in (self.day_button, self.week_button, self.provider_combo):
            top.addWidget(widget)
        actions = QHBoxLayout()
        for widget in (
            self.new_button,
            self.move_button,
            self.print_button,
            self.waitlist_button,
        ):
            actions.addWidget(widget)
        actions.addStretch(1)
        actions.addWidget(self.status)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(8, 8, 8, 8)
        layout.addLayout(top)
        layout.addLayout(actions)
        layout.addWidget(self.scroll, 1)
        layout.addWidget(self.error)

    def _connect(self) -> None:
        self.today_button.clicked.connect(self.go_today)
        self.prev_button.clicked.connect(lambda: self.step(-1))
        self.next_button.clicked.connect(lambda: self.step(1))
        self.day_button.clicked.connect(lambda: self.set_week(False))
        self.week_button.clicked.connect(lambda: self.set_week(True))
        self.provider_combo.currentIndexChanged.connect(self.reload)
        self.new_button.clicked.connect(self.on_new_clicked)
        self.move_button.clicked.connect(self.on_move_clicked)
        self.print_button.clicked.connect(self.on_print_clicked)
        self.waitlist_button.clicked.connect(self.on_waitlist_clicked)
        self.scroll.verticalScrollBar().valueChanged.connect(self.grid.update)
        self.grid.activated.connect(self.open_appointment)
        self.grid.book_requested.connect(self.book_at)
        self.grid.move_requested.connect(self.move_to)
        self.grid.selection_changed.connect(self.on_selection_changed)
        for keys, slot in (
            ("Alt+Left", lambda: self.step(-1)),
            ("Alt+Right", lambda: self.step(1)),
            ("T", self.go_today),
        ):
            shortcut = QShortcut(QKeySequence(keys), self)
            shortcut.setContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
            shortcut.activated.connect(slot)

    # -- navigation ------------------------------------------------------------------
    def today(self) -> date:
        now = datetime.fromtimestamp(self._clock.now(), UTC)
        return now.astimezone(zone_of(self.zone)).date()

    def go_today(self) -> None:
        self.day = self.today()
        self.reload()

    def go_to(self, day: date) -> None:
        self.day = day
        self.reload()

    def step(self, direction: int) -> None:
        self.day += timedelta(days=(7 if self.week else 1) * direction)
        self.reload()

    def set_week(self, week: bool) -> None:
        self.week = week
        (self.week_button if week else self.day_button).setChecked(True)
        self.reload()

    def provider_id(self) -> str | None:
        data = self.provider_combo.currentData()
        return None if data is None else str(data)

    def set_provider(self, provider_id: str | None) -> None:
        self.provider_combo.setCurrentIndex(
            max(self.provider_combo.findData(provider_id), 0)
        )

    # -- loading ---------------------------------------------------------------------
    @property
    def busy(self) -> bool:
        """Whether a load is still running (tests wait on this)."""
        return self._loading

    def reload(self) -> None:
        """Load the shown day or week on the thread pool."""
        request = ViewRequest(self.week, self.day, self.provider_id(), self.zone)
        first = request.first_day()
        self.title.setText(
            f"Week of {first:%A %d %B %Y}" if self.week else f"{first:%A %d %B %Y}"
        )
        self._load_number += 1
        number = self._load_number
        self._loading = True
        self.status.setText("Loading…")
        session, staff = self._session, self.staff
        run_task(
            lambda: (number, load_view(session, request, staff)),
            self.on_loaded,
            self.on_load_failed,
        )

    @Slot(object)
    def on_loaded(self, result: tuple[int, ViewData]) -> None:
        number, data = result
        if number != self._load_number:
            return
        self._loading = False
        self.data = data
        fields.show_message(self.error, "")
        self.grid.set_data(
            self.zone,
            data.columns,
            data.entries,
            data.flagged,
            lock_columns=not data.request.week,
        )
        self._scroll_to_first()
        shown = sum(1 for e in data.entries if e.appointment.status != "cancelled")
        self.status.setText(
            f"{shown} appointment{'s' if shown != 1 else ''} · times in {self.zone}"
        )

    def _scroll_to_first(self) -> None:
        """Show the first appointment (or the start of the day) at the top."""
        tops = [b.top_min for b in self.grid.blocks]
        first = min(tops) if tops else (8 - self.grid.first_hour) * 60
        y = int(self.grid._y(max(first - 30, 0))) - HEADER_MARGIN
        self.scroll.verticalScrollBar().setValue(max(y, 0))

    @Slot(object)
    def on_load_failed(self, error: BaseException) -> None:
        self._loading = False
        self.status.setText("")
        fields.show_message(self.error, user_message(error))

    # -- dialogs ----------------------------------------------------------------
    def _open(self, dialog: QDialog) -> None:
        dialog.finished.connect(dialog.deleteLater)
        self.dialog = dialog
        dialog.open()

    def entry(self, appointment_id: str) -> Entry | None:
        if self.data is None:
            return None
        return next(
            (e for e in self.data.entries if e.appointment.id == appointment_id), None
        )

    @Slot(str)
    def open_appointment(self, appointment_id: str) -> None:
        dialog = AppointmentDialog(
            self._session, appointment_id, self.zone, clock=self._clock, parent=self
        )
        dialog.changed.connect(self.reload)
        self._open(dialog)

    @Slot(object, object)
    def book_at(self, start: datetime, provider_id: str | None) -> None:
        if not allows(self._session.roles, "appointments.write"):
            return
        provider = provider_id or self.provider_id()
        zone = next((p.timezone for p in self.staff if p.id == provider), "")
        local = start.astimezone(zone_of(zone or self.zone))
        dialog = BookingDialog(
            self._session,
            self.bookable,
            local,
            provider,
            clock=self._clock,
            parent=self,
        )
        dialog.booked.connect(self.reload)
        self._open(dialog)
        dialog.patient_edit.setFocus()

    @Slot()
    def on_waitlist_clicked(self) -> None:
        dialog = WaitlistView(self._session, clock=self._clock, parent=self)
        self._open(dialog)

    @Slot()
    def on_new_clicked(self) -> None:
        self.book_at(self.grid.cursor_start() if self.grid.columns else
                     datetime.now(UTC), self.grid.cursor_provider())  # fmt: skip

    @Slot(object)
    def on_selection_changed(self, entry: Entry | None) -> None:
        may_write = allows(self._session.roles, "appointments.write")
        self.move_button.setEnabled(entry is not None and may_write)

    @Slot()
    def on_move_clicked(self) -> None:
        block = self.grid.selected
        if block is not None:
            self._move_dialog(block.entry, None, None)

    def _move_dialog(
        self, entry: Entry, start: datetime | None, duration: int | None
    ) -> None:
        dialog = MoveDialog(
            self._session,
            entry.appointment,
            start=start,
            duration=duration,
            clock=self._clock,
            parent=self,
        )
        dialog.moved.connect(self.reload)
        self._open(dialog)

    @Slot(str, object, int)
    def move_to(self, appointment_id: str, start: datetime, duration: int) -> None:
        """A drag or Shift+arrow: the same checks as the booking dialog.

        A series occurrence opens the Move dialog (which occurrences move is
        asked there); a single appointment moves at once after any warning.
        """
        entry = self.entry(appointment_id)
        if entry is None or not allows(self._session.roles, "appointments.write"):
            return
        appt = entry.appointment
        if appt.series_id is not None:
            self._move_dialog(entry, start, duration)
            return
        local = start.astimezone(zone_of(appt.zone))
        fold = "later" if local.fold else "earlier"
        wall = local.replace(tzinfo=None)

        def attempt(allowances: Allowances) -> str:
            if not allowances.outside:
                begin = resolve(wall, appt.zone, fold)
                working_hours.check_booking(
                    self._session,
                    appt.provider_id,
                    [(begin, begin + timedelta(minutes=duration))],
                )
            return edits.reschedule(
                self._session,
                appt.id,
                wall,
                fold=fold,
                duration_min=duration,
                allow_overlap=allowances.overlap,
                clock=self._clock,
            )

        self.asker = AskFirst(
            self, attempt, self.on_moved, self.on_move_failed, verb="Move",
            zone=self.zone,
        )  # fmt: skip
        self.asker.run()

    def on_moved(self, _changed: object) -> None:
        fields.show_message(self.error, "")
        self.reload()

    def on_move_failed(self, error: BaseException) -> None:
        fields.show_message(self.error, user_message(error))

    # -- day sheet -------------------------------------------------------------------
    @Slot()
    def on_print_clicked(self) -> None:
        who = self.provider_combo.currentText().replace(" ", "-")
        path = self._choose_save(self, f"day-sheet-{self.day.isoformat()}-{who}.pdf")
        if not path:
            return
        session, day, provider = self._session, self.day, self.provider_id()
        zone = self.zone
        self.print_button.setEnabled(False)
        self._printing = True

        def make() -> str:
            data = day_sheet.day_sheet(session, day, provider, zone=zone)
            try:
                Path(path).write_bytes(data)
            except OSError as exc:
                raise InvalidInput(
                    "file", f"cannot be saved: {exc.strerror or 'error'}"
                ) from exc
            return path

        run_task(make, self.on_printed, self.on_print_failed)

    @property
    def printing(self) -> bool:
        """Whether a day sheet is still being made (tests wait on this)."""
        return self._printing

    def on_printed(self, path: object) -> None:
        self._printing = False
        self.print_button.setEnabled(True)
        self.status.setText(f"Day sheet saved: {Path(str(path)).name}")

    def on_print_failed(self, error: BaseException) -> None:
        self._printing = False
        self.print_button.setEnabled(True)
        fields.show_message(self.error, user_message(error))
