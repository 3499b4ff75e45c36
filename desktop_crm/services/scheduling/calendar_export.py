"""iCalendar (.ics) export of one provider's appointments, with VTIMEZONE.

Patient names are left out unless the practice turns on
``calendar.ics_patient_names``; the reason is never exported.  A series is
one VEVENT with its RRULE and an EXDATE per occurrence that was cancelled or
moved; a moved occurrence is its own VEVENT (UID ``<series>.<YYYYMMDD>``).
A time that occurs twice (DST fall-back) is written in UTC, since RFC 5545
reads an ambiguous local time as the first one.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from icalendar import Calendar, Event, vRecur

from desktop_crm.services.scheduling import recurrence
from desktop_crm.services.scheduling.timezones import (
    from_utc_text,
    is_fold,
    zone_of,
)
from desktop_crm.services.session import Session
from desktop_crm.storage import schedule_queries
from desktop_crm.storage.writepath import AuditEvent

log = logging.getLogger(__name__)

PATIENT_NAMES = "calendar.ics_patient_names"
_STATUS = {"proposed": "TENTATIVE", "cancelled": "CANCELLED", "noshow": "CANCELLED"}


def _summary(row: dict[str, Any], names: dict[str, dict[str, Any]], show: bool) -> str:
    what = f"Appointment ({row['modality']})"
    person = names.get(str(row["patient_id"]))
    if show and person:
        first = " ".join(p for p in (person["given"], person["middle"]) if p)
        return f"{what}: {person['family']}, {first}".rstrip(", ")
    return what


def _ical_time(moment: datetime, zone: ZoneInfo) -> datetime:
    """``moment`` with its TZID, or in UTC when that local time occurs twice.

    RFC 5545 reads an ambiguous local time as its first occurrence, so the
    second 01:30 of a fall-back night can only be written in UTC.
    """
    local = moment.astimezone(zone)
    if is_fold(local.replace(tzinfo=None), zone):
        return moment.astimezone(UTC)
    return local


def _event(uid: str, row: dict[str, Any], start: datetime, summary: str) -> Event:
    zone = zone_of(str(row["zone"]))
    event = Event()
    event.add("uid", f"{uid}@desktop-crm")
    event.add("dtstamp", datetime.now(UTC))
    event.add("dtstart", _ical_time(start, zone))
    event.add(
        "dtend",
        _ical_time(start + timedelta(minutes=int(row["duration_min"])), zone),
    )
    event.add("summary", summary)
    event.add("status", _STATUS.get(str(row["status"]), "CONFIRMED"))
    if row["video_link"]:
        event.add("url", str(row["video_link"]))
    if row["location"]:
        event.add("location", str(row["location"]))
    return event


def provider_calendar(session: Session, provider_id: str) -> bytes:
    """The provider's appointments and series as an .ics file's bytes.

    Raises:
        NotPermitted: the user lacks ``calendar.export``.
    """
    session.require("calendar.export")
    db = session.database()
    singles = schedule_queries.provider_appointments(db, provider_id)
    series_rows = schedule_queries.provider_series(db, provider_id)
    exceptions = schedule_queries.exceptions_of(db, [str(s["id"]) for s in series_rows])
    names = schedule_queries.patient_names(
        db, [str(r["patient_id"]) for r in singles + series_rows]
    )
    show = session.setting(PATIENT_NAMES, "0") == "1"
    calendar = Calendar()
    calendar.add("prodid", "-//Desktop CRM//Scheduling//EN")
    calendar.add("version", "2.0")
    for row in singles:
        if row["series_id"] is None:
            start = from_utc_text(str(row["start_utc"]))
            calendar.add_component(
                _event(str(row["id"]), row, start, _summary(row, names, show))
            )
    for row in series_rows:
        for event in _series_events(row, exceptions, names, show):
            calendar.add_component(event)
    calendar.add_missing_timezones()
    session.write(AuditEvent("calendar.export", "provider", provider_id))
    log.info("calendar of provider %s exported", provider_id)
    return bytes(calendar.to_ical())


def _series_events(
    row: dict[str, Any],
    exceptions: list[dict[str, Any]],
    names: dict[str, dict[str, Any]],
    show: bool,
) -> list[Event]:
    zone = zone_of(str(row["zone"]))
    local_start = datetime.fromisoformat(str(row["local_start"]))
    first = local_start.replace(tzinfo=zone, fold=int(row["fold"]))
    event = _event(str(row["id"]), row, first, _summary(row, names, show))
    event.add("rrule", vRecur.from_ical(str(row["rrule"])))
    events = [event]
    own = [e for e in exceptions if e["series_id"] == row["id"]]
    for ex in own:
        original = recurrence.parse_recurrence_id(
            str(ex["recurrence_id"]), local_start.time()
        )
        original_at = original.replace(tzinfo=zone, fold=int(row["fold"]))
        event.add("exdate", original_at)
        if ex["status"] not in ("cancelled",):
            moved = _event(
                str(ex["id"]),
                ex,
                from_utc_text(str(ex["start_utc"])),
                _summary(ex, names, show),
            )
            events.append(moved)
    return events
