"""The audit trail's cost on the write path, and `audit verify` at scale (issue #6).

Run: `python benchmarks/audit.py [--writes N] [--entries M]` (project root, in
the venv); N defaults to 2,000 and M to 1,000,000.

Prints:

- (a) the write path with its audit entry against the same row changes
  without it: N patient inserts, one transaction each, through
  ``writepath.commit`` and through the same INSERT, search-index hook and
  change record (the sync log, which is not part of the audit trail) in a
  bare transaction.  Goal: with audit <= 1.2x without.
- (b) ``storage.audit.verify`` over M entries in a real SQLCipher vault.  The
  entries are generated in Python with correct chain hashes and inserted with
  one executemany in one transaction (building is not timed).  Goal <= 10 s.
- (c) the viewer's searches on that log, after the one-time build of the
  search catalog (derived from the log when it is first searched, then
  kept up to date at each search rather than in every commit).

Both databases are real SQLCipher files in a temporary folder, opened with a
random raw key as the product opens them.
"""

from __future__ import annotations

import argparse
import hashlib
import secrets
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from desktop_crm.storage import audit, migrations  # noqa: E402
from desktop_crm.storage import patient_index as _index  # noqa: E402, F401
from desktop_crm.storage.database import Database, open_database  # noqa: E402
from desktop_crm.storage.hlc import HybridLogicalClock  # noqa: E402
from desktop_crm.storage.writepath import (  # noqa: E402
    GENESIS,
    INDEXERS,
    Actor,
    AuditEvent,
    ChainHead,
    Mutation,
    _apply,
    _record_change,
    commit,
)

NOW = "2024-05-01T12:00:00.000000+00:00"


def _vault(folder: Path, name: str) -> Database:
    db = open_database(folder / name, secrets.token_bytes(32), create=True)
    migrations.migrate(db)
    return db


def _patient(i: int) -> Mutation:
    values = {
        "mrn": f"MRN{i:08d}",
        "family": f"Family{i}",
        "given": "Given",
        "created_at": NOW,
        "updated_at": NOW,
    }
    return Mutation("patients", str(uuid.uuid4()), "insert", values)


def _without_audit(db: Database, actor: Actor, mutation: Mutation) -> None:
    """The write path minus its audit entry: row, search index, change record."""
    with db.transaction():
        _apply(db, mutation)
        for update, key in INDEXERS["patients"](db, mutation, None):
            update(db, key)
        _record_change(db, actor, mutation)


