"""Roles, the permission matrix, and the scope of clinical notes.

The matrix is written out in docs/permissions.md (a test keeps the two
equal).  ``visits.notes`` is further narrowed per patient by
``may_read_notes``: a provider reads the visit reasons and clinical notes of
the patients they see, unless the practice widens that to every patient
(setting ``access.provider_notes_scope``).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from desktop_crm.errors import InvalidInput
from desktop_crm.services import settings_keys
from desktop_crm.storage import care_queries

if TYPE_CHECKING:
    from desktop_crm.services.session import Session

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
    "audit.read": frozenset({"admin", "auditor"}),
    "audit.export": frozenset({"admin", "auditor"}),
    "reports.compliance": frozenset({"admin", "auditor"}),
    "break_glass.review": frozenset({"admin"}),
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


def notes_scope(session: Session) -> str:
    """The practice's provider notes scope: ``own`` (default) or ``all``.

    An unknown stored value counts as ``own``, the narrower scope.
    """
    value = session.setting(
        settings_keys.PROVIDER_NOTES_SCOPE, settings_keys.DEFAULT_PROVIDER_NOTES_SCOPE
    )
    return "all" if value == "all" else "own"


class NotesScope:
    """Whose visit reasons and clinical notes the session's user may read.

    Built once per read (a list of appointments asks per row): it needs the
    ``visits.notes`` permission, and then either the practice setting ``all``
    or an appointment, series or visit of the patient with a provider row
    linked to this user.  An unexpired break-glass grant for the patient
    opens that one patient's notes as well (``Session.break_glass_until``).
    """

    def __init__(self, session: Session) -> None:
        self._session = session
        self._permitted = allows(session.roles, "visits.notes")
        self._all = self._permitted and notes_scope(session) == "all"
        self._seen: set[str] | None = None
        self._glass: dict[str, bool] = {}

    def _sees(self, patient_id: str) -> bool:
        if self._seen is None:
            user_id = self._session.user_id
            db = self._session.database()
            self._seen = (
                care_queries.patients_seen_by_user(db, user_id) if user_id else set()
            )
        return patient_id in self._seen

    def _break_glass(self, patient_id: str) -> bool:
        if patient_id not in self._glass:
            until = self._session.break_glass_until(patient_id)
            self._glass[patient_id] = until is not None
        return self._glass[patient_id]

    def covers(self, patient_id: str) -> bool:
        if self._all or (self._permitted and self._sees(patient_id)):
            return True
        return self._break_glass(patient_id)


def may_read_notes(session: Session, patient_id: str) -> bool:
    """Whether the session's user may read this patient's notes and reasons."""
    if allows(session.roles, "visits.notes"):
        if notes_scope(session) == "all":
            return True
        user_id = session.user_id
        db = session.database()
        if user_id and care_queries.user_sees_patient(db, user_id, patient_id):
            return True
    return session.break_glass_until(patient_id) is not None
