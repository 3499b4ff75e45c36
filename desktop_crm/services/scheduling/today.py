"""The data of the front desk's Today board: one row per appointment of a day.

A row carries the time in the viewer's zone and the patient's local time when
it differs, the patient's and provider's names, modality, status, the state
of its reminders and of its virtual visit.  Reminder states:

- ``failed``: a send failed for good (see ``reminders.for_appointment``);
- ``late``: a reminder could not go out in time: one still queued more than
  ``GRACE`` after it was due, or none queued although the nearest offset has
  passed and the patient consented to e-mail reminders (nobody ran
  ``reminders run`` and the unattended slot is off);
- ``sent``, ``pending`` or ``""`` (none planned or none needed).
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from desktop_crm.services import providers, settings_keys
from desktop_crm.services.clock import Clock, SystemClock
from desktop_crm.services.scheduling import appointments, reminders
from desktop_crm.services.scheduling.model import Appointment
from desktop_crm.services.scheduling.timezones import (
    day_bounds,
    from_utc_text,
    short_label,
    zone_of,
)
from desktop_crm.services.session import Session
from desktop_crm.storage import schedule_extra_queries as q
from desktop_crm.storage import schedule_queries

#: How long after its due time a queued reminder counts as late.
GRACE = timedelta(minutes=15)


@dataclass(frozen=True)
class BoardRow:
    """One appointment on the Today board."""

    appointment_id: str
    start: datetime
    end: datetime
    time: str
    patient_time: str
    patient_id: str
    patient_name: str
    provider_id: str
    provider_name: str
    modality: str
    status: str
    reminders: str
    visit_id: str | None
    visit_state: str


def _name(person: dict[str, Any]) -> str:
    first = " ".join(p for p in (person.get("given"), person.get("middle")) if p)
    family = str(person.get("family") or "")
    return f"{family}, {first}" if first else family


def _consented(session: Session, patient_id: str) -> bool:
    emails = json.loads(q.patient_emails(session.database(), patient_id) or "[]")
    return any(bool(e.get("reminders")) for e in emails if isinstance(e, dict))


class _ReminderStates:
    """Reminder state per appointment, from one query for the whole day."""

    def __init__(self, session: Session, found: list[Appointment], now: datetime):
        self._session = session
        self._now = now
        self._rows: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for row in q.reminder_states(session.database(), [a.id for a in found]):
            self._rows[str(row["appointment_id"])].append(row)
        steps = reminders.offsets(session)
        self._nearest = timedelta(minutes=steps[-1]) if steps else None

    def state(self, appt: Appointment) -> str:
        rows = self._rows.get(appt.id, [])
        statuses = {str(r["status"]) for r in rows}
        overdue = self._now - GRACE
        if "failed" in statuses:
            return "failed"
        if any(
            r["status"] == "pending" and from_utc_text(str(r["due_utc"])) <= overdue
            for r in rows
        ):
            return "late"
        if not rows and self._missed(appt, overdue):
            return "late"
        if "sent" in statuses:
            return "sent"
        return "pending" if "pending" in statuses else ""

    def _missed(self, appt: Appointment, overdue: datetime) -> bool:
        if self._nearest is None or appt.status not in reminders.REMIND_STATUSES:
            return False
        if appt.start - self._nearest > overdue:
            return False
        return _consented(self._session, appt.patient_id)


def today(
    session: Session,
    day: date | str,
    provider_id: str | None = None,
    *,
    viewer_zone: str | None = None,
    clock: Clock | None = None,
) -> list[BoardRow]:
    """The board of one practice day (a date in the practice's zone), by time.

    ``viewer_zone`` (default: the practice's) is the zone of ``time``;
    ``patient_time`` is set when the patient's zone shows another time.

    Raises:
        NotPermitted: the user lacks ``appointments.read``.
        InvalidInput: a bad date or zone (named).
    """
    session.require("appointments.read")
    practice = session.setting(settings_keys.PRACTICE_TZ, "UTC") or "UTC"
    viewer = viewer_zone or practice
    zone_of(viewer, "viewer zone")
    text = day.isoformat() if isinstance(day, date) else day
    begin, end = day_bounds(text, practice)
    found = [
        a
        for a in appointments.between(session, begin, end, provider_id)
        if begin <= a.start < end
    ]
    db = session.database()
    people = schedule_queries.patient_names(db, [a.patient_id for a in found])
    names = {p.id: p.display for p in providers.list_providers(session)}
    visits = {
        str(v["appointment_id"]): v
        for v in q.visits_of_appointments(db, [a.id for a in found])
    }
    now = datetime.fromtimestamp((clock or SystemClock()).now(), UTC)
    states = _ReminderStates(session, found, now)
    return [
        _row(a, people.get(a.patient_id, {}), names, visits.get(a.id), states, viewer)
        for a in found
    ]


def _row(
    appt: Appointment,
    person: dict[str, Any],
    names: dict[str, str],
    visit: dict[str, Any] | None,
    states: _ReminderStates,
    viewer: str,
) -> BoardRow:
    shown = short_label(appt.start, viewer)
    patient_zone = str(person.get("timezone") or "")
    theirs = short_label(appt.start, patient_zone) if patient_zone else ""
    visit_state = "none"
    if visit is not None:
        visit_state = "in-progress" if visit["ended_utc"] is None else "closed"
    return BoardRow(
        appointment_id=appt.id,
        start=appt.start,
        end=appt.end,
        time=shown,
        patient_time="" if theirs == shown else theirs,
        patient_id=appt.patient_id,
        patient_name=_name(person),
        provider_id=appt.provider_id,
        provider_name=names.get(appt.provider_id, ""),
        modality=appt.modality,
        status=appt.status,
        reminders=states.state(appt),
        visit_id=None if visit is None else str(visit["id"]),
        visit_state=visit_state,
    )
