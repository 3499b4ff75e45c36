"""Book an appointment or a recurring series, asking before double-booking."""

from __future__ import annotations

from datetime import date, datetime, time
from zoneinfo import available_timezones

from PySide6.QtCore import QDate, Qt, QTime, QTimer, Signal, Slot
from PySide6.QtWidgets import (
    QButtonGroup,
    QComboBox,
    QDateEdit,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QHBoxLayout,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QRadioButton,
    QSpinBox,
    QTimeEdit,
    QVBoxLayout,
    QWidget,
)

from desktop_crm.errors import InvalidInput
from desktop_crm.gui import fields
from desktop_crm.gui.scheduling.common import (
    MODALITY_TEXT,
    Allowances,
    AskFirst,
    FieldErrors,
    name_object,
)
from desktop_crm.services import patients
from desktop_crm.services.clock import Clock
from desktop_crm.services.providers import Provider
from desktop_crm.services.roles import allows
from desktop_crm.services.scheduling import appointments, schedule_view, working_hours
from desktop_crm.services.scheduling.model import (
    MAX_DURATION,
    MIN_DURATION,
    AppointmentRequest,
    check_details,
)
from desktop_crm.services.session import Session

REPEATS = (
    ("", "Does not repeat"),
    ("FREQ=WEEKLY", "Weekly"),
    ("FREQ=WEEKLY;INTERVAL=2", "Every 2 weeks"),
    ("MONTHLY", "Monthly on the same weekday"),
)
SEARCH_PAUSE_MS = 150
WEEKDAY_CODES = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")


def monthly_by_weekday(day: date) -> str:
    """``FREQ=MONTHLY;BYDAY=+2TU`` for the 2nd Tuesday (``-1`` for a 5th)."""
    nth = (day.day - 1) // 7 + 1
    return (
        f"FREQ=MONTHLY;BYDAY={'-1' if nth == 5 else f'+{nth}'}"
        + (WEEKDAY_CODES[day.weekday()])
    )


def zone_combo(current: str) -> QComboBox:
    combo = QComboBox()
    combo.setEditable(True)
    combo.addItems(sorted(available_timezones()))
    combo.setCurrentText(current)
    combo.setInsertPolicy(QComboBox.InsertPolicy.NoInsert)
    return combo


