"""FHIR R4 Appointments and Communications, imported after the run's patients.

An Appointment becomes an appointment when its patient and a practitioner
participant resolve to an imported (or already stored) patient and provider;
a Communication joins the communication log when its subject resolves.
Anything else is left out with a reason in the report: malformed fields are
*rejected*; a resource that is fine but cannot be placed (its patient or
practitioner not imported, a proposal without a time, entered in error) is
*skipped with a warning*, as encounters of unknown patients are.

Ids are derived from the source (``fhir:`` + fullUrl or ``Type/id``), so a
second import of the same files adds nothing.  Imports are history: no
double-booking or working-hours check applies.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from desktop_crm.errors import InvalidInput
from desktop_crm.services import settings_keys
from desktop_crm.services.importing import fhir_patient as fp
from desktop_crm.services.importing.patient_sink import Where
from desktop_crm.services.importing.report import ImportReport
from desktop_crm.services.scheduling.communications import MAX_BODY, MAX_SUBJECT
from desktop_crm.services.scheduling.model import MAX_DURATION, MAX_TEXT, MIN_DURATION
from desktop_crm.services.scheduling.timezones import utc_text
from desktop_crm.services.session import Session
from desktop_crm.storage import schedule_extra_queries, schedule_queries
from desktop_crm.storage.writepath import AuditEvent, Mutation

Resolver = Callable[[str], str | None]

_NAMESPACE = uuid.UUID("4a0b3c52-9f0e-4d7e-8c53-2f6d1e0b7a91")
_STATUSES = {
    "proposed": "proposed",
    "pending": "proposed",
    "waitlist": "proposed",
    "booked": "booked",
    "arrived": "arrived",
    "checked-in": "checked-in",
    "fulfilled": "fulfilled",
    "cancelled": "cancelled",
    "noshow": "noshow",
}
#: v3 ParticipationMode codes (and our own export's) -> channel.
_CHANNELS = {
    "PHONE": "call",
    "VIDEOCONF": "call",
    "EMAILWRIT": "email",
    "SMSWRIT": "sms",
    "MAILWRIT": "letter",
    "WRITTEN": "letter",
    "FAXWRIT": "letter",
    "ELECWRIT": "portal",
}


class LeftOut(Exception):
    """A well-formed resource that cannot be placed (a warning, not a rejection)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def source_id(key: str) -> str:
    """The stored id of an imported resource (stable across imports)."""
    return str(uuid.uuid5(_NAMESPACE, f"fhir:{key}"))


def _instant(value: Any, name: str) -> datetime:
    if not isinstance(value, str) or "T" not in value:
        raise InvalidInput(name, "is not an instant (date and time with a zone)")
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as exc:
        raise InvalidInput(
            name, "is not an instant (date and time with a zone)"
        ) from exc
    if moment.tzinfo is None:
        raise InvalidInput(name, "has no time zone")
    return moment.astimezone(UTC)


def _clip(value: str, limit: int) -> str:
    return value if len(value) <= limit else value[: limit - 1] + "…"


# -- reading resources -------------------------------------------------------------


def _actors(resource: dict[str, Any]) -> list[dict[str, Any]]:
    return [fp.obj(p.get("actor")) for p in fp.dicts(resource.get("participant"))]


def _modality(resource: dict[str, Any]) -> str:
    hints = [
        fp._coding_text(resource.get(k)) for k in ("serviceType", "appointmentType")
    ]
    hints += [
        fp.text(a.get("display")) for a in _actors(resource) if not a.get("reference")
    ]
    words = " ".join(hints).lower()
    if "video" in words or "virtual" in words:
        return "video"
    if "phone" in words or "telephone" in words:
        return "phone"
    return "in-person"


def _reason(resource: dict[str, Any]) -> str:
    parts = [fp._coding_text([c]) for c in fp.dicts(resource.get("reasonCode"))]
    parts += [
        fp.text(r.get("display")) for r in fp.dicts(resource.get("reasonReference"))
    ]
    return _clip("; ".join(p for p in parts if p), MAX_TEXT)


def _location(resource: dict[str, Any]) -> str:
    for actor in _actors(resource):
        if fp.text(actor.get("reference")).startswith("Location/"):
            return _clip(fp.text(actor.get("display")), MAX_TEXT)
    return ""


