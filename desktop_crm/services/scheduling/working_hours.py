"""Providers' working hours and days off, in each provider's own zone.

Hours are wall-clock intervals per weekday (several a day allowed, e.g.
09:00-12:00 and 13:00-17:00), read in the provider's zone on each date, so a
09:00-17:00 day stays 09:00-17:00 local on both sides of a DST change.  Days
off are single dates or inclusive ranges of dates (provider's zone).

A provider with no hours set works "all day every day" for these checks:
nothing is shaded and no booking is outside hours (days off still count).

Who may change them: users with ``settings.manage`` (admin) or the
front-desk role (both also hold ``appointments.write``), and a provider for
their own provider row.  Reading needs ``appointments.read``.

Booking outside hours: ``appointments.book`` does not check hours itself;
screens and the command line call :func:`check_booking` (or
:func:`check_request`) first, which raises :class:`OutsideWorkingHours`
unless ``allow_outside`` is set, the same way ``Overlap`` asks first.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from desktop_crm.errors import CRMError, InvalidInput, NotPermitted
from desktop_crm.services import settings_keys
from desktop_crm.services.clock import Clock, SystemClock
from desktop_crm.services.scheduling import recurrence
from desktop_crm.services.scheduling.model import AppointmentRequest
from desktop_crm.services.scheduling.timezones import (
    resolve,
    short_label,
    to_utc_choice,
    utc_text,
    zone_of,
)
from desktop_crm.services.session import Session
from desktop_crm.storage import schedule_extra_queries as q
from desktop_crm.storage.writepath import AuditEvent, Mutation

log = logging.getLogger(__name__)

WEEKDAYS = (
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
    "Sunday",
)
MAX_INTERVALS = 6
MAX_DAYS_OFF_SPAN = 366
MAX_LABEL = 100
#: 00:00 as an interval's end means midnight at the end of the day (24:00).
MIDNIGHT = time(0, 0)

TimeLike = time | str


@dataclass(frozen=True)
class Interval:
    """A wall-clock working interval; ``end`` 00:00 means the end of the day."""

    start: time
    end: time

    def label(self) -> str:
        end = "24:00" if self.end == MIDNIGHT else f"{self.end:%H:%M}"
        return f"{self.start:%H:%M}-{end}"


@dataclass(frozen=True)
class DayOff:
    """A day or an inclusive range of days off (dates in the provider's zone)."""

    id: str
    first: date
    last: date
    label: str = ""


@dataclass(frozen=True)
class WorkingHours:
    """A provider's week (index 0 = Monday) and days off.

    ``configured`` is False when no hours were ever set (then nothing is
    outside hours except days off).
    """

    provider_id: str
    zone: str
    weekly: tuple[tuple[Interval, ...], ...]
    days_off: tuple[DayOff, ...]
    configured: bool


@dataclass(frozen=True)
class Span:
    """An aware UTC span; ``why`` is ``outside hours`` or ``day off``."""

    start: datetime
    end: datetime
    why: str


class OutsideWorkingHours(CRMError):
    """A booking falls (partly) outside the provider's working hours.

    Book anyway by calling again with ``allow_outside=True`` after asking.
    ``spans`` are the parts outside hours.
    """

    def __init__(self, spans: list[Span], zone: str) -> None:
        shown = ", ".join(
            f"{s.start.astimezone(ZoneInfo(zone)):%Y-%m-%d} "
            f"{short_label(s.start, zone)} to {short_label(s.end, zone)} ({s.why})"
            for s in spans[:5]
        )
        more = f" and {len(spans) - 5} more" if len(spans) > 5 else ""
        super().__init__(
            f"outside the provider's working hours: {shown}{more} "
            "(book anyway with allow outside hours)"
        )
        self.spans = spans


# -- checking input ----------------------------------------------------------------


def _parse_time(value: TimeLike, field: str) -> time:
    if isinstance(value, time):
        if value.second or value.microsecond or value.tzinfo is not None:
            raise InvalidInput(field, "use whole minutes without a zone")
        return value
    try:
        return datetime.strptime(str(value).strip(), "%H:%M").time()
    except ValueError as exc:
        raise InvalidInput(field, f"'{value}' is not HH:MM") from exc


def minutes_of(t: time, *, end: bool = False) -> int:
    """Minutes since midnight (an end of 00:00 counts as 24:00)."""
    return 24 * 60 if end and t == MIDNIGHT else t.hour * 60 + t.minute


def _check_day(
    weekday: int, intervals: Sequence[Interval | tuple[TimeLike, TimeLike]]
) -> tuple[Interval, ...]:
    return check_intervals(intervals, f"working hours ({WEEKDAYS[weekday]})")


def check_intervals(
    intervals: Sequence[Interval | tuple[TimeLike, TimeLike]], field: str
) -> tuple[Interval, ...]:
    """Checked, sorted wall-clock intervals of a day (errors name ``field``)."""
    if len(intervals) > MAX_INTERVALS:
        raise InvalidInput(field, f"at most {MAX_INTERVALS} intervals a day")
    found = []
    for item in intervals:
        first, last = (item.start, item.end) if isinstance(item, Interval) else item
        iv = Interval(_parse_time(first, field), _parse_time(last, field))
        if minutes_of(iv.end, end=True) <= minutes_of(iv.start):
            raise InvalidInput(field, f"{iv.label()} ends before it starts")
        found.append(iv)
    found.sort(key=lambda iv: minutes_of(iv.start))
    for before, after in zip(found, found[1:], strict=False):
        if minutes_of(after.start) < minutes_of(before.end, end=True):
            raise InvalidInput(field, f"{before.label()} overlaps {after.label()}")
    return tuple(found)


def check_week(
    weekly: Mapping[int, Sequence[Interval | tuple[TimeLike, TimeLike]]],
) -> tuple[tuple[Interval, ...], ...]:
    """Checked intervals for each weekday (0 = Monday; missing days: off)."""
    for key in weekly:
        if not isinstance(key, int) or not 0 <= key <= 6:
            raise InvalidInput("weekday", f"'{key}' is not 0 (Monday) to 6 (Sunday)")
    return tuple(_check_day(d, weekly.get(d, ())) for d in range(7))


# -- reading -----------------------------------------------------------------------


def provider_zone(session: Session, provider_id: str) -> str:
    """The provider's zone, or the practice's when the provider has none.

    Raises:
        InvalidInput: no provider with that id.
    """
    zone = q.provider_zone(session.database(), provider_id)
    if zone is None:
        raise InvalidInput("provider", "no provider with that id")
    return zone or session.setting(settings_keys.PRACTICE_TZ, "UTC") or "UTC"


def _weekly_from_json(text: str | None) -> tuple[tuple[Interval, ...], ...]:
    if text is None:
        return tuple(() for _ in range(7))
    raw = json.loads(text)
    return tuple(
        tuple(
            Interval(time.fromisoformat(a), time.fromisoformat(b))
            for a, b in raw.get(str(d), [])
        )
        for d in range(7)
    )


def _day_off(row: Mapping[str, object]) -> DayOff:
    return DayOff(
        str(row["id"]),
        date.fromisoformat(str(row["first_day"])),
        date.fromisoformat(str(row["last_day"])),
        str(row["label"]),
    )


def _load(
    session: Session,
    provider_id: str,
    first: date | None = None,
    last: date | None = None,
) -> WorkingHours:
    db = session.database()
    zone = provider_zone(session, provider_id)
    text = q.provider_hours(db, provider_id)
    rows = q.days_off(
        db,
        provider_id,
        first.isoformat() if first else "",
        last.isoformat() if last else "9999",
    )
    return WorkingHours(
        provider_id,
        zone,
        _weekly_from_json(text),
        tuple(_day_off(r) for r in rows),
        text is not None,
    )


def get_hours(session: Session, provider_id: str) -> WorkingHours:
    """A provider's weekly hours and every day off.

    Raises:
        NotPermitted: the user lacks ``appointments.read``.
        InvalidInput: no provider with that id.
    """
    session.require("appointments.read")
    return _load(session, provider_id)


# -- changing ----------------------------------------------------------------------


def _require_edit(session: Session, provider_id: str) -> None:
    session.require("appointments.write")
    if q.provider_zone(session.database(), provider_id) is None:
        raise InvalidInput("provider", "no provider with that id")
    if session.allows("settings.manage") or "front-desk" in session.roles:
        return
    own = q.provider_user(session.database(), provider_id)
    if own is None or own != session.user_id:
        log.info("refused working hours of another provider for %s", session.user_id)
        raise NotPermitted("settings.manage")


def _now(clock: Clock | None) -> str:
    return utc_text(datetime.fromtimestamp((clock or SystemClock()).now(), UTC))


def set_hours(
    session: Session,
    provider_id: str,
    weekly: Mapping[int, Sequence[Interval | tuple[TimeLike, TimeLike]]],
    *,
    clock: Clock | None = None,
) -> None:
    """Replace a provider's weekly hours (wall-clock times in the provider's zone).

    ``weekly`` maps a weekday (0 = Monday ... 6 = Sunday) to its intervals,
    ``(start, end)`` as ``time`` or ``"HH:MM"``; an end of 00:00 means
    midnight at the end of the day.  A weekday left out is a day off.

    Raises:
        NotPermitted: not an admin, front desk, or the provider themself.
        InvalidInput: a bad weekday, time, or overlapping intervals (named).
    """
    _require_edit(session, provider_id)
    checked = check_week(weekly)
    encoded = json.dumps(
        {
            str(d): [[f"{iv.start:%H:%M}", f"{iv.end:%H:%M}"] for iv in day]
            for d, day in enumerate(checked)
            if day
        },
        sort_keys=True,
    )
    session.write(
        AuditEvent("provider.hours", "provider", provider_id),
        [
            Mutation(
                "provider_hours",
                provider_id,
                "upsert",
                {"weekly": encoded, "updated_at": _now(clock)},
            )
        ],
    )


def clear_hours(session: Session, provider_id: str) -> None:
    """Forget a provider's hours (back to "no hours set")."""
    _require_edit(session, provider_id)
    session.write(
        AuditEvent("provider.hours_cleared", "provider", provider_id),
        [Mutation("provider_hours", provider_id, "delete")],
    )


def add_day_off(
    session: Session,
    provider_id: str,
    first: date,
    last: date | None = None,
    label: str = "",
    *,
    clock: Clock | None = None,
) -> str:
    """Record a day off, or an inclusive range of days off; returns its id.

    ``label`` is a short staff-facing word ("Holiday"), never patient data.

    Raises:
        InvalidInput: ``last`` before ``first``, a range over a year, a long label.
    """
    _require_edit(session, provider_id)
    last = last or first
    if not isinstance(first, date) or isinstance(first, datetime):
        raise InvalidInput("first day", "give a date")
    if not isinstance(last, date) or isinstance(last, datetime):
        raise InvalidInput("last day", "give a date")
    if last < first:
        raise InvalidInput("last day", "is before the first day")
    if (last - first).days >= MAX_DAYS_OFF_SPAN:
        raise InvalidInput("last day", f"at most {MAX_DAYS_OFF_SPAN} days at a time")
    label = label.strip()
    if len(label) > MAX_LABEL:
        raise InvalidInput("label", f"use at most {MAX_LABEL} characters")
    day_off_id = str(uuid.uuid4())
    values = {
        "provider_id": provider_id,
        "first_day": first.isoformat(),
        "last_day": last.isoformat(),
        "label": label,
        "created_at": _now(clock),
    }
    session.write(
        AuditEvent("provider.day_off", "provider", provider_id),
        [Mutation("provider_days_off", day_off_id, "insert", values)],
    )
    return day_off_id


def remove_day_off(session: Session, day_off_id: str) -> None:
    """Remove a day off (it then counts as a working day again).

    Raises:
        InvalidInput: no day off with that id.
    """
    row = q.day_off(session.database(), day_off_id)
    if row is None:
        raise InvalidInput("day off", "no day off with that id")
    _require_edit(session, str(row["provider_id"]))
    session.write(
        AuditEvent("provider.day_off_removed", "provider", str(row["provider_id"])),
        [Mutation("provider_days_off", day_off_id, "delete")],
    )


# -- instants ----------------------------------------------------------------------


def _instant(day: date, t: time, zone: ZoneInfo, *, end: bool) -> datetime:
    """The UTC instant of a wall-clock bound on ``day``.

    A start inside a DST gap is taken after the gap and an end before it
    (the interval narrows); in a fold a start is the earlier instant and an
    end the later one (the interval keeps the repeated hour).
    """
    if end and t == MIDNIGHT:
        day, t = day + timedelta(days=1), MIDNIGHT
    # zoneinfo reads a gap time with fold=0 after the gap and with fold=1
    # before it, and a fold time with fold=0 as the earlier instant.
    return to_utc_choice(datetime.combine(day, t), zone, 1 if end else 0)


def _day_range(day: date, zone: ZoneInfo) -> tuple[datetime, datetime]:
    midnight = time(0, 0)
    return (
        to_utc_choice(datetime.combine(day, midnight), zone, 0),
        to_utc_choice(datetime.combine(day + timedelta(days=1), midnight), zone, 0),
    )


def _is_off(hours: WorkingHours, day: date) -> bool:
    return any(d.first <= day <= d.last for d in hours.days_off)


def _working(hours: WorkingHours, day: date) -> list[tuple[datetime, datetime]]:
    """The working spans (UTC) of one provider-local date."""
    zone = ZoneInfo(hours.zone)
    if _is_off(hours, day):
        return []
    if not hours.configured:
        return [_day_range(day, zone)]
    return [
        (
            _instant(day, iv.start, zone, end=False),
            _instant(day, iv.end, zone, end=True),
        )
        for iv in hours.weekly[day.weekday()]
    ]


def _dates(hours: WorkingHours, start: datetime, end: datetime) -> list[date]:
    zone = ZoneInfo(hours.zone)
    first = start.astimezone(zone).date() - timedelta(days=1)
    last = end.astimezone(zone).date() + timedelta(days=1)
    return [first + timedelta(days=n) for n in range((last - first).days + 1)]


def _subtract(
    span: tuple[datetime, datetime], holes: Iterable[tuple[datetime, datetime]]
) -> list[tuple[datetime, datetime]]:
    """``span`` minus the ``holes`` (sorted pieces that remain)."""
    pieces = [span]
    for low, high in sorted(holes):
        kept = []
        for a, b in pieces:
            if high <= a or b <= low:
                kept.append((a, b))
                continue
            if a < low:
                kept.append((a, low))
            if high < b:
                kept.append((high, b))
        pieces = kept
    return pieces


def _outside_spans(hours: WorkingHours, start: datetime, end: datetime) -> list[Span]:
    """The parts of ``[start, end)`` outside the provider's hours, labelled."""
    zone = ZoneInfo(hours.zone)
    found: list[Span] = []
    for day in _dates(hours, start, end):
        low, high = _day_range(day, zone)
        low, high = max(low, start), min(high, end)
        if low >= high:
            continue
        why = "day off" if _is_off(hours, day) else "outside hours"
        # A working span may reach past midnight into this date (an end of
        # 24:00 in a fold): subtract the spans of the neighbouring dates too.
        working = [
            w
            for d in (day - timedelta(days=1), day, day + timedelta(days=1))
            for w in _working(hours, d)
        ]
        for a, b in _subtract((low, high), working):
            found.append(Span(a, b, why))
    return _merge(found)


def _merge(spans: list[Span]) -> list[Span]:
    merged: list[Span] = []
    for span in sorted(spans, key=lambda s: s.start):
        if merged and merged[-1].end >= span.start and merged[-1].why == span.why:
            last = merged.pop()
            span = Span(last.start, max(last.end, span.end), span.why)
        merged.append(span)
    return merged


def _aware(moment: datetime, field: str) -> datetime:
    if moment.tzinfo is None:
        raise InvalidInput(field, "give an instant with a time zone")
    return moment.astimezone(UTC)


# -- the public checks ---------------------------------------------------------------


def outside_spans(
    session: Session, provider_id: str, start_utc: datetime, end_utc: datetime
) -> list[Span]:
    """The parts of ``[start_utc, end_utc)`` outside the provider's hours."""
    session.require("appointments.read")
    start, end = _aware(start_utc, "start"), _aware(end_utc, "end")
    if end <= start:
        raise InvalidInput("end", "must be after the start")
    if end - start > timedelta(days=MAX_DAYS_OFF_SPAN):
        raise InvalidInput("end", f"at most {MAX_DAYS_OFF_SPAN} days after the start")
    zone = ZoneInfo(provider_zone(session, provider_id))
    first = start.astimezone(zone).date() - timedelta(days=2)
    last = end.astimezone(zone).date() + timedelta(days=2)
    hours = _load(session, provider_id, first, last)
    return _outside_spans(hours, start, end)


def outside_hours(
    session: Session, provider_id: str, start_utc: datetime, end_utc: datetime
) -> bool:
    """Whether any part of ``[start_utc, end_utc)`` is outside working hours
    or on a day off (aware datetimes; any zone).

    Raises:
        NotPermitted: the user lacks ``appointments.read``.
        InvalidInput: naive datetimes, an end not after the start, no provider.
    """
    return bool(outside_spans(session, provider_id, start_utc, end_utc))


def shaded_intervals(
    session: Session, provider_id: str, day: date, zone: str | None = None
) -> list[Span]:
    """What the calendar shades on ``day`` (a date in ``zone``, by default the
    provider's): the UTC spans outside hours or on days off, in order."""
    session.require("appointments.read")
    view_zone = zone_of(zone or provider_zone(session, provider_id))
    start, end = _day_range(day, view_zone)
    return outside_spans(session, provider_id, start, end)


def check_booking(
    session: Session,
    provider_id: str,
    spans: Iterable[tuple[datetime, datetime]],
    *,
    allow_outside: bool = False,
) -> None:
    """Ask first: raise OutsideWorkingHours when any span is outside hours.

    Raises:
        OutsideWorkingHours: unless ``allow_outside`` (nothing is checked then).
    """
    if allow_outside:
        return
    found: list[Span] = []
    for start, end in spans:
        found += outside_spans(session, provider_id, start, end)
    if found:
        raise OutsideWorkingHours(found, provider_zone(session, provider_id))


def check_request(
    session: Session, request: AppointmentRequest, *, allow_outside: bool = False
) -> None:
    """``check_booking`` for a booking request (every occurrence of a series).

    Call it before ``appointments.book`` with the same request; the DST
    checks are the booking's own (a time in a gap raises here too).
    """
    if allow_outside:
        return
    length = timedelta(minutes=request.duration_min)
    if request.rrule:
        rule = recurrence.normalise(request.rrule, request.zone, request.local_start)
        fold = 1 if request.fold == "later" else 0
        starts = [
            o.start
            for o in recurrence.expand(
                rule, request.zone, request.local_start, fold=fold
            )
        ]
    else:
        starts = [resolve(request.local_start, request.zone, request.fold)]
    check_booking(session, request.provider_id, [(s, s + length) for s in starts])
