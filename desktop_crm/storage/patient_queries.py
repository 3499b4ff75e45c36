"""Named read queries for patients, identifiers, visits and documents."""

from __future__ import annotations

import hashlib
import re
from typing import Any

from desktop_crm.storage import sync_queries
from desktop_crm.storage.database import Database

PATIENT_COLUMNS = (
    "id, mrn, status, deceased_date, family, given, middle, prefix, suffix, "
    "preferred_name, previous_names, birth_date, sex_at_birth, gender_identity, "
    "pronouns, phones, emails, address, language, preferred_contact, "
    "emergency_contact, insurance, timezone, notes, merged_into, created_at, "
    "updated_at"
)
_NAMES = [c.strip() for c in PATIENT_COLUMNS.split(",")]


def patient_row(db: Database, patient_id: str) -> dict[str, Any] | None:
    rows = db.query(
        f"SELECT {PATIENT_COLUMNS} FROM patients WHERE id = ?", (patient_id,)
    )
    return dict(zip(_NAMES, rows[0], strict=True)) if rows else None


def identifiers(db: Database, patient_id: str) -> list[tuple[str, str, str, str]]:
    """(row id, system, value, label) of one patient's identifiers."""
    rows = db.query(
        "SELECT id, system, value, label FROM patient_identifiers "
        "WHERE patient_id = ? ORDER BY system, value",
        (patient_id,),
    )
    return [(str(a), str(b), str(c), str(d)) for a, b, c, d in rows]


def patient_by_identifier(db: Database, system: str, value: str) -> str | None:
    # The row's key is "system|value": a key lookup, not a scan.
    found = db.scalar(
        "SELECT patient_id FROM patient_identifiers WHERE id = ?",
        (f"{system}|{value}",),
    )
    return None if found is None else str(found)


def next_mrn(db: Database) -> str:
    """The next MRN: seven digits, and on a synced vault a workstation tag.

    MRNs are zero-padded, so the text order of the unique index is numeric
    order and the newest is one index step away.  Workstations of a synced
    practice number patients while offline, so each adds a tag of its own
    (``0000013-3F9A``): two new patients made at once on two workstations
    never share an MRN.
    """
    top = db.scalar(
        "SELECT mrn FROM patients WHERE mrn GLOB '[0-9]*' ORDER BY mrn DESC LIMIT 1"
    )
    digits = re.match(r"[0-9]+", str(top or "0"))
    number = f"{int(digits.group(0) if digits else 0) + 1:07d}"
    workstation = sync_queries.state_value(db, sync_queries.WORKSTATION_ID)
    if not workstation:
        return number
    tag = hashlib.sha256(workstation.encode()).hexdigest()[:4].upper()
    return f"{number}-{tag}"


def names_with_birth_date(
    db: Database, birth_date: str, limit: int
) -> list[tuple[str, str, str]]:
    """(id, family, given) of at most ``limit`` unmerged patients born then."""
    rows = db.query(
        "SELECT id, family, given FROM patients "
        "WHERE birth_date = ? AND status != 'merged' LIMIT ?",
        (birth_date, limit),
    )
    return [(str(i), str(f or ""), str(g or "")) for i, f, g in rows]


#: Tables with a ``patient_id`` column whose rows a merge moves.
PER_PATIENT_TABLES = frozenset(
    {
        "visits",
        "documents",
        "patient_identifiers",
        "appointments",
        "appointment_series",
        "communications",
        "reminders",
        "waitlist",
    }
)


def rows_of(db: Database, table: str, patient_id: str) -> list[str]:
    """Ids of the rows of ``table`` that belong to a patient (for merges)."""
    if table not in PER_PATIENT_TABLES:
        raise ValueError(f"not a per-patient table: {table}")
    rows = db.query(f"SELECT id FROM {table} WHERE patient_id = ?", (patient_id,))
    return [str(r[0]) for r in rows]