@dataclass(frozen=True)
class AppointmentDraft:
    """An Appointment read from a file, before its references resolve."""

    where: Where
    key: str
    status: str
    start: datetime
    duration_min: int
    refs: tuple[str, ...]
    modality: str
    location: str
    reason: str
    cancel_reason: str


def appointment_draft(
    where: Where, key: str, resource: dict[str, Any]
) -> AppointmentDraft:
    """Raises InvalidInput (rejected) or LeftOut (skipped with a warning)."""
    raw = fp.text(resource.get("status"))
    if raw == "entered-in-error":
        raise LeftOut("status: entered in error")
    if raw not in _STATUSES:
        raise InvalidInput("status", "is not an Appointment status")
    if resource.get("start") is None:
        raise LeftOut("start: no time yet (a request, not an appointment)")
    start = _instant(resource.get("start"), "start")
    if resource.get("end") is not None:
        minutes = int(
            (_instant(resource.get("end"), "end") - start).total_seconds() // 60
        )
    else:
        given = resource.get("minutesDuration")
        if not isinstance(given, int):
            raise InvalidInput("end", "no end and no minutesDuration")
        minutes = given
    if not MIN_DURATION <= minutes <= MAX_DURATION:
        raise InvalidInput(
            "end", f"the length must be {MIN_DURATION} to {MAX_DURATION} min"
        )
    return AppointmentDraft(
        where=where,
        key=key,
        status=_STATUSES[raw],
        start=start,
        duration_min=minutes,
        refs=tuple(
            fp.text(a.get("reference")) for a in _actors(resource) if a.get("reference")
        ),
        modality=_modality(resource),
        location=_location(resource),
        reason=_reason(resource),
        cancel_reason=_clip(
            fp._coding_text([resource.get("cancelationReason")]), MAX_TEXT
        ),
    )


@dataclass(frozen=True)
class CommunicationDraft:
    """A Communication read from a file, before its subject resolves."""

    where: Where
    key: str
    subject_ref: str
    sender_ref: str
    at: datetime
    channel: str
    topic: str
    body: str


def _payload(resource: dict[str, Any]) -> str:
    parts = []
    for item in fp.dicts(resource.get("payload")):
        if fp.text(item.get("contentString")):
            parts.append(fp.text(item.get("contentString")))
        attachment = fp.obj(item.get("contentAttachment"))
        if attachment:
            label = fp.text(attachment.get("title")) or fp.text(
                attachment.get("contentType")
            )
            parts.append(f"[attachment not imported: {label or 'untitled'}]")
        reference = fp.obj(item.get("contentReference"))
        if reference:
            parts.append(f"[see: {fp.text(reference.get('display')) or 'reference'}]")
    return "\n\n".join(parts)


def _channel(resource: dict[str, Any]) -> str:
    for concept in fp.dicts(resource.get("medium")):
        for coding in fp.dicts(concept.get("coding")):
            found = _CHANNELS.get(fp.text(coding.get("code")).upper())
            if found:
                return found
    return "portal"


def communication_draft(
    where: Where, key: str, resource: dict[str, Any]
) -> CommunicationDraft:
    """Raises InvalidInput (rejected) or LeftOut (skipped with a warning)."""
    if fp.text(resource.get("status")) == "entered-in-error":
        raise LeftOut("status: entered in error")
    subject = fp.text(fp.obj(resource.get("subject")).get("reference"))
    if not subject:
        raise LeftOut("subject: no patient reference")
    stamp = resource.get("sent") or resource.get("received")
    if stamp is None:
        raise LeftOut("sent: no time sent or received")
    at = _instant(stamp, "sent" if resource.get("sent") else "received")
    topic = fp._coding_text([resource.get("topic")]) or fp._coding_text(
        resource.get("category")
    )
    return CommunicationDraft(
        where=where,
        key=key,
        subject_ref=subject,
        sender_ref=fp.text(fp.obj(resource.get("sender")).get("reference")),
        at=at,
        channel=_channel(resource),
        topic=_clip(topic, MAX_SUBJECT),
        body=_clip(_payload(resource), MAX_BODY),
    )


# -- writing -----------------------------------------------------------------------


