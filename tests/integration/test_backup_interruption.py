"""Killing the process during create or restore: nothing half-done is left.

A child process runs the operation with a progress callback that, half way
through, tells the parent and waits; the parent then kills it with SIGKILL.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from support.vault_fixtures import ADMIN, ADMIN_PIN, make_vault

from desktop_crm.crypto import totp
from desktop_crm.platform.secret_store import MemorySecretStore
from desktop_crm.services import backup, documents, patients
from desktop_crm.services.clock import ManualClock
from desktop_crm.services.patient_model import Patient
from desktop_crm.services.vault import VaultService
from desktop_crm.storage import audit

PASSPHRASE = "correct horse battery staple"
TESTS = Path(__file__).resolve().parents[1]

PRELUDE = """
import json, sys, time
from pathlib import Path
from desktop_crm.crypto import totp
from desktop_crm.platform.secret_store import MemorySecretStore
from desktop_crm.services import backup
from desktop_crm.services.clock import ManualClock
from desktop_crm.services.vault import VaultService

work = Path(sys.argv[1])
halfway = work / "halfway"

def progress(done, total):
    if done > total // 2 and not halfway.exists():
        halfway.write_text("now")
        time.sleep(600)
"""

CREATE = """
from support.vault_fixtures import make_vault
from desktop_crm.services import documents, patients
from desktop_crm.services.patient_model import Patient

store = MemorySecretStore()
h = make_vault(work / "vault", store)
s = h.created.session
pid = patients.create_patient(s, Patient(family="Kill"))
documents.attach(s, pid, "a.pdf", b"%PDF-" + bytes(300_000))
backup.set_backup_passphrase(s, "correct horse battery staple")
state = {"store": store.values, "secret": h.admin_secret, "now": h.clock.now()}
(work / "state.json").write_text(json.dumps(state))
backup.create_backup(s, work / "out" / "b.dcrmbak", progress=progress, chunk_size=4096)
"""

RESTORE = """
state = json.loads((work / "state.json").read_text())
store = MemorySecretStore()
store.values.update(state["store"])
clock = ManualClock(state["now"] + 3600)
service = VaultService(work / "vault", store, clock)
code = totp.code_at(state["secret"], clock.now())
session = service.unlock("Ana Admin", "135790", code)
backup.restore_backup(
    work / "b.dcrmbak", work / "vault", passphrase="correct horse battery staple",
    admin_name="Ana Admin", new_pin="246813", secrets_store=store, replace=True,
    replacing=session, progress=progress, clock=clock,
)
"""


def run_and_kill(work: Path, script: str) -> None:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(TESTS.parent), str(TESTS)])
    env["DESKTOP_CRM_TEST_KDF"] = "1"
    child = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(PRELUDE + script), str(work)],
        env=env,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 120
    while not (work / "halfway").exists():
        if child.poll() is not None:
            pytest.fail(f"child ended early: {child.stderr.read().decode()}")
        if time.monotonic() > deadline:
            child.kill()
            pytest.fail("child never reached half way")
        time.sleep(0.05)
    os.kill(child.pid, signal.SIGKILL)
    child.wait(timeout=30)
    child.stderr.close()
    assert child.returncode == -signal.SIGKILL


def unlock(work: Path, store: MemorySecretStore, secret: str, now: float):
    clock = ManualClock(now + 7200)
    service = VaultService(work / "vault", store, clock)
    session = service.unlock(ADMIN, ADMIN_PIN, totp.code_at(secret, clock.now()))
    return service, session


def test_kill_during_create_leaves_no_finished_looking_file(tmp_path):
    (tmp_path / "out").mkdir()

    run_and_kill(tmp_path, CREATE)

    left = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert not (tmp_path / "out" / "b.dcrmbak").exists()
    assert all(n.startswith(".b.dcrmbak.") and n.endswith(".partial") for n in left)
    state = json.loads((tmp_path / "state.json").read_text())
    store = MemorySecretStore()
    store.values.update(state["store"])
    service, session = unlock(tmp_path, store, state["secret"], state["now"])
    assert audit.verify(session.database(), service.files.read_head()) > 0
    again = backup.create_backup(session, tmp_path / "out" / "b.dcrmbak")
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["b.dcrmbak"]
    assert backup.verify_backup(again.path, passphrase=PASSPHRASE).counts
    session.lock()


def test_kill_during_restore_leaves_the_live_vault_untouched(tmp_path):
    store = MemorySecretStore()
    h = make_vault(tmp_path / "vault", store)
    s = h.created.session
    pid = patients.create_patient(s, Patient(family="Live"))
    documents.attach(s, pid, "a.pdf", b"%PDF-" + bytes(300_000))
    backup.set_backup_passphrase(s, PASSPHRASE)
    backup.create_backup(s, tmp_path / "b.dcrmbak", chunk_size=4096)
    s.lock()
    state = {"store": store.values, "secret": h.admin_secret, "now": h.clock.now()}
    (tmp_path / "state.json").write_text(json.dumps(state))
    header = h.service.files.header.read_bytes()

    run_and_kill(tmp_path, RESTORE)

    assert h.service.files.header.read_bytes() == header
    assert not list(tmp_path.glob("vault-replaced-*"))
    for staged in (tmp_path / "vault").glob(".restore-*/vault.db"):
        assert not staged.read_bytes().startswith(b"SQLite format 3")
    service, session = unlock(tmp_path, store, h.admin_secret, h.clock.now())
    assert session.vault_id == h.created.session.vault_id
    assert audit.verify(session.database(), service.files.read_head()) > 0
    assert patients.count(session) == 1
    session.lock()
