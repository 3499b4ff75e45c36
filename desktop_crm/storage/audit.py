"""Reading and verifying the hash-chained audit log."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from desktop_crm.errors import VaultError
from desktop_crm.storage.database import Database
from desktop_crm.storage.writepath import GENESIS, ChainHead

_COLUMNS = (
    "seq, at, user_id, workstation, action, record_type, record_id, fields, "
    "outcome, prev_hash, hash"
)
_BATCH = 5000


class AuditChainBroken(VaultError):
    """The chain fails at one entry, for one named reason."""

    def __init__(self, seq: int, reason: str) -> None:
        super().__init__(f"audit entry {seq}: {reason}")
        self.seq = seq
        self.reason = reason


@dataclass(frozen=True)
class AuditEntry:
    """One row of the audit log."""

    seq: int
    at: str
    user_id: str | None
    workstation: str
    action: str
    record_type: str | None
    record_id: str | None
    fields: str
    outcome: str
    prev_hash: str
    hash: str


#: The entry's hashed columns joined by the unit separator, as ``entry_hash``
#: joins them (NULL as the empty string), built by SQLite: verifying a
#: million entries then costs one SHA-256 per row in Python and little else.
_HASHED_TEXT = " || char(31) || ".join(
    f"coalesce({c}, '')"
    for c in (
        "seq",
        "at",
        "user_id",
        "workstation",
        "action",
        "record_type",
        "record_id",
        "fields",
        "outcome",
    )
)
_VERIFY_BATCH = 50_000


def _chain_rows(db: Database) -> Iterator[tuple[Any, ...]]:
    """(seq, prev_hash, hash, hashed text) of every entry, in seq order."""
    after = None
    while True:
        batch = db.query(
            f"SELECT seq, prev_hash, hash, {_HASHED_TEXT} FROM audit_log "
            "WHERE seq > coalesce(?, -9223372036854775808) ORDER BY seq LIMIT ?",
            (after, _VERIFY_BATCH),
        )
        if not batch:
            return
        yield from batch
        after = batch[-1][0]


def entries(db: Database, limit: int = 100) -> list[AuditEntry]:
    """The newest entries, newest first."""
    rows = db.query(
        f"SELECT {_COLUMNS} FROM audit_log ORDER BY seq DESC LIMIT ?", (limit,)
    )
    return [AuditEntry(*row) for row in rows]


def verify(db: Database, kept: ChainHead | None) -> int:
    """Walk the chain; return the number of entries or raise ``AuditChainBroken``.

    ``kept`` is the head stored outside the database after each commit: the
    chain must contain it unchanged (it may extend past it, after a crash
    between the commit and the head write).  Each entry's hash is checked
    against ``writepath.entry_hash``'s format, computed from the text that
    SQLite joins (identical to what ``entry_hash`` joins for stored rows).
    """
    expected_prev, expected_seq, count = GENESIS, 1, 0
    kept_seen = kept is None
    sha256 = hashlib.sha256
    for seq, prev, digest, body in _chain_rows(db):
        if seq != expected_seq:
            _out_of_place(seq, expected_seq)
        if prev != expected_prev:
            raise AuditChainBroken(seq, "reordered or an earlier entry was removed")
        if sha256(f"{prev}\x1f{body}".encode()).hexdigest() != digest:
            raise AuditChainBroken(seq, "edited")
        if kept is not None and seq == kept.seq:
            if digest != kept.hash:
                raise AuditChainBroken(
                    seq, "differs from the head kept outside the vault"
                )
            kept_seen = True
        expected_prev, expected_seq, count = digest, seq + 1, count + 1
    if not kept_seen and kept is not None:
        raise AuditChainBroken(
            count + 1, f"cut off: entries {count + 1}-{kept.seq} are gone"
        )
    return count


def _out_of_place(seq: Any, expected: int) -> None:
    if isinstance(seq, int) and seq > expected:
        raise AuditChainBroken(expected, "missing entries before it")
    raise AuditChainBroken(seq, "out of order")


# -- searching the log -----------------------------------------------------------

#: Record types whose rows carry a ``patient_id``: entries about them belong
#: to that patient's accounting of access.
PATIENT_TABLES = {
    "document": "documents",
    "appointment": "appointments",
    "appointment_series": "appointment_series",
    "communication": "communications",
    "reminder": "reminders",
}
_LISTED = (
    "a.seq, a.at, a.user_id, coalesce(u.name, ''), a.workstation, a.action, "
    "a.record_type, a.record_id, a.fields, a.outcome"
)


@dataclass(frozen=True)
class AuditFilter:
    """What to search for; every part is optional, and parts combine with AND.

    ``since`` and ``until`` are UTC instants in the log's own text form
    (``isoformat(timespec="microseconds")``); ``since`` is inclusive,
    ``until`` exclusive.  ``action`` ending in ``*`` matches a prefix.
    """

    user_id: str | None = None
    patient_id: str | None = None
    action: str | None = None
    since: str | None = None
    until: str | None = None


@dataclass(frozen=True)
class ListedEntry:
    """An audit entry as shown to people: with the user's name."""

    seq: int
    at: str
    user_id: str | None
    user_name: str
    workstation: str
    action: str
    record_type: str | None
    record_id: str | None
    fields: str
    outcome: str


