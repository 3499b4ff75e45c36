"""Reading and verifying the hash-chained audit log."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from desktop_crm.errors import VaultError
from desktop_crm.storage.database import Database
from desktop_crm.storage.writepath import GENESIS, ChainHead, entry_hash

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


def _rows(db: Database) -> Iterator[tuple[Any, ...]]:
    after = -1
    while True:
        batch = db.query(
            f"SELECT {_COLUMNS} FROM audit_log WHERE seq > ? ORDER BY seq LIMIT ?",
            (after, _BATCH),
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
    between the commit and the head write).
    """
    expected_prev, expected_seq, count = GENESIS, 1, 0
    kept_seen = kept is None
    for row in _rows(db):
        seq, prev, digest = row[0], row[9], row[10]
        if seq != expected_seq:
            reason = (
                "missing entries before it" if seq > expected_seq else "out of order"
            )
            raise AuditChainBroken(expected_seq if seq > expected_seq else seq, reason)
        if prev != expected_prev:
            raise AuditChainBroken(seq, "reordered or an earlier entry was removed")
        if entry_hash(prev, row[:9]) != digest:
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
