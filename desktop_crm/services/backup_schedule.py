"""Scheduled backups: the schedule, retention, and the backup health line.

An admin sets a time of day (in the practice's time zone), a destination
folder and how many daily, weekly and monthly copies to keep.  At or after
that time each day ``run_scheduled`` writes one dated backup file into the
folder, runs the restore drill on it and prunes old copies
grandfather-father-son style.  Only files that match our naming pattern
*and* start with the backup format's magic are ever deleted.

A failed run (destination missing, read-only, full) is recorded and retried
at the next scheduled time.  ``backup_health`` turns what was recorded into
the status line and into the notice shown to admins at unlock.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from desktop_crm.crypto import backup_format as fmt
from desktop_crm.crypto import primitives
from desktop_crm.errors import CRMError, InvalidInput
from desktop_crm.services import backup
from desktop_crm.services import settings_keys as keys
from desktop_crm.services.backup_drill import (
    DRILL_FILE,
    DRILL_RESULT,
    DrillResult,
    run_drill,
)
from desktop_crm.services.clock import from_iso, iso
from desktop_crm.services.session import Session
from desktop_crm.services.vault import VaultService
from desktop_crm.storage.writepath import AuditEvent, Mutation

log = logging.getLogger(__name__)

AT = "backup.schedule.at"
DEST = "backup.schedule.dest"
KEEP_DAILY = "backup.keep.daily"
KEEP_WEEKLY = "backup.keep.weekly"
KEEP_MONTHLY = "backup.keep.monthly"
SET_AT = "backup.schedule.set_at"
LAST_RUN_AT = "backup.schedule.last_run_at"
LAST_RUN_SLOT = "backup.schedule.last_slot"
LATE_BY = "backup.schedule.late_by"

DEFAULT_KEEP = (7, 4, 12)
KEEP_RANGE = (0, 1000)
#: A scheduled backup whose last success is older than this is overdue.
OVERDUE_AFTER = 26 * 3600
#: A scheduled run that starts this long after its time counts as late.
LATE_AFTER = 3600

PREFIX = "desktop-crm-backup-"
SUFFIX = ".dcrmbak"
NAME = re.compile(
    r"^desktop-crm-backup-(\d{8}T\d{6}Z)(?:-(\d{1,4}))?\.dcrmbak$", re.ASCII
)
_STAMP = "%Y%m%dT%H%M%SZ"
_HHMM = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$", re.ASCII)


class ScheduleNotSet(CRMError):
    """No backup schedule has been set."""

    def __init__(self) -> None:
        super().__init__(
            "no backup schedule is set: an admin sets one in Admin > Backups "
            "(or desktop-crm backup schedule --at HH:MM --dest DIR)"
        )


@dataclass(frozen=True)
class Retention:
    """How many daily, weekly (ISO week) and monthly copies to keep."""

    daily: int = DEFAULT_KEEP[0]
    weekly: int = DEFAULT_KEEP[1]
    monthly: int = DEFAULT_KEEP[2]


@dataclass(frozen=True)
class Schedule:
    """The admin's backup schedule."""

    at: str
    destination: Path
    keep: Retention = field(default_factory=Retention)


@dataclass(frozen=True)
class Health:
    """What the status line and the unlock notice say about backups."""

    last_at: str | None
    verified: bool
    overdue: bool
    failed: bool
    message: str
    late: bool = False

    @property
    def needs_attention(self) -> bool:
        return self.overdue or self.failed


@dataclass
class ScheduledRun:
    """The outcome of one ``run_scheduled`` call."""

    due: bool
    result: backup.BackupResult | None = None
    error: str | None = None
    drill: DrillResult | None = None
    removed: list[Path] = field(default_factory=list)
    late: bool = False

    @property
    def ok(self) -> bool:
        return self.error is None


# -- settings --------------------------------------------------------------
def check_time(text: str) -> str:
    """``HH:MM`` on the 24-hour clock, or ``InvalidInput``."""
    text = text.strip()
    if not _HHMM.match(text):
        raise InvalidInput("time of day", "must be HH:MM on the 24-hour clock")
    return text


