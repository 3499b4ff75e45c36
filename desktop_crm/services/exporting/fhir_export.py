"""One patient's record as a FHIR R4 ``collection`` Bundle.

The Bundle holds the Patient and the resources that *contributors* add for
that patient.  Visits (as Encounters) are the first contributor; appointments
and communications register theirs when those features land (see
:data:`CONTRIBUTORS`), so this module never needs to know about them.
"""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from desktop_crm.services import settings_keys
from desktop_crm.services.exporting.record_fields import address_parts
from desktop_crm.services.patient_model import Patient
from desktop_crm.services.patients import MRN_SYSTEM, load_patient
from desktop_crm.services.session import Session
from desktop_crm.storage import patient_queries
from desktop_crm.storage.writepath import AuditEvent

log = logging.getLogger(__name__)

Resource = dict[str, Any]

V2_0203 = "http://terminology.hl7.org/CodeSystem/v2-0203"
V2_0131 = "http://terminology.hl7.org/CodeSystem/v2-0131"
ACT_CODE = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
NULL_FLAVOR = "http://terminology.hl7.org/CodeSystem/v3-NullFlavor"
BCP47 = "urn:ietf:bcp:47"
GENDER_IDENTITY_URL = "http://hl7.org/fhir/StructureDefinition/patient-genderIdentity"
PRONOUNS_URL = "http://hl7.org/fhir/StructureDefinition/individual-pronouns"
#: Namespace for stable ``urn:uuid:`` full URLs of records whose id is no UUID.
_URL_NAMESPACE = uuid.UUID("7d1c4f0e-5b8a-4f43-9a57-1c2f3e6a9b10")

_NAME_USES = {"usual", "official", "temp", "nickname", "anonymous", "old", "maiden"}
_CONTACT_USES = {"home", "work", "temp", "old", "mobile"}
_GENDERS = {"female": "female", "male": "male", "intersex": "other"}
_ENCOUNTER_STATUSES = {
    "planned",
    "arrived",
    "triaged",
    "in-progress",
    "onleave",
    "finished",
    "cancelled",
    "entered-in-error",
    "unknown",
}
_ACT_CODES = {"AMB", "EMER", "FLD", "HH", "IMP", "ACUTE", "NONAC", "OBSENC", "PRENC"}
_ACT_CODES |= {"SS", "VR"}
_FHIR_ID = re.compile(r"^[A-Za-z0-9\-.]{1,64}$")
_FHIR_DATE = re.compile(r"^\d{4}(-\d{2}(-\d{2})?)?$")
_LANGUAGE_TAG = re.compile(r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8})*$")


@dataclass(frozen=True)
class ExportContext:
    """What a contributor gets: the session, the patient and a reference helper."""

    session: Session
    patient: Patient
    patient_reference: str
    zone: tzinfo


#: Functions that add resources about one patient to the Bundle.  Later
#: features (appointments, communications) append theirs at import time.
Contributor = Callable[[ExportContext], Iterable[Resource]]
CONTRIBUTORS: list[Contributor] = []


def register_contributor(contributor: Contributor) -> Contributor:
    """Add a contributor (usable as a decorator); each one is added once."""
    if contributor not in CONTRIBUTORS:
        CONTRIBUTORS.append(contributor)
    return contributor


def full_url(record_id: str) -> str:
    """A stable absolute ``urn:uuid:`` URL for a record id."""
    try:
        return uuid.UUID(record_id).urn
    except ValueError:
        return uuid.uuid5(_URL_NAMESPACE, record_id).urn


def _with_id(resource: Resource, record_id: str) -> Resource:
    return {"id": record_id, **resource} if _FHIR_ID.match(record_id) else resource


def fhir_datetime(value: str | None, zone: tzinfo) -> str | None:
    """A stored date or date-time as a FHIR dateTime (times get a zone).

    Times without an offset are taken as the practice's local time.
    Returns None for anything that is no date.
    """
    text = (value or "").strip()
    if not text or _FHIR_DATE.match(text):
        return text or None
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=zone)
    return moment.isoformat()


