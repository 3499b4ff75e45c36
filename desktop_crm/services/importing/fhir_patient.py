"""FHIR R4 Patient, Practitioner and Encounter resources read into our records.

Pure functions, no database.  Problems that reject a resource raise
``InvalidInput`` naming the FHIR field; smaller problems come back as
warnings.  Names, dates and identifiers are kept exactly as given (Synthea's
digits in names are data).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from desktop_crm.errors import InvalidInput
from desktop_crm.services.patient_model import (
    ContactPoint,
    HumanName,
    Identifier,
    Patient,
)

BIRTHSEX_URL = "http://hl7.org/fhir/us/core/StructureDefinition/us-core-birthsex"
#: Identifies a resource that carries no identifier of its own, so that
#: importing it again finds it instead of adding it twice.
SOURCE_SYSTEM = "urn:desktop-crm:fhir-source"

_DATE = re.compile(r"^\d{4}(-(0[1-9]|1[0-2])(-(0[1-9]|[12]\d|3[01]))?)?$")
_DATETIME = re.compile(
    r"^\d{4}(-(0[1-9]|1[0-2])(-(0[1-9]|[12]\d|3[01])"
    r"(T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2}))?)?)?$"
)
_SEX = {"male": "male", "female": "female", "unknown": "unknown"}
_BIRTHSEX = {"M": "male", "F": "female", "UNK": "unknown"}
_PRIMARY_ORDER = ("official", None, "usual", "temp", "nickname", "old", "maiden")

#: The record's field labels (as validation names them) as FHIR paths.
LABELS = {
    "family name": "name.family",
    "given name": "name.given",
    "middle name": "name.given",
    "prefix": "name.prefix",
    "suffix": "name.suffix",
    "preferred name": "name (usual)",
    "previous name": "name (maiden or old)",
    "date of birth": "birthDate",
    "deceased date": "deceasedDateTime",
    "status": "deceased[x]",
    "identifier": "identifier",
    "identifier system": "identifier.system",
    "phone": "telecom",
    "e-mail": "telecom",
    "time zone": "timezone",
}


def strings(value: Any) -> list[str]:
    """A FHIR string or list of strings as a list (anything else ignored)."""
    items = value if isinstance(value, list) else [value]
    return [item.strip() for item in items if isinstance(item, str) and item.strip()]


def text(value: Any) -> str:
    return value.strip() if isinstance(value, str) else ""


def obj(value: Any) -> dict[str, Any]:
    """A FHIR complex value, or an empty one if it is missing or malformed."""
    return value if isinstance(value, dict) else {}


def dicts(value: Any) -> list[dict[str, Any]]:
    items = value if isinstance(value, list) else [value]
    return [item for item in items if isinstance(item, dict)]


def resource_label(resource: dict[str, Any]) -> str:
    kind = text(resource.get("resourceType")) or "resource"
    rid = text(resource.get("id"))
    return f"{kind}/{rid}" if rid else kind


# -- dates --------------------------------------------------------------------


def fhir_date(value: Any, field_name: str) -> str | None:
    """A FHIR ``date`` (YYYY, YYYY-MM or YYYY-MM-DD) kept with its precision."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise InvalidInput(field_name, "is not a date string")
    if "T" in value and _DATETIME.match(value):
        raise InvalidInput(
            field_name,
            "is a date-time; this field takes a date (YYYY, YYYY-MM or YYYY-MM-DD)",
        )
    if not _DATE.match(value):
        raise InvalidInput(
            field_name, "is not a valid date (use YYYY, YYYY-MM or YYYY-MM-DD)"
        )
    return value


def fhir_datetime_date(value: Any, field_name: str) -> str | None:
    """The date part of a FHIR ``dateTime`` (the local date, as recorded)."""
    if value is None:
        return None
    if not isinstance(value, str) or not _DATETIME.match(value):
        raise InvalidInput(field_name, "is not a valid date-time")
    return value.split("T", 1)[0]


def instant_utc(value: Any) -> str | None:
    """A period bound as UTC ISO text (a date without time is kept as given)."""
    if not isinstance(value, str) or not _DATETIME.match(value):
        return None
    if "T" not in value:
        return value
    moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return moment.astimezone(UTC).isoformat(timespec="seconds")


