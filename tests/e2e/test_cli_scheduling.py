"""`desktop-crm appointments`, `reminders` and `calendar` through the real command."""

from __future__ import annotations

import re
import subprocess
import sys
from datetime import UTC, datetime

import pytest
from icalendar import Calendar
from support.cli_harness import CLI, PIN

pytestmark = [pytest.mark.e2e, pytest.mark.keyring]

ADMIN = "Ana Admin"  # created as admin,provider by `init`
UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"


@pytest.fixture
def admin(cli: CLI):
    secret, _ = cli.init()
    first = [True]

    def run(*args: str):
        otp = cli.code(secret) if first[0] else None
        first[0] = False
        return cli.as_user(ADMIN, PIN, otp, *args)

    return run


def _add_patient(admin) -> str:
    result = admin("patients", "add", "--family", "Rivera", "--given", "Ana")
    assert result.code == 0, result.err
    return result.out.strip()


def _book(admin, patient: str, start: str, *extra: str):
    return admin(
        "appointments",
        "add",
        "--patient",
        patient,
        "--provider",
        ADMIN,
        "--start",
        start,
        "--duration",
        "30",
        "--tz",
        "America/Chicago",
        *extra,
    )


def test_add_list_reminders_and_export(cli: CLI, admin):
    patient = _add_patient(admin)

    single = _book(admin, patient, "2031-03-20T09:00")
    assert single.code == 0, single.err
    assert re.fullmatch(UUID + "\n", single.out)

    gap = _book(admin, patient, "2031-03-09T02:30")
    assert gap.code == 1 and gap.out == ""
    assert "--start" in gap.err and "does not exist" in gap.err

    fold = _book(admin, patient, "2031-11-02T01:30")
    assert fold.code == 1 and "--fold" in fold.err
    later = _book(admin, patient, "2031-11-02T01:30", "--fold", "later")
    assert later.code == 0, later.err

    overlap = _book(admin, patient, "2031-03-20T09:15")
    assert overlap.code == 1 and "already booked" in overlap.err
    allowed = _book(admin, patient, "2031-03-20T09:15", "--allow-overlap")
    assert allowed.code == 0, allowed.err

    series = _book(
        admin,
        patient,
        "2031-03-03T09:00",
        "--rrule",
        "FREQ=WEEKLY;COUNT=4",
        "--modality",
        "phone",
    )
    assert series.code == 0, series.err
    series_ids = series.out.split()
    assert len(series_ids) == 4
    assert all(re.fullmatch(UUID + r"\.203103(03|10|17|24)", i) for i in series_ids)

    unknown = admin(
        "appointments",
        "add",
        "--patient",
        patient,
        "--provider",
        "Dr Nobody",
        "--start",
        "2031-04-01T09:00",
        "--duration",
        "30",
        "--tz",
        "America/Chicago",
    )
    assert unknown.code == 2
    assert "Dr Nobody" in unknown.err and ADMIN in unknown.err

    listing = admin("appointments", "list", "--date", "2031-03-20")
    assert listing.code == 0, listing.err
    rows = [line.split("\t") for line in listing.out.splitlines()]
    assert [r[0] for r in rows] == [
        single.out.strip(),
        allowed.out.strip(),
    ]
    assert rows[0][1:] == [
        "2031-03-20 09:00 America/Chicago",
        "30",
        ADMIN,
        "Rivera, Ana",
        "booked",
    ]
    # Across spring-forward, the weekly series stays at 09:00 local.
    week2 = admin("appointments", "list", "--date", "2031-03-10", "--provider", ADMIN)
    assert week2.code == 0, week2.err
    assert week2.out.split("\t")[:2] == [
        series_ids[1],
        "2031-03-10 09:00 America/Chicago",
    ]

    run = admin("reminders", "run")
    assert run.code == 0, run.err
    assert re.fullmatch(r"sent: \d+, failed: \d+, pending: \d+\n", run.out)

    ics = _export(cli)
    assert ics.returncode == 0, ics.stderr
    calendar = Calendar.from_ical(ics.stdout)
    events = {str(e["UID"]): e for e in calendar.walk("VEVENT")}
    assert len(events) == 4  # three single appointments and one series
    first = events[f"{single.out.strip()}@desktop-crm"]
    assert first.decoded("DTSTART").astimezone(UTC) == datetime(
        2031, 3, 20, 14, 0, tzinfo=UTC
    )
    assert "Rivera" not in ics.stdout.decode()  # names off by default
    rule = events[f"{series_ids[0].split('.')[0]}@desktop-crm"]["RRULE"]
    assert rule["FREQ"] == ["WEEKLY"] and rule["COUNT"] == [4]
    assert calendar.walk("VTIMEZONE")
    fold_event = events[f"{later.out.strip()}@desktop-crm"]
    assert fold_event.decoded("DTSTART").astimezone(UTC) == datetime(
        2031, 11, 2, 7, 30, tzinfo=UTC
    )


def _export(cli: CLI) -> subprocess.CompletedProcess[bytes]:
    command = [sys.executable, "-m", "desktop_crm", "calendar", "export"]
    command += ["--provider", ADMIN, "--data-dir", str(cli.data_dir)]
    command += ["--user", ADMIN, "--pin-file", cli.file("admin-ics.pin", PIN)]
    return subprocess.run(
        command,
        env=cli.env,
        capture_output=True,
        stdin=subprocess.DEVNULL,
        timeout=120,
        check=False,
    )