def _check_keep(label: str, value: int) -> int:
    low, high = KEEP_RANGE
    if not low <= value <= high:
        raise InvalidInput(label, f"must be between {low} and {high}")
    return value


def set_schedule(session: Session, schedule: Schedule, now: float) -> None:
    """Store the schedule in one audited write (admin).

    The destination need not be reachable now (a drive may be unplugged);
    a run that cannot write there is recorded as failed and retried.
    """
    session.require("backup.manage")
    at = check_time(schedule.at)
    folder = str(schedule.destination).strip()
    if not folder or not Path(folder).is_absolute():
        raise InvalidInput("destination folder", "must be a full (absolute) path")
    keep = schedule.keep
    values = {
        AT: at,
        DEST: folder,
        KEEP_DAILY: str(_check_keep("daily copies", keep.daily)),
        KEEP_WEEKLY: str(_check_keep("weekly copies", keep.weekly)),
        KEEP_MONTHLY: str(_check_keep("monthly copies", keep.monthly)),
    }
    if session.setting(SET_AT, "") == "":
        values[SET_AT] = iso(now)
    session.write(
        AuditEvent("settings.change", "settings", "backup.schedule"),
        [Mutation("settings", k, "upsert", {"value": v}) for k, v in values.items()],
    )


def clear_schedule(session: Session) -> None:
    """Turn scheduled backups off (admin); the files already made stay."""
    session.require("backup.manage")
    session.write(
        AuditEvent("settings.change", "settings", "backup.schedule", outcome="off"),
        [Mutation("settings", k, "upsert", {"value": ""}) for k in (AT, DEST, SET_AT)],
    )


def _int_setting(session: Session, key: str, default: int) -> int:
    try:
        return int(session.setting(key, str(default)))
    except ValueError:
        return default


def get_schedule(session: Session) -> Schedule | None:
    """The stored schedule, or ``None`` when none is set."""
    at, dest = session.setting(AT, ""), session.setting(DEST, "")
    if not at or not dest:
        return None
    keep = Retention(
        _int_setting(session, KEEP_DAILY, DEFAULT_KEEP[0]),
        _int_setting(session, KEEP_WEEKLY, DEFAULT_KEEP[1]),
        _int_setting(session, KEEP_MONTHLY, DEFAULT_KEEP[2]),
    )
    return Schedule(at, Path(dest), keep)


