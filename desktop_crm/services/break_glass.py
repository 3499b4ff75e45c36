"""Break-glass: emergency read access to one patient's record, then review.

A user who holds ``patients.read`` but not everything a record shows (front
desk and billers cannot read visit notes or documents; an admin without the
provider role cannot read notes) may open that one record for a limited
time by stating a reason; so may a provider for a patient outside their
notes scope (one they do not see).  The grant widens only reading
(``session.BREAK_GLASS_PERMISSIONS``), never writing.  Users without
``patients.read`` (auditors, the unattended-task role) cannot use it: their
work does not include patient records, so an emergency does not either.

Each grant is written to the audit log as ``break_glass.open`` (outcome
``break-glass until <time>``), stays in a review queue until an admin marks
it reviewed (``break_glass.review``, audited), and raises a notice at every
admin's unlock while it waits.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass

from desktop_crm.errors import InvalidInput, NotPermitted
from desktop_crm.services.clock import from_iso, iso
from desktop_crm.services.patients import PatientNotFound
from desktop_crm.services.roles import allows, notes_scope
from desktop_crm.services.session import BREAK_GLASS_PERMISSIONS, Session
from desktop_crm.storage import (
    break_glass_queries,
    care_queries,
    patient_queries,
    queries,
)
from desktop_crm.storage.break_glass_queries import GrantRow
from desktop_crm.storage.writepath import AuditEvent, Mutation

log = logging.getLogger(__name__)

#: The setting holding how long a grant lasts, in hours.
HOURS_SETTING = "access.break_glass_hours"
DEFAULT_HOURS = 1.0
MAX_HOURS = 24.0
MIN_REASON = 10
MAX_REASON = 1000
#: What a requester must already hold.
BASE_PERMISSION = "patients.read"


@dataclass(frozen=True)
class Grant:
    """One break-glass access, as the review queue shows it."""

    id: str
    user_name: str
    patient_id: str
    reason: str
    opened_at: float
    expires_at: float
    reviewed_at: float | None
    reviewed_by: str

    @classmethod
    def from_row(cls, row: GrantRow) -> Grant:
        return cls(
            row.id,
            row.user_name,
            row.patient_id,
            row.reason,
            from_iso(row.opened_at),
            from_iso(row.expires_at),
            None if row.reviewed_at is None else from_iso(row.reviewed_at),
            row.reviewed_by,
        )


def hours(session: Session) -> float:
    """How long a grant lasts; a missing or unusable setting means 1 h."""
    raw = session.setting(HOURS_SETTING, str(DEFAULT_HOURS))
    try:
        value = float(raw)
    except ValueError:
        return DEFAULT_HOURS
    return value if 0 < value <= MAX_HOURS else DEFAULT_HOURS


def set_hours(session: Session, value: float) -> None:
    """Change how long new grants last (admin; 0 < hours <= 24)."""
    session.require("settings.manage")
    if not 0 < value <= MAX_HOURS:
        raise InvalidInput("hours", f"give more than 0 and at most {MAX_HOURS:g}")
    session.write(
        AuditEvent("settings.change", "settings", HOURS_SETTING),
        [Mutation("settings", HOURS_SETTING, "upsert", {"value": f"{value:g}"})],
    )


def check_reason(reason: str) -> str:
    text = reason.strip()
    if len(text) < MIN_REASON:
        raise InvalidInput(
            "reason", f"say why you need this record (at least {MIN_REASON} characters)"
        )
    if len(text) > MAX_REASON:
        raise InvalidInput("reason", f"use at most {MAX_REASON} characters")
    return text


def needs_break_glass(session: Session, patient_id: str | None = None) -> bool:
    """Whether this user's roles leave part of a record closed to them.

    With ``patient_id``, a provider counts too when that patient is outside
    their notes scope (not one they see, and the practice keeps it ``own``).
    """
    if not allows(session.roles, BASE_PERMISSION):
        return False
    if not all(allows(session.roles, p) for p in BREAK_GLASS_PERMISSIONS):
        return True
    if patient_id is None or session.user_id is None:
        return False
    return notes_scope(session) != "all" and not care_queries.user_sees_patient(
        session.database(), session.user_id, patient_id
    )


def open_grant(session: Session, patient_id: str, reason: str) -> Grant:
    """Open one patient's record for reading, for ``hours()``, with a reason.

    Raises:
        NotPermitted: the user lacks ``patients.read`` (auditors).
        InvalidInput: the reason is missing or too short ('reason'), or the
            user can already read the whole record ('patient').
        PatientNotFound: no patient with that id.
    """
    if session.user_id is None or not allows(session.roles, BASE_PERMISSION):
        raise NotPermitted(BASE_PERMISSION)
    text = check_reason(reason)
    patient_id = patient_id.strip()
    if not needs_break_glass(session, patient_id):
        raise InvalidInput(
            "patient", "you can already read this whole record: no emergency access"
        )
    if patient_queries.patient_row(session.database(), patient_id) is None:
        raise PatientNotFound
    now = session.clock.now()
    until = now + hours(session) * 3600
    grant_id = str(uuid.uuid4())
    values = {
        "user_id": session.user_id,
        "patient_id": patient_id,
        "reason": text,
        "opened_at": iso(now),
        "expires_at": iso(until),
    }
    session.write(
        AuditEvent(
            "break_glass.open",
            "patient",
            patient_id,
            outcome=f"break-glass until {iso(until)}",
        ),
        [Mutation("break_glass", grant_id, "insert", values)],
    )
    log.info("break-glass %s opened by user %s", grant_id, session.user_id)
    found = break_glass_queries.grant(session.database(), grant_id)
    assert found is not None
    return Grant.from_row(found)


def review_queue(session: Session, *, include_reviewed: bool = False) -> list[Grant]:
    """Grants waiting for review (or all of them), newest first (admin)."""
    session.require("break_glass.review")
    rows = break_glass_queries.grants(
        session.database(), unreviewed_only=not include_reviewed
    )
    return [Grant.from_row(r) for r in rows]


def waiting_count(session: Session) -> int:
    session.require("break_glass.review")
    return break_glass_queries.unreviewed_count(session.database())


def mark_reviewed(session: Session, grant_id: str) -> None:
    """Mark a grant reviewed (admin).

    An admin may not review their own grant while another active admin can.

    Raises:
        InvalidInput: no such grant, already reviewed, or your own ('id').
    """
    session.require("break_glass.review")
    db = session.database()
    row = break_glass_queries.grant(db, grant_id.strip())
    if row is None:
        raise InvalidInput("id", "no break-glass access with that id")
    if row.reviewed_at is not None:
        raise InvalidInput("id", "this break-glass access is already reviewed")
    if row.user_id == session.user_id and _other_admins(session):
        raise InvalidInput("id", "another admin must review your own break-glass")
    session.write(
        AuditEvent("break_glass.review", "break_glass", row.id),
        [
            Mutation(
                "break_glass",
                row.id,
                "update",
                {
                    "reviewed_at": iso(session.clock.now()),
                    "reviewed_by": session.user_id,
                },
            )
        ],
    )


def _other_admins(session: Session) -> bool:
    return any(
        u.active and "admin" in u.roles and u.id != session.user_id
        for u in queries.all_users(session.database())
    )
