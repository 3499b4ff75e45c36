"""Small dialogs that change one appointment: move, cancel, log a call,
start a visit.  Each shows errors beside the field they name."""

from __future__ import annotations

from datetime import datetime, timedelta

from PySide6.QtCore import QDate, QTime, Signal, Slot
from PySide6.QtWidgets import (
    QComboBox,
    QDateEdit,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QSpinBox,
    QTimeEdit,
    QVBoxLayout,
    QWidget,
)

from desktop_crm.errors import CRMError
from desktop_crm.gui import fields
from desktop_crm.gui.scheduling.common import (
    SCOPE_TEXT,
    Allowances,
    AskFirst,
    FieldErrors,
    name_object,
)
from desktop_crm.gui.scheduling.waitlist_view import OffersDialog
from desktop_crm.services.clock import Clock
from desktop_crm.services.scheduling import (
    communications,
    edits,
    waitlist,
    working_hours,
)
from desktop_crm.services.scheduling.model import (
    MAX_DURATION,
    MIN_DURATION,
    Appointment,
)
from desktop_crm.services.scheduling.timezones import resolve, zone_of
from desktop_crm.services.session import Session


def scope_combo() -> QComboBox:
    combo = QComboBox()
    for value, text in SCOPE_TEXT:
        combo.addItem(text, value)
    return name_object(combo, "scope", "Which appointments")  # type: ignore[return-value]


class _FormDialog(QDialog):
    """A form, a general error line and OK/Cancel with ``ok_text``."""

    def __init__(self, title: str, ok_text: str, parent: QWidget | None) -> None:
        super().__init__(parent)
        self.setWindowTitle(title)
        self.form = QFormLayout()
        self.error = fields.error_label(f"{title} error")
        self.errors = FieldErrors(self.form, self.error)
        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        self.ok_button = self.buttons.button(QDialogButtonBox.StandardButton.Ok)
        self.ok_button.setText(ok_text)
        self.ok_button.setObjectName("ok")
        self.buttons.accepted.connect(self.on_buttons_accepted)
        self.buttons.rejected.connect(self.reject)

    def finish_layout(self, intro: str = "") -> None:
        layout = QVBoxLayout(self)
        if intro:
            layout.addWidget(fields.hint_label(intro))
        layout.addLayout(self.form)
        layout.addWidget(self.error)
        layout.addWidget(self.buttons)

    def on_buttons_accepted(self) -> None:
        raise NotImplementedError


