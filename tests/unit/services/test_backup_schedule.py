"""Scheduled backups: due, retention over ~400 simulated days, health, failures."""

from __future__ import annotations

import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from support.vault_fixtures import ZONE, VaultHarness

from desktop_crm.crypto import backup_format as fmt
from desktop_crm.errors import NotPermitted
from desktop_crm.services import backup, backup_schedule, users
from desktop_crm.services.backup_schedule import Retention, Schedule
from desktop_crm.storage import queries

PASSPHRASE = "correct horse battery staple"
CHICAGO = ZoneInfo(ZONE)


@pytest.fixture
def session(memory_vault: VaultHarness):
    opened = memory_vault.created.session
    backup.set_backup_passphrase(opened, PASSPHRASE)
    return opened


def local_ts(day: date, hour: int, minute: int = 0) -> float:
    return datetime(
        day.year, day.month, day.day, hour, minute, tzinfo=CHICAGO
    ).timestamp()


def schedule(session, dest: Path, now: float, keep=None, at="02:00") -> None:
    keep = keep or Retention()
    backup_schedule.set_schedule(session, Schedule(at, dest, keep), now)


def test_settings_are_checked_and_stored(session, tmp_path):
    now = local_ts(date(2027, 1, 4), 12)
    with pytest.raises(backup_schedule.InvalidInput, match="HH:MM"):
        schedule(session, tmp_path, now, at="25:00")
    with pytest.raises(backup_schedule.InvalidInput, match="absolute"):
        schedule(session, Path("relative/dir"), now)
    with pytest.raises(backup_schedule.InvalidInput, match="daily copies"):
        schedule(session, tmp_path, now, keep=Retention(-1, 4, 12))

    schedule(session, tmp_path, now, keep=Retention(3, 2, 1), at="23:30")

    stored = backup_schedule.get_schedule(session)
    assert stored == Schedule("23:30", tmp_path, Retention(3, 2, 1))
    assert Retention() == Retention(7, 4, 12)


def test_only_admins_set_the_schedule(memory_vault, session, tmp_path):
    users.add_user(memory_vault.service, session, "Bea Front", "front-desk", "246802")
    row = queries.user_by_name(session.database(), "Bea Front")
    session.roles = ("front-desk",)
    try:
        with pytest.raises(NotPermitted):
            schedule(session, tmp_path, 0.0)
        with pytest.raises(NotPermitted):
            backup_schedule.run_scheduled(session, 0.0)
    finally:
        session.roles = ("admin", "provider")
    assert row is not None


def test_due_once_per_scheduled_time(session, tmp_path):
    day = date(2027, 3, 1)
    assert not backup_schedule.due(session, local_ts(day, 1))  # no schedule
    schedule(session, tmp_path, local_ts(day, 1))

    assert backup_schedule.due(session, local_ts(day, 1))  # the first run: at once
    first = backup_schedule.run_scheduled(session, local_ts(day, 1))
    assert first.ok and first.result is not None

    assert not backup_schedule.due(session, local_ts(day, 1, 59))
    assert backup_schedule.due(session, local_ts(day, 2, 0))
    assert backup_schedule.run_scheduled(session, local_ts(day, 2, 5)).result
    assert not backup_schedule.due(session, local_ts(day, 23, 59))
    nothing = backup_schedule.run_scheduled(session, local_ts(day, 23, 59))
    assert not nothing.due and nothing.result is None
    assert backup_schedule.due(session, local_ts(day + timedelta(days=1), 2))


def expected_kept(days: list[date], keep: Retention) -> set[date]:
    """GFS written out directly on the calendar (one backup a day)."""
    newest_first = sorted(days, reverse=True)
    kept = set(newest_first[: keep.daily])
    weeks: dict[tuple[int, int], date] = {}
    months: dict[tuple[int, int], date] = {}
    for d in newest_first:
        weeks.setdefault(d.isocalendar()[:2], d)
        months.setdefault((d.year, d.month), d)
    kept |= set(list(weeks.values())[: keep.weekly])
    kept |= set(list(months.values())[: keep.monthly])
    return kept


@pytest.mark.slow
def test_retention_over_400_days_keeps_exactly_gfs(session, tmp_path):
    dest = tmp_path / "drive"
    dest.mkdir()
    foreign = {
        "notes.txt": b"not ours",
        # Our naming pattern but not our magic: never deleted.
        "desktop-crm-backup-20200101T000000Z.dcrmbak": b"somebody else's file",
        # Our magic but not our name: never deleted.
        "copied.dcrmbak": fmt.MAGIC + b"\x00" * 20,
    }
    for name, data in foreign.items():
        (dest / name).write_bytes(data)
    start = date(2027, 1, 1)
    schedule(session, dest, local_ts(start, 0))
    made: list[date] = []
    began = time.perf_counter()
    for offset in range(400):
        day = start + timedelta(days=offset)
        run = backup_schedule.run_scheduled(
            session, local_ts(day, 2, 10), drill=offset % 50 == 0
        )
        assert run.ok, run.error
        made.append(day)
    elapsed = time.perf_counter() - began

    left = {
        datetime.strptime(p.name[19:35], "%Y%m%dT%H%M%SZ")
        .replace(tzinfo=UTC)
        .astimezone(CHICAGO)
        .date()
        for _, p in backup_schedule.our_backups(dest)
    }
    want = expected_kept(made, Retention())
    assert left == want
    assert len(left) == len(want) == 7 + 2 + 10  # 2027-01-01 .. 2028-02-04
    for name, data in foreign.items():
        assert (dest / name).read_bytes() == data
    assert not list(dest.glob(".*.partial"))
    assert elapsed < 120


