"""RFC 5545 recurrence rules, expanded in the series' own zone.

A series keeps its wall-clock start (e.g. 09:00) and its IANA zone; each
occurrence is that wall-clock time on its date, converted to UTC with the
offset in force *on that date*, so 09:00 stays 09:00 across DST changes.
Rules are stored in a canonical form: ``UNTIL`` in UTC, as RFC 5545 asks
when DTSTART has a TZID.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

from dateutil.rrule import rrule, rrulestr

from desktop_crm.errors import InvalidInput
from desktop_crm.services.scheduling.timezones import zone_of

FIELD = "rrule"
ALLOWED_FREQ = ("DAILY", "WEEKLY", "MONTHLY", "YEARLY")
ALLOWED_PARTS = {"FREQ", "INTERVAL", "COUNT", "UNTIL", "BYDAY", "BYMONTHDAY", "WKST"}
MAX_OCCURRENCES = 1000
#: Occurrences are keyed by their local *date* in the series zone (every
#: allowed rule yields at most one a day), so exceptions keep matching their
#: occurrence when the whole series moves to another time of day.
RECURRENCE_ID_FORMAT = "%Y%m%d"


@dataclass(frozen=True)
class Occurrence:
    """One occurrence: its wall-clock key in the series zone and its instant."""

    recurrence_id: str
    local: datetime
    start: datetime


def _parts(text: str) -> dict[str, str]:
    body = text.strip()
    if body.upper().startswith("RRULE:"):
        body = body[6:]
    parts: dict[str, str] = {}
    for item in body.split(";"):
        name, sep, value = item.partition("=")
        if not sep or not value:
            raise InvalidInput(FIELD, f"'{item}' is not NAME=VALUE")
        name = name.strip().upper()
        if name not in ALLOWED_PARTS:
            raise InvalidInput(FIELD, f"{name} is not supported")
        parts[name] = value.strip().upper()
    return parts


def _until_utc(value: str, zone: ZoneInfo) -> str:
    """UNTIL as UTC text; a date or floating time is read in the series zone."""
    try:
        if value.endswith("Z"):
            moment = datetime.strptime(value, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
        elif "T" in value:
            moment = datetime.strptime(value, "%Y%m%dT%H%M%S").replace(tzinfo=zone)
        else:
            day = datetime.strptime(value, "%Y%m%d")
            moment = datetime.combine(day, time(23, 59, 59), tzinfo=zone)
    except ValueError as exc:
        raise InvalidInput(FIELD, f"UNTIL={value} is not a date") from exc
    return moment.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")


def normalise(text: str, zone_name: str, local_start: datetime) -> str:
    """Check a rule and return its canonical text.

    The rule must end (COUNT or UNTIL) so every series is bounded, and may
    yield at most MAX_OCCURRENCES occurrences.

    Raises:
        InvalidInput: naming ``rrule``.
    """
    zone = zone_of(zone_name)
    parts = _parts(text)
    if parts.get("FREQ") not in ALLOWED_FREQ:
        raise InvalidInput(FIELD, f"FREQ must be one of {', '.join(ALLOWED_FREQ)}")
    if ("COUNT" in parts) == ("UNTIL" in parts):
        raise InvalidInput(FIELD, "give exactly one of COUNT or UNTIL")
    if "UNTIL" in parts:
        parts["UNTIL"] = _until_utc(parts["UNTIL"], zone)
    canonical = ";".join(f"{k}={v}" for k, v in parts.items())
    try:
        rule = _rule(canonical, local_start, zone)
        count = sum(1 for _ in _limited(rule, MAX_OCCURRENCES + 1))
    except (ValueError, TypeError) as exc:
        raise InvalidInput(FIELD, f"not a valid rule ({exc})") from exc
    if count == 0:
        raise InvalidInput(FIELD, "the rule yields no occurrence")
    if count > MAX_OCCURRENCES:
        raise InvalidInput(FIELD, f"more than {MAX_OCCURRENCES} occurrences")
    return canonical


def _rule(canonical: str, local_start: datetime, zone: ZoneInfo) -> rrule:
    # dateutil steps the wall-clock fields of an aware DTSTART, so each
    # occurrence keeps the series' local time; UNTIL is compared as an instant.
    dtstart = local_start.replace(tzinfo=zone)
    found = rrulestr(canonical, dtstart=dtstart)
    if not isinstance(found, rrule):
        raise ValueError("one RRULE expected")
    return found


def _limited(rule: rrule, limit: int) -> Iterator[datetime]:
    for index, moment in enumerate(rule):
        if index >= limit:
            return
        yield moment


def recurrence_id(local: datetime) -> str:
    return local.strftime(RECURRENCE_ID_FORMAT)


def parse_recurrence_id(text: str, time_of_day: time) -> datetime:
    """The local start of the occurrence keyed ``text`` at a series' time."""
    try:
        day = datetime.strptime(text, RECURRENCE_ID_FORMAT)
        return datetime.combine(day.date(), time_of_day)
    except ValueError as exc:
        raise InvalidInput("occurrence", f"'{text}' is not an occurrence") from exc


def expand(
    canonical: str,
    zone_name: str,
    local_start: datetime,
    *,
    fold: int = 0,
    window: tuple[datetime, datetime] | None = None,
) -> list[Occurrence]:
    """Occurrences starting within ``window`` (UTC, half-open), or all of them.

    An occurrence's wall-clock time that falls into a DST gap is kept at its
    instant under the offset before the change and is *flagged* by the
    caller through ``timezones.is_gap`` (series are checked when created).
    """
    zone = zone_of(zone_name)
    rule = _rule(canonical, local_start, zone)
    if window is not None:
        # Search one day either side in local time, then filter by instant.
        low = window[0].astimezone(zone).replace(tzinfo=zone) - timedelta(days=1)
        high = window[1].astimezone(zone).replace(tzinfo=zone) + timedelta(days=1)
        moments = rule.between(low, high, inc=True)
    else:
        moments = list(_limited(rule, MAX_OCCURRENCES))
    found = []
    for moment in moments:
        local = moment.replace(tzinfo=None)
        start = local.replace(tzinfo=zone, fold=fold).astimezone(UTC)
        if window is None or window[0] <= start < window[1]:
            found.append(Occurrence(recurrence_id(local), local, start))
    return found


def truncate_before(canonical: str, zone_name: str, local: datetime) -> str:
    """The rule ended just before the occurrence at ``local`` (for splits)."""
    parts = _parts(canonical)
    parts.pop("COUNT", None)
    before = local.replace(tzinfo=zone_of(zone_name)) - timedelta(seconds=1)
    parts["UNTIL"] = before.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
    return ";".join(f"{k}={v}" for k, v in parts.items())


def remaining_count(
    canonical: str, zone_name: str, local_start: datetime, split_at: datetime
) -> str:
    """The rule of the part of a series from ``split_at`` on (same end)."""
    parts = _parts(canonical)
    if "COUNT" in parts:
        done = sum(
            1 for o in expand(canonical, zone_name, local_start) if o.local < split_at
        )
        parts["COUNT"] = str(int(parts["COUNT"]) - done)
    return ";".join(f"{k}={v}" for k, v in parts.items())
