"""The waitlist: patients waiting for an earlier slot, and the offers made
when an appointment is cancelled.

``WaitlistView`` lists the waiting entries (Add, Remove); ``EntryDialog`` puts
a patient on the list with their preferences, errors beside the field they
name; ``OffersDialog`` shows the entries that fit a freed slot and books the
chosen one there, then marks the entry booked.
"""

from __future__ import annotations

from datetime import datetime, time
from zoneinfo import ZoneInfo

from PySide6.QtCore import QDate, Qt, QTime, Signal, Slot
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QDateEdit,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPlainTextEdit,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QTimeEdit,
    QVBoxLayout,
    QWidget,
)

from desktop_crm.errors import CRMError, InvalidInput
from desktop_crm.gui import fields
from desktop_crm.gui.scheduling.booking_dialog import BookingDialog
from desktop_crm.gui.scheduling.common import MODALITY_TEXT, FieldErrors, name_object
from desktop_crm.gui.scheduling.contact_dialog import PatientPicker
from desktop_crm.gui.worker import user_message
from desktop_crm.services.clock import Clock, SystemClock
from desktop_crm.services.providers import Provider
from desktop_crm.services.roles import allows
from desktop_crm.services.scheduling import schedule_view
from desktop_crm.services.scheduling import waitlist as wl
from desktop_crm.services.session import Session

DAY_NAMES = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
COLUMNS = ("Patient", "Provider", "Days", "Times", "Dates", "Modality", "Waiting since")
NOTE_COLUMN = "Note"
NOT_SHOWN = "Not shown (clinical)"


# -- describing an entry -----------------------------------------------------------


def days_text(entry: wl.WaitlistEntry) -> str:
    return ", ".join(DAY_NAMES[d] for d in entry.weekdays) or "Any day"


def times_text(entry: wl.WaitlistEntry) -> str:
    return ", ".join(w.label() for w in entry.windows) or "Any time"


def dates_text(entry: wl.WaitlistEntry) -> str:
    if entry.earliest and entry.latest:
        return f"{entry.earliest:%Y-%m-%d} to {entry.latest:%Y-%m-%d}"
    if entry.earliest:
        return f"from {entry.earliest:%Y-%m-%d}"
    if entry.latest:
        return f"until {entry.latest:%Y-%m-%d}"
    return "Any date"


def modality_text(entry: wl.WaitlistEntry) -> str:
    return MODALITY_TEXT.get(entry.modality, entry.modality) or "Any"


def preferences_text(entry: wl.WaitlistEntry) -> str:
    """One line: days, times (in the entry's zone), dates and modality."""
    return (
        f"{days_text(entry)} · {times_text(entry)} ({entry.zone}) · "
        f"{dates_text(entry)} · {modality_text(entry)}"
    )


def bookable(staff: list[Provider]) -> list[Provider]:
    """The providers the booking dialog offers (as the Schedule page does)."""
    return [p for p in staff if p.source == "practice"] or staff


def _item(text: str, entry_id: str = "") -> QTableWidgetItem:
    item = QTableWidgetItem(text)
    item.setFlags(item.flags() & ~Qt.ItemFlag.ItemIsEditable)
    if entry_id:
        item.setData(Qt.ItemDataRole.UserRole, entry_id)
    return item


def _table(columns: tuple[str, ...], name: str, accessible: str) -> QTableWidget:
    table = QTableWidget(0, len(columns))
    table.setHorizontalHeaderLabels(list(columns))
    table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
    table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
    table.verticalHeader().setVisible(False)
    table.horizontalHeader().setSectionResizeMode(
        QHeaderView.ResizeMode.ResizeToContents
    )
    table.horizontalHeader().setStretchLastSection(True)
    name_object(table, name, accessible)
    return table


# -- adding an entry -----------------------------------------------------------------


def _date_edit(name: str, accessible: str, today: QDate) -> QDateEdit:
    edit = name_object(QDateEdit(), name, accessible)
    edit.setCalendarPopup(True)  # type: ignore[attr-defined]
    edit.setDisplayFormat("yyyy-MM-dd")  # type: ignore[attr-defined]
    edit.setDate(today)  # type: ignore[attr-defined]
    edit.setEnabled(False)
    return edit  # type: ignore[return-value]


