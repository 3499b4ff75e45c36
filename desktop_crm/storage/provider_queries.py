"""Named read queries for providers and imported visits."""

from __future__ import annotations

from desktop_crm.storage.database import Database

PROVIDER_COLUMNS = "id, display, family, given, npi, timezone, source, user_id"


def all_providers(db: Database) -> list[tuple[str, ...]]:
    """Rows of PROVIDER_COLUMNS (user_id may be None), by display name."""
    rows = db.query(
        f"SELECT {PROVIDER_COLUMNS} FROM providers ORDER BY display COLLATE NOCASE"
    )
    return [tuple(None if v is None else str(v) for v in r) for r in rows]  # type: ignore[misc]


def provider_by_identifier(db: Database, system: str, value: str) -> str | None:
    """Lookup by the row's key, ``system|value`` (no scan)."""
    found = db.scalar(
        "SELECT provider_id FROM provider_identifiers WHERE id = ?",
        (f"{system}|{value}",),
    )
    return None if found is None else str(found)


def visit_by_source_key(
    db: Database, source_key: str
) -> tuple[str, str, str | None] | None:
    """(visit id, patient id, provider id) of the visit imported from a source."""
    rows = db.query(
        "SELECT id, patient_id, provider_id FROM visits WHERE source_key = ?",
        (source_key,),
    )
    if not rows:
        return None
    visit_id, patient_id, provider_id = rows[0]
    return (
        str(visit_id),
        str(patient_id),
        None if provider_id is None else str(provider_id),
    )
