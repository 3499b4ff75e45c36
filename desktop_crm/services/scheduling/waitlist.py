"""The waitlist: patients waiting for an earlier slot, with their preferences.

An entry names the patient, a provider (or any provider), preferred weekdays
and time-of-day windows, the earliest and latest acceptable dates, a modality
(or any) and a short note.  Weekdays, windows and dates are read in the
entry's zone: the patient's zone when they have one, else the practice's.

The note is treated like an appointment's reason: anyone with
``appointments.write`` may write it, but only users for whom the notes scope
holds (``visits.notes``, see ``roles.NotesScope``) read it back; others get
``note=None``.

When an appointment is cancelled, :func:`offers_for_cancelled` lists the
waiting entries whose preferences fit the freed slot, longest waiting first,
provided the slot is still free and inside the provider's working hours.
:func:`cancel_and_offer` cancels and asks in one call (for the screens).
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from typing import Any
from zoneinfo import ZoneInfo

from desktop_crm.errors import InvalidInput
from desktop_crm.services import settings_keys
from desktop_crm.services.clock import Clock, SystemClock
from desktop_crm.services.patients import PatientNotFound
from desktop_crm.services.roles import NotesScope
from desktop_crm.services.scheduling import appointments, edits
from desktop_crm.services.scheduling import working_hours as wh
from desktop_crm.services.scheduling.model import (
    INACTIVE,
    MODALITIES,
    Appointment,
    check_text,
)
from desktop_crm.services.scheduling.timezones import from_utc_text, utc_text, zone_of
from desktop_crm.services.session import Session
from desktop_crm.storage import patient_queries, schedule_queries
from desktop_crm.storage import schedule_extra_queries as q
from desktop_crm.storage.writepath import AuditEvent, Mutation

log = logging.getLogger(__name__)

STATUSES = ("waiting", "booked", "removed")


@dataclass(frozen=True)
class WaitlistRequest:
    """A new entry; empty ``weekdays``/``windows``/``modality`` mean "any".

    ``windows`` are ``(start, end)`` wall-clock pairs (``time`` or ``"HH:MM"``);
    ``zone`` defaults to the patient's zone, else the practice's.
    """

    patient_id: str
    provider_id: str | None = None
    weekdays: tuple[int, ...] = ()
    windows: tuple[tuple[wh.TimeLike, wh.TimeLike], ...] = ()
    earliest: date | None = None
    latest: date | None = None
    modality: str = ""
    note: str = ""
    zone: str = ""


@dataclass(frozen=True)
class WaitlistEntry:
    """One entry as listed (``note`` is None when the viewer may not read it)."""

    id: str
    patient_id: str
    provider_id: str | None
    zone: str
    weekdays: tuple[int, ...]
    windows: tuple[wh.Interval, ...]
    earliest: date | None
    latest: date | None
    modality: str
    note: str | None
    status: str
    appointment_id: str | None
    created_at: datetime


@dataclass(frozen=True)
class Offer:
    """A freed slot that fits a waiting entry."""

    entry: WaitlistEntry
    cancelled_id: str
    provider_id: str
    start: datetime
    end: datetime
    zone: str
    modality: str


def _now(clock: Clock | None) -> str:
    return utc_text(datetime.fromtimestamp((clock or SystemClock()).now(), UTC))


# -- checking ------------------------------------------------------------------------


def _check_weekdays(weekdays: Sequence[int]) -> str:
    if isinstance(weekdays, str) or any(
        not isinstance(d, int) or not 0 <= d <= 6 for d in weekdays
    ):
        raise InvalidInput("weekdays", "use 0 (Monday) to 6 (Sunday)")
    return ",".join(str(d) for d in sorted(set(weekdays)))


def _check_dates(request: WaitlistRequest) -> tuple[str | None, str | None]:
    for value, field in (
        (request.earliest, "earliest date"),
        (request.latest, "latest date"),
    ):
        if value is not None and (
            not isinstance(value, date) or isinstance(value, datetime)
        ):
            raise InvalidInput(field, "give a date")
    if request.earliest and request.latest and request.latest < request.earliest:
        raise InvalidInput("latest date", "is before the earliest date")
    return (
        request.earliest.isoformat() if request.earliest else None,
        request.latest.isoformat() if request.latest else None,
    )


def _zone(session: Session, request: WaitlistRequest, row: dict[str, Any]) -> str:
    if request.zone:
        zone_of(request.zone, "zone")
        return request.zone
    return str(row["timezone"] or "") or session.setting(
        settings_keys.PRACTICE_TZ, "UTC"
    )


def _values(session: Session, request: WaitlistRequest) -> dict[str, Any]:
    row = patient_queries.patient_row(session.database(), request.patient_id)
    if row is None or row["status"] == "merged":
        raise PatientNotFound
    if request.provider_id is not None and (
        q.provider_zone(session.database(), request.provider_id) is None
    ):
        raise InvalidInput("provider", "no provider with that id")
    if request.modality and request.modality not in MODALITIES:
        raise InvalidInput("modality", f"choose one of {', '.join(MODALITIES)}, or any")
    windows = wh.check_intervals(list(request.windows), "time window")
    earliest, latest = _check_dates(request)
    return {
        "patient_id": request.patient_id,
        "provider_id": request.provider_id,
        "zone": _zone(session, request, row),
        "weekdays": _check_weekdays(request.weekdays),
        "windows": json.dumps(
            [[f"{w.start:%H:%M}", f"{w.end:%H:%M}"] for w in windows]
        ),
        "earliest": earliest,
        "latest": latest,
        "modality": request.modality,
        "note": check_text(request.note, "note"),
    }


# -- changing ------------------------------------------------------------------------


def add_entry(
    session: Session, request: WaitlistRequest, *, clock: Clock | None = None
) -> str:
    """Put a patient on the waitlist; returns the entry id.

    Raises:
        NotPermitted: the user lacks ``appointments.write``.
        PatientNotFound: no such patient.
        InvalidInput: a bad provider, weekday, window, date, modality, zone
            or a note over 500 characters (named).
    """
    session.require("appointments.write")
    values = _values(session, request)
    now = _now(clock)
    entry_id = str(uuid.uuid4())
    values |= {"status": "waiting", "created_at": now, "updated_at": now}
    session.write(
        AuditEvent("waitlist.add", "waitlist", entry_id),
        [Mutation("waitlist", entry_id, "insert", values)],
    )
    log.info("waitlist entry %s added", entry_id)
    return entry_id


def _set_status(
    session: Session,
    entry_id: str,
    status: str,
    appointment_id: str | None,
    clock: Clock | None,
) -> None:
    session.require("appointments.write")
    row = q.waitlist_entry(session.database(), entry_id)
    if row is None:
        raise InvalidInput("waitlist entry", "no entry with that id")
    if row["status"] != "waiting":
        raise InvalidInput("waitlist entry", f"is already {row['status']}")
    session.write(
        AuditEvent(f"waitlist.{status}", "waitlist", entry_id),
        [
            Mutation(
                "waitlist",
                entry_id,
                "update",
                {
                    "status": status,
                    "appointment_id": appointment_id,
                    "updated_at": _now(clock),
                },
            )
        ],
    )


def remove_entry(
    session: Session, entry_id: str, *, clock: Clock | None = None
) -> None:
    """Take an entry off the list (kept as ``removed``, not deleted)."""
    _set_status(session, entry_id, "removed", None, clock)


def mark_booked(
    session: Session,
    entry_id: str,
    appointment_id: str,
    *,
    clock: Clock | None = None,
) -> None:
    """Close an entry because the patient was booked (``appointment_id``)."""
    _set_status(session, entry_id, "booked", appointment_id, clock)


# -- reading -------------------------------------------------------------------------


def _entry(row: dict[str, Any], scope: NotesScope) -> WaitlistEntry:
    patient_id = str(row["patient_id"])
    return WaitlistEntry(
        id=str(row["id"]),
        patient_id=patient_id,
        provider_id=None if row["provider_id"] is None else str(row["provider_id"]),
        zone=str(row["zone"]),
        weekdays=tuple(int(d) for d in str(row["weekdays"]).split(",") if d),
        windows=tuple(
            wh.Interval(time.fromisoformat(a), time.fromisoformat(b))
            for a, b in json.loads(str(row["windows"]))
        ),
        earliest=date.fromisoformat(row["earliest"]) if row["earliest"] else None,
        latest=date.fromisoformat(row["latest"]) if row["latest"] else None,
        modality=str(row["modality"]),
        note=str(row["note"]) if scope.covers(patient_id) else None,
        status=str(row["status"]),
        appointment_id=None
        if row["appointment_id"] is None
        else str(row["appointment_id"]),
        created_at=from_utc_text(str(row["created_at"])),
    )


def list_entries(
    session: Session, provider_id: str | None = None
) -> list[WaitlistEntry]:
    """Waiting entries, longest waiting first; with ``provider_id``, that
    provider's entries and those for any provider."""
    session.require("appointments.read")
    scope = NotesScope(session)
    return [_entry(r, scope) for r in q.waiting(session.database(), provider_id)]


