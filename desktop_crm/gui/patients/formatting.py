"""Plain-text renderings of patient values for lists, labels and tables."""

from __future__ import annotations

import calendar
from collections.abc import Iterable, Mapping
from datetime import date, datetime

from desktop_crm.services.patient_model import ContactPoint, HumanName
from desktop_crm.services.patients import PatientSummary

STATUS_LABELS = {
    "active": "Active",
    "inactive": "Inactive",
    "deceased": "Deceased",
    "merged": "Merged",
}
SEX_LABELS = {
    "": "",
    "female": "Female",
    "male": "Male",
    "intersex": "Intersex",
    "unknown": "Unknown",
}
CONTACT_LABELS = {
    "": "",
    "phone": "Phone call",
    "sms": "Text message",
    "email": "E-mail",
    "mail": "Letter",
    "portal": "Patient portal",
}
# The record's address, emergency contact and insurance are free-form maps;
# these are the keys the forms write, in reading order.  Keys written by other
# sources (an import) are shown after them under their own names.
ADDRESS_KEYS = (
    ("line1", "Street"),
    ("line2", "Street, line 2"),
    ("city", "City"),
    ("state", "State"),
    ("postal_code", "Postal code"),
    ("country", "Country"),
)
EMERGENCY_KEYS = (
    ("name", "Name"),
    ("relationship", "Relationship"),
    ("phone", "Phone"),
)
INSURANCE_KEYS = (
    ("payer", "Payer"),
    ("member_id", "Member ID"),
    ("group", "Group"),
    ("subscriber", "Subscriber"),
)


def name_text(family: str, given: str = "", middle: str = "") -> str:
    """``Family, Given Middle``, as the list and the command line show it."""
    first = " ".join(p for p in (given, middle) if p)
    return f"{family}, {first}" if first else family


def summary_name(summary: PatientSummary) -> str:
    return name_text(summary.family, summary.given, summary.middle)


def is_partial_date(value: str | None) -> bool:
    return bool(value) and len(str(value)) < len("YYYY-MM-DD")


def date_text(value: str | None) -> str:
    """A date as given: ``1970``, ``March 1970`` or ``1984-02-29``."""
    if not value:
        return ""
    parts = value.split("-")
    if len(parts) == 2 and parts[1].isdigit() and 1 <= int(parts[1]) <= 12:
        return f"{calendar.month_name[int(parts[1])]} {parts[0]}"
    return value


def _age(value: str, today: date) -> int | None:
    parts = [int(p) for p in value.split("-") if p.isdigit()]
    if not parts:
        return None
    year, month, day = (parts + [1, 1])[:3]
    age = today.year - year
    if (today.month, today.day) < (month, day):
        age -= 1
    return age if age >= 0 else None


def birth_date_text(value: str | None, today: date) -> str:
    """Date of birth with the age; partial dates are marked approximate."""
    if not value:
        return "Not recorded"
    age = _age(value, today)
    shown = date_text(value)
    if is_partial_date(value):
        about = f", age about {age}" if age is not None else ""
        return f"{shown} (approximate{about})"
    return f"{shown} (age {age})" if age is not None else shown


def list_birth_date(value: str | None) -> str:
    """The list column: the date as given, partial dates with a ``~``."""
    if not value:
        return ""
    return f"~{date_text(value)}" if is_partial_date(value) else value


def contact_text(point: ContactPoint) -> str:
    """``+1 555-010-0142 (mobile) · reminders: yes``."""
    use = f" ({point.use})" if point.use else ""
    consent = "yes" if point.reminders else "no"
    return f"{point.value}{use} · reminders: {consent}"


def lines(values: Iterable[str]) -> str:
    return "\n".join(v for v in values if v)


def previous_names_text(names: Iterable[HumanName]) -> str:
    return lines(
        f"{name_text(n.family, n.given)} ({n.use})" if n.use else n.family
        for n in names
    )


def mapping_text(values: Mapping[str, str], keys: tuple[tuple[str, str], ...]) -> str:
    """Known keys first with their labels, then any other keys by name."""
    known = dict(keys)
    ordered = [k for k, _ in keys if values.get(k)]
    ordered += [k for k in values if k not in known and values.get(k)]
    return lines(
        f"{known.get(k, k.replace('_', ' ').capitalize())}: {values[k]}"
        for k in ordered
    )


def size_text(size: int) -> str:
    if size < 1024:
        return f"{size} bytes"
    if size < 1024 * 1024:
        return f"{size / 1024:.0f} KB"
    return f"{size / (1024 * 1024):.1f} MB"


def when_text(value: str) -> str:
    """A stored UTC timestamp in local time, to the minute."""
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return value
    return moment.astimezone().strftime("%Y-%m-%d %H:%M")


ACTION_LABELS = {
    "patient.create": "Created",
    "patient.view": "Opened",
    "patient.update": "Edited",
    "patient.merge": "Merged",
    "patient.unmerge": "Merge undone",
    "patient.import": "Imported",
    "document.attach": "Document attached",
    "document.view": "Document viewed",
    "document.save": "Document saved to disk",
    "document.export": "Document saved to disk",
}


def action_text(action: str) -> str:
    return ACTION_LABELS.get(action, action)
