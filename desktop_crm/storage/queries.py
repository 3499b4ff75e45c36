"""Named read queries for users, settings and unlock grants."""

from __future__ import annotations

from dataclasses import dataclass

from desktop_crm.storage.database import Database

_USER_COLUMNS = (
    "id, name, roles, active, created_at, must_change_pin, totp_enrolled, "
    "needs_reset, last_totp_step, last_unlock_at"
)


@dataclass(frozen=True)
class UserRow:
    """A staff user as stored (no secrets: those live in the header's slots)."""

    id: str
    name: str
    roles: tuple[str, ...]
    active: bool
    created_at: str
    must_change_pin: bool
    totp_enrolled: bool
    needs_reset: bool
    last_totp_step: int
    last_unlock_at: str | None
    #: Set with ``must_change_pin`` when an admin approved the user on a
    #: joined workstation: the new PIN keeps the shared TOTP secret.
    keeps_totp: bool = False


#: ``users.must_change_pin`` value of an approval (1 is an admin's reset).
PIN_CHANGE_KEEPS_TOTP = 2


def _user(row: tuple[object, ...]) -> UserRow:
    return UserRow(
        id=str(row[0]),
        name=str(row[1]),
        roles=tuple(r for r in str(row[2]).split(",") if r),
        active=bool(row[3]),
        created_at=str(row[4]),
        must_change_pin=bool(row[5]),
        totp_enrolled=bool(row[6]),
        needs_reset=bool(row[7]),
        last_totp_step=int(row[8]),  # type: ignore[call-overload]
        last_unlock_at=None if row[9] is None else str(row[9]),
        keeps_totp=row[5] == PIN_CHANGE_KEEPS_TOTP,
    )


def user_by_id(db: Database, user_id: str) -> UserRow | None:
    rows = db.query(f"SELECT {_USER_COLUMNS} FROM users WHERE id = ?", (user_id,))
    return _user(rows[0]) if rows else None


def user_by_name(db: Database, name: str) -> UserRow | None:
    rows = db.query(f"SELECT {_USER_COLUMNS} FROM users WHERE name = ?", (name,))
    return _user(rows[0]) if rows else None


def all_users(db: Database) -> list[UserRow]:
    rows = db.query(f"SELECT {_USER_COLUMNS} FROM users ORDER BY name COLLATE NOCASE")
    return [_user(row) for row in rows]


def setting(db: Database, key: str) -> str | None:
    value = db.scalar("SELECT value FROM settings WHERE key = ?", (key,))
    return None if value is None else str(value)


def user_totp_sealed(db: Database, user_id: str) -> str | None:
    """A user's shared TOTP secret as sealed under the practice sync key."""
    value = db.scalar("SELECT sealed FROM user_totp WHERE id = ?", (user_id,))
    return None if value is None else str(value)


def grant(db: Database, user_id: str, workstation: str) -> tuple[str, str] | None:
    """(granted_at, expires_at) of a quick re-unlock grant, if one exists."""
    rows = db.query(
        "SELECT granted_at, expires_at FROM unlock_grants "
        "WHERE user_id = ? AND workstation = ?",
        (user_id, workstation),
    )
    return (str(rows[0][0]), str(rows[0][1])) if rows else None


def last_hlc(db: Database) -> str | None:
    # Stamps applied by sync (field_clock, schema 10) count too (issue #7).
    value = db.scalar(
        "SELECT max(hlc) FROM (SELECT hlc FROM (SELECT hlc FROM change_log "
        "ORDER BY seq DESC LIMIT 1) UNION ALL SELECT max(hlc) FROM field_clock)"
    )
    return None if value is None else str(value)


def table_counts(db: Database) -> dict[str, int]:
    names = [
        str(r[0])
        for r in db.query(
            "SELECT name FROM sqlite_master WHERE type = 'table' "
            "AND name NOT LIKE 'sqlite_%' ORDER BY name"
        )
    ]
    return {name: int(db.scalar(f'SELECT count(*) FROM "{name}"')) for name in names}


def audit_head(db: Database) -> tuple[int, str] | None:
    rows = db.query("SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1")
    return (int(rows[0][0]), str(rows[0][1])) if rows else None


def audit_hash(db: Database, seq: int) -> str | None:
    value = db.scalar("SELECT hash FROM audit_log WHERE seq = ?", (seq,))
    return None if value is None else str(value)
