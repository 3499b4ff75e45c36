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
            "break_glass",
            "id",
            "id user_id patient_id reason opened_at expires_at reviewed_at reviewed_by",
            synced=True,
        ),
        _spec(
            "patient_merges",
            "id",
            "id survivor_id retired_id moved merged_at undone_at",
            synced=True,
        ),
        # Schedule extras (issue #5, schema 8): hours, days off, waitlist, visits.
        _spec("provider_hours", "id", "id weekly updated_at", synced=True),
        _spec(
            "provider_days_off",
            "id",
            "id provider_id first_day last_day label created_at",
            synced=True,
        ),
        _spec(
            "waitlist",
            "id",
            "id patient_id provider_id zone weekdays windows earliest latest "
            "modality note status appointment_id created_at updated_at",
            synced=True,
        ),
        _spec(
            "virtual_visits",
            "id",
            "id appointment_id started_utc ended_utc modality platform link "
            "participants location_country location_state consent_method "
            "consent_utc consent_by problems note updated_at",
            synced=True,
        ),
        # Sync state (issue #7, schema 10): local to each workstation.
        _spec("sync_state", "key", "key value", synced=False),
        _spec("sync_key", "id", "id key", synced=False),
        _spec("field_clock", "id", "id record_type record_id field hlc", synced=False),
        _spec(
            "sync_conflicts",
            "id",
            "id record_type record_id field kept_value kept_hlc lost_value lost_hlc "
            "lost_device created_at resolved_at resolved_by",
            synced=False,
        ),
        _spec("sync_inbox", "id", "id workstation_id seq hlc applied_at", synced=False),
        # Schema 11: a user's TOTP secret, sealed under the practice sync key.
        _spec("user_totp", "id", "id sealed updated_at", synced=True),
    )
}


def register(spec: TableSpec) -> None:
    """Add a table (later features register theirs at import)."""
    TABLES[spec.name] = spec
