"""Killing a writer at random moments never loses a reported commit."""

from __future__ import annotations

import os
import random
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from desktop_crm.storage import audit
from desktop_crm.storage.database import open_database

KILLS = 50
WRITER = Path(__file__).resolve().parents[1] / "support" / "crash_writer.py"


def _run_and_kill(db_path: Path, key: bytes, rng: random.Random) -> list[str]:
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    child = subprocess.Popen(
        [sys.executable, str(WRITER), str(db_path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        env=env,
    )
    assert child.stdin is not None and child.stdout is not None
    child.stdin.write(key.hex().encode() + b"\n")
    child.stdin.flush()
    reported: list[str] = []
    deadline = time.monotonic() + rng.uniform(0.4, 1.2)
    buffer = b""
    while time.monotonic() < deadline:
        ready, _, _ = select.select([child.stdout], [], [], 0.01)
        if ready:
            chunk = os.read(child.stdout.fileno(), 65536)
            if not chunk:
                break
            buffer += chunk
    child.send_signal(signal.SIGKILL)
    child.wait(timeout=10)
    buffer += child.stdout.read()
    child.stdin.close()
    child.stdout.close()
    reported = [line for line in buffer.decode().splitlines() if len(line) == 36]
    return reported


@pytest.mark.slow
def test_sigkill_during_writes_loses_no_reported_commit(memory_vault):
    session = memory_vault.created.session
    key = bytes(session.dek)
    db_path = session.files.database
    session.lock()
    rng = random.Random(20261203)
    committed: set[str] = set()

    for _ in range(KILLS):
        committed.update(_run_and_kill(db_path, key, rng))
        db = open_database(db_path, key)
        try:
            integrity = db.query("PRAGMA integrity_check")
            present = {
                r[0] for r in db.query("SELECT id FROM patients WHERE mrn LIKE 'C%'")
            }
            audited = audit.verify(db, None)
        finally:
            db.close()

        assert integrity == [("ok",)]
        assert committed <= present
        assert audited >= len(present)

    assert len(committed) > KILLS
