"""Shared set-up for the working hours, waitlist, visit and Today board tests."""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

import desktop_crm.services.scheduling  # noqa: F401 - registers the tables
from desktop_crm.services import patients, providers
from desktop_crm.services.patient_model import Patient

NY = "America/New_York"


def add_provider(session, name: str = "Lee", zone: str = NY) -> str:
    provider_id, _ = providers.upsert_practitioner(
        session, name, "Sam", f"Dr {name}", "", [("urn:test", name.lower())], zone
    )
    return provider_id


def add_patient(session, family: str = "Rivera", zone: str = "") -> str:
    return patients.create_patient(
        session, Patient(family=family, given="Ana", timezone=zone)
    )


def at(day: date, hh: int, mm: int, zone: str) -> datetime:
    """An aware instant from a wall-clock time (never in a gap or fold here)."""
    return datetime(day.year, day.month, day.day, hh, mm, tzinfo=ZoneInfo(zone))


def unlock(harness, staff):
    return harness.service.unlock(staff.name, staff.pin, harness.code(staff.secret))