def get_entry(session: Session, entry_id: str) -> WaitlistEntry:
    """One entry, whatever its status."""
    session.require("appointments.read")
    row = q.waitlist_entry(session.database(), entry_id)
    if row is None:
        raise InvalidInput("waitlist entry", "no entry with that id")
    return _entry(row, NotesScope(session))


def patient_names(session: Session, entries: Sequence[WaitlistEntry]) -> dict[str, str]:
    """patient id -> "Family, Given" for listed entries (like the calendar)."""
    session.require("appointments.read")
    rows = schedule_queries.patient_names(
        session.database(), [e.patient_id for e in entries]
    )
    return {
        pid: ", ".join(str(row[k]) for k in ("family", "given") if row.get(k))
        for pid, row in rows.items()
    }


# -- offers --------------------------------------------------------------------------


def fits(entry: WaitlistEntry, appt: Appointment) -> bool:
    """Whether a slot (the appointment's time, provider, modality) fits an entry."""
    if entry.provider_id not in (None, appt.provider_id):
        return False
    if entry.modality and entry.modality != appt.modality:
        return False
    zone = ZoneInfo(entry.zone)
    start, end = appt.start.astimezone(zone), appt.end.astimezone(zone)
    day = start.date()
    if (entry.earliest and day < entry.earliest) or (
        entry.latest and day > entry.latest
    ):
        return False
    if entry.weekdays and day.weekday() not in entry.weekdays:
        return False
    if not entry.windows:
        return True
    first = wh.minutes_of(start.time())
    last = wh.minutes_of(end.time()) + 24 * 60 * (end.date() - day).days
    return any(
        wh.minutes_of(w.start) <= first and last <= wh.minutes_of(w.end, end=True)
        for w in entry.windows
    )