def documents(db: Database, patient_id: str) -> list[tuple[str, str, str, int, str]]:
    """(id, filename, media type, size, created_at) of a patient's documents."""
    rows = db.query(
        "SELECT id, filename, media_type, size, created_at FROM documents "
        "WHERE patient_id = ? ORDER BY created_at",
        (patient_id,),
    )
    return [(str(a), str(b), str(c), int(d), str(e)) for a, b, c, d, e in rows]


def document_content(db: Database, document_id: str) -> tuple[str, str, bytes] | None:
    rows = db.query(
        "SELECT patient_id, filename, content FROM documents WHERE id = ?",
        (document_id,),
    )
    return (str(rows[0][0]), str(rows[0][1]), bytes(rows[0][2])) if rows else None


def visits(db: Database, patient_id: str) -> list[dict[str, Any]]:
    rows = db.query(
        "SELECT v.id, v.start, v.end, v.class, v.type, v.status, "
        "coalesce(p.display, v.provider_ref) FROM visits v "
        "LEFT JOIN providers p ON p.id = v.provider_id "
        "WHERE v.patient_id = ? ORDER BY v.start",
        (patient_id,),
    )
    keys = ("id", "start", "end", "class", "type", "status", "provider")
    return [dict(zip(keys, r, strict=True)) for r in rows]


def merge_row(db: Database, merge_id: str) -> tuple[str, str, str, str | None] | None:
    rows = db.query(
        "SELECT survivor_id, retired_id, moved, undone_at FROM patient_merges "
        "WHERE id = ?",
        (merge_id,),
    )
    if not rows:
        return None
    a, b, c, d = rows[0]
    return str(a), str(b), str(c), None if d is None else str(d)


def record_history(
    db: Database, record_type: str, record_id: str
) -> list[tuple[Any, ...]]:
    """Audit entries about one record: (at, user name, action, fields, outcome)."""
    return db.query(
        "SELECT a.at, coalesce(u.name, ''), a.action, a.fields, a.outcome "
        "FROM audit_log a LEFT JOIN users u ON u.id = a.user_id "
        "WHERE a.record_type = ? AND (a.record_id = ? OR a.record_id LIKE ? "
        "OR a.record_id LIKE ?) ORDER BY a.seq",
        (record_type, record_id, f"{record_id},%", f"%,{record_id}"),
    )


def settings_with_prefix(db: Database, prefix: str) -> list[tuple[str, str]]:
    """(key, value) of the settings whose key starts with ``prefix``, by key."""
    # A range on the primary key rather than LIKE (whose wildcards and case
    # folding would need escaping).
    rows = db.query(
        "SELECT key, value FROM settings WHERE key >= ? AND key < ? ORDER BY key",
        (prefix, prefix + "\U0010ffff"),
    )
    return [(str(k), str(v)) for k, v in rows]


def merges_of(
    db: Database, patient_id: str
) -> list[tuple[str, str, str, str, str | None]]:
    """(id, survivor, retired, merged_at, undone_at) of the merges touching a
    patient, newest first."""
    rows = db.query(
        "SELECT id, survivor_id, retired_id, merged_at, undone_at "
        "FROM patient_merges WHERE survivor_id = ? OR retired_id = ? "
        "ORDER BY merged_at DESC, rowid DESC",
        (patient_id, patient_id),
    )
    return [
        (str(a), str(b), str(c), str(d), None if e is None else str(e))
        for a, b, c, d, e in rows
    ]


def patient_history(db: Database, patient_id: str) -> list[tuple[Any, ...]]:
    """The patient's audit entries and those of its documents, oldest first:
    (at, user name, action, fields, outcome)."""
    return db.query(
        "SELECT a.at, coalesce(u.name, ''), a.action, a.fields, a.outcome "
        "FROM audit_log a LEFT JOIN users u ON u.id = a.user_id "
        "WHERE (a.record_type = 'patient' AND (a.record_id = ? "
        "OR a.record_id LIKE ? OR a.record_id LIKE ?)) "
        "OR (a.record_type = 'document' AND a.record_id IN "
        "(SELECT id FROM documents WHERE patient_id = ?)) "
        "ORDER BY a.seq",
        (patient_id, f"{patient_id},%", f"%,{patient_id}", patient_id),
    )