def catch_up(db: Database, *, full_check: bool = False) -> None:
    """Bring the search catalog up to the newest entry (schema 7).

    Derived data, like the patient search index: it is written here, when
    the log is searched, rather than in every commit of the write path.
    With ``full_check`` (``audit verify`` asks for it) a catalog with rows
    missing, deleted behind the product's back, is rebuilt.
    """
    if not full_check and _catalogued(db) >= _newest(db):
        return
    with db.transaction():
        last = _catalogued(db)
        if full_check and db.scalar("SELECT count(*) FROM audit_catalog") != last:
            db.execute("DELETE FROM audit_catalog")
            db.execute("DELETE FROM audit_patients")
            last = 0
        if _newest(db) <= last:
            return
        db.execute(
            "INSERT OR IGNORE INTO audit_catalog (seq, at, user_id, action) "
            "SELECT seq, at, user_id, action FROM audit_log WHERE seq > ?",
            (last,),
        )
        _catalog_patients(db, last)


def _catalogued(db: Database) -> int:
    return int(db.scalar("SELECT coalesce(max(seq), 0) FROM audit_catalog"))


def _newest(db: Database) -> int:
    return int(db.scalar("SELECT coalesce(max(seq), 0) FROM audit_log"))


def _catalog_patients(db: Database, after: int) -> None:
    add = "INSERT OR IGNORE INTO audit_patients (patient_id, seq) "
    db.execute(
        add + "SELECT record_id, seq FROM audit_log WHERE seq > ? AND "
        "record_type = 'patient' AND record_id IS NOT NULL AND "
        "instr(record_id, ',') = 0",
        (after,),
    )
    # A merge names both patients: "<kept>,<retired>".
    merges = db.query(
        "SELECT seq, record_id FROM audit_log WHERE seq > ? AND "
        "record_type = 'patient' AND instr(record_id, ',') > 0",
        (after,),
    )
    for seq, ids in merges:
        for patient_id in str(ids).split(","):
            if patient_id:
                db.execute(add + "VALUES (?, ?)", (patient_id, seq))
    for record_type, table in PATIENT_TABLES.items():
        db.execute(
            add + f"SELECT t.patient_id, a.seq FROM audit_log a JOIN {table} t "
            "ON t.id = a.record_id WHERE a.seq > ? AND a.record_type = ?",
            (after, record_type),
        )
    # An occurrence of a series that was never edited has no row of its own:
    # its id is "<series id>.<recurrence id>".
    db.execute(
        add + "SELECT s.patient_id, a.seq FROM audit_log a JOIN appointment_series s "
        "ON s.id = substr(a.record_id, 1, instr(a.record_id, '.') - 1) "
        "WHERE a.seq > ? AND a.record_type = 'appointment' "
        "AND instr(a.record_id, '.') > 0",
        (after,),
    )


def _like_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _where(flt: AuditFilter) -> tuple[str, list[Any]]:
    """Conditions on the catalog ``c`` and, again, on the log row ``a``."""
    clauses: list[str] = []
    params: list[Any] = []
    if flt.user_id is not None:
        clauses.append("c.user_id = ? AND a.user_id = c.user_id")
        params.append(flt.user_id)
    if flt.action:
        if flt.action.endswith("*"):
            clauses.append("c.action LIKE ? ESCAPE '\\'")
            params.append(_like_escape(flt.action[:-1]) + "%")
        else:
            clauses.append("c.action = ?")
            params.append(flt.action)
        clauses.append("a.action = c.action")
    if flt.since is not None:
        clauses.append("c.at >= ?")
        params.append(flt.since)
    if flt.until is not None:
        clauses.append("c.at < ?")
        params.append(flt.until)
    if flt.since is not None or flt.until is not None:
        clauses.append("a.at = c.at")
    if flt.patient_id is not None:
        clauses.append("c.seq IN (SELECT seq FROM audit_patients WHERE patient_id = ?)")
        params.append(flt.patient_id)
    return (" AND ".join(clauses) or "1"), params


_FROM = (
    "FROM audit_catalog c JOIN audit_log a ON a.seq = c.seq "
    "LEFT JOIN users u ON u.id = a.user_id"
)


def search(
    db: Database,
    flt: AuditFilter,
    *,
    before_seq: int | None = None,
    after_seq: int | None = None,
    limit: int = 200,
    newest_first: bool = True,
) -> list[ListedEntry]:
    """One page of matching entries, paged by sequence number (keyset paging:
    page N costs no more than page 1)."""
    catch_up(db)
    where, params = _where(flt)
    if before_seq is not None:
        where += " AND c.seq < ?"
        params.append(before_seq)
    if after_seq is not None:
        where += " AND c.seq > ?"
        params.append(after_seq)
    order = "DESC" if newest_first else "ASC"
    rows = db.query(
        f"SELECT {_LISTED} {_FROM} WHERE {where} ORDER BY c.seq {order} LIMIT ?",
        [*params, int(limit)],
    )
    return [ListedEntry(*row) for row in rows]


def iterate(
    db: Database, flt: AuditFilter, batch: int = _BATCH
) -> Iterator[ListedEntry]:
    """Every matching entry, oldest first, read a batch at a time."""
    after = 0
    while True:
        page = search(db, flt, after_seq=after, limit=batch, newest_first=False)
        yield from page
        if len(page) < batch:
            return
        after = page[-1].seq


def count(db: Database, flt: AuditFilter) -> int:
    catch_up(db)
    where, params = _where(flt)
    return int(
        db.scalar(
            "SELECT count(*) FROM audit_catalog c JOIN audit_log a ON a.seq = c.seq "
            f"WHERE {where}",
            params,
        )
    )


def actions(db: Database) -> list[str]:
    """Every action name that occurs in the log, sorted."""
    catch_up(db)
    return [
        str(r[0])
        for r in db.query("SELECT DISTINCT action FROM audit_catalog ORDER BY action")
    ]


def patient_exists(db: Database, patient_id: str) -> bool:
    return db.scalar("SELECT 1 FROM patients WHERE id = ?", (patient_id,)) is not None
