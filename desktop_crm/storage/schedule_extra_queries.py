"""Named read queries of working hours, days off, the waitlist and visits.

The tables are created by schema 8 and registered in ``storage.tables``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from desktop_crm.storage.database import Database

Row = dict[str, Any]

DAY_OFF_COLUMNS = "id provider_id first_day last_day label created_at".split()
WAITLIST_COLUMNS = (
    "id patient_id provider_id zone weekdays windows earliest latest modality "
    "note status appointment_id created_at updated_at"
).split()
VIRTUAL_VISIT_COLUMNS = (
    "id appointment_id started_utc ended_utc modality platform link participants "
    "location_country location_state consent_method consent_utc consent_by "
    "problems note updated_at"
).split()
REMINDER_STATE_COLUMNS = "appointment_id status due_utc".split()


def _rows(
    db: Database, columns: list[str], sql: str, params: Sequence[Any] = ()
) -> list[Row]:
    return [dict(zip(columns, r, strict=True)) for r in db.query(sql, tuple(params))]


def _select(table: str, columns: list[str]) -> str:
    return f"SELECT {', '.join(columns)} FROM {table}"


def _chunks(ids: Sequence[str]) -> list[list[str]]:
    unique = list(dict.fromkeys(ids))
    return [unique[i : i + 500] for i in range(0, len(unique), 500)]


# -- working hours ---------------------------------------------------------------


def provider_hours(db: Database, provider_id: str) -> str | None:
    """The stored weekly hours (JSON text) of a provider, if any were set."""
    value = db.scalar("SELECT weekly FROM provider_hours WHERE id = ?", (provider_id,))
    return None if value is None else str(value)


def provider_zone(db: Database, provider_id: str) -> str | None:
    """The provider row's zone ('' when unset), or None for no such provider."""
    rows = db.query("SELECT timezone FROM providers WHERE id = ?", (provider_id,))
    if not rows:
        return None
    return "" if rows[0][0] is None else str(rows[0][0])


def provider_user(db: Database, provider_id: str) -> str | None:
    value = db.scalar("SELECT user_id FROM providers WHERE id = ?", (provider_id,))
    return None if value is None else str(value)


def days_off(
    db: Database, provider_id: str, first_day: str = "", last_day: str = "9999"
) -> list[Row]:
    """Days off of a provider that touch ``[first_day, last_day]`` (ISO dates)."""
    return _rows(
        db,
        DAY_OFF_COLUMNS,
        _select("provider_days_off", DAY_OFF_COLUMNS)
        + " WHERE provider_id = ? AND last_day >= ? AND first_day <= ?"
        " ORDER BY first_day",
        [provider_id, first_day, last_day],
    )


def day_off(db: Database, day_off_id: str) -> Row | None:
    found = _rows(
        db,
        DAY_OFF_COLUMNS,
        _select("provider_days_off", DAY_OFF_COLUMNS) + " WHERE id = ?",
        [day_off_id],
    )
    return found[0] if found else None


# -- waitlist ----------------------------------------------------------------------


def waitlist_entry(db: Database, entry_id: str) -> Row | None:
    found = _rows(
        db,
        WAITLIST_COLUMNS,
        _select("waitlist", WAITLIST_COLUMNS) + " WHERE id = ?",
        [entry_id],
    )
    return found[0] if found else None


def waiting(db: Database, provider_id: str | None = None) -> list[Row]:
    """Waiting entries, longest waiting first; for one provider, also 'any'."""
    sql = _select("waitlist", WAITLIST_COLUMNS) + " WHERE status = 'waiting'"
    params: list[Any] = []
    if provider_id is not None:
        sql += " AND (provider_id = ? OR provider_id IS NULL)"
        params.append(provider_id)
    return _rows(db, WAITLIST_COLUMNS, sql + " ORDER BY created_at, id", params)


# -- virtual visits ----------------------------------------------------------------


def virtual_visit(db: Database, visit_id: str) -> Row | None:
    found = _rows(
        db,
        VIRTUAL_VISIT_COLUMNS,
        _select("virtual_visits", VIRTUAL_VISIT_COLUMNS) + " WHERE id = ?",
        [visit_id],
    )
    return found[0] if found else None


def visit_of_appointment(db: Database, appointment_id: str) -> Row | None:
    found = _rows(
        db,
        VIRTUAL_VISIT_COLUMNS,
        _select("virtual_visits", VIRTUAL_VISIT_COLUMNS) + " WHERE appointment_id = ?",
        [appointment_id],
    )
    return found[0] if found else None


def visits_of_appointments(db: Database, appointment_ids: Sequence[str]) -> list[Row]:
    found: list[Row] = []
    for chunk in _chunks(appointment_ids):
        marks = ", ".join("?" for _ in chunk)
        found += _rows(
            db,
            VIRTUAL_VISIT_COLUMNS,
            _select("virtual_visits", VIRTUAL_VISIT_COLUMNS)
            + f" WHERE appointment_id IN ({marks})",
            chunk,
        )
    return found


def visit_patient(db: Database, visit_id: str) -> str | None:
    """The patient of a visit (through the ``visits`` row, kept on merges)."""
    value = db.scalar("SELECT patient_id FROM visits WHERE id = ?", (visit_id,))
    return None if value is None else str(value)


def visit_provider(db: Database, visit_id: str) -> str | None:
    value = db.scalar("SELECT provider_id FROM visits WHERE id = ?", (visit_id,))
    return None if value is None else str(value)


# -- the Today board -----------------------------------------------------------------


def reminder_states(db: Database, appointment_ids: Sequence[str]) -> list[Row]:
    """(appointment_id, status, due_utc) of the reminders of these appointments."""
    found: list[Row] = []
    for chunk in _chunks(appointment_ids):
        marks = ", ".join("?" for _ in chunk)
        found += _rows(
            db,
            REMINDER_STATE_COLUMNS,
            "SELECT appointment_id, status, due_utc FROM reminders"
            f" WHERE appointment_id IN ({marks})",
            chunk,
        )
    return found


def patient_emails(db: Database, patient_id: str) -> str:
    """The JSON list of a patient's e-mail contact points ('[]' when none)."""
    value = db.scalar("SELECT emails FROM patients WHERE id = ?", (patient_id,))
    return "[]" if value is None else str(value)


def communication_exists(db: Database, communication_id: str) -> bool:
    found = db.scalar("SELECT 1 FROM communications WHERE id = ?", (communication_id,))
    return found is not None
