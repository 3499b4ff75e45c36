"""Appointments and communications in a patient's FHIR R4 export."""

from __future__ import annotations

from collections.abc import Iterable

from desktop_crm.services.exporting.fhir_export import (
    ExportContext,
    Resource,
    register_contributor,
)
from desktop_crm.services.scheduling import appointments, communications
from desktop_crm.services.scheduling.model import Appointment
from desktop_crm.services.scheduling.timezones import utc_text
from desktop_crm.storage import schedule_queries

_MEDIUM = "http://terminology.hl7.org/CodeSystem/v3-ParticipationMode"
_MEDIUM_CODES = {
    "call": "PHONE",
    "email": "EMAILWRIT",
    "sms": "SMSWRIT",
    "letter": "MAILWRIT",
    "portal": "ELECWRIT",
}
_SERVICE_TYPE = {"video": "Video visit", "phone": "Telephone visit"}


def appointment_resource(appt: Appointment, context: ExportContext) -> Resource:
    """One appointment as a FHIR R4 Appointment of the exported patient."""
    resource: Resource = {
        "resourceType": "Appointment",
        "id": appt.id,
        "status": appt.status,
        "start": utc_text(appt.start),
        "end": utc_text(appt.end),
        "minutesDuration": appt.duration_min,
        "serviceType": [{"text": _SERVICE_TYPE.get(appt.modality, "In-person visit")}],
        "participant": [
            {"actor": {"reference": context.patient_reference}, "status": "accepted"}
        ],
    }
    if appt.reason:
        resource["reasonCode"] = [{"text": appt.reason}]
    if appt.status == "cancelled" and appt.cancel_reason:
        resource["cancelationReason"] = {"text": appt.cancel_reason}
    return resource


@register_contributor
def patient_appointments(context: ExportContext) -> Iterable[Resource]:
    """The patient's appointments (series expanded), reasons as the viewer may."""
    session = context.session
    if session.locked or not _allowed(session, "appointments.read"):
        return []
    found = appointments.patient_appointments(session, context.patient.id)
    return [appointment_resource(a, context) for a in found]


@register_contributor
def patient_communications(context: ExportContext) -> Iterable[Resource]:
    """The patient's communication log as FHIR R4 Communications."""
    session = context.session
    if not _allowed(session, "communications.read"):
        return []
    rows = schedule_queries.patient_communications(
        session.database(), context.patient.id
    )
    found = []
    for row in rows:
        entry = communications._from_row(row)
        resource: Resource = {
            "resourceType": "Communication",
            "id": entry.id,
            "status": "completed",
            "subject": {"reference": context.patient_reference},
            "medium": [
                {"coding": [{"system": _MEDIUM, "code": _MEDIUM_CODES[entry.channel]}]}
            ],
            "sent" if entry.direction == "out" else "received": utc_text(entry.at)
            if entry.at
            else None,
        }
        party = "recipient" if entry.direction == "out" else "sender"
        resource[party] = (
            [{"reference": context.patient_reference}]
            if party == "recipient"
            else {"reference": context.patient_reference}
        )
        if entry.subject:
            resource["topic"] = {"text": entry.subject}
        if entry.body:
            resource["payload"] = [{"contentString": entry.body}]
        found.append(resource)
    return found


def _allowed(session: object, permission: str) -> bool:
    from desktop_crm.services.roles import allows

    return allows(getattr(session, "roles", ()), permission)