def offers_for_cancelled(session: Session, appointment_id: str) -> list[Offer]:
    """Waiting entries that fit the slot a cancelled appointment freed.

    Empty when the slot is already taken again or lies outside the
    provider's working hours.  Best first: the longest waiting.

    Raises:
        NotPermitted: the user lacks ``appointments.read``.
        AppointmentNotFound: no such appointment.
        InvalidInput: the appointment is not cancelled or a no-show.
    """
    session.require("appointments.read")
    appt = appointments._load(
        session, appointment_id, appointments.ReasonPolicy(session)
    )
    if appt.status not in INACTIVE:
        raise InvalidInput("appointment", "is not cancelled: its slot is not free")
    return _offers(session, appt)


def _offers(session: Session, appt: Appointment) -> list[Offer]:
    if wh.outside_hours(session, appt.provider_id, appt.start, appt.end):
        return []
    if appointments.clashes(
        session, appt.provider_id, [(appt.start, appt.end)], ignore=[appt.id]
    ):
        return []
    return [
        Offer(
            e, appt.id, appt.provider_id, appt.start, appt.end, appt.zone, appt.modality
        )
        for e in list_entries(session, appt.provider_id)
        if e.patient_id != appt.patient_id and fits(e, appt)
    ]


def cancel_and_offer(
    session: Session,
    appointment_id: str,
    reason: str,
    scope: edits.Scope = "this",
    *,
    clock: Clock | None = None,
) -> list[Offer]:
    """Cancel (see ``edits.cancel``), then return the offers for the slot of
    ``appointment_id`` (with a series scope, only that occurrence's slot)."""
    appt = appointments._load(
        session, appointment_id, appointments.ReasonPolicy(session)
    )
    edits.cancel(session, appointment_id, reason, scope, clock=clock)
    return _offers(session, appt)
