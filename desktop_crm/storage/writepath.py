"""The single write path: every change, its audit entry and its change record.

``commit`` applies a list of mutations, appends one hash-chained audit entry
and one change record per mutation of a synced table, all in one
transaction.  Reads that must be audited call it with no mutations.  After
the transaction commits, the ``after_commit`` hooks of the database receive
the new audit chain head (kept outside the database by the services layer).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from desktop_crm.storage.database import Database
from desktop_crm.storage.hlc import HybridLogicalClock
from desktop_crm.storage.tables import TABLES, TableSpec

GENESIS = "0" * 64

#: An index update: ``function(db, key)``, e.g. rebuild one patient's entry.
IndexJob = tuple[Callable[[Database, str], None], str]

#: Derived indexes kept in step with a table, inside the same transaction:
#: table name -> function(db, mutation, before) called after the row change,
#: where ``before`` is what ``BEFORE_INDEXERS`` returned for that table (or
#: None): it lets an index see the row as it was, e.g. its old owner.  It
#: returns the index updates the change needs; each distinct one runs once,
#: after the transaction's last row change (so a patient and its identifiers
#: written together are indexed once, not once per row).
INDEXERS: dict[str, Callable[[Database, Mutation, Any], Iterable[IndexJob]]] = {}
BEFORE_INDEXERS: dict[str, Callable[[Database, Mutation], Any]] = {}
Op = Literal["insert", "update", "upsert", "delete"]


@dataclass(frozen=True)
class Actor:
    """Who is writing, from where, and the clock that stamps their changes."""

    user_id: str | None
    workstation: str
    clock: HybridLogicalClock


@dataclass(frozen=True)
class Mutation:
    """One row change in a registered table."""

    table: str
    key: str
    op: Op
    values: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class AuditEvent:
    """What the audit entry says: the action, its target and its outcome."""

    action: str
    record_type: str | None = None
    record_id: str | None = None
    outcome: str = "ok"
    fields: tuple[str, ...] = ()
    at: datetime | None = None


@dataclass(frozen=True)
class ChainHead:
    """The newest audit entry's sequence number and hash."""

    seq: int
    hash: str


def entry_hash(prev_hash: str, row: Sequence[Any]) -> str:
    """Hash of one audit entry, committing to the entry before it."""
    parts = [prev_hash] + ["" if v is None else str(v) for v in row]
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()


def _utc(at: datetime | None) -> str:
    moment = at or datetime.now(UTC)
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


def _spec(table: str, values: Mapping[str, Any]) -> TableSpec:
    spec = TABLES.get(table)
    if spec is None:
        raise ValueError(f"table {table!r} is not writable through the write path")
    unknown = set(values) - spec.columns
    if unknown:
        raise ValueError(f"unknown columns for {table}: {sorted(unknown)}")
    return spec


def _apply(db: Database, mutation: Mutation) -> None:
    spec = _spec(mutation.table, mutation.values)
    if mutation.op == "insert":
        values = {spec.key: mutation.key, **mutation.values}
        names = ", ".join(values)
        marks = ", ".join("?" for _ in values)
        db.execute(
            f"INSERT INTO {spec.name} ({names}) VALUES ({marks})", list(values.values())
        )
    elif mutation.op == "upsert":
        values = {spec.key: mutation.key, **mutation.values}
        names = ", ".join(values)
        marks = ", ".join("?" for _ in values)
        updates = ", ".join(f"{n} = excluded.{n}" for n in mutation.values) or (
            f"{spec.key} = excluded.{spec.key}"
        )
        db.execute(
            f"INSERT INTO {spec.name} ({names}) VALUES ({marks}) "
            f"ON CONFLICT({spec.key}) DO UPDATE SET {updates}",
            list(values.values()),
        )
    elif mutation.op == "update":
        if not mutation.values:
            return
        assigns = ", ".join(f"{name} = ?" for name in mutation.values)
        cursor = db.execute(
            f"UPDATE {spec.name} SET {assigns} WHERE {spec.key} = ?",
            [*mutation.values.values(), mutation.key],
        )
        if cursor.rowcount != 1:
            raise LookupError(f"no {spec.name} row to update")
    elif mutation.op == "delete":
        db.execute(f"DELETE FROM {spec.name} WHERE {spec.key} = ?", [mutation.key])
    else:
        raise ValueError(f"unknown operation {mutation.op!r}")


def _record_change(db: Database, actor: Actor, mutation: Mutation) -> None:
    spec = TABLES[mutation.table]
    data = {
        name: (
            hashlib.sha256(value).hexdigest()
            if name in spec.bulk and isinstance(value, bytes | bytearray)
            else value
        )
        for name, value in mutation.values.items()
    }
    db.execute(
        "INSERT INTO change_log (hlc, device_id, record_type, record_id, op, fields, "
        "data) VALUES (?, ?, ?, ?, ?, ?, ?)",
        [
            actor.clock.tick(),
            actor.clock.device_id,
            mutation.table,
            mutation.key,
            mutation.op,
            json.dumps(sorted(mutation.values)),
            json.dumps(data, sort_keys=True, default=str),
        ],
    )


def _append_audit(
    db: Database, actor: Actor, event: AuditEvent, changed: Sequence[str]
) -> ChainHead:
    last = db.query("SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1")
    seq, prev = (last[0][0] + 1, last[0][1]) if last else (1, GENESIS)
    fields = json.dumps(sorted(set(event.fields) | set(changed)))
    row = [
        seq,
        _utc(event.at),
        actor.user_id,
        actor.workstation,
        event.action,
        event.record_type,
        event.record_id,
        fields,
        event.outcome,
    ]
    digest = entry_hash(prev, row)
    db.execute(
        "INSERT INTO audit_log (seq, at, user_id, workstation, action, record_type, "
        "record_id, fields, outcome, prev_hash, hash) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [*row, prev, digest],
    )
    return ChainHead(seq, digest)


def commit(
    db: Database,
    actor: Actor,
    event: AuditEvent,
    mutations: Sequence[Mutation] = (),
    extra_events: Sequence[AuditEvent] = (),
    *,
    record_changes: bool = True,
) -> ChainHead:
    """Apply ``mutations`` with their audit entry and change records, atomically.

    ``extra_events`` are appended to the audit log before ``event`` in the
    same transaction (for example failed unlock attempts recorded outside
    the database and moved in at the next unlock).  ``record_changes=False``
    is for sync applying another workstation's change: the row, its indexes
    and the audit entry are written, but no change record, so the change is
    not sent back out (it would echo between workstations forever).
    """
    changed: list[str] = []
    jobs: dict[IndexJob, None] = {}
    with db.transaction():
        for earlier in extra_events:
            _append_audit(db, actor, earlier, ())
        for mutation in mutations:
            before_hook = BEFORE_INDEXERS.get(mutation.table)
            before = before_hook(db, mutation) if before_hook else None
            _apply(db, mutation)
            indexer = INDEXERS.get(mutation.table)
            if indexer is not None:
                jobs.update(dict.fromkeys(indexer(db, mutation, before)))
            changed.extend(mutation.values)
            if record_changes and TABLES[mutation.table].synced:
                _record_change(db, actor, mutation)
        for update, key in jobs:
            update(db, key)
        head = _append_audit(db, actor, event, changed)
    db.committed(head)
    return head