@dataclass
class ScheduleImport:
    """Collects a run's Appointments and Communications and writes them at
    the end, once every patient and practitioner of the run is known."""

    session: Session
    report: ImportReport
    dry_run: bool = False
    appointments: list[AppointmentDraft] = field(default_factory=list)
    communications: list[CommunicationDraft] = field(default_factory=list)

    def add(self, where: Where, key: str, resource: dict[str, Any]) -> None:
        kind = resource.get("resourceType")
        try:
            if kind == "Appointment":
                self.appointments.append(appointment_draft(where, key, resource))
            else:
                self.communications.append(communication_draft(where, key, resource))
        except InvalidInput as exc:
            self.report.reject(where.file, where.entry, exc.message)
        except LeftOut as exc:
            self._leave_out(where, exc.reason)

    def _leave_out(self, where: Where, reason: str) -> None:
        self.report.skipped += 1
        self.report.warn(where.file, where.entry, f"{reason}; left out")

    def finish(self, patients: Resolver, providers: Resolver) -> None:
        for draft in self.appointments:
            self._appointment(draft, patients, providers)
        for entry in self.communications:
            self._communication(entry, patients)
        self.appointments, self.communications = [], []

    def _first(self, refs: tuple[str, ...], resolve: Resolver) -> str | None:
        for ref in refs:
            found = resolve(ref)
            if found is not None:
                return found
        return None

    def _zone(self, provider_id: str) -> str:
        db = self.session.database()
        zone = schedule_extra_queries.provider_zone(db, provider_id) or ""
        return zone or self.session.setting(settings_keys.PRACTICE_TZ, "UTC") or "UTC"

    def _appointment(
        self, draft: AppointmentDraft, patients: Resolver, providers: Resolver
    ) -> None:
        patient_id = self._first(
            tuple(r for r in draft.refs if not r.startswith("Practitioner")), patients
        )
        if patient_id is None:
            self._leave_out(draft.where, "participant: no imported patient")
            return
        provider_id = self._first(
            tuple(r for r in draft.refs if not r.startswith("Patient")), providers
        )
        if provider_id is None:
            self._leave_out(draft.where, "participant: no imported practitioner")
            return
        appointment_id = source_id(draft.key)
        db = self.session.database()
        if schedule_queries.appointment(db, appointment_id) is not None:
            return
        self.report.appointments += 1
        if (
            self.dry_run
            or patient_id.startswith("dry-run:")
            or provider_id.startswith("dry-run:")
        ):
            return
        now = utc_text(datetime.now(UTC))
        end = draft.start.timestamp() + 60 * draft.duration_min
        values = {
            "patient_id": patient_id,
            "provider_id": provider_id,
            "start_utc": utc_text(draft.start),
            "end_utc": utc_text(datetime.fromtimestamp(end, UTC)),
            "zone": self._zone(provider_id),
            "duration_min": draft.duration_min,
            "modality": draft.modality,
            "location": draft.location,
            "reason": draft.reason,
            "status": draft.status,
            "cancel_reason": draft.cancel_reason if draft.status == "cancelled" else "",
            "created_at": now,
            "updated_at": now,
        }
        self.session.write(
            AuditEvent(
                "appointment.import", "patient", patient_id, fields=("appointments",)
            ),
            [Mutation("appointments", appointment_id, "insert", values)],
        )

    def _communication(self, entry: CommunicationDraft, patients: Resolver) -> None:
        patient_id = patients(entry.subject_ref)
        if patient_id is None:
            self._leave_out(entry.where, "subject: no imported patient")
            return
        entry_id = source_id(entry.key)
        db = self.session.database()
        if schedule_extra_queries.communication_exists(db, entry_id):
            return
        self.report.communications += 1
        if self.dry_run or patient_id.startswith("dry-run:"):
            return
        incoming = bool(entry.sender_ref) and patients(entry.sender_ref) == patient_id
        values = {
            "patient_id": patient_id,
            "appointment_id": None,
            "at": utc_text(entry.at),
            "user_id": None,
            "channel": entry.channel,
            "direction": "in" if incoming else "out",
            "subject": entry.topic,
            "body": entry.body,
        }
        self.session.write(
            AuditEvent(
                "communication.import",
                "patient",
                patient_id,
                fields=("communications",),
            ),
            [Mutation("communications", entry_id, "insert", values)],
        )
