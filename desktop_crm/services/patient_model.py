"""The patient record, aligned with FHIR R4 Patient, and its validation.

Validation names the field that is wrong.  Phone numbers go through
``phonenumbers`` and e-mail addresses through ``email-validator``; a date of
birth may be partial (YYYY or YYYY-MM, as FHIR allows) but not in the future.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import asdict, dataclass, field, replace
from datetime import date
from typing import Any

from desktop_crm.errors import InvalidInput

STATUSES = ("active", "inactive", "deceased")
SEXES = ("", "female", "male", "intersex", "unknown")
CONTACT_METHODS = ("", "phone", "sms", "email", "mail", "portal")
_PARTIAL_DATE = re.compile(r"^(\d{4})(?:-(\d{2})(?:-(\d{2}))?)?$")
MAX_TEXT = 200
MAX_NOTES = 20_000


@dataclass(frozen=True)
class HumanName:
    """A previous name (maiden name) or an alias."""

    family: str = ""
    given: str = ""
    use: str = "old"


@dataclass(frozen=True)
class ContactPoint:
    """A phone number or e-mail address with its own consent to reminders."""

    value: str
    use: str = ""
    reminders: bool = False


@dataclass(frozen=True)
class Identifier:
    """An identifier with its system (MRN, Synthea id, SSN …)."""

    system: str
    value: str
    label: str = ""


@dataclass(frozen=True)
class Patient:
    """A patient as the services see it."""

    family: str
    given: str = ""
    middle: str = ""
    prefix: str = ""
    suffix: str = ""
    preferred_name: str = ""
    previous_names: tuple[HumanName, ...] = ()
    birth_date: str | None = None
    sex_at_birth: str = ""
    gender_identity: str = ""
    pronouns: str = ""
    phones: tuple[ContactPoint, ...] = ()
    emails: tuple[ContactPoint, ...] = ()
    address: dict[str, str] = field(default_factory=dict)
    language: str = ""
    preferred_contact: str = ""
    emergency_contact: dict[str, str] = field(default_factory=dict)
    insurance: dict[str, str] = field(default_factory=dict)
    identifiers: tuple[Identifier, ...] = ()
    status: str = "active"
    deceased_date: str | None = None
    timezone: str = ""
    notes: str = ""
    id: str = ""
    mrn: str = ""

    def display_name(self) -> str:
        """``Family, Given Middle`` as lists and the command line show it."""
        first = " ".join(p for p in (self.given, self.middle) if p)
        return f"{self.family}, {first}" if first else self.family

    def to_columns(self) -> dict[str, Any]:
        """The row values of the ``patients`` table (identifiers excluded)."""
        import json

        return {
            "family": self.family,
            "given": self.given,
            "middle": self.middle,
            "prefix": self.prefix,
            "suffix": self.suffix,
            "preferred_name": self.preferred_name,
            "previous_names": json.dumps([asdict(n) for n in self.previous_names]),
            "birth_date": self.birth_date,
            "sex_at_birth": self.sex_at_birth,
            "gender_identity": self.gender_identity,
            "pronouns": self.pronouns,
            "phones": json.dumps([asdict(p) for p in self.phones]),
            "emails": json.dumps([asdict(e) for e in self.emails]),
            "address": json.dumps(self.address, sort_keys=True),
            "language": self.language,
            "preferred_contact": self.preferred_contact,
            "emergency_contact": json.dumps(self.emergency_contact, sort_keys=True),
            "insurance": json.dumps(self.insurance, sort_keys=True),
            "status": self.status,
            "deceased_date": self.deceased_date,
            "timezone": self.timezone,
            "notes": self.notes,
        }


def nfc(text: str) -> str:
    return unicodedata.normalize("NFC", text.strip())


def check_partial_date(
    value: str | None, field_name: str, *, today: date
) -> str | None:
    """Accept YYYY, YYYY-MM or YYYY-MM-DD (not in the future); None stays None."""
    if value is None or value == "":
        return None
    match = _PARTIAL_DATE.match(value.strip())
    if not match:
        raise InvalidInput(
            field_name, "is not a date (use YYYY, YYYY-MM or YYYY-MM-DD)"
        )
    year, month, day = match.groups()
    try:
        earliest = date(int(year), int(month or 1), int(day or 1))
    except ValueError as exc:
        raise InvalidInput(field_name, "is not a real date") from exc
    if earliest > today:
        raise InvalidInput(field_name, "cannot be in the future")
    if int(year) < 1850:
        raise InvalidInput(field_name, "is before 1850")
    return value.strip()


def _text(value: str, field_name: str, limit: int = MAX_TEXT) -> str:
    cleaned = nfc(value)
    if len(cleaned) > limit:
        raise InvalidInput(field_name, f"use at most {limit} characters")
    if any(unicodedata.category(c) == "Cc" and c not in "\n\t" for c in cleaned):
        raise InvalidInput(field_name, "contains control characters")
    return cleaned


def normalise_phone(value: str, field_name: str, region: str = "US") -> str:
    """Check a phone number; returns it in international format."""
    import phonenumbers

    try:
        parsed = phonenumbers.parse(value, region)
    except phonenumbers.NumberParseException as exc:
        raise InvalidInput(field_name, "is not a phone number") from exc
    if not phonenumbers.is_possible_number(parsed):
        raise InvalidInput(field_name, "is too short or too long for a phone number")
    return str(
        phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.INTERNATIONAL)
    )


def normalise_email(value: str, field_name: str) -> str:
    from email_validator import EmailNotValidError, validate_email

    try:
        result = validate_email(value.strip(), check_deliverability=False)
    except EmailNotValidError as exc:
        raise InvalidInput(field_name, "is not an e-mail address") from exc
    return str(result.normalized)


def validate(patient: Patient, *, today: date, region: str = "US") -> Patient:
    """Return the patient with text normalised (NFC), or raise naming the field."""
    family = _text(patient.family, "family name")
    if not family:
        raise InvalidInput("family name", "must not be empty")
    if patient.status not in STATUSES:
        raise InvalidInput("status", f"choose one of {', '.join(STATUSES)}")
    if patient.preferred_contact not in CONTACT_METHODS:
        raise InvalidInput(
            "preferred contact", f"choose one of {', '.join(CONTACT_METHODS[1:])}"
        )
    birth = check_partial_date(patient.birth_date, "date of birth", today=today)
    deceased = check_partial_date(patient.deceased_date, "deceased date", today=today)
    if deceased and patient.status != "deceased":
        raise InvalidInput(
            "status", "a patient with a deceased date must be 'deceased'"
        )
    phones = tuple(
        replace(p, value=normalise_phone(p.value, f"phone {i + 1}", region))
        for i, p in enumerate(patient.phones)
    )
    emails = tuple(
        replace(e, value=normalise_email(e.value, f"e-mail {i + 1}"))
        for i, e in enumerate(patient.emails)
    )
    identifiers = tuple(
        Identifier(
            _text(i.system, "identifier system"), _text(i.value, "identifier"), i.label
        )
        for i in patient.identifiers
    )
    if any(not i.value or not i.system for i in identifiers):
        raise InvalidInput("identifier", "needs both a system and a value")
    if patient.timezone:
        _check_zone(patient.timezone)
    return replace(
        patient,
        family=family,
        given=_text(patient.given, "given name"),
        middle=_text(patient.middle, "middle name"),
        prefix=_text(patient.prefix, "prefix"),
        suffix=_text(patient.suffix, "suffix"),
        preferred_name=_text(patient.preferred_name, "preferred name"),
        previous_names=tuple(
            HumanName(
                _text(n.family, "previous name"), _text(n.given, "previous name"), n.use
            )
            for n in patient.previous_names
        ),
        birth_date=birth,
        deceased_date=deceased,
        phones=phones,
        emails=emails,
        identifiers=identifiers,
        notes=_text(patient.notes, "notes", MAX_NOTES),
    )


def _check_zone(zone: str) -> None:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise InvalidInput("time zone", f"'{zone}' is not an IANA time zone") from exc


def parse_typed_month(text: str) -> str | None:
    """A year and month as typed (1987-04, 04/1987, 4/1987): ISO YYYY-MM or None."""
    text = text.strip()
    iso = re.fullmatch(r"(\d{4})-(\d{1,2})", text)
    us = re.fullmatch(r"(\d{1,2})/(\d{4})", text)
    if iso:
        year, month = int(iso.group(1)), int(iso.group(2))
    elif us:
        month, year = int(us.group(1)), int(us.group(2))
    else:
        return None
    if not 1 <= month <= 12 or not 1850 <= year <= 2200:
        return None
    return f"{year:04d}-{month:02d}"


def parse_typed_date(text: str) -> str | None:
    """A date as staff type it in a search box: 03/14/1985, 3/14/85, 1985-03-14.

    Slashed dates are month/day/year.  Two-digit years are read as the most
    recent past year with those digits.  Returns ISO YYYY-MM-DD or None.
    """
    text = text.strip()
    iso = re.fullmatch(r"(\d{4})-(\d{1,2})-(\d{1,2})", text)
    us = re.fullmatch(r"(\d{1,2})/(\d{1,2})/(\d{2}|\d{4})", text)
    try:
        if iso:
            y, m, d = (int(g) for g in iso.groups())
        elif us:
            m, d, y = (int(g) for g in us.groups())
            if len(us.group(3)) == 2:
                this_year = date.today().year
                y += 2000 if 2000 + y <= this_year else 1900
        else:
            return None
        return date(y, m, d).isoformat()
    except ValueError:
        return None