class _AppointmentDialog(_FormDialog):
    """A form about one appointment; subclasses fill it in ``_build``."""

    TITLE = ""
    OK_TEXT = ""
    NAME = ""

    def __init__(
        self,
        session: Session,
        appointment: Appointment,
        *,
        clock: Clock | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(self.TITLE, self.OK_TEXT, parent)
        self.setObjectName(self.NAME)
        self._session = session
        self._appointment = appointment
        self._clock = clock
        self._build()

    def _build(self) -> None:
        raise NotImplementedError


class MoveDialog(_FormDialog):
    """Reschedule: new date, start and length in the appointment's zone, and
    for a series which occurrences move.  Asks before double-booking.

    Signals:
        moved(str): the id of what changed (a new series id after a split).
    """

    moved = Signal(str)

    def __init__(  # noqa: PLR0913 - the proposed change comes from a drag
        self,
        session: Session,
        appointment: Appointment,
        *,
        start: datetime | None = None,
        duration: int | None = None,
        clock: Clock | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__("Reschedule", "&Move", parent)
        self.setObjectName("move_dialog")
        self._session = session
        self._appointment = appointment
        self._clock = clock
        self.asker: AskFirst | None = None
        local = (start or appointment.start).astimezone(zone_of(appointment.zone))
        self.date_edit = name_object(QDateEdit(), "date", "Date")
        self.date_edit.setDisplayFormat("yyyy-MM-dd")
        self.date_edit.setCalendarPopup(True)
        self.date_edit.setDate(QDate(local.year, local.month, local.day))
        self.time_edit = name_object(QTimeEdit(), "start", "Start time")
        self.time_edit.setDisplayFormat("HH:mm")
        self.time_edit.setTime(QTime(local.hour, local.minute))
        self.duration_spin = name_object(QSpinBox(), "duration", "Duration in minutes")
        self.duration_spin.setRange(MIN_DURATION, MAX_DURATION)
        self.duration_spin.setSingleStep(5)
        self.duration_spin.setSuffix(" min")
        self.duration_spin.setValue(duration or appointment.duration_min)
        self.scope_combo = scope_combo()
        self.errors.add_row("&Date:", self.date_edit, "date")
        self.errors.add_row(
            f"&Start ({appointment.zone}):", self.time_edit, "start", "fold"
        )
        self.errors.add_row("D&uration:", self.duration_spin, "duration")
        if appointment.series_id is not None:
            self.errors.add_row("&Apply to:", self.scope_combo, "scope")
        self._fold = "later" if local.fold else "earlier"
        self.finish_layout()

    def local_start(self) -> datetime:
        day = self.date_edit.date().toPython()
        return datetime.combine(day, self.time_edit.time().toPython().replace(second=0))

    def scope(self) -> edits.Scope:
        if self._appointment.series_id is None:
            return "this"
        value = str(self.scope_combo.currentData())
        return (
            "following" if value == "following" else "all" if value == "all" else "this"
        )

    def _attempt(self, allowances: Allowances) -> str:
        appt = self._appointment
        local = self.local_start()
        duration = self.duration_spin.value()
        if not allowances.outside:
            start = resolve(local, appt.zone, allowances.fold)
            end = start + timedelta(minutes=duration)
            working_hours.check_booking(self._session, appt.provider_id, [(start, end)])
        return edits.reschedule(
            self._session,
            appt.id,
            local,
            scope=self.scope(),
            fold=allowances.fold,
            duration_min=duration,
            allow_overlap=allowances.overlap,
            clock=self._clock,
        )

    @Slot()
    def on_buttons_accepted(self) -> None:
        self.errors.clear()
        self.asker = AskFirst(
            self, self._attempt, self.on_moved, self.errors.show,
            verb="Move", zone=self._appointment.zone,
        )  # fmt: skip
        self.asker.run()

    def on_moved(self, changed: object) -> None:
        self.moved.emit(str(changed))
        self.accept()


class CancelDialog(_AppointmentDialog):
    """Cancel with a reason; for a series, which occurrences.

    Signals:
        cancelled(str): the appointment id.
    """

    cancelled = Signal(str)

    TITLE = "Cancel appointment"
    OK_TEXT = "Cancel &appointment"
    NAME = "cancel_dialog"

    offers_dialog: QDialog | None = None

    def _build(self) -> None:
        appointment = self._appointment
        self.reason_edit = name_object(
            QLineEdit(), "cancel_reason", "Cancellation reason"
        )
        self.reason_edit.setPlaceholderText("e.g. patient called to cancel")
        self.scope_combo = scope_combo()
        self.errors.add_row("&Reason:", self.reason_edit, "cancel reason")
        if appointment.series_id is not None:
            self.errors.add_row("&Apply to:", self.scope_combo, "scope")
        no = self.buttons.button(QDialogButtonBox.StandardButton.Cancel)
        no.setText("&Keep it")
        self.finish_layout("The reason is kept with the appointment.")

    @Slot()
    def on_buttons_accepted(self) -> None:
        self.errors.clear()
        scope = "this"
        if self._appointment.series_id is not None:
            scope = str(self.scope_combo.currentData())
        try:
            offers = waitlist.cancel_and_offer(
                self._session,
                self._appointment.id,
                self.reason_edit.text(),
                scope,  # type: ignore[arg-type]
                clock=self._clock,
            )
        except CRMError as exc:
            self.errors.show(exc)
            return
        self.cancelled.emit(self._appointment.id)
        if not offers:
            self.accept()
            return
        self.offer_slot(offers)

    def offer_slot(self, offers: list[waitlist.Offer]) -> None:
        """Show who on the waitlist fits the freed slot; close after that."""
        self.hide()
        dialog = OffersDialog(
            self._session, offers, clock=self._clock, parent=self.parentWidget()
        )
        dialog.booked.connect(lambda *_: self.cancelled.emit(self._appointment.id))
        dialog.finished.connect(self.accept)
        dialog.finished.connect(dialog.deleteLater)
        self.offers_dialog = dialog
        dialog.open()


class CallDialog(_AppointmentDialog):
    """Log a phone call with the patient, linked to the appointment.

    Signals:
        logged(str): the communication id.
    """

    logged = Signal(str)

    TITLE = "Log a call"
    OK_TEXT = "&Log call"
    NAME = "call_dialog"

    def _build(self) -> None:
        self.direction_combo = name_object(QComboBox(), "direction", "Direction")
        self.direction_combo.addItem("Outgoing (we called)", "out")
        self.direction_combo.addItem("Incoming (patient called)", "in")
        self.subject_edit = name_object(QLineEdit(), "subject", "Subject")
        self.subject_edit.setMaxLength(communications.MAX_SUBJECT)
        self.body_edit = name_object(QPlainTextEdit(), "body", "What was said")
        self.body_edit.setMaximumHeight(110)
        self.errors.add_row("&Direction:", self.direction_combo, "direction")
        self.errors.add_row("&Subject:", self.subject_edit, "subject")
        self.errors.add_row("&Notes:", self.body_edit, "body")
        self.finish_layout()

    @Slot()
    def on_buttons_accepted(self) -> None:
        self.errors.clear()
        entry = communications.Communication(
            patient_id=self._appointment.patient_id,
            channel="call",
            direction=str(self.direction_combo.currentData()),
            subject=self.subject_edit.text(),
            body=self.body_edit.toPlainText(),
            appointment_id=self._appointment.id,
        )
        try:
            entry_id = communications.log_communication(
                self._session, entry, clock=self._clock
            )
        except CRMError as exc:
            self.errors.show(exc)
            return
        self.logged.emit(entry_id)
        self.accept()


class StartVisitDialog(_AppointmentDialog):
    """Consent and the patient's location, then the visit starts.

    Signals:
        started(str): the visit id.
    """

    started = Signal(str)

    TITLE = "Start visit"
    OK_TEXT = "&Start visit"
    NAME = "start_visit_dialog"

    def _build(self) -> None:
        from desktop_crm.services.scheduling import visits

        self.consent_combo = name_object(
            QComboBox(), "consent", "Consent to telehealth"
        )
        self.consent_combo.addItem("Not recorded yet", "")
        for method in visits.CONSENT_METHODS:
            self.consent_combo.addItem(method.capitalize(), method)
        self.country_edit = name_object(QLineEdit(), "country", "Patient's country")
        self.country_edit.setPlaceholderText("two letters, e.g. US")
        self.country_edit.setMaxLength(2)
        self.state_edit = name_object(QLineEdit(), "state", "Patient's state")
        self.state_edit.setPlaceholderText("e.g. CA (US, Canada, Australia)")
        self.modality_combo = name_object(QComboBox(), "visit_modality", "Visit type")
        for value in visits.VISIT_MODALITIES:
            self.modality_combo.addItem(value.capitalize(), value)
        self.platform_edit = name_object(QLineEdit(), "platform", "Platform")
        self.participants_edit = name_object(
            QLineEdit(), "participants", "Who takes part"
        )
        self.participants_edit.setPlaceholderText(
            "comma separated, e.g. patient, interpreter"
        )
        self.errors.add_row("&Consent:", self.consent_combo, "consent")
        self.errors.add_row(
            "C&ountry:", self.country_edit, "location country", "country"
        )
        self.errors.add_row("S&tate:", self.state_edit, "location state", "state")
        self.errors.add_row("&Visit type:", self.modality_combo, "modality")
        self.errors.add_row("&Platform:", self.platform_edit, "platform", "link")
        self.errors.add_row("P&articipants:", self.participants_edit, "participants")
        self.finish_layout(
            "Record the patient's consent to telehealth and where they are "
            "now (for licensure) before the visit starts."
        )

    @Slot()
    def on_buttons_accepted(self) -> None:
        from desktop_crm.services.scheduling import visits

        self.errors.clear()
        names = tuple(
            n.strip() for n in self.participants_edit.text().split(",") if n.strip()
        )
        details = visits.VisitStart(
            consent=str(self.consent_combo.currentData()),
            location_country=self.country_edit.text(),
            location_state=self.state_edit.text(),
            participants=names,
            platform=self.platform_edit.text(),
            modality=str(self.modality_combo.currentData()),
        )
        try:
            visit_id = visits.start_visit(
                self._session, self._appointment.id, details, clock=self._clock
            )
        except CRMError as exc:
            self.errors.show(exc)
            return
        self.started.emit(visit_id)
        self.accept()


def label(text: str, name: str) -> QLabel:
    widget = QLabel(text)
    widget.setObjectName(name)
    widget.setWordWrap(True)
    return widget
