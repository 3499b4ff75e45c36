"""Roles and the permissions this issue's actions need.

The full permission matrix arrives with the access-control issue; the vault
actions here need only these.
"""

from __future__ import annotations

from collections.abc import Iterable

from desktop_crm.errors import InvalidInput

ROLES = ("admin", "provider", "front-desk", "biller", "auditor")
SERVICE_ROLE = "service"

PERMISSIONS: dict[str, frozenset[str]] = {
    "users.manage": frozenset({"admin"}),
    "settings.manage": frozenset({"admin"}),
    "keys.manage": frozenset({"admin"}),
    "vault.status": frozenset({*ROLES, SERVICE_ROLE}),
}


def parse_roles(text: str | Iterable[str]) -> tuple[str, ...]:
    """Validate a comma-separated role list (or an iterable of roles)."""
    items = text.split(",") if isinstance(text, str) else list(text)
    roles = tuple(dict.fromkeys(r.strip().lower() for r in items if r.strip()))
    if not roles:
        raise InvalidInput("role", "give at least one role")
    unknown = [r for r in roles if r not in ROLES]
    if unknown:
        raise InvalidInput(
            "role", f"unknown role '{unknown[0]}' (choose from {', '.join(ROLES)})"
        )
    return roles


def allows(roles: Iterable[str], permission: str) -> bool:
    return bool(PERMISSIONS.get(permission, frozenset()) & set(roles))