def write_path(folder: Path, writes: int) -> None:
    clock = HybridLogicalClock("bench", lambda: int(time.time() * 1000), None)
    actor = Actor("user-1", "bench-ws", clock)
    timings: dict[str, list[float]] = {"with": [], "without": []}
    # Alternate rounds so both see the same disk and cache conditions.
    dbs = {"with": _vault(folder, "with.db"), "without": _vault(folder, "without.db")}
    for round_no in range(4):
        for kind in ("with", "without") if round_no % 2 == 0 else ("without", "with"):
            db = dbs[kind]
            batch = [_patient(round_no * writes + i) for i in range(writes // 4)]
            started = time.perf_counter()
            for m in batch:
                if kind == "with":
                    commit(
                        db, actor, AuditEvent("patient.create", "patient", m.key), [m]
                    )
                else:
                    _without_audit(db, actor, m)
            timings[kind].append(time.perf_counter() - started)
    with_audit, without = sum(timings["with"]), sum(timings["without"])
    per_with = 1e6 * with_audit / writes
    per_without = 1e6 * without / writes
    print(f"(a) write path, {writes:,} patient inserts, one transaction each")
    print(f"    with the audit entry:       {per_with:8.0f} us per write")
    print(f"    without it:                 {per_without:8.0f} us per write")
    ratio = with_audit / without
    verdict = "ok" if ratio <= 1.2 else "OVER GOAL"
    print(f"    ratio {ratio:.2f}x (goal <= 1.2x): {verdict}")
    spread = statistics.pstdev(timings["with"]) / statistics.mean(timings["with"])
    print(f"    (round-to-round spread of the audited runs: {100 * spread:.0f}%)")
    for db in dbs.values():
        db.close()


def _rows(count: int) -> Iterator[tuple[Any, ...]]:
    prev = GENESIS
    actions = ("patient.view", "patient.update", "appointment.view", "session.unlock")
    for seq in range(1, count + 1):
        row = (
            seq,
            f"2024-05-01T12:{seq // 60_000 % 60:02d}:{seq // 1000 % 60:02d}."
            f"{seq % 1000:03d}000+00:00",
            "3f0c1d2e-8d1b-4a55-9a43-9b8e2f1c0a11",
            "ws-4f1a2b3c",
            actions[seq % 4],
            "patient",
            f"00000000-0000-4000-8000-{seq % 50_000:012d}",
            '["family", "notes"]' if seq % 4 == 1 else "[]",
            "ok",
        )
        text = "\x1f".join([prev, *("" if v is None else str(v) for v in row)])
        digest = hashlib.sha256(text.encode()).hexdigest()
        yield (*row, prev, digest)
        prev = digest


def verify_at_scale(folder: Path, entries: int) -> None:
    db = _vault(folder, "verify.db")
    started = time.perf_counter()
    with db.transaction():
        db._conn.executemany(  # bulk build only; the product appends one by one
            "INSERT INTO audit_log (seq, at, user_id, workstation, action, "
            "record_type, record_id, fields, outcome, prev_hash, hash) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            _rows(entries),
        )
    built = time.perf_counter() - started
    head_row = db.query("SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1")
    head = ChainHead(int(head_row[0][0]), str(head_row[0][1]))
    size = (folder / "verify.db").stat().st_size
    print(f"(b) audit verify over {entries:,} entries")
    print(f"    built in {built:.1f} s (not timed below), file {size / 1e6:.0f} MB")
    best = float("inf")
    for _ in range(2):
        started = time.perf_counter()
        count = audit.verify(db, head)
        best = min(best, time.perf_counter() - started)
        assert count == entries
    verdict = "ok" if best <= 10 else "OVER GOAL"
    print(f"    verify: {best:.2f} s (best of 2; goal <= 10 s): {verdict}")
    searches(db)
    db.close()


def searches(db: Database) -> None:
    """(c) The viewer's queries on the same log (no goal in the issue)."""
    patient = f"00000000-0000-4000-8000-{123:012d}"
    cases = {
        "newest page, no filter": (audit.AuditFilter(), "page"),
        "one patient's accounting": (audit.AuditFilter(patient_id=patient), "all"),
        "one user, newest page": (
            audit.AuditFilter(user_id="3f0c1d2e-8d1b-4a55-9a43-9b8e2f1c0a11"),
            "page",
        ),
        "one day, count": (
            audit.AuditFilter(
                since="2024-05-01T12:05:00.000000+00:00",
                until="2024-05-01T12:06:00.000000+00:00",
            ),
            "count",
        ),
        "action, newest page": (audit.AuditFilter(action="session.unlock"), "page"),
    }
    print("(c) audit viewer queries on the same log")
    started = time.perf_counter()
    audit.catch_up(db)
    took = time.perf_counter() - started
    print(f"    search catalog built from the whole log (once): {took:.1f} s")
    for label, (flt, how) in cases.items():
        started = time.perf_counter()
        if how == "page":
            found = len(audit.search(db, flt, limit=200))
        elif how == "all":
            found = sum(1 for _ in audit.iterate(db, flt))
        else:
            found = audit.count(db, flt)
        took = 1000 * (time.perf_counter() - started)
        print(f"    {label:28s} {took:8.1f} ms ({found:,} rows)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--writes", type=int, default=2000)
    parser.add_argument("--entries", type=int, default=1_000_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="crm-audit-bench-") as tmp:
        write_path(Path(tmp), args.writes)
        verify_at_scale(Path(tmp), args.entries)


if __name__ == "__main__":
    main()