# -- Patient -----------------------------------------------------------------


def _names(patient: Patient) -> list[Resource]:
    official: Resource = {"use": "official", "family": patient.family}
    given = [g for g in (patient.given, patient.middle) if g]
    if given:
        official["given"] = given
    if patient.prefix:
        official["prefix"] = [patient.prefix]
    if patient.suffix:
        official["suffix"] = [patient.suffix]
    names = [official]
    if patient.preferred_name:
        names.append({"use": "usual", "given": [patient.preferred_name]})
    for old in patient.previous_names:
        name: Resource = {"use": old.use if old.use in _NAME_USES else "old"}
        if old.family:
            name["family"] = old.family
        if old.given:
            name["given"] = [old.given]
        names.append(name)
    return names


def _mrn(value: str) -> Resource:
    coding = {"system": V2_0203, "code": "MR", "display": "Medical record number"}
    return {
        "use": "usual",
        "type": {"coding": [coding]},
        "system": MRN_SYSTEM,
        "value": value,
    }


def _identifiers(patient: Patient) -> list[Resource]:
    out: list[Resource] = []
    ordered = sorted(patient.identifiers, key=lambda i: i.system != MRN_SYSTEM)
    for ident in ordered:
        if ident.system == MRN_SYSTEM:
            out.append(_mrn(ident.value))
        elif ident.label:
            out.append(
                {"type": {"text": ident.label}, "system": ident.system}
                | {"value": ident.value}
            )
        else:
            out.append({"system": ident.system, "value": ident.value})
    if patient.mrn and not any(i.system == MRN_SYSTEM for i in patient.identifiers):
        out.insert(0, _mrn(patient.mrn))
    return out


def _telecom(patient: Patient) -> list[Resource]:
    out: list[Resource] = []
    for system, points in (("phone", patient.phones), ("email", patient.emails)):
        for point in points:
            item: Resource = {"system": system, "value": point.value}
            if point.use in _CONTACT_USES:
                item["use"] = point.use
            out.append(item)
    return out


def _address(patient: Patient) -> list[Resource]:
    parts = address_parts(patient.address)
    fhir_names = {"postal_code": "postalCode"}
    address: Resource = {}
    if parts["line"]:
        address["line"] = parts["line"]
    for name in ("city", "district", "state", "postal_code", "country"):
        if parts[name]:
            address[fhir_names.get(name, name)] = " ".join(parts[name])
    text = str(patient.address.get("text", "")).strip()
    if text:
        address["text"] = text
    return [address] if address else []


def _language(code: str) -> Resource:
    if _LANGUAGE_TAG.match(code):
        return {"coding": [{"system": BCP47, "code": code}]}
    return {"text": code}


def _extensions(patient: Patient) -> list[Resource]:
    out: list[Resource] = []
    if patient.gender_identity:
        out.append(
            {
                "url": GENDER_IDENTITY_URL,
                "valueCodeableConcept": {"text": patient.gender_identity},
            }
        )
    if patient.pronouns:
        value = {"url": "value", "valueCodeableConcept": {"text": patient.pronouns}}
        out.append({"url": PRONOUNS_URL, "extension": [value]})
    return out


def _contact(patient: Patient) -> list[Resource]:
    contact = patient.emergency_contact
    name = str(contact.get("name", "")).strip()
    phone = str(contact.get("phone", "")).strip()
    relationship = str(contact.get("relationship", "")).strip()
    if not (name or phone):
        return []
    item: Resource = {
        "relationship": [
            {
                "coding": [
                    {"system": V2_0131, "code": "C", "display": "Emergency Contact"}
                ]
            }
        ]
    }
    if relationship:
        item["relationship"].append({"text": relationship})
    if name:
        item["name"] = {"text": name}
    if phone:
        item["telecom"] = [{"system": "phone", "value": phone}]
    return [item]