def _zone(session: Session) -> ZoneInfo:
    try:
        return ZoneInfo(session.setting(keys.PRACTICE_TZ, "UTC") or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


# -- when ------------------------------------------------------------------
def latest_slot(at: str, zone: ZoneInfo, now: float) -> float:
    """The most recent scheduled time at or before ``now``."""
    hour, minute = (int(part) for part in check_time(at).split(":"))
    local = datetime.fromtimestamp(now, zone)
    for back in range(3):
        day = local.date() - timedelta(days=back)
        slot = datetime.combine(day, time(hour, minute), zone).timestamp()
        if slot <= now:
            return slot
    raise AssertionError("unreachable: a slot lies within two days")


def due(session: Session, now: float) -> bool:
    """Whether a scheduled backup should run now.

    Due once per scheduled time: when no scheduled run has happened since the
    most recent one (a failed run counts: it is retried at the next time).
    The first run after setting a schedule is due at once.
    """
    schedule = get_schedule(session)
    if schedule is None:
        return False
    last = session.setting(LAST_RUN_AT, "")
    if not last:
        return True
    return from_iso(last) < latest_slot(schedule.at, _zone(session), now)


# -- file names and retention ----------------------------------------------
def backup_name(now: float, attempt: int = 1) -> str:
    stamp = datetime.fromtimestamp(now, UTC).strftime(_STAMP)
    return f"{PREFIX}{stamp}{'' if attempt == 1 else f'-{attempt}'}{SUFFIX}"


def _free_name(folder: Path, now: float) -> Path:
    for attempt in range(1, 1000):
        candidate = folder / backup_name(now, attempt)
        if not candidate.exists():
            return candidate
    raise backup.DestinationError(f"too many backups for one second in {folder}")


def _is_ours(path: Path) -> datetime | None:
    """When the file was made, if it is one of our backups; else ``None``."""
    match = NAME.match(path.name)
    if match is None or not path.is_file() or path.is_symlink():
        return None
    try:
        with open(path, "rb") as handle:
            if handle.read(len(fmt.MAGIC_PREFIX)) != fmt.MAGIC_PREFIX:
                return None
    except OSError:
        return None
    made = datetime.strptime(match.group(1), _STAMP).replace(tzinfo=UTC)
    return made + timedelta(microseconds=int(match.group(2) or 0))


def our_backups(folder: Path) -> list[tuple[datetime, Path]]:
    """Our backup files in ``folder``, newest first."""
    try:
        entries = list(folder.iterdir())
    except OSError:
        return []
    found = [(made, p) for p in entries if (made := _is_ours(p)) is not None]
    return sorted(found, reverse=True)


def _newest_per(
    files: list[tuple[datetime, Path]],
    key: Callable[[datetime], object],
    count: int,
) -> set[Path]:
    kept: set[Path] = set()
    seen: set[object] = set()
    for made, path in files:  # newest first
        if len(seen) >= count:
            break
        bucket = key(made)
        if bucket not in seen:
            seen.add(bucket)
            kept.add(path)
    return kept


def to_keep(
    files: list[tuple[datetime, Path]], keep: Retention, zone: ZoneInfo
) -> set[Path]:
    """Grandfather-father-son: the newest file of each of the newest N days,
    ISO weeks and months (in the practice's zone); the newest file always."""

    def local(made: datetime) -> date:
        return made.astimezone(zone).date()

    kept = _newest_per(files, local, keep.daily)
    kept |= _newest_per(files, lambda m: local(m).isocalendar()[:2], keep.weekly)
    kept |= _newest_per(files, lambda m: (local(m).year, local(m).month), keep.monthly)
    if files:
        kept.add(files[0][1])
    return kept


def apply_retention(folder: Path, keep: Retention, zone: ZoneInfo) -> list[Path]:
    """Delete our backups in ``folder`` that the policy does not keep."""
    files = our_backups(folder)
    kept = to_keep(files, keep, zone)
    removed: list[Path] = []
    for _made, path in files:
        if path in kept:
            continue
        try:
            path.unlink()
        except OSError as exc:
            log.warning("could not remove old backup %s: %s", path.name, exc.strerror)
            continue
        removed.append(path)
    return removed


# -- running ---------------------------------------------------------------
class _FixedClock:
    def __init__(self, value: float) -> None:
        self.value = value

    def now(self) -> float:
        return self.value


def run_scheduled(
    session: Session,
    now: float,
    *,
    force: bool = False,
    drill: bool = True,
    progress: backup.Progress | None = None,
    cancel: backup.Cancel | None = None,
    chunk_size: int = fmt.DEFAULT_CHUNK_BYTES,
) -> ScheduledRun:
    """Make the scheduled backup if one is due, drill it, apply retention.

    Failures to write (and a failed drill) are recorded, not raised; the
    run is retried at the next scheduled time.  ``NoBackupKey`` and
    ``NotPermitted`` are raised: nobody should think a backup was attempted.
    """
    session.require("backup.create")
    schedule = get_schedule(session)
    if schedule is None:
        if force:
            raise ScheduleNotSet
        return ScheduledRun(due=False)
    if not force and not due(session, now):
        return ScheduledRun(due=False)
    backup.backup_key(session)  # NoBackupKey before anything is recorded
    slot = latest_slot(schedule.at, _zone(session), now)
    late = (now - slot) > LATE_AFTER and bool(session.setting(LAST_RUN_AT, ""))
    run = ScheduledRun(due=True, late=late)
    _mark_attempt(session, now, slot, late)
    try:
        out = _free_name(schedule.destination, now)
        made = backup.create_backup(
            session,
            out,
            progress,
            cancel,
            clock=_FixedClock(now),
            chunk_size=chunk_size,
            keep_content_key=drill,
        )
    except backup.BackupCancelled:
        raise
    except CRMError as exc:
        # create_backup recorded backup.last_result already.
        run.error = exc.message
        log.warning("scheduled backup failed: %s", exc.message)
        return run
    run.result = made
    try:
        if drill and made.content_key is not None:
            run.drill = run_drill(session, made, now)
    finally:
        if made.content_key is not None:
            primitives.wipe(made.content_key)
    run.removed = apply_retention(schedule.destination, schedule.keep, _zone(session))
    return run


def _mark_attempt(session: Session, now: float, slot: float, late: bool) -> None:
    values = {
        LAST_RUN_AT: iso(now),
        LAST_RUN_SLOT: iso(slot),
        LATE_BY: str(int(now - slot)) if late else "",
    }
    session.write(
        AuditEvent(
            "backup.scheduled", "backup", None, outcome="late" if late else "ok"
        ),
        [Mutation("settings", k, "upsert", {"value": v}) for k, v in values.items()],
    )


def run_scheduled_unattended(vault: VaultService, now: float) -> ScheduledRun:
    """Open the vault with the unattended slot, run what is due, lock again."""
    from desktop_crm.services.keys import open_unattended

    session = open_unattended(vault)
    try:
        return run_scheduled(session, now)
    finally:
        session.lock("scheduled-backup")


# -- health ----------------------------------------------------------------
def _when(text: str, zone: ZoneInfo) -> str:
    try:
        moment = datetime.fromtimestamp(from_iso(text), zone)
    except ValueError:
        return text
    return moment.strftime("%Y-%m-%d %H:%M")


def backup_health(session: Session, now: float) -> Health:
    """The backup status line and whether admins must be told at unlock."""
    zone = _zone(session)
    last_ok = session.setting(backup.LAST_OK_AT, "")
    if not last_ok and session.setting(backup.LAST_RESULT, "") == "ok":
        last_ok = session.setting(backup.LAST_AT, "")
    result = session.setting(backup.LAST_RESULT, "")
    failed = result.startswith("failed")
    drill_ok = session.setting(DRILL_RESULT, "") == "ok"
    verified = (
        bool(last_ok)
        and drill_ok
        and session.setting(DRILL_FILE, "") == session.setting(backup.LAST_FILE, "")
    )
    schedule = get_schedule(session)
    overdue = False
    if schedule is not None:
        since = last_ok or session.setting(SET_AT, "")
        overdue = bool(since) and now - from_iso(since) > OVERDUE_AFTER
    late = bool(session.setting(LATE_BY, "")) and not failed
    if failed:
        reason = result.partition(":")[2].strip() or "unknown reason"
        message = f"Backup failed: {reason}"
    elif overdue:
        message = (
            f"Backup overdue: last backup {_when(last_ok, zone)}"
            if last_ok
            else "Backup overdue: no backup has been made yet"
        )
    elif last_ok:
        message = (
            f"Last backup: {_when(last_ok, zone)}, "
            f"{'verified' if verified else 'not verified'}"
        )
        if late:
            message += " (ran late: the computer was locked or off)"
    else:
        message = "No backup yet"
    return Health(last_ok or None, verified, overdue, failed, message, late)


def needs_notice(session: Session, now: float) -> Health | None:
    """The health to show an admin at unlock, or ``None`` when all is well."""
    if "admin" not in session.roles:
        return None
    health = backup_health(session, now)
    return health if health.needs_attention else None


def describe(run: ScheduledRun) -> Iterable[str]:
    """Lines for the command line about one run."""
    if not run.due:
        yield "backup: nothing due"
        return
    if run.error is not None:
        yield f"backup failed: {run.error}"
        return
    assert run.result is not None
    r = run.result
    yield f"backup: {r.path}, {r.size} bytes, sha256 {r.sha256}"
    if run.late:
        yield "backup: ran late (the scheduled time had passed)"
    if run.drill is not None:
        yield f"drill: {run.drill.outcome}"
    for path in run.removed:
        yield f"removed: {path}"
