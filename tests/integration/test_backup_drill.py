"""The restore drill: ok, failed when the scratch copy is bad, no plaintext left."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import pytest
from support.vault_fixtures import VaultHarness

from desktop_crm.services import backup, backup_drill, backup_schedule, patients
from desktop_crm.services.backup_schedule import Schedule
from desktop_crm.services.patient_model import Patient
from desktop_crm.storage import audit

PASSPHRASE = "correct horse battery staple"
MARKER = "Zebulon Quixotebackupdrill"
NOW = 1_800_000_000.0


@pytest.fixture
def session(memory_vault: VaultHarness):
    opened = memory_vault.created.session
    backup.set_backup_passphrase(opened, PASSPHRASE)
    given, family = MARKER.split()
    for number in range(5):
        patients.create_patient(
            opened,
            Patient(given=given, family=f"{family}{number}"),
            allow_duplicates=True,
        )
    return opened


@pytest.fixture
def scratch(tmp_path, monkeypatch) -> Path:
    """A private temporary folder for everything the drill writes."""
    folder = tmp_path / "tmp"
    folder.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    return folder


def drill_entries(session) -> list[audit.AuditEntry]:
    return [
        e
        for e in audit.entries(session.database(), limit=1000)
        if e.action == "backup.drill"
    ]


def contains_marker(folder: Path) -> list[str]:
    needles = [MARKER.encode("utf-8"), MARKER.encode("utf-16-le")]
    needles += [
        part.encode(enc) for part in MARKER.split() for enc in ("utf-8", "utf-16-le")
    ]
    found = []
    for path in folder.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            found += [f"{path}: {n!r}" for n in needles if n in data]
    return found


def test_drill_after_a_scheduled_backup(session, tmp_path, scratch):
    seen: list[list[Path]] = []
    backup_drill.scratch_hook = lambda db: seen.append(
        [p for p in scratch.rglob("*") if p.is_file()]
    )
    try:
        backup_schedule.set_schedule(session, Schedule("02:00", tmp_path), NOW)
        run = backup_schedule.run_scheduled(session, NOW)
    finally:
        backup_drill.scratch_hook = None

    assert run.ok and run.drill is not None and run.drill.ok, run.drill
    assert run.drill.counts == run.result.counts
    assert run.result.content_key is not None
    assert set(run.result.content_key) == {0}  # wiped after the drill
    assert seen and [p.name for p in seen[0]] == ["vault.db"]  # the scratch vault
    assert session.setting(backup_drill.DRILL_RESULT, "") == "ok"
    assert session.setting(backup_drill.DRILL_AT, "") == "2027-01-15T08:00:00+00:00"
    [entry] = drill_entries(session)
    assert entry.outcome == "ok" and entry.record_id
    assert list(scratch.iterdir()) == []  # scratch removed
    assert contains_marker(tmp_path) == []


def test_a_bad_scratch_copy_is_recorded_as_failed(session, tmp_path, scratch):
    def corrupt(database: Path) -> None:
        data = bytearray(database.read_bytes())
        data[-100] ^= 0x55  # inside the last page
        database.write_bytes(bytes(data))

    backup_drill.scratch_hook = corrupt
    try:
        backup_schedule.set_schedule(session, Schedule("02:00", tmp_path), NOW)
        run = backup_schedule.run_scheduled(session, NOW)
    finally:
        backup_drill.scratch_hook = None

    assert run.ok  # the backup itself was written
    assert run.drill is not None and not run.drill.ok
    result = session.setting(backup_drill.DRILL_RESULT, "")
    assert result.startswith("failed:") and "integrity" in result
    [entry] = drill_entries(session)
    assert entry.outcome == result
    health = backup_schedule.backup_health(session, NOW + 60)
    assert not health.verified and health.message.endswith(", not verified")
    assert list(scratch.iterdir()) == []


def test_drill_without_the_key_is_refused(session, tmp_path):
    made = backup.create_backup(session, tmp_path / "b.dcrmbak")
    assert made.content_key is None
    with pytest.raises(ValueError, match="content key"):
        backup_drill.run_drill(session, made, NOW)


def test_the_drill_never_writes_the_key_or_plaintext(session, tmp_path, scratch):
    made = backup.create_backup(session, tmp_path / "b.dcrmbak", keep_content_key=True)
    assert made.content_key is not None
    key = bytes(made.content_key)
    copies: list[bytes] = []

    def snapshot(_db: Path) -> None:
        copies.extend(p.read_bytes() for p in scratch.rglob("*") if p.is_file())

    backup_drill.scratch_hook = snapshot
    try:
        result = backup_drill.run_drill(session, made, NOW)
    finally:
        backup_drill.scratch_hook = None

    assert result.ok
    assert copies and all(
        key not in data and key.hex().encode() not in data for data in copies
    )
    assert all(MARKER.split()[1].encode() not in data for data in copies)
    assert key not in (tmp_path / "b.dcrmbak").read_bytes()
    assert contains_marker(tmp_path) == []
    raw_settings = json.dumps(
        [
            session.setting(k, "")
            for k in (backup_drill.DRILL_AT, backup_drill.DRILL_RESULT)
        ]
    )
    assert key.hex() not in raw_settings
