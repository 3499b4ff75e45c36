"""The data behind the calendar, the day sheet and the front desk's day.

Appointments come from :func:`appointments.between` (reasons only where the
viewer may read them); this module adds what a screen shows beside each one:
the patient's name and zone, the provider's name, and whether a reminder
failed.  Loading a calendar is not audited per appointment, like the patient
list; opening one appointment is (``appointments.get``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from desktop_crm.services import settings_keys
from desktop_crm.services.providers import Provider, list_providers
from desktop_crm.services.scheduling import appointments, reminders
from desktop_crm.services.scheduling.model import Appointment
from desktop_crm.services.scheduling.timezones import zone_of
from desktop_crm.services.session import Session
from desktop_crm.storage import schedule_queries

#: Reminder states a screen flags.
REMINDER_PROBLEMS = frozenset({"failed"})


@dataclass(frozen=True)
class Entry:
    """One appointment as a calendar shows it."""

    appointment: Appointment
    patient_name: str
    patient_zone: str
    provider_name: str

    def patient_time_for(self, viewer_zone: str) -> str:
        """The patient's local time when it differs from ``viewer_zone``'s
        clock (telehealth only: in person, the patient is in the room)."""
        appt = self.appointment
        if appt.modality == "in-person" or not self.patient_zone:
            return ""
        mine = appt.start.astimezone(zone_of(viewer_zone)).utcoffset()
        theirs = appt.start.astimezone(zone_of(self.patient_zone)).utcoffset()
        return "" if mine == theirs else appt.time_in(self.patient_zone)


def practice_zone(session: Session) -> str:
    """The practice's IANA zone (the viewer's zone on shared screens)."""
    return session.setting(settings_keys.PRACTICE_TZ, "UTC") or "UTC"


def providers(session: Session) -> list[Provider]:
    """Providers a calendar can filter by (practice users and practitioners)."""
    return list_providers(session)


def day_range(day: date, zone: str, days: int = 1) -> tuple[datetime, datetime]:
    """The aware instants at which ``day`` (and ``days - 1`` more) begin and end."""
    tz = zone_of(zone)
    start = datetime(day.year, day.month, day.day, tzinfo=tz)
    end_day = day + timedelta(days=days)
    end = datetime(end_day.year, end_day.month, end_day.day, tzinfo=tz)
    return start, end


def _person_name(row: dict[str, object]) -> str:
    family = str(row.get("family") or "")
    given = str(row.get("given") or "")
    return f"{family}, {given}" if family and given else family or given


def entries(
    session: Session, start: datetime, end: datetime, provider_id: str | None = None
) -> list[Entry]:
    """Appointments overlapping ``[start, end)`` with names, by start.

    Raises:
        NotPermitted: the user lacks ``appointments.read``.
    """
    found = appointments.between(session, start, end, provider_id)
    return describe(session, found)


def describe(session: Session, found: Sequence[Appointment]) -> list[Entry]:
    """Names and zones for already loaded appointments."""
    session.require("appointments.read")
    people = schedule_queries.patient_names(
        session.database(), [a.patient_id for a in found]
    )
    names = {p.id: p.display for p in list_providers(session)}
    result = []
    for appt in found:
        person = people.get(appt.patient_id, {})
        result.append(
            Entry(
                appointment=appt,
                patient_name=_person_name(person),
                patient_zone=str(person.get("timezone") or ""),
                provider_name=names.get(appt.provider_id, ""),
            )
        )
    return result


def reminder_problems(session: Session, appointment_ids: Sequence[str]) -> set[str]:
    """The ids among ``appointment_ids`` with a failed reminder."""
    return {
        appointment_id
        for appointment_id in appointment_ids
        if any(
            r.status in REMINDER_PROBLEMS
            for r in reminders.for_appointment(session, appointment_id)
        )
    }
