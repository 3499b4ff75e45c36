"""Backup create/verify throughput and memory on a ~500 MB vault (issue #4).

Run: `python benchmarks/backup.py [--mb 500]` (project root, in the venv).

A child process builds a vault whose database holds about ``--mb`` MB:
20 MB documents of random bytes attached to patients through the write
path.  This process then opens the vault and measures, on the same database
file and the same disk:

- ``cp`` of the database file, and ``dd conv=fsync`` (a copy that, like the
  backup, is flushed to disk before it counts as done);
- ``openssl enc -aes-256-ctr`` of it;
- Python's raw AES-256-GCM over 1 MiB buffers already in memory;
- ``restic backup`` of the file into a fresh local repository (if installed);
- ``services.backup.create_backup`` (snapshot + encrypt + fsync + rename) and
  its peak memory growth (tracemalloc peak, and the growth of ru_maxrss);
- ``services.backup.verify_backup`` (decrypt every chunk, write the encrypted
  database to a scratch folder, integrity_check, cipher_integrity_check,
  row counts).

Goals: create >= 3x restic, create within 2x of cp, memory growth <= 64 MB.
Files are read warm (from the page cache) by every contender alike.
DESKTOP_CRM_TEST_KDF=1 is set: Argon2id cost is not what is measured here.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
os.environ["DESKTOP_CRM_TEST_KDF"] = "1"

from desktop_crm.crypto import totp  # noqa: E402
from desktop_crm.platform.secret_store import MemorySecretStore  # noqa: E402
from desktop_crm.services import backup  # noqa: E402
from desktop_crm.services.clock import ManualClock  # noqa: E402
from desktop_crm.services.vault import VaultService  # noqa: E402

PASSPHRASE = "benchmark backup passphrase"
DOC_MB = 20


def build(work: Path, megabytes: int) -> None:
    """Child process: make the vault and leave what is needed to reopen it."""
    from support.vault_fixtures import make_vault

    from desktop_crm.services import documents, patients
    from desktop_crm.services.patient_model import Patient

    store = MemorySecretStore()
    harness = make_vault(work / "vault", store)
    session = harness.created.session
    for number in range(max(1, megabytes // DOC_MB)):
        pid = patients.create_patient(
            session, Patient(family=f"Bench{number}"), allow_duplicates=True
        )
        content = b"%PDF-" + os.urandom(DOC_MB * 1024 * 1024 - 5)
        documents.attach(session, pid, f"scan{number}.pdf", content)
    backup.set_backup_passphrase(session, PASSPHRASE)
    session.lock()
    state = {"store": store.values, "secret": harness.admin_secret}
    state["now"] = harness.clock.now()
    (work / "state.json").write_text(json.dumps(state))


def timed(action: Callable[[], object]) -> float:
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


def run(*args: str, env: dict[str, str] | None = None) -> None:
    subprocess.run(args, check=True, capture_output=True, env=env)


def rate(size: int, seconds: float) -> str:
    return f"{size / 1e6 / seconds:8.1f} MB/s  ({seconds:6.2f} s)"


def raw_aes_gcm(total: int) -> float:
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    aead, block = AESGCM(os.urandom(32)), os.urandom(1 << 20)
    started = time.perf_counter()
    for index in range(total >> 20):
        aead.encrypt(index.to_bytes(12, "big"), block, b"")
    return time.perf_counter() - started


def restic(database: Path, work: Path) -> float | None:
    if shutil.which("restic") is None:
        return None
    env = dict(os.environ, RESTIC_PASSWORD="benchmark", RESTIC_REPOSITORY=str(work))
    run("restic", "init", env=env)
    return timed(lambda: run("restic", "backup", "--quiet", str(database), env=env))


def open_vault(work: Path):  # type: ignore[no-untyped-def]
    state = json.loads((work / "state.json").read_text())
    store = MemorySecretStore()
    store.values.update(state["store"])
    clock = ManualClock(state["now"] + 3600)
    service = VaultService(work / "vault", store, clock)
    code = totp.code_at(state["secret"], clock.now())
    return service.unlock("Ana Admin", "135790", code)


def measure_create(session, out: Path) -> tuple[float, int, int]:  # type: ignore[no-untyped-def]
    base_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    tracemalloc.start()
    seconds = timed(lambda: backup.create_backup(session, out))
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    grown = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - base_rss
    return seconds, peak, grown * 1024


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=int, default=500)
    parser.add_argument("--build-into", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.build_into:
        build(Path(args.build_into), args.mb)
        return 0
    work = Path(tempfile.mkdtemp(prefix="dcrm-bench-backup-", dir="/var/tmp"))
    try:
        return bench(work, args.mb)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def bench(work: Path, megabytes: int) -> int:
    started = time.perf_counter()
    run(sys.executable, __file__, "--mb", str(megabytes), "--build-into", str(work))
    print(f"vault built in {time.perf_counter() - started:.1f} s")
    session = open_vault(work)
    database = session.database().path
    session.database().execute("PRAGMA wal_checkpoint(TRUNCATE)")
    size = database.stat().st_size
    print(f"database file: {size / 1e6:.1f} MB ({database.name})")
    key = os.urandom(32).hex()

    cp = timed(lambda: run("cp", str(database), str(work / "copy.db")))
    cp_sync = timed(
        lambda: run("dd", f"if={database}", f"of={work / 'copy2.db'}", "bs=1M",
                    "conv=fsync")
    )  # fmt: skip
    openssl = timed(
        lambda: run("openssl", "enc", "-aes-256-ctr", "-K", key, "-iv", "0" * 32,
                    "-in", str(database), "-out", str(work / "copy.enc"))
    )  # fmt: skip
    raw = raw_aes_gcm(256 << 20)
    restic_s = restic(database, work / "restic")
    create_s, peak, rss = measure_create(session, work / "b.dcrmbak")
    backup_size = (work / "b.dcrmbak").stat().st_size
    session.lock()
    verify_s = timed(
        lambda: backup.verify_backup(work / "b.dcrmbak", passphrase=PASSPHRASE)
    )

    print(f"cp                      {rate(size, cp)}")
    print(f"dd conv=fsync (cp+sync) {rate(size, cp_sync)}")
    print(f"openssl aes-256-ctr     {rate(size, openssl)}")
    print(f"python AES-256-GCM raw  {rate(256 << 20, raw)}  (in memory)")
    if restic_s is None:
        print("restic backup           not installed (apt-get install restic)")
    else:
        print(f"restic backup           {rate(size, restic_s)}")
    print(f"backup create           {rate(size, create_s)}")
    print(f"backup verify           {rate(size, verify_s)}")
    print(f"backup file: {backup_size / 1e6:.1f} MB")
    print(
        f"create memory: tracemalloc peak {peak / 2**20:.1f} MiB, "
        f"ru_maxrss growth {rss / 2**20:.1f} MiB (goal <= 64)"
    )
    print(f"create vs cp: {create_s / cp:.2f}x the time (goal <= 2)")
    print(f"create vs cp with fsync: {create_s / cp_sync:.2f}x the time")
    if restic_s is not None:
        print(f"create vs restic: {restic_s / create_s:.2f}x faster (goal >= 3)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
