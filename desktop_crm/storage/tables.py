"""The tables the write path may change, and their columns.

Identifiers never come from input: a mutation names a registered table, and
its values' keys must be registered columns, so no SQL is built from data.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class TableSpec:
    """A table the write path may change.

    ``bulk`` columns (document contents) are left out of change records,
    which carry their hash instead; sync moves the bytes separately.
    """

    name: str
    key: str
    columns: frozenset[str]
    synced: bool
    bulk: frozenset[str] = frozenset()


def _spec(
    name: str, key: str, columns: str, *, synced: bool, bulk: str = ""
) -> TableSpec:
    return TableSpec(
        name, key, frozenset(columns.split()), synced, frozenset(bulk.split())
    )


TABLES: dict[str, TableSpec] = {
    spec.name: spec
    for spec in (
        _spec("settings", "key", "key value", synced=True),
        _spec(
            "users",
            "id",
            "id name roles active created_at must_change_pin totp_enrolled "
            "needs_reset last_totp_step last_unlock_at",
            synced=True,
        ),
        _spec(
            "unlock_grants",
            "id",
            "id user_id workstation granted_at expires_at",
            synced=False,
        ),
        _spec(
            "patients",
            "id",
            "id mrn status deceased_date family given middle prefix suffix "
            "preferred_name previous_names birth_date sex_at_birth gender_identity "
            "pronouns phones emails address language preferred_contact "
            "emergency_contact insurance timezone notes merged_into created_at "
            "updated_at",
            synced=True,
        ),
        _spec(
            "patient_identifiers", "id", "id patient_id system value label", synced=True
        ),
        _spec(
            "providers",
            "id",
            "id user_id display family given npi timezone source created_at",
            synced=True,
        ),
        _spec("provider_identifiers", "id", "id provider_id system value", synced=True),
        _spec(
            "visits",
            "id",
            "id patient_id start end class type status provider_id provider_ref "
            "source_key",
            synced=True,
        ),
        _spec(
            "documents",
            "id",
            "id patient_id filename media_type size sha256 content created_at",
            synced=True,
            bulk="content",
        ),
        _spec(
            "patient_merges",
            "id",
            "id survivor_id retired_id moved merged_at undone_at",
            synced=True,
        ),
    )
}


def register(spec: TableSpec) -> None:
    """Add a table (later features register theirs at import)."""
    TABLES[spec.name] = spec
