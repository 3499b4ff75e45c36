"""Named read queries of the workstation's sync state (issue #7, schema 10).

Table and column names come from ``storage.tables.TABLES``, never from
input, as in the write path.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from desktop_crm.storage.database import Database, TakenMeanwhile, _driver
from desktop_crm.storage.tables import TABLES

DELETED = "__deleted__"
#: A field clock for every column of a row, written when a whole row arrives
#: from another workstation (one entry instead of one per column).
ALL_FIELDS = "*"


@dataclass(frozen=True)
class ChangeRow:
    """One local change record from ``change_log``."""

    seq: int
    hlc: str
    device_id: str
    record_type: str
    record_id: str
    op: str
    fields: list[str]
    data: dict[str, Any]


@dataclass(frozen=True)
class ConflictRow:
    """A field two workstations disagreed on, with the value that lost."""

    id: str
    record_type: str
    record_id: str
    field: str
    kept_value: Any
    kept_hlc: str
    lost_value: Any
    lost_hlc: str
    lost_device: str
    created_at: str
    resolved_at: str | None
    resolved_by: str | None


def integrity_error() -> tuple[type[Exception], ...]:
    """The constraint errors (a remote row clashing with a local one).

    A clash on a unique column reaches callers as ``TakenMeanwhile``; any
    other constraint as the driver's own error.
    """
    return (_driver().IntegrityError, TakenMeanwhile)


#: sync_state keys that code outside the sync engine reads.
PRACTICE_ID = "practice_id"
WORKSTATION_ID = "workstation_id"


def state(db: Database) -> dict[str, str]:
    return {str(k): str(v) for k, v in db.query("SELECT key, value FROM sync_state")}


def state_value(db: Database, key: str) -> str | None:
    """One sync_state value (None when the vault never connected)."""
    value = db.scalar("SELECT value FROM sync_state WHERE key = ?", (key,))
    return None if value is None else str(value)


def sync_key_hex(db: Database) -> str | None:
    value = db.scalar("SELECT key FROM sync_key WHERE id = 'practice'")
    return None if value is None else str(value)


def changes_after(db: Database, seq: int, limit: int) -> list[ChangeRow]:
    rows = db.query(
        "SELECT seq, hlc, device_id, record_type, record_id, op, fields, data "
        "FROM change_log WHERE seq > ? ORDER BY seq LIMIT ?",
        (seq, limit),
    )
    return [
        ChangeRow(
            int(r[0]), r[1], r[2], r[3], r[4], r[5], json.loads(r[6]), json.loads(r[7])
        )
        for r in rows
    ]


def pending_changes(db: Database, after_seq: int) -> int:
    return int(db.scalar("SELECT count(*) FROM change_log WHERE seq > ?", (after_seq,)))


def last_change_seq(db: Database) -> int:
    return int(db.scalar("SELECT coalesce(max(seq), 0) FROM change_log"))


def local_field_stamps(
    db: Database, record_type: str, record_id: str, before_seq: int | None = None
) -> dict[str, str]:
    """Per field, the newest local change's stamp (optionally before a seq).

    A delete counts for every field under the name ``__deleted__``; an
    insert counts for every column of the table (it decided each one, if only
    as empty), as the ``ALL_FIELDS`` clock does for a row from elsewhere.
    """
    sql = (
        "SELECT hlc, op, fields FROM change_log WHERE record_type = ? AND record_id = ?"
    )
    params: list[Any] = [record_type, record_id]
    if before_seq is not None:
        sql += " AND seq < ?"
        params.append(before_seq)
    spec = TABLES.get(record_type)
    every = sorted(spec.columns) if spec is not None else []
    stamps: dict[str, str] = {}
    for hlc, op, fields in db.query(sql, params):
        names = [DELETED] if op == "delete" else json.loads(fields)
        if op == "insert":
            names = [*names, *every]
        for name in names:
            if hlc > stamps.get(name, ""):
                stamps[name] = hlc
    return stamps


def field_clocks(db: Database, record_type: str, record_id: str) -> dict[str, str]:
    """Per field, the stamp of the value applied from another workstation.

    An ``ALL_FIELDS`` entry stands for every column of the record's table; a
    field's own entry counts when it is newer.
    """
    stamps = {
        str(f): str(h)
        for f, h in db.query(
            "SELECT field, hlc FROM field_clock "
            "WHERE record_type = ? AND record_id = ?",
            (record_type, record_id),
        )
    }
    whole = stamps.pop(ALL_FIELDS, None)
    spec = TABLES.get(record_type)
    if whole is not None and spec is not None:
        for name in spec.columns:
            if whole > stamps.get(name, ""):
                stamps[name] = whole
    return stamps


def newest_field_clock(db: Database) -> str | None:
    value = db.scalar("SELECT max(hlc) FROM field_clock")
    return None if value is None else str(value)


def applied(db: Database, inbox_id: str) -> bool:
    return db.scalar("SELECT 1 FROM sync_inbox WHERE id = ?", (inbox_id,)) is not None


def row(db: Database, table: str, key: str) -> dict[str, Any] | None:
    """The whole row of a registered table, or None."""
    spec = TABLES[table]
    columns = sorted(spec.columns | {spec.key})
    found = db.query(
        f"SELECT {', '.join(columns)} FROM {spec.name} WHERE {spec.key} = ?", (key,)
    )
    return dict(zip(columns, found[0], strict=True)) if found else None


def document_content(db: Database, document_id: str) -> bytes | None:
    value = db.scalar("SELECT content FROM documents WHERE id = ?", (document_id,))
    return None if value is None else bytes(value)


def _conflict(r: tuple[Any, ...]) -> ConflictRow:
    return ConflictRow(
        r[0],
        r[1],
        r[2],
        r[3],
        None if r[4] is None else json.loads(r[4]),
        r[5],
        None if r[6] is None else json.loads(r[6]),
        r[7],
        r[8],
        r[9],
        r[10],
        r[11],
    )


_CONFLICT_COLUMNS = (
    "id, record_type, record_id, field, kept_value, kept_hlc, lost_value, "
    "lost_hlc, lost_device, created_at, resolved_at, resolved_by"
)


def conflicts(db: Database, *, open_only: bool = True) -> list[ConflictRow]:
    where = " WHERE resolved_at IS NULL" if open_only else ""
    rows = db.query(
        f"SELECT {_CONFLICT_COLUMNS} FROM sync_conflicts{where} ORDER BY created_at, id"
    )
    return [_conflict(r) for r in rows]


def conflict(db: Database, conflict_id: str) -> ConflictRow | None:
    rows = db.query(
        f"SELECT {_CONFLICT_COLUMNS} FROM sync_conflicts WHERE id = ?", (conflict_id,)
    )
    return _conflict(rows[0]) if rows else None


def open_conflict_count(db: Database) -> int:
    return int(
        db.scalar("SELECT count(*) FROM sync_conflicts WHERE resolved_at IS NULL")
    )