def test_retention_never_touches_other_files_even_with_zero_kept(tmp_path):
    (tmp_path / "desktop-crm-backup-20270101T000000Z.dcrmbak").write_bytes(b"plain")
    (tmp_path / "desktop-crm-backup-20270102T000000Z.dcrmbak").write_bytes(fmt.MAGIC)
    (tmp_path / "desktop-crm-backup-20270103T000000Z.dcrmbak").write_bytes(fmt.MAGIC)

    removed = backup_schedule.apply_retention(tmp_path, Retention(0, 0, 0), CHICAGO)

    assert [p.name for p in removed] == ["desktop-crm-backup-20270102T000000Z.dcrmbak"]
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "desktop-crm-backup-20270101T000000Z.dcrmbak",
        "desktop-crm-backup-20270103T000000Z.dcrmbak",  # the newest always stays
    ]


def test_health_transitions(session, tmp_path):
    day = date(2027, 5, 3)
    health = backup_schedule.backup_health(session, local_ts(day, 1))
    assert health.message == "No backup yet" and not health.needs_attention

    schedule(session, tmp_path / "drive", local_ts(day, 1))
    (tmp_path / "drive").mkdir()
    run = backup_schedule.run_scheduled(session, local_ts(day, 1))
    assert run.ok and run.drill is not None and run.drill.ok
    health = backup_schedule.backup_health(session, local_ts(day, 9))
    assert health.message == "Last backup: 2027-05-03 01:00, verified"
    assert health.verified and not health.overdue and not health.failed

    # A manual backup has no drill: not verified.
    backup.create_backup(session, tmp_path / "manual.dcrmbak", clock=FixedClock(day))
    assert backup_schedule.backup_health(session, local_ts(day, 9)).message.endswith(
        ", not verified"
    )

    # Nothing for more than 26 hours: overdue.
    later = local_ts(day, 1) + 26 * 3600 + 60
    health = backup_schedule.backup_health(session, later)
    assert health.overdue and health.message.startswith("Backup overdue: last backup")
    assert backup_schedule.needs_notice(session, later) == health

    # The drive is gone: failed, recorded, and retried at the next time only.
    (tmp_path / "drive").rename(tmp_path / "unplugged")
    next_day = day + timedelta(days=1)
    failed = backup_schedule.run_scheduled(session, local_ts(next_day, 2, 1))
    assert not failed.ok and "drive does not exist" in (failed.error or "")
    health = backup_schedule.backup_health(session, local_ts(next_day, 3))
    assert health.failed
    assert health.message.startswith("Backup failed: backup destination ")
    assert str(tmp_path / "drive") in health.message
    assert not backup_schedule.due(session, local_ts(next_day, 23))

    (tmp_path / "unplugged").rename(tmp_path / "drive")
    third = day + timedelta(days=2)
    assert backup_schedule.due(session, local_ts(third, 2))
    assert backup_schedule.run_scheduled(session, local_ts(third, 2)).ok
    health = backup_schedule.backup_health(session, local_ts(third, 3))
    assert not health.needs_attention
    assert health.message == "Last backup: 2027-05-05 02:00, verified"


def test_a_run_long_after_its_time_says_it_was_late(session, tmp_path):
    day = date(2027, 6, 7)
    schedule(session, tmp_path, local_ts(day, 1))
    assert backup_schedule.run_scheduled(session, local_ts(day, 1)).ok

    # Locked overnight without the unattended slot: it runs at unlock, 9:00.
    late = backup_schedule.run_scheduled(session, local_ts(day + timedelta(days=1), 9))

    assert late.ok and late.late
    message = backup_schedule.backup_health(session, local_ts(day, 23) + 36000).message
    assert message.endswith("verified (ran late: the computer was locked or off)")


def test_a_file_where_the_folder_should_be_is_retried(session, tmp_path):
    (tmp_path / "drive").write_text("a file, not a folder")
    day = date(2027, 7, 1)
    schedule(session, tmp_path / "drive", local_ts(day, 1))

    run = backup_schedule.run_scheduled(session, local_ts(day, 1))

    assert run.error == f"backup destination {tmp_path / 'drive'} is not a folder"
    assert session.setting(backup.LAST_RESULT, "").startswith("failed: ")
    (tmp_path / "drive").unlink()
    (tmp_path / "drive").mkdir()
    assert backup_schedule.run_scheduled(session, local_ts(day, 2)).ok


def test_read_only_destination_is_recorded_and_retried(session, tmp_path):
    from support.small_disk import tmpfs

    day = date(2027, 8, 2)
    with tmpfs(tmp_path / "ro", "ro,size=1m") as drive:
        schedule(session, drive, local_ts(day, 1))
        run = backup_schedule.run_scheduled(session, local_ts(day, 1))
        assert run.error is not None and f"{drive}: Read-only" in run.error
        assert list(drive.iterdir()) == []
        health = backup_schedule.backup_health(session, local_ts(day, 1, 30))
        assert health.failed and str(drive) in health.message
    drive.rmdir()
    drive.mkdir()
    assert backup_schedule.run_scheduled(session, local_ts(day, 2)).ok


class FixedClock:
    def __init__(self, day: date) -> None:
        self.value = local_ts(day, 1)

    def now(self) -> float:
        return self.value
