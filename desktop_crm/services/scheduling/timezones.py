"""Wall-clock times in IANA zones: DST gaps and folds refused or asked about.

``zoneinfo`` maps a wall-clock time that does not exist (the hour skipped in
spring) to some instant without complaint, and picks the first of two
instants for a time that occurs twice.  Both are found here by a round trip
through UTC, and never resolved silently (PITFALLS B19).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from desktop_crm.errors import InvalidInput

Fold = Literal["earlier", "later"]
FOLDS: tuple[Fold, ...] = ("earlier", "later")


class NonexistentTime(InvalidInput):
    """A wall-clock time skipped by a DST change in that zone."""

    def __init__(self, field: str, local: datetime, zone: str) -> None:
        super().__init__(
            field,
            f"{local:%Y-%m-%d %H:%M} does not exist in {zone} (the clocks skip "
            "that hour for daylight saving time): choose another time",
        )


class AmbiguousTime(InvalidInput):
    """A wall-clock time that occurs twice; the caller must choose which."""

    def __init__(self, field: str, local: datetime, zone: str) -> None:
        earlier = to_utc_choice(local, ZoneInfo(zone), 0)
        later = to_utc_choice(local, ZoneInfo(zone), 1)
        super().__init__(
            field,
            f"{local:%Y-%m-%d %H:%M} occurs twice in {zone} (the clocks go back): "
            f"choose the earlier ({earlier:%H:%M}Z) or the later "
            f"({later:%H:%M}Z) one",
        )
        self.choices = (earlier, later)


def zone_of(name: str, field: str = "time zone") -> ZoneInfo:
    """The IANA zone called ``name``, or InvalidInput naming ``field``."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise InvalidInput(field, f"'{name}' is not an IANA time zone") from exc


def to_utc_choice(local: datetime, zone: ZoneInfo, fold: int) -> datetime:
    return local.replace(tzinfo=zone, fold=fold).astimezone(UTC)


def is_gap(local: datetime, zone: ZoneInfo) -> bool:
    """Whether a naive wall-clock time falls in a DST gap of ``zone``."""
    back = to_utc_choice(local, zone, 0).astimezone(zone)
    return back.replace(tzinfo=None) != local.replace(tzinfo=None)


def is_fold(local: datetime, zone: ZoneInfo) -> bool:
    """Whether a naive wall-clock time occurs twice in ``zone``."""
    return to_utc_choice(local, zone, 0) != to_utc_choice(local, zone, 1) and (
        not is_gap(local, zone)
    )


def resolve(
    local: datetime, zone_name: str, fold: Fold | None, *, field: str = "start"
) -> datetime:
    """The UTC instant of a naive wall-clock time in ``zone_name``.

    Raises:
        NonexistentTime: the time falls in a DST gap.
        AmbiguousTime: the time occurs twice and ``fold`` is None.
        InvalidInput: an unknown zone or fold choice.
    """
    zone = zone_of(zone_name, "time zone")
    local = local.replace(tzinfo=None)
    if is_gap(local, zone):
        raise NonexistentTime(field, local, zone_name)
    if is_fold(local, zone):
        if fold is None:
            raise AmbiguousTime(field, local, zone_name)
        if fold not in FOLDS:
            raise InvalidInput("fold", "choose 'earlier' or 'later'")
        return to_utc_choice(local, zone, FOLDS.index(fold))
    return to_utc_choice(local, zone, 0)


def parse_local(text: str, field: str) -> datetime:
    """``YYYY-MM-DDTHH:MM`` (or a space instead of T) as a naive datetime."""
    try:
        moment = datetime.strptime(text.strip().replace(" ", "T"), "%Y-%m-%dT%H:%M")
    except ValueError as exc:
        raise InvalidInput(field, f"'{text}' is not YYYY-MM-DDTHH:MM") from exc
    return moment


def utc_text(moment: datetime) -> str:
    """The fixed-width UTC text that storage orders and compares."""
    return moment.astimezone(UTC).isoformat(timespec="seconds")


def from_utc_text(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


def local_label(moment: datetime, zone_name: str) -> str:
    """``YYYY-MM-DD HH:MM Zone`` as the command line and lists show it."""
    local = moment.astimezone(zone_of(zone_name))
    return f"{local:%Y-%m-%d %H:%M} {zone_name}"


def short_label(moment: datetime, zone_name: str) -> str:
    """``HH:MM ABBR`` (e.g. ``07:00 MST``) for a second zone beside the first."""
    local = moment.astimezone(zone_of(zone_name))
    return f"{local:%H:%M} {local.tzname()}"


def day_bounds(day: str, zone_name: str) -> tuple[datetime, datetime]:
    """The UTC instants at which a calendar day in a zone begins and ends."""
    try:
        start = datetime.strptime(day, "%Y-%m-%d")
    except ValueError as exc:
        raise InvalidInput("date", f"'{day}' is not YYYY-MM-DD") from exc
    zone = zone_of(zone_name)
    # Midnight itself can be skipped by DST (e.g. America/Santiago); the day
    # then starts at the first instant after the gap, which fold=0 gives.
    begin = start.replace(tzinfo=zone).astimezone(UTC)
    end = (start + timedelta(days=1)).replace(tzinfo=zone).astimezone(UTC)
    return begin, end
