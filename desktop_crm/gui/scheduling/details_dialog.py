"""One appointment: what, when (in every zone that matters), reminders, and
the front desk's and provider's actions on it."""

from __future__ import annotations

from PySide6.QtCore import Signal, Slot
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QGridLayout,
    QLabel,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from desktop_crm.errors import CRMError
from desktop_crm.gui import fields
from desktop_crm.gui.scheduling.change_dialogs import (
    CallDialog,
    CancelDialog,
    MoveDialog,
    StartVisitDialog,
)
from desktop_crm.gui.scheduling.common import MODALITY_TEXT, status_text
from desktop_crm.gui.worker import user_message
from desktop_crm.services.clock import Clock
from desktop_crm.services.roles import allows
from desktop_crm.services.scheduling import (
    appointments,
    reminders,
    schedule_view,
    visits,
)
from desktop_crm.services.scheduling.schedule_view import Entry
from desktop_crm.services.session import Session

CHECK_IN_FROM = frozenset({"proposed", "booked", "arrived"})
NO_SHOW_FROM = frozenset({"proposed", "booked", "arrived", "checked-in"})
STARTABLE = frozenset({"booked", "arrived", "checked-in"})


def check_in(session: Session, appointment_id: str, clock: Clock | None) -> None:
    visits.check_in(session, appointment_id, clock=clock)


def mark_no_show(session: Session, appointment_id: str, clock: Clock | None) -> None:
    visits.mark_no_show(session, appointment_id, clock=clock)


def open_visit_id(session: Session, appointment_id: str) -> str | None:
    """The id of the appointment's visit while it is open, else None."""
    found = visits.visit_for_appointment(session, appointment_id)
    return found.id if found is not None and found.ended is None else None


def when_text(entry: Entry, viewer_zone: str) -> str:
    appt = entry.appointment
    text = f"{appt.label()} · {appt.duration_min} min"
    if viewer_zone != appt.zone:
        text += f"\n{appt.time_in(viewer_zone)} here ({viewer_zone})"
    there = entry.patient_time_for(appt.zone)
    if there:
        text += f"\n{there} for the patient ({entry.patient_zone})"
    return text