# -- names --------------------------------------------------------------------


def _primary(names: list[dict[str, Any]]) -> dict[str, Any] | None:
    for use in _PRIMARY_ORDER:
        for name in names:
            if name.get("use") == use and text(name.get("family")):
                return name
    return None


def _joined(name: dict[str, Any], family_too: bool) -> str:
    parts = strings(name.get("given"))
    if family_too and text(name.get("family")):
        parts.append(text(name.get("family")))
    return " ".join(parts) or text(name.get("text"))


def _name_fields(resource: dict[str, Any]) -> dict[str, Any]:
    names = dicts(resource.get("name"))
    primary = _primary(names)
    if primary is None:
        problem = "only a text name, no family name" if names else "no name"
        raise InvalidInput("name.family", problem)
    given = strings(primary.get("given"))
    fields: dict[str, Any] = {
        "family": text(primary.get("family")),
        "given": given[0] if given else "",
        "middle": " ".join(given[1:]),
        "prefix": " ".join(strings(primary.get("prefix"))),
        "suffix": " ".join(strings(primary.get("suffix"))),
    }
    previous = []
    for name in names:
        if name is primary:
            continue
        use = name.get("use")
        if use in ("usual", "nickname") and not fields.get("preferred_name"):
            other_family = text(name.get("family")) not in ("", fields["family"])
            fields["preferred_name"] = _joined(name, other_family)
        elif use in ("maiden", "old") and text(name.get("family")):
            previous.append(
                HumanName(
                    text(name.get("family")), " ".join(strings(name.get("given"))), use
                )
            )
    fields["previous_names"] = tuple(previous)
    return fields


# -- patient ------------------------------------------------------------------


def _sex(resource: dict[str, Any]) -> str:
    for ext in dicts(resource.get("extension")):
        if ext.get("url") == BIRTHSEX_URL:
            code = _BIRTHSEX.get(text(ext.get("valueCode")))
            if code:
                return code
    return _SEX.get(text(resource.get("gender")), "")


def _telecom(resource: dict[str, Any]) -> tuple[list[ContactPoint], list[ContactPoint]]:
    phones, emails = [], []
    for point in dicts(resource.get("telecom")):
        value, use = text(point.get("value")), text(point.get("use"))
        if not value:
            continue
        if point.get("system") in ("phone", "sms"):
            phones.append(ContactPoint(value, use))
        elif point.get("system") == "email":
            emails.append(ContactPoint(value, use))
    return phones, emails


def address(resource: dict[str, Any]) -> dict[str, str]:
    """The home (or first current) address, with the keys the record forms use."""
    found = [a for a in dicts(resource.get("address")) if a.get("use") != "old"]
    found.sort(key=lambda a: a.get("use") != "home")
    if not found:
        return {}
    chosen = found[0]
    lines = strings(chosen.get("line"))
    parts = {
        "line1": lines[0] if lines else "",
        "line2": ", ".join(lines[1:]),
        "city": text(chosen.get("city")),
        "district": text(chosen.get("district")),
        "state": text(chosen.get("state")),
        "postal_code": text(chosen.get("postalCode")),
        "country": text(chosen.get("country")),
    }
    kept = {k: v for k, v in parts.items() if v}
    if not kept and text(chosen.get("text")):
        kept["text"] = text(chosen.get("text"))
    return kept


def _language(resource: dict[str, Any]) -> str:
    comms = dicts(resource.get("communication"))
    comms.sort(key=lambda c: c.get("preferred") is not True)
    for comm in comms:
        language = comm.get("language")
        if not isinstance(language, dict):
            continue
        for coding in dicts(language.get("coding")):
            if text(coding.get("code")):
                return text(coding.get("code"))
        if text(language.get("text")):
            return text(language.get("text"))
    return ""


def identifiers(resource: dict[str, Any]) -> list[Identifier]:
    """Identifiers with their systems exactly as given (incomplete ones too)."""
    found = []
    for ident in dicts(resource.get("identifier")):
        kind = obj(ident.get("type"))
        codes = [text(c.get("code")) for c in dicts(kind.get("coding"))]
        label = text(kind.get("text")) or next((c for c in codes if c), "")
        found.append(
            Identifier(text(ident.get("system")), text(ident.get("value")), label)
        )
    return found


