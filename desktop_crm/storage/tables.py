"""The tables the write path may change, and their columns.

Identifiers never come from input: a mutation names a registered table, and
its values' keys must be registered columns, so no SQL is built from data.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class TableSpec:
    """A table the write path may change."""

    name: str
    key: str
    columns: frozenset[str]
    synced: bool


def _spec(name: str, key: str, columns: str, *, synced: bool) -> TableSpec:
    return TableSpec(name, key, frozenset(columns.split()), synced)


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
    )
}


def register(spec: TableSpec) -> None:
    """Add a table (later features register theirs at import)."""
    TABLES[spec.name] = spec