class AppointmentDialog(QDialog):
    """Details and actions; opening it is audited (``appointment.view``).

    Signals:
        changed(str): the appointment (or its series) changed.
    """

    changed = Signal(str)

    def __init__(
        self,
        session: Session,
        appointment_id: str,
        viewer_zone: str,
        *,
        clock: Clock | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setObjectName("appointment_dialog")
        self.setWindowTitle("Appointment")
        self._session = session
        self._id = appointment_id
        self._zone = viewer_zone
        self._clock = clock
        self.dialog: QDialog | None = None
        self.entry: Entry | None = None
        self.visit_id: str | None = None
        self._gone = False
        self.labels: dict[str, QLabel] = {}
        self.error = fields.error_label("Appointment error")
        self.reminder_error = fields.error_label("Reminder problem")
        self.reminder_error.setObjectName("reminder_problem")
        self._make_buttons()
        self._build()
        self.reload()

    def _button(self, text: str, name: str, slot) -> QPushButton:  # noqa: ANN001
        button = QPushButton(text)
        button.setObjectName(name)
        button.clicked.connect(slot)
        return button

    def _make_buttons(self) -> None:
        self.check_in_button = self._button("Check &in", "check_in", self.on_check_in)
        self.start_button = self._button("&Start visit…", "start_visit", self.on_start)
        self.close_visit_button = self._button(
            "&End visit", "close_visit", self.on_close_visit
        )
        self.no_show_button = self._button("&No-show", "no_show", self.on_no_show)
        self.move_button = self._button("&Reschedule…", "reschedule", self.on_move)
        self.cancel_button = self._button(
            "&Cancel appointment…", "cancel_appointment", self.on_cancel
        )
        self.call_button = self._button("&Log a call…", "log_call", self.on_call)
        self.close_buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        self.close_buttons.rejected.connect(self.reject)

    def _build(self) -> None:
        form = QFormLayout()
        for key, title in (
            ("patient", "Patient"),
            ("provider", "Provider"),
            ("when", "When"),
            ("modality", "Modality"),
            ("link", "Video link"),
            ("location", "Location"),
            ("reason", "Reason"),
            ("status", "Status"),
            ("reminders", "Reminders"),
        ):
            label = QLabel()
            label.setObjectName(f"detail_{key}")
            label.setAccessibleName(title)
            label.setWordWrap(True)
            label.setTextInteractionFlags(label.textInteractionFlags())
            self.labels[key] = label
            form.addRow(f"{title}:", label)
        grid = QGridLayout()
        buttons = (
            self.check_in_button,
            self.start_button,
            self.close_visit_button,
            self.no_show_button,
            self.move_button,
            self.cancel_button,
            self.call_button,
        )
        for index, button in enumerate(buttons):
            grid.addWidget(button, index // 4, index % 4)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.reminder_error)
        layout.addLayout(grid)
        layout.addWidget(self.error)
        layout.addWidget(self.close_buttons)
        self.setMinimumWidth(560)

    # -- loading ---------------------------------------------------------------------
    def reload(self) -> None:
        """Read the appointment again (audited) and show it."""
        try:
            appt = appointments.get(self._session, self._id)
            self.entry = schedule_view.describe(self._session, [appt])[0]
            states = reminders.for_appointment(self._session, self._id)
            self.visit_id = open_visit_id(self._session, self._id)
        except CRMError as exc:
            fields.show_message(self.error, user_message(exc))
            return
        self._show(self.entry, states)

    def _show(self, entry: Entry, states: list[reminders.Reminder]) -> None:
        appt = entry.appointment
        text = self.labels
        text["patient"].setText(entry.patient_name)
        text["provider"].setText(entry.provider_name)
        text["when"].setText(when_text(entry, self._zone))
        text["modality"].setText(MODALITY_TEXT.get(appt.modality, appt.modality))
        text["link"].setText(appt.video_link or "—")
        text["location"].setText(appt.location or "—")
        text["reason"].setText(
            "Not shown (clinical)" if appt.reason is None else appt.reason or "—"
        )
        status = status_text(appt.status)
        if appt.cancel_reason:
            status += f" ({appt.cancel_reason})"
        if self.visit_id:
            status += " · visit in progress"
        text["status"].setText(status)
        text["reminders"].setText(
            ", ".join(f"{r.offset_min // 60} h before: {r.status}" for r in states)
            or "None planned"
        )
        failed = [r for r in states if r.status == "failed"]
        fields.show_message(
            self.reminder_error,
            f"A reminder failed to send ({failed[0].last_error or 'no detail'}); "
            "call the patient."
            if failed
            else "",
        )
        self._enable(entry)

    def _enable(self, entry: Entry) -> None:
        appt = entry.appointment
        may_write = allows(self._session.roles, "appointments.write")
        active = appt.status not in ("cancelled", "noshow", "fulfilled")
        self.check_in_button.setEnabled(may_write and appt.status in CHECK_IN_FROM)
        self.start_button.setVisible(appt.modality != "in-person")
        self.start_button.setEnabled(
            may_write and appt.status in STARTABLE and not self.visit_id
        )
        self.close_visit_button.setVisible(bool(self.visit_id))
        self.no_show_button.setEnabled(
            may_write and appt.status in NO_SHOW_FROM and not self.visit_id
        )
        self.move_button.setEnabled(may_write and active)
        self.cancel_button.setEnabled(may_write and active)
        self.call_button.setEnabled(allows(self._session.roles, "communications.write"))

    # -- actions ---------------------------------------------------------------------
    def _act(self, action) -> None:  # noqa: ANN001 - a no-argument callable
        fields.show_message(self.error, "")
        try:
            action()
        except CRMError as exc:
            fields.show_message(self.error, user_message(exc))
            return
        self.reload()
        self.changed.emit(self._id)

    def _open(self, dialog: QDialog, signal) -> None:  # noqa: ANN001 - a Qt signal
        signal.connect(self.on_child_changed)
        dialog.finished.connect(dialog.deleteLater)
        self.dialog = dialog
        dialog.open()

    @Slot()
    def on_check_in(self) -> None:
        self._act(lambda: check_in(self._session, self._id, self._clock))

    @Slot()
    def on_no_show(self) -> None:
        self._act(lambda: mark_no_show(self._session, self._id, self._clock))

    @Slot()
    def on_close_visit(self) -> None:
        visit_id = self.visit_id
        if visit_id is not None:
            self._act(
                lambda: visits.close_visit(self._session, visit_id, clock=self._clock)
            )

    @Slot()
    def on_start(self) -> None:
        if self.entry is not None:
            dialog = StartVisitDialog(
                self._session, self.entry.appointment, clock=self._clock, parent=self
            )
            self._open(dialog, dialog.started)

    @Slot()
    def on_move(self) -> None:
        if self.entry is not None:
            dialog = MoveDialog(
                self._session, self.entry.appointment, clock=self._clock, parent=self
            )
            dialog.moved.connect(self.on_moved)
            self._open(dialog, dialog.moved)

    @Slot()
    def on_cancel(self) -> None:
        if self.entry is not None:
            dialog = CancelDialog(
                self._session, self.entry.appointment, clock=self._clock, parent=self
            )
            self._open(dialog, dialog.cancelled)

    @Slot()
    def on_call(self) -> None:
        if self.entry is not None:
            dialog = CallDialog(
                self._session, self.entry.appointment, clock=self._clock, parent=self
            )
            self._open(dialog, dialog.logged)

    @Slot(str)
    def on_moved(self, changed_id: str) -> None:
        # Moving several occurrences may give this one a new id: close, and
        # let the calendar show where it went.
        self._gone = changed_id != self._id

    @Slot(str)
    def on_child_changed(self, _changed: str) -> None:
        if self._gone:
            self.changed.emit(self._id)
            self.accept()
            return
        self.reload()
        self.changed.emit(self._id)
