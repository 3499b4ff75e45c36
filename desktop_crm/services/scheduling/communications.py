"""The communication log: calls, e-mails, SMS, letters and portal messages."""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

from desktop_crm.errors import InvalidInput
from desktop_crm.services.clock import Clock, SystemClock
from desktop_crm.services.patients import PatientNotFound
from desktop_crm.services.scheduling.timezones import from_utc_text, utc_text
from desktop_crm.services.session import Session
from desktop_crm.storage import patient_queries, schedule_queries
from desktop_crm.storage.writepath import AuditEvent, Mutation

log = logging.getLogger(__name__)

CHANNELS = ("call", "email", "sms", "letter", "portal")
DIRECTIONS = ("in", "out")
MAX_SUBJECT = 200
MAX_BODY = 20_000
RECENT_LIMIT = 500


@dataclass(frozen=True)
class Communication:
    """One logged contact with a patient."""

    patient_id: str
    channel: str
    direction: str
    subject: str = ""
    body: str = ""
    appointment_id: str | None = None
    at: datetime | None = None
    user_id: str | None = None
    id: str = ""


def mutation(
    session: Session, entry: Communication, *, clock: Clock | None = None
) -> tuple[str, Mutation]:
    """The checked row of ``entry`` (for services that write it with more)."""
    if entry.channel not in CHANNELS:
        raise InvalidInput("channel", f"choose one of {', '.join(CHANNELS)}")
    if entry.direction not in DIRECTIONS:
        raise InvalidInput("direction", "choose 'in' or 'out'")
    if len(entry.subject) > MAX_SUBJECT:
        raise InvalidInput("subject", f"use at most {MAX_SUBJECT} characters")
    if len(entry.body) > MAX_BODY:
        raise InvalidInput("body", f"use at most {MAX_BODY} characters")
    if patient_queries.patient_row(session.database(), entry.patient_id) is None:
        raise PatientNotFound
    at = entry.at or datetime.fromtimestamp((clock or SystemClock()).now(), UTC)
    entry_id = str(uuid.uuid4())
    values = {
        "patient_id": entry.patient_id,
        "appointment_id": entry.appointment_id,
        "at": utc_text(at),
        "user_id": session.user_id,
        "channel": entry.channel,
        "direction": entry.direction,
        "subject": entry.subject.strip(),
        "body": entry.body,
    }
    return entry_id, Mutation("communications", entry_id, "insert", values)


def log_communication(
    session: Session, entry: Communication, *, clock: Clock | None = None
) -> str:
    """Record a contact; returns its id.

    Raises:
        NotPermitted: the user lacks ``communications.write``.
        InvalidInput: an unknown channel or direction, or text too long.
    """
    session.require("communications.write")
    entry_id, row = mutation(session, entry, clock=clock)
    session.write(AuditEvent("communication.create", "communication", entry_id), [row])
    log.info("communication %s logged", entry_id)
    return entry_id


def for_patient(session: Session, patient_id: str) -> list[Communication]:
    """A patient's communications, oldest first (audited as one read)."""
    session.require("communications.read")
    rows = schedule_queries.patient_communications(session.database(), patient_id)
    session.write(AuditEvent("communication.list", "patient", patient_id))
    return [_from_row(r) for r in rows]


@dataclass(frozen=True)
class LoggedContact:
    """A communication with the names a practice-wide list shows."""

    communication: Communication
    patient_name: str
    user_name: str


def recent(
    session: Session,
    since_utc: datetime,
    until_utc: datetime,
    limit: int = RECENT_LIMIT,
) -> list[LoggedContact]:
    """The practice's communications from ``since_utc`` up to (not including)
    ``until_utc``, newest first, at most ``limit`` (audited as one read).

    Raises:
        NotPermitted: the user lacks ``communications.read``.
        InvalidInput: ``until`` before ``since``, or a limit below 1.
    """
    session.require("communications.read")
    if until_utc < since_utc:
        raise InvalidInput("until", "the end of the range is before its start")
    if limit < 1:
        raise InvalidInput("limit", "ask for at least one entry")
    rows = schedule_queries.communications_between(
        session.database(), utc_text(since_utc), utc_text(until_utc), limit
    )
    session.write(AuditEvent("communication.list", "practice"))
    return [
        LoggedContact(_from_row(r), _display_name(r), str(r["user_name"])) for r in rows
    ]


def _display_name(row: dict[str, object]) -> str:
    family, given = str(row["family"]), str(row["given"])
    return f"{family}, {given}" if given else family


def _from_row(row: dict[str, object]) -> Communication:
    return Communication(
        patient_id=str(row["patient_id"]),
        channel=str(row["channel"]),
        direction=str(row["direction"]),
        subject=str(row["subject"]),
        body=str(row["body"]),
        appointment_id=None
        if row["appointment_id"] is None
        else str(row["appointment_id"]),
        at=from_utc_text(str(row["at"])),
        user_id=None if row["user_id"] is None else str(row["user_id"]),
        id=str(row["id"]),
    )
