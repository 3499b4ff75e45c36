"""Roles and the permissions of the actions built so far.

The full permission matrix, written out in docs/permissions.md, arrives with
the access-control issue (#6); these entries follow its outline.
"""

from __future__ import annotations

from collections.abc import Iterable

from desktop_crm.errors import InvalidInput

ROLES = ("admin", "provider", "front-desk", "biller", "auditor")
SERVICE_ROLE = "service"

_DEMOGRAPHICS = frozenset({"admin", "provider", "front-desk"})

PERMISSIONS: dict[str, frozenset[str]] = {
    "patients.read": _DEMOGRAPHICS | {"biller"},
    "patients.write": _DEMOGRAPHICS,
    "patients.import": frozenset({"admin", "front-desk"}),
    "patients.export": _DEMOGRAPHICS,
    "patients.merge": frozenset({"admin", "front-desk"}),
    "documents.read": _DEMOGRAPHICS,
    "documents.write": _DEMOGRAPHICS,
    "users.manage": frozenset({"admin"}),
    "settings.manage": frozenset({"admin"}),
    "keys.manage": frozenset({"admin"}),
    "vault.status": frozenset({*ROLES, SERVICE_ROLE}),
    "appointments.read": _DEMOGRAPHICS | {"biller"},
    "appointments.write": _DEMOGRAPHICS,
    "visits.notes": frozenset({"provider"}),
    "communications.read": _DEMOGRAPHICS,
    "communications.write": _DEMOGRAPHICS,
    "reminders.run": frozenset({"admin", "front-desk", SERVICE_ROLE}),
    "calendar.export": _DEMOGRAPHICS,
    "backup.create": frozenset({"admin", SERVICE_ROLE}),
    "backup.manage": frozenset({"admin"}),
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