class BookingDialog(QDialog):
    """Patient, provider, when, how, and whether it repeats.

    Warnings that the user may accept (double-booking, outside working hours,
    a time that occurs twice) are asked in a question box (``self.asker``).

    Signals:
        booked(list): the new appointment ids.
    """

    booked = Signal(list)

    def __init__(  # noqa: PLR0913 - the defaults a calendar slot gives
        self,
        session: Session,
        providers: list[Provider],
        start: datetime,
        provider_id: str | None,
        *,
        clock: Clock | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setObjectName("booking_dialog")
        self.setWindowTitle("Book appointment")
        self._session = session
        self._clock = clock
        self._providers = providers
        self.patient_id: str | None = None
        self.asker: AskFirst | None = None
        self._make_inputs(start, provider_id)
        self._build()
        self._connect()
        self.on_modality_changed()
        self.on_repeat_changed()

    # -- building ------------------------------------------------------------------
    def _make_inputs(self, start: datetime, provider_id: str | None) -> None:
        self.patient_edit = name_object(QLineEdit(), "patient_search", "Patient")
        self.patient_edit.setPlaceholderText("Type a name, date of birth or phone")
        self.patient_list = name_object(QListWidget(), "patient_results", "Patients")
        self.patient_list.setMaximumHeight(90)
        self.provider_combo = name_object(QComboBox(), "provider", "Provider")
        for p in self._providers:
            self.provider_combo.addItem(p.display, p.id)
        index = self.provider_combo.findData(provider_id)
        self.provider_combo.setCurrentIndex(max(index, 0))
        self.date_edit = name_object(QDateEdit(), "date", "Date")
        self.date_edit.setCalendarPopup(True)
        self.date_edit.setDisplayFormat("yyyy-MM-dd")
        self.date_edit.setDate(QDate(start.year, start.month, start.day))
        self.time_edit = name_object(QTimeEdit(), "start", "Start time")
        self.time_edit.setDisplayFormat("HH:mm")
        self.time_edit.setTime(QTime(start.hour, start.minute))
        self.duration_spin = name_object(QSpinBox(), "duration", "Duration in minutes")
        self.duration_spin.setRange(MIN_DURATION, MAX_DURATION)
        self.duration_spin.setSingleStep(5)
        self.duration_spin.setValue(30)
        self.duration_spin.setSuffix(" min")
        self.zone_combo = name_object(
            zone_combo(self._provider_zone()), "zone", "Time zone"
        )
        self.modality_combo = name_object(QComboBox(), "modality", "Modality")
        for value, text in MODALITY_TEXT.items():
            self.modality_combo.addItem(text, value)
        self.link_edit = name_object(QLineEdit(), "video_link", "Video link")
        self.link_edit.setPlaceholderText("https://…")
        self.location_edit = name_object(QLineEdit(), "location", "Location")
        self.reason_edit = name_object(QLineEdit(), "reason", "Reason for visit")
        self._make_repeat_inputs(start)
        self.error = fields.error_label("Booking error")
        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        self.book_button = self.buttons.button(QDialogButtonBox.StandardButton.Ok)
        self.book_button.setText("&Book")
        self.book_button.setObjectName("book")
        self.timer = QTimer(self)
        self.timer.setSingleShot(True)
        self.timer.setInterval(SEARCH_PAUSE_MS)

    def _make_repeat_inputs(self, start: datetime) -> None:
        self.repeat_combo = name_object(QComboBox(), "repeat", "Repeats")
        for rule, text in REPEATS:
            self.repeat_combo.addItem(text, rule)
        self.until_radio = name_object(QRadioButton("Until"), "until", "Repeat until")
        self.count_radio = name_object(QRadioButton("Times"), "times", "Repeat times")
        self.count_radio.setChecked(True)
        group = QButtonGroup(self)
        group.addButton(self.until_radio)
        group.addButton(self.count_radio)
        self.until_edit = name_object(QDateEdit(), "until_date", "Last date")
        self.until_edit.setCalendarPopup(True)
        self.until_edit.setDisplayFormat("yyyy-MM-dd")
        self.until_edit.setDate(QDate(start.year, start.month, start.day).addMonths(3))
        self.count_spin = name_object(QSpinBox(), "count", "Number of appointments")
        self.count_spin.setRange(2, 1000)
        self.count_spin.setValue(6)
        self.repeat_end = QWidget()
        row = QHBoxLayout(self.repeat_end)
        row.setContentsMargins(0, 0, 0, 0)
        for widget in (
            self.count_radio,
            self.count_spin,
            self.until_radio,
            self.until_edit,
        ):
            row.addWidget(widget)
        row.addStretch(1)

    def _build(self) -> None:
        form = QFormLayout()
        self.errors = FieldErrors(form, self.error)
        patient_box = QWidget()
        column = QVBoxLayout(patient_box)
        column.setContentsMargins(0, 0, 0, 0)
        column.addWidget(self.patient_edit)
        column.addWidget(self.patient_list)
        rows = (
            ("&Patient:", self.patient_edit, ("patient",), patient_box),
            ("P&rovider:", self.provider_combo, ("provider",), None),
            ("&Date:", self.date_edit, ("date",), None),
            ("&Start:", self.time_edit, ("start",), None),
            ("D&uration:", self.duration_spin, ("duration",), None),
            ("Time &zone:", self.zone_combo, ("time zone", "fold"), None),
            ("&Modality:", self.modality_combo, ("modality",), None),
            ("&Video link:", self.link_edit, ("video link",), None),
            ("&Location:", self.location_edit, ("location",), None),
        )
        for title, widget, names, container in rows:
            self.errors.add_row(title, widget, *names, container=container)
        self.link_label = form.labelForField(self.link_edit.parentWidget())
        self.reason_label = self.errors.add_row("R&eason:", self.reason_edit, "reason")
        may_read = allows(self._session.roles, "visits.notes")
        self.reason_edit.setVisible(may_read)
        self.reason_label.setVisible(may_read)
        self.errors.add_row("Re&peats:", self.repeat_combo, "rrule")
        self.errors.add_row("", self.count_spin, "count", container=self.repeat_end)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.error)
        layout.addWidget(self.buttons)
        self.resize(520, self.sizeHint().height())

    def _connect(self) -> None:
        self.patient_edit.textChanged.connect(self.timer.start)
        self.timer.timeout.connect(self.search_patients)
        self.patient_list.currentItemChanged.connect(self.on_patient_chosen)
        self.provider_combo.currentIndexChanged.connect(self.on_provider_changed)
        self.modality_combo.currentIndexChanged.connect(self.on_modality_changed)
        self.repeat_combo.currentIndexChanged.connect(self.on_repeat_changed)
        self.buttons.accepted.connect(self.on_buttons_accepted)
        self.buttons.rejected.connect(self.reject)

    def _provider_zone(self) -> str:
        chosen = self.provider_combo.currentData()
        for p in self._providers:
            if p.id == chosen and p.timezone:
                return p.timezone
        return schedule_view.practice_zone(self._session)

    # -- patient search --------------------------------------------------------------
    def search_patients(self) -> None:
        """Search now (the pause after typing ran out)."""
        self.timer.stop()
        self.patient_list.clear()
        self.patient_id = None
        for found in patients.search(self._session, self.patient_edit.text()):
            given = " ".join(n for n in (found.given, found.middle) if n)
            name = f"{found.family}, {given}" if given else found.family
            born = f"  born {found.birth_date}" if found.birth_date else ""
            mrn = f"  MRN {found.mrn}" if found.mrn else ""
            item = QListWidgetItem(f"{name}{born}{mrn}")
            item.setData(Qt.ItemDataRole.UserRole, found.id)
            self.patient_list.addItem(item)
        if self.patient_list.count() == 1:
            self.patient_list.setCurrentRow(0)

    @Slot()
    def on_patient_chosen(self) -> None:
        item = self.patient_list.currentItem()
        self.patient_id = None if item is None else item.data(Qt.ItemDataRole.UserRole)

    # -- reacting to choices -----------------------------------------------------------
    @Slot()
    def on_provider_changed(self) -> None:
        self.zone_combo.setCurrentText(self._provider_zone())

    @Slot()
    def on_modality_changed(self) -> None:
        video = self.modality_combo.currentData() == "video"
        self.link_edit.setEnabled(video)

    @Slot()
    def on_repeat_changed(self) -> None:
        self.repeat_end.setEnabled(bool(self.repeat_combo.currentData()))

    # -- booking --------------------------------------------------------------------
    def _rule(self, day: date) -> str:
        rule = str(self.repeat_combo.currentData() or "")
        if not rule:
            return ""
        if rule == "MONTHLY":
            rule = monthly_by_weekday(day)
        if self.count_radio.isChecked():
            return f"{rule};COUNT={self.count_spin.value()}"
        until = self.until_edit.date().toPython()
        if until < day:
            raise InvalidInput("count", "the last date is before the first")
        return f"{rule};UNTIL={until:%Y%m%d}"

    def request(self, allowances: Allowances) -> AppointmentRequest:
        """The request the inputs describe (raises InvalidInput naming a field)."""
        if self.patient_id is None:
            raise InvalidInput("patient", "search for the patient and choose one")
        provider_id = self.provider_combo.currentData()
        if not provider_id:
            raise InvalidInput("provider", "choose a provider")
        day: date = self.date_edit.date().toPython()
        start: time = self.time_edit.time().toPython()
        modality = str(self.modality_combo.currentData())
        return AppointmentRequest(
            patient_id=self.patient_id,
            provider_id=str(provider_id),
            local_start=datetime.combine(day, start.replace(second=0)),
            zone=self.zone_combo.currentText().strip(),
            duration_min=self.duration_spin.value(),
            modality=modality,
            video_link=self.link_edit.text() if modality == "video" else "",
            location=self.location_edit.text(),
            reason=self.reason_edit.text() if self.reason_edit.isVisible() else "",
            fold=allowances.fold,
            rrule=self._rule(day),
        )

    def _attempt(self, allowances: Allowances) -> list[str]:
        request = check_details(self.request(allowances))
        working_hours.check_request(
            self._session, request, allow_outside=allowances.outside
        )
        return appointments.book(
            self._session, request, allow_overlap=allowances.overlap, clock=self._clock
        )

    @Slot()
    def on_buttons_accepted(self) -> None:
        self.errors.clear()
        self.asker = AskFirst(
            self,
            self._attempt,
            self.on_booked,
            self.errors.show,
            zone=self.zone_combo.currentText().strip() or "UTC",
        )
        self.asker.run()

    def on_booked(self, ids: object) -> None:
        self.booked.emit(list(ids) if isinstance(ids, list) else [])
        self.accept()