def _time_edit(name: str, accessible: str, value: QTime) -> QTimeEdit:
    edit = name_object(QTimeEdit(), name, accessible)
    edit.setDisplayFormat("HH:mm")  # type: ignore[attr-defined]
    edit.setTime(value)  # type: ignore[attr-defined]
    edit.setEnabled(False)
    return edit  # type: ignore[return-value]


def _row(*widgets: QWidget) -> QWidget:
    box = QWidget()
    row = QHBoxLayout(box)
    row.setContentsMargins(0, 0, 0, 0)
    for widget in widgets:
        row.addWidget(widget)
    row.addStretch(1)
    return box


class EntryDialog(QDialog):
    """Put a patient on the waitlist with their preferences.

    Empty choices mean "any": no weekday ticked is any day, no time window
    any time.  The note shows only to users who may read clinical notes.

    Signals:
        added(str): the new entry's id.
    """

    added = Signal(str)

    def __init__(
        self,
        session: Session,
        providers: list[Provider],
        *,
        clock: Clock | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setObjectName("waitlist_entry_dialog")
        self.setWindowTitle("Add to waitlist")
        self._session = session
        self._clock = clock
        self.picker = PatientPicker(session)
        self.provider_combo = name_object(QComboBox(), "provider", "Provider")
        self.provider_combo.addItem("Any provider", None)  # type: ignore[attr-defined]
        for p in providers:
            self.provider_combo.addItem(p.display, p.id)  # type: ignore[attr-defined]
        self.day_checks = [
            name_object(QCheckBox(n), f"day_{n.lower()}", n) for n in DAY_NAMES
        ]
        self._make_when_inputs()
        self.modality_combo = name_object(QComboBox(), "modality", "Modality")
        self.modality_combo.addItem("Any", "")  # type: ignore[attr-defined]
        for value, text in MODALITY_TEXT.items():
            self.modality_combo.addItem(text, value)  # type: ignore[attr-defined]
        self.note_edit = name_object(QPlainTextEdit(), "note", "Note")
        self.note_edit.setTabChangesFocus(True)  # type: ignore[attr-defined]
        self.note_edit.setMaximumHeight(70)
        self.error = fields.error_label("Waitlist error")
        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        self.add_button = self.buttons.button(QDialogButtonBox.StandardButton.Ok)
        self.add_button.setText("&Add to waitlist")
        self.add_button.setObjectName("add_entry")
        self._build()
        self._connect()

    def _make_when_inputs(self) -> None:
        zone = ZoneInfo(schedule_view.practice_zone(self._session))
        now = datetime.fromtimestamp((self._clock or SystemClock()).now(), zone)
        today = QDate(now.year, now.month, now.day)
        self.window_check = name_object(
            QCheckBox("Only between"), "window_on", "Only between"
        )
        self.from_edit = _time_edit("window_from", "From", QTime(9, 0))
        self.to_edit = _time_edit("window_to", "To", QTime(12, 0))
        self.earliest_check = name_object(
            QCheckBox("Not before"), "earliest_on", "Not before"
        )
        self.earliest_edit = _date_edit("earliest", "Earliest date", today)
        self.latest_check = name_object(
            QCheckBox("Not after"), "latest_on", "Not after"
        )
        self.latest_edit = _date_edit("latest", "Latest date", today.addMonths(1))

    def _build(self) -> None:
        form = QFormLayout()
        self.errors = FieldErrors(form, self.error)
        self.errors.add_row("&Patient:", self.picker.edit, "patient",
                            container=self.picker)  # fmt: skip
        self.errors.add_row("P&rovider:", self.provider_combo, "provider")
        self.errors.add_row("&Days:", self.day_checks[0], "weekdays",
                            container=_row(*self.day_checks))  # fmt: skip
        to = QLabel("to")
        self.errors.add_row("&Times:", self.from_edit, "time window",
                            container=_row(self.window_check, self.from_edit,
                                           to, self.to_edit))  # fmt: skip
        self.errors.add_row("&Earliest:", self.earliest_edit, "earliest date",
                            container=_row(self.earliest_check,
                                           self.earliest_edit))  # fmt: skip
        self.errors.add_row("&Latest:", self.latest_edit, "latest date",
                            container=_row(self.latest_check,
                                           self.latest_edit))  # fmt: skip
        self.errors.add_row("&Modality:", self.modality_combo, "modality")
        self.note_label = self.errors.add_row("N&ote:", self.note_edit, "note")
        may_read = allows(self._session.roles, "visits.notes")
        self.note_edit.setVisible(may_read)
        self.note_label.setVisible(may_read)
        layout = QVBoxLayout(self)
        layout.addWidget(
            fields.hint_label(
                "Leave days and times open for any. Times are the patient's "
                "local time (the practice's when the patient has no zone)."
            )
        )
        layout.addLayout(form)
        layout.addWidget(self.error)
        layout.addWidget(self.buttons)
        self.resize(600, self.sizeHint().height())

    def _connect(self) -> None:
        self.window_check.toggled.connect(self.from_edit.setEnabled)
        self.window_check.toggled.connect(self.to_edit.setEnabled)
        self.earliest_check.toggled.connect(self.earliest_edit.setEnabled)
        self.latest_check.toggled.connect(self.latest_edit.setEnabled)
        self.buttons.accepted.connect(self.on_buttons_accepted)
        self.buttons.rejected.connect(self.reject)

    def request(self) -> wl.WaitlistRequest:
        """The entry the inputs describe (raises InvalidInput naming a field)."""
        if self.picker.patient_id is None:
            raise InvalidInput("patient", "search for the patient and choose one")
        provider = self.provider_combo.currentData()
        windows: tuple[tuple[time, time], ...] = ()
        if self.window_check.isChecked():
            windows = ((self.from_edit.time().toPython(),
                        self.to_edit.time().toPython()),)  # fmt: skip
        return wl.WaitlistRequest(
            patient_id=self.picker.patient_id,
            provider_id=None if provider is None else str(provider),
            weekdays=tuple(n for n, c in enumerate(self.day_checks) if c.isChecked()),
            windows=windows,
            earliest=self.earliest_edit.date().toPython()
            if self.earliest_check.isChecked()
            else None,
            latest=self.latest_edit.date().toPython()
            if self.latest_check.isChecked()
            else None,
            modality=str(self.modality_combo.currentData() or ""),
            note=self.note_edit.toPlainText() if self.note_edit.isVisible() else "",
        )

    @Slot()
    def on_buttons_accepted(self) -> None:
        self.errors.clear()
        try:
            entry_id = wl.add_entry(self._session, self.request(), clock=self._clock)
        except CRMError as exc:
            self.errors.show(exc)
            return
        self.added.emit(entry_id)
        self.accept()


# -- the list ------------------------------------------------------------------------


class WaitlistView(QDialog):
    """The waiting entries, longest waiting first, with Add and Remove.

    Signals:
        changed(): an entry was added or removed.
    """

    changed = Signal()

    def __init__(
        self,
        session: Session,
        *,
        clock: Clock | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setObjectName("waitlist_view")
        self.setWindowTitle("Waitlist")
        self._session = session
        self._clock = clock
        self.zone = schedule_view.practice_zone(session)
        self.staff = schedule_view.providers(session)
        self.entries: list[wl.WaitlistEntry] = []
        self.dialog: QDialog | None = None
        self.show_notes = allows(session.roles, "visits.notes")
        columns = COLUMNS + ((NOTE_COLUMN,) if self.show_notes else ())
        self.table = _table(columns, "waitlist_table", "Waitlist")
        self.summary = QLabel()
        self.summary.setObjectName("waitlist_summary")
        self.error = fields.error_label("Waitlist error")
        may_write = allows(session.roles, "appointments.write")
        self.add_button = QPushButton("&Add…")
        self.add_button.setObjectName("add_waitlist_entry")
        self.add_button.setEnabled(may_write)
        self.remove_button = QPushButton("&Remove")
        self.remove_button.setObjectName("remove_waitlist_entry")
        self.remove_button.setEnabled(False)
        self.close_button = QPushButton("&Close")
        self._may_write = may_write
        self._build()
        self.add_button.clicked.connect(self.on_add)
        self.remove_button.clicked.connect(self.on_remove)
        self.close_button.clicked.connect(self.accept)
        self.table.itemSelectionChanged.connect(self.on_selection_changed)
        self.reload()

    def _build(self) -> None:
        buttons = QHBoxLayout()
        for button in (self.add_button, self.remove_button):
            buttons.addWidget(button)
        buttons.addStretch(1)
        buttons.addWidget(self.summary)
        buttons.addWidget(self.close_button)
        layout = QVBoxLayout(self)
        layout.addWidget(
            fields.hint_label(
                "Patients waiting for an earlier slot. When an appointment is "
                "cancelled, the entries that fit the freed time are offered."
            )
        )
        layout.addWidget(self.table, 1)
        layout.addWidget(self.error)
        layout.addLayout(buttons)
        self.resize(900, 420)

    def _cells(self, entry: wl.WaitlistEntry, names: dict[str, str]) -> list[str]:
        providers = {p.id: p.display for p in self.staff}
        since = entry.created_at.astimezone(ZoneInfo(self.zone))
        cells = [
            names.get(entry.patient_id, ""),
            providers.get(entry.provider_id, "") if entry.provider_id else "Any",
            days_text(entry),
            f"{times_text(entry)} ({entry.zone})" if entry.windows else "Any time",
            dates_text(entry),
            modality_text(entry),
            f"{since:%Y-%m-%d %H:%M}",
        ]
        if self.show_notes:
            cells.append(NOT_SHOWN if entry.note is None else entry.note or "—")
        return cells

    def reload(self) -> None:
        fields.show_message(self.error, "")
        try:
            self.entries = wl.list_entries(self._session)
            names = wl.patient_names(self._session, self.entries)
        except CRMError as exc:
            fields.show_message(self.error, user_message(exc))
            return
        self.table.setRowCount(len(self.entries))
        for row, entry in enumerate(self.entries):
            for column, text in enumerate(self._cells(entry, names)):
                self.table.setItem(row, column, _item(text, entry.id))
        count = len(self.entries)
        self.summary.setText(f"{count} waiting" if count else "Nobody is waiting")
        self.on_selection_changed()

    def selected_id(self) -> str | None:
        rows = self.table.selectionModel().selectedRows()
        if not rows:
            return None
        return str(self.entries[rows[0].row()].id)

    def select(self, entry_id: str) -> None:
        for row, entry in enumerate(self.entries):
            if entry.id == entry_id:
                self.table.selectRow(row)

    @Slot()
    def on_selection_changed(self) -> None:
        self.remove_button.setEnabled(
            self._may_write and self.selected_id() is not None
        )

    @Slot()
    def on_add(self) -> None:
        dialog = EntryDialog(
            self._session, bookable(self.staff), clock=self._clock, parent=self
        )
        dialog.added.connect(self.on_added)
        dialog.finished.connect(dialog.deleteLater)
        self.dialog = dialog
        dialog.open()
        dialog.picker.setFocus()

    @Slot(str)
    def on_added(self, entry_id: str) -> None:
        self.reload()
        self.select(entry_id)
        self.changed.emit()

    @Slot()
    def on_remove(self) -> None:
        entry_id = self.selected_id()
        if entry_id is None:
            return
        try:
            wl.remove_entry(self._session, entry_id, clock=self._clock)
        except CRMError as exc:
            fields.show_message(self.error, user_message(exc))
            return
        self.reload()
        self.changed.emit()


# -- offers after a cancellation -------------------------------------------------------


class OffersDialog(QDialog):
    """Waitlist entries that fit a freed slot; book one of them there.

    Signals:
        booked(str, str): the entry id and the new appointment id.
    """

    booked = Signal(str, str)

    def __init__(
        self,
        session: Session,
        offers: list[wl.Offer],
        *,
        clock: Clock | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setObjectName("waitlist_offers")
        self.setWindowTitle("Offer the freed slot")
        self._session = session
        self._clock = clock
        self.offers = offers
        self.staff = schedule_view.providers(session)
        self.booking: BookingDialog | None = None
        self.names = wl.patient_names(session, [o.entry for o in offers])
        self.table = _table(
            ("Patient", "Preferences", "Waiting since"), "offers_table", "Offers"
        )
        self.error = fields.error_label("Offer error")
        self.book_button = QPushButton("&Book this patient…")
        self.book_button.setObjectName("book_offer")
        self.book_button.setEnabled(allows(session.roles, "appointments.write"))
        self.close_button = QPushButton("&Not now")
        self._build()
        self.book_button.clicked.connect(self.on_book)
        self.close_button.clicked.connect(self.reject)

    def _slot_text(self) -> str:
        offer = self.offers[0]
        start = offer.start.astimezone(ZoneInfo(offer.zone))
        minutes = int((offer.end - offer.start).total_seconds() // 60)
        return (
            f"The slot {start:%A %d %B, %H:%M} ({offer.zone}, {minutes} min) "
            f"is free again. These patients on the waitlist fit it, longest "
            f"waiting first."
        )

    def _build(self) -> None:
        self.table.setRowCount(len(self.offers))
        for row, offer in enumerate(self.offers):
            entry = offer.entry
            cells = (
                self.names.get(entry.patient_id, ""),
                preferences_text(entry),
                f"{entry.created_at:%Y-%m-%d %H:%M} UTC",
            )
            for column, text in enumerate(cells):
                self.table.setItem(row, column, _item(text, entry.id))
        self.table.horizontalHeader().setSectionResizeMode(
            1, QHeaderView.ResizeMode.Stretch
        )
        if self.offers:
            self.table.selectRow(0)
        buttons = QHBoxLayout()
        buttons.addWidget(self.book_button)
        buttons.addStretch(1)
        buttons.addWidget(self.close_button)
        layout = QVBoxLayout(self)
        if self.offers:
            layout.addWidget(fields.hint_label(self._slot_text()))
        layout.addWidget(self.table, 1)
        layout.addWidget(self.error)
        layout.addLayout(buttons)
        self.resize(760, 300)

    def chosen(self) -> wl.Offer | None:
        rows = self.table.selectionModel().selectedRows()
        return self.offers[rows[0].row()] if rows else None

    @Slot()
    def on_book(self) -> None:
        offer = self.chosen()
        if offer is None:
            fields.show_message(self.error, "Choose a patient first.")
            return
        dialog = BookingDialog(
            self._session,
            bookable(self.staff),
            offer.start.astimezone(ZoneInfo(offer.zone)),
            offer.provider_id,
            clock=self._clock,
            parent=self,
        )
        prefill_booking(dialog, offer, self.names.get(offer.entry.patient_id, ""))
        dialog.booked.connect(lambda ids: self.on_booked(offer, ids))
        dialog.finished.connect(dialog.deleteLater)
        self.booking = dialog
        dialog.open()

    def on_booked(self, offer: wl.Offer, ids: list) -> None:
        if not ids:
            return
        try:
            wl.mark_booked(
                self._session, offer.entry.id, str(ids[0]), clock=self._clock
            )
        except CRMError as exc:
            fields.show_message(self.error, user_message(exc))
            return
        self.booked.emit(offer.entry.id, str(ids[0]))
        self.accept()


def prefill_booking(dialog: BookingDialog, offer: wl.Offer, name: str) -> None:
    """Fill the booking dialog with the offer's patient, slot and modality."""
    dialog.patient_edit.blockSignals(True)
    dialog.patient_edit.setText(name)
    dialog.patient_edit.blockSignals(False)
    item_text = name or "Patient on the waitlist"
    dialog.patient_list.clear()
    dialog.patient_list.addItem(item_text)
    dialog.patient_list.item(0).setData(
        Qt.ItemDataRole.UserRole, offer.entry.patient_id
    )
    dialog.patient_list.setCurrentRow(0)
    dialog.zone_combo.setCurrentText(offer.zone)
    minutes = int((offer.end - offer.start).total_seconds() // 60)
    dialog.duration_spin.setValue(minutes)
    index = dialog.modality_combo.findData(offer.modality)
    dialog.modality_combo.setCurrentIndex(max(index, 0))