def patient_resource(patient: Patient) -> Resource:
    """The FHIR R4 Patient for a record (every field FHIR has a place for)."""
    resource: Resource = {
        "resourceType": "Patient",
        "extension": _extensions(patient),
        "identifier": _identifiers(patient),
        "active": patient.status != "inactive",
        "name": _names(patient),
        "telecom": _telecom(patient),
        "address": _address(patient),
        "contact": _contact(patient),
    }
    gender = _GENDERS.get(patient.sex_at_birth, patient.sex_at_birth and "unknown")
    if gender:
        resource["gender"] = gender
    if patient.birth_date:
        resource["birthDate"] = patient.birth_date
    if patient.deceased_date:
        resource["deceasedDateTime"] = patient.deceased_date
    elif patient.status == "deceased":
        resource["deceasedBoolean"] = True
    if patient.language:
        lang = _language(patient.language)
        resource["communication"] = [{"language": lang, "preferred": True}]
    resource = {k: v for k, v in resource.items() if v not in ([], {}, "")}
    return _with_id(resource, patient.id)


# -- visits --------------------------------------------------------------------


def _encounter_class(code: str) -> Resource:
    if code.upper() in _ACT_CODES:
        return {"system": ACT_CODE, "code": code.upper()}
    if code:
        return {"display": code}
    return {"system": NULL_FLAVOR, "code": "UNK", "display": "unknown"}


def encounter_resource(visit: dict[str, Any], context: ExportContext) -> Resource:
    """A stored visit as a FHIR R4 Encounter of the exported patient."""
    status = str(visit.get("status") or "").lower()
    resource: Resource = {
        "resourceType": "Encounter",
        "status": status if status in _ENCOUNTER_STATUSES else "unknown",
        "class": _encounter_class(str(visit.get("class") or "")),
        "subject": {"reference": context.patient_reference},
    }
    if visit.get("type"):
        resource["type"] = [{"text": str(visit["type"])}]
    if visit.get("provider"):
        resource["participant"] = [{"individual": {"display": str(visit["provider"])}}]
    period = {
        name: stamp
        for name in ("start", "end")
        if (stamp := fhir_datetime(visit.get(name), context.zone))
    }
    if period:
        resource["period"] = period
    return _with_id(resource, str(visit["id"]))


@register_contributor
def visit_encounters(context: ExportContext) -> Iterable[Resource]:
    """The patient's visits as Encounters, oldest first."""
    db = context.session.database()
    for visit in patient_queries.visits(db, context.patient.id):
        yield encounter_resource(visit, context)


# -- the Bundle ------------------------------------------------------------------


def _practice_zone(session: Session) -> tzinfo:
    try:
        return ZoneInfo(session.setting(settings_keys.PRACTICE_TZ, "UTC"))
    except (ZoneInfoNotFoundError, ValueError):
        return UTC


def _entry(resource: Resource, record_id: str | None = None) -> Resource:
    key = record_id or str(resource.get("id") or uuid.uuid4())
    return {"fullUrl": full_url(key), "resource": resource}


def build_bundle(
    session: Session, patient: Patient, generated: datetime | None = None
) -> Resource:
    """The Bundle for an already loaded patient (no permission check, no audit)."""
    reference = full_url(patient.id)
    context = ExportContext(session, patient, reference, _practice_zone(session))
    entries = [_entry(patient_resource(patient), patient.id)]
    for contributor in CONTRIBUTORS:
        entries += [_entry(r) for r in contributor(context)]
    return {
        "resourceType": "Bundle",
        "id": str(uuid.uuid4()),
        "type": "collection",
        "timestamp": (generated or datetime.now(UTC)).isoformat(timespec="seconds"),
        "entry": entries,
    }


def patient_bundle(session: Session, patient_id: str) -> Resource:
    """Export one patient as a FHIR R4 collection Bundle (a JSON-ready dict).

    Audited as ``patient.export`` with outcome ``fhir``.

    Raises:
        NotPermitted: the user lacks ``patients.export``.
        PatientNotFound: no patient with that id.
    """
    session.require("patients.export")
    patient = load_patient(session, patient_id)
    bundle = build_bundle(session, patient)
    session.write(AuditEvent("patient.export", "patient", patient_id, outcome="fhir"))
    log.info("patient %s exported as FHIR", patient_id)
    return bundle
