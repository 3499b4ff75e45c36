"""Named read queries for break-glass grants (see services.break_glass)."""

from __future__ import annotations

from dataclasses import dataclass

from desktop_crm.storage.database import Database

_COLUMNS = (
    "g.id, g.user_id, coalesce(u.name, ''), g.patient_id, g.reason, g.opened_at, "
    "g.expires_at, g.reviewed_at, coalesce(r.name, '')"
)
_FROM = (
    "FROM break_glass g LEFT JOIN users u ON u.id = g.user_id "
    "LEFT JOIN users r ON r.id = g.reviewed_by"
)


@dataclass(frozen=True)
class GrantRow:
    """One break-glass grant as stored (times are ISO 8601 UTC)."""

    id: str
    user_id: str
    user_name: str
    patient_id: str
    reason: str
    opened_at: str
    expires_at: str
    reviewed_at: str | None
    reviewed_by: str


def _grant(row: tuple[object, ...]) -> GrantRow:
    return GrantRow(
        id=str(row[0]),
        user_id=str(row[1]),
        user_name=str(row[2]),
        patient_id=str(row[3]),
        reason=str(row[4]),
        opened_at=str(row[5]),
        expires_at=str(row[6]),
        reviewed_at=None if row[7] is None else str(row[7]),
        reviewed_by=str(row[8]),
    )


def latest_expiry(db: Database, user_id: str, patient_id: str) -> str | None:
    """The latest expiry of any grant of ``user_id`` for ``patient_id``."""
    value = db.scalar(
        "SELECT max(expires_at) FROM break_glass WHERE user_id = ? AND patient_id = ?",
        (user_id, patient_id),
    )
    return None if value is None else str(value)


def grant(db: Database, grant_id: str) -> GrantRow | None:
    rows = db.query(f"SELECT {_COLUMNS} {_FROM} WHERE g.id = ?", (grant_id,))
    return _grant(rows[0]) if rows else None


def grants(db: Database, *, unreviewed_only: bool) -> list[GrantRow]:
    """Grants, newest first; only those waiting for review if asked."""
    where = "WHERE g.reviewed_at IS NULL" if unreviewed_only else ""
    rows = db.query(f"SELECT {_COLUMNS} {_FROM} {where} ORDER BY g.opened_at DESC")
    return [_grant(row) for row in rows]


def unreviewed_count(db: Database) -> int:
    return int(db.scalar("SELECT count(*) FROM break_glass WHERE reviewed_at IS NULL"))