def source_identifier(resource: dict[str, Any], full_url: str) -> Identifier | None:
    """What identifies a resource that has no identifier of its own."""
    if full_url.startswith(("urn:uuid:", "urn:oid:", "http://", "https://")):
        return Identifier(SOURCE_SYSTEM, full_url, "FHIR source")
    if text(resource.get("id")):
        return Identifier(SOURCE_SYSTEM, resource_label(resource), "FHIR source")
    return None


def _deceased(resource: dict[str, Any]) -> tuple[str, str | None]:
    when = fhir_datetime_date(resource.get("deceasedDateTime"), "deceasedDateTime")
    if when or resource.get("deceasedBoolean") is True:
        return "deceased", when
    return ("inactive" if resource.get("active") is False else "active"), None


def patient_from_fhir(resource: dict[str, Any], full_url: str) -> Patient:
    """Our record for a FHIR Patient.

    Raises:
        InvalidInput: naming the FHIR field (``birthDate``, ``name.family`` …).
    """
    names = _name_fields(resource)
    birth = fhir_date(resource.get("birthDate"), "birthDate")
    status, deceased = _deceased(resource)
    phones, emails = _telecom(resource)
    idents = identifiers(resource)
    if not any(i.system and i.value for i in idents):
        fallback = source_identifier(resource, full_url)
        idents += [fallback] if fallback else []
    return Patient(
        **names,
        birth_date=birth,
        sex_at_birth=_sex(resource),
        phones=tuple(phones),
        emails=tuple(emails),
        address=address(resource),
        language=_language(resource),
        identifiers=tuple(idents),
        status=status,
        deceased_date=deceased,
    )


# -- practitioner -------------------------------------------------------------


@dataclass(frozen=True)
class Practitioner:
    """What the providers list keeps of a FHIR Practitioner."""

    family: str
    given: str
    display: str
    npi: str
    identifiers: tuple[tuple[str, str], ...]


def practitioner_from_fhir(
    resource: dict[str, Any], full_url: str, npi_system: str
) -> Practitioner:
    names = dicts(resource.get("name"))
    name = _primary(names) or (names[0] if names else {})
    family, given = text(name.get("family")), " ".join(strings(name.get("given")))
    prefix = " ".join(strings(name.get("prefix")))
    display = text(name.get("text")) or " ".join(
        p for p in (prefix, given, family) if p
    )
    pairs = [(i.system, i.value) for i in identifiers(resource) if i.system and i.value]
    if not pairs:
        fallback = source_identifier(resource, full_url)
        pairs += [(fallback.system, fallback.value)] if fallback else []
    npi = next((v for s, v in pairs if s == npi_system), "")
    return Practitioner(family, given, display, npi, tuple(dict.fromkeys(pairs)))


# -- encounter ----------------------------------------------------------------


def _coding_text(concept: Any) -> str:
    for item in dicts(concept):
        if text(item.get("text")):
            return text(item.get("text"))
        for coding in dicts(item.get("coding")):
            label = text(coding.get("display")) or text(coding.get("code"))
            if label:
                return label
    return ""


def encounter_provider(resource: dict[str, Any]) -> tuple[str, str]:
    """(reference, display) of the encounter's practitioner, if it names one."""
    for participant in dicts(resource.get("participant")):
        individual = participant.get("individual")
        if not isinstance(individual, dict):
            continue
        ref = text(individual.get("reference"))
        if ref.startswith("PractitionerRole") or ref.startswith("RelatedPerson"):
            continue
        if ref or text(individual.get("display")):
            return ref, text(individual.get("display"))
    return "", ""


def encounter_fields(resource: dict[str, Any]) -> dict[str, Any]:
    """Start, end, class, type and status of an encounter."""
    period = obj(resource.get("period"))
    klass = resource.get("class")
    return {
        "start": instant_utc(period.get("start")),
        "end": instant_utc(period.get("end")),
        "klass": text(klass.get("code")) if isinstance(klass, dict) else "",
        "type": _coding_text(resource.get("type")),
        "status": text(resource.get("status")),
    }
