"""B03: a patient marker never reaches disk in the clear (sorts, VACUUM, temp)."""

from __future__ import annotations

import os
import tempfile
import time
import uuid
from pathlib import Path

import pytest

from desktop_crm.services import patients
from desktop_crm.services.patient_model import Patient
from desktop_crm.storage.writepath import AuditEvent, Mutation

MARKER = "QXMARKERZQ"
NOTE = "QXMARKERZQ-NOTE"
FILLERS = 20_000
BATCH = 1_000
PLAINTEXT_MAGIC = b"SQLite format 3\x00"


def filler_batch(start: int, count: int) -> list[Mutation]:
    now = "2024-01-01T00:00:00+00:00"
    return [
        Mutation(
            "patients",
            str(uuid.uuid4()),
            "insert",
            {
                "mrn": f"F{i:07d}",
                "family": f"Filler{i % 997:03d}",
                "given": f"Given{i}",
                "birth_date": f"19{50 + i % 50}-0{1 + i % 9}-1{i % 9}",
                "notes": f"filler note {i}",
                "created_at": now,
                "updated_at": now,
            },
        )
        for i in range(start, start + count)
    ]


def needles(*texts: str) -> list[bytes]:
    return [t.encode(enc) for t in texts for enc in ("utf-8", "utf-16-le")]


def holding(paths, texts: list[bytes]) -> list[str]:
    found = []
    for path in paths:
        try:
            data = path.read_bytes()
        except OSError:
            continue
        if any(t in data for t in texts):
            found.append(str(path))
    return found


def recent_temp_files(since: float, own_root: Path) -> list[Path]:
    """Files in the OS temp dir written during the test, outside the vault.

    Other test runs keep staff-name canaries in their own ``vault.header``
    files (by design); those are skipped, as is this test's vault folder,
    which is checked in full separately.
    """
    out = []
    for folder, _, names in os.walk(tempfile.gettempdir()):
        for name in names:
            path = Path(folder, name)
            try:
                recent = path.stat().st_mtime >= since and path.is_file()
            except OSError:
                continue
            if recent and own_root not in path.parents and name != "vault.header":
                out.append(path)
    return out


@pytest.mark.slow
def test_b03_marker_never_on_disk(memory_vault, monkeypatch):
    started = time.time() - 1
    session = memory_vault.created.session
    db = session.database()
    root = memory_vault.root
    patients.create_patient(
        session,
        Patient(family=MARKER, given="Canary", birth_date="1960-06-06", notes=NOTE),
    )
    for start in range(0, FILLERS, BATCH):
        session.write(AuditEvent("test.fill"), filler_batch(start, BATCH))

    listing = patients.page(session, 0, FILLERS + 1)
    dupes = patients.find_duplicates(
        session, Patient(family=MARKER, given="Canary", birth_date="1960-06-06")
    )
    found = patients.search(session, "qxmarker")
    db.execute("VACUUM")
    open_files = [p for p in root.rglob("*") if p.is_file()]
    open_leaks = holding(open_files, needles(MARKER, NOTE))
    temp_store = db.pragma("temp_store")
    session.lock()

    closed_files = [p for p in root.rglob("*") if p.is_file()]
    assert len(listing) == FILLERS + 1 and len(dupes) == 1 and len(found) == 1
    assert temp_store == 2
    assert open_leaks == []
    assert holding(closed_files, needles(MARKER, NOTE)) == []
    assert holding(recent_temp_files(started, root), needles(MARKER, NOTE)) == []
    heads = [p.read_bytes()[:16] for p in root.rglob("*.db")]
    assert heads and PLAINTEXT_MAGIC not in heads
