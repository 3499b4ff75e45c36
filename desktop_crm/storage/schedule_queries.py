"""Tables and named read queries of scheduling (issue #5).

Importing this module registers the scheduling tables with the write path;
every scheduling service imports it, so a write never meets an unknown table.
Instants are stored as UTC ISO-8601 text of one fixed width, so text order is
time order and the range queries below use their indexes.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from desktop_crm.storage.database import Database
from desktop_crm.storage.tables import TableSpec, register

APPOINTMENT_COLUMNS = (
    "id patient_id provider_id start_utc end_utc zone duration_min modality "
    "video_link location reason status cancel_reason series_id recurrence_id "
    "created_at updated_at"
).split()
SERIES_COLUMNS = (
    "id patient_id provider_id zone local_start fold duration_min rrule first_utc "
    "last_end_utc modality video_link location reason status created_at updated_at"
).split()
COMMUNICATION_COLUMNS = (
    "id patient_id appointment_id at user_id channel direction subject body"
).split()
REMINDER_COLUMNS = (
    "id appointment_id patient_id offset_min channel address due_utc start_utc "
    "status attempts next_attempt_utc last_error sent_utc"
).split()

Row = dict[str, Any]


def _register() -> None:
    for name, columns in (
        ("appointments", APPOINTMENT_COLUMNS),
        ("appointment_series", SERIES_COLUMNS),
        ("communications", COMMUNICATION_COLUMNS),
        ("reminders", REMINDER_COLUMNS),
    ):
        register(TableSpec(name, "id", frozenset(columns), synced=True))


_register()


def _rows(
    db: Database, columns: list[str], sql: str, params: Sequence[Any]
) -> list[Row]:
    return [dict(zip(columns, r, strict=True)) for r in db.query(sql, tuple(params))]


def _select(table: str, columns: list[str]) -> str:
    return f"SELECT {', '.join(columns)} FROM {table}"


def appointment(db: Database, appointment_id: str) -> Row | None:
    found = _rows(
        db,
        APPOINTMENT_COLUMNS,
        _select("appointments", APPOINTMENT_COLUMNS) + " WHERE id = ?",
        [appointment_id],
    )
    return found[0] if found else None


def series(db: Database, series_id: str) -> Row | None:
    found = _rows(
        db,
        SERIES_COLUMNS,
        _select("appointment_series", SERIES_COLUMNS) + " WHERE id = ?",
        [series_id],
    )
    return found[0] if found else None


def appointments_between(
    db: Database, start_utc: str, end_utc: str, provider_id: str | None = None
) -> list[Row]:
    """Stored appointments (single ones and series exceptions) overlapping a range.

    The index on ``start_utc`` bounds the scan: no appointment lasts more
    than a day, so one starting a day before the range is the earliest that
    can reach into it.
    """
    sql = _select("appointments", APPOINTMENT_COLUMNS) + (
        " WHERE start_utc < ? AND start_utc >= ? AND end_utc > ?"
    )
    params: list[Any] = [end_utc, _day_before(start_utc), start_utc]
    if provider_id is not None:
        sql += " AND provider_id = ?"
        params.append(provider_id)
    return _rows(db, APPOINTMENT_COLUMNS, sql + " ORDER BY start_utc", params)


def _day_before(stamp: str) -> str:
    moment = datetime.fromisoformat(stamp) - timedelta(days=1)
    return moment.isoformat()


def series_between(
    db: Database, start_utc: str, end_utc: str, provider_id: str | None = None
) -> list[Row]:
    """Series whose span (first start to last end) overlaps a range."""
    sql = _select("appointment_series", SERIES_COLUMNS) + (
        " WHERE first_utc < ? AND last_end_utc > ?"
    )
    params: list[Any] = [end_utc, start_utc]
    if provider_id is not None:
        sql += " AND provider_id = ?"
        params.append(provider_id)
    return _rows(db, SERIES_COLUMNS, sql, params)


def exceptions_of(db: Database, series_ids: Sequence[str]) -> list[Row]:
    """Stored occurrences (edited or cancelled) of the given series."""
    found: list[Row] = []
    for start in range(0, len(series_ids), 500):
        chunk = list(series_ids[start : start + 500])
        marks = ", ".join("?" for _ in chunk)
        found += _rows(
            db,
            APPOINTMENT_COLUMNS,
            _select("appointments", APPOINTMENT_COLUMNS)
            + f" WHERE series_id IN ({marks})",
            chunk,
        )
    return found


def patient_appointments(db: Database, patient_id: str) -> list[Row]:
    return _rows(
        db,
        APPOINTMENT_COLUMNS,
        _select("appointments", APPOINTMENT_COLUMNS)
        + " WHERE patient_id = ? ORDER BY start_utc",
        [patient_id],
    )


def patient_series(db: Database, patient_id: str) -> list[Row]:
    return _rows(
        db,
        SERIES_COLUMNS,
        _select("appointment_series", SERIES_COLUMNS)
        + " WHERE patient_id = ? ORDER BY first_utc",
        [patient_id],
    )


def provider_series(db: Database, provider_id: str) -> list[Row]:
    return _rows(
        db,
        SERIES_COLUMNS,
        _select("appointment_series", SERIES_COLUMNS)
        + " WHERE provider_id = ? ORDER BY first_utc",
        [provider_id],
    )


def provider_appointments(db: Database, provider_id: str) -> list[Row]:
    return _rows(
        db,
        APPOINTMENT_COLUMNS,
        _select("appointments", APPOINTMENT_COLUMNS)
        + " WHERE provider_id = ? ORDER BY start_utc",
        [provider_id],
    )


def patient_communications(db: Database, patient_id: str) -> list[Row]:
    return _rows(
        db,
        COMMUNICATION_COLUMNS,
        _select("communications", COMMUNICATION_COLUMNS)
        + " WHERE patient_id = ? ORDER BY at",
        [patient_id],
    )


def communications_between(
    db: Database, since_utc: str, until_utc: str, limit: int
) -> list[Row]:
    """Practice-wide communications in ``[since, until)``, newest first.

    Each row also carries ``family`` and ``given`` of the patient and
    ``user_name`` of the user who logged it (empty if unknown).  The range
    is read through the ``communications_at`` index (schema 9).
    """
    columns = [*COMMUNICATION_COLUMNS, "family", "given", "user_name"]
    sql = (
        "SELECT "
        + ", ".join(f"c.{c}" for c in COMMUNICATION_COLUMNS)
        + ", coalesce(p.family, ''), coalesce(p.given, ''), coalesce(u.name, '')"
        " FROM communications c"
        " LEFT JOIN patients p ON p.id = c.patient_id"
        " LEFT JOIN users u ON u.id = c.user_id"
        " WHERE c.at >= ? AND c.at < ? ORDER BY c.at DESC, c.id LIMIT ?"
    )
    return _rows(db, columns, sql, [since_utc, until_utc, limit])


def reminder_ids_of(db: Database, appointment_ids: Sequence[str]) -> set[str]:
    """Ids of the reminder rows already planned for these appointments."""
    found: set[str] = set()
    for start in range(0, len(appointment_ids), 500):
        chunk = list(appointment_ids[start : start + 500])
        marks = ", ".join("?" for _ in chunk)
        rows = db.query(
            f"SELECT id FROM reminders WHERE appointment_id IN ({marks})", tuple(chunk)
        )
        found |= {str(r[0]) for r in rows}
    return found


def reminders_ready(db: Database, now_utc: str) -> list[Row]:
    """Pending reminders whose next attempt is due, oldest first."""
    return _rows(
        db,
        REMINDER_COLUMNS,
        _select("reminders", REMINDER_COLUMNS)
        + " WHERE status = 'pending' AND next_attempt_utc <= ? ORDER BY due_utc",
        [now_utc],
    )


def reminders_of(db: Database, appointment_id: str) -> list[Row]:
    return _rows(
        db,
        REMINDER_COLUMNS,
        _select("reminders", REMINDER_COLUMNS)
        + " WHERE appointment_id = ? ORDER BY offset_min DESC, address",
        [appointment_id],
    )


def count_reminders(db: Database, status: str) -> int:
    return int(db.scalar("SELECT count(*) FROM reminders WHERE status = ?", (status,)))


def patient_names(db: Database, patient_ids: Sequence[str]) -> dict[str, Row]:
    """id -> family, given, middle, timezone, language of the given patients."""
    found: dict[str, Row] = {}
    unique = list(dict.fromkeys(patient_ids))
    columns = ["id", "family", "given", "middle", "timezone", "language"]
    for start in range(0, len(unique), 500):
        chunk = unique[start : start + 500]
        marks = ", ".join("?" for _ in chunk)
        sql = _select("patients", columns) + f" WHERE id IN ({marks})"
        for row in _rows(db, columns, sql, chunk):
            found[str(row["id"])] = row
    return found
