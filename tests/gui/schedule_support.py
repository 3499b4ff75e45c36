"""Shared set-up for the Schedule screen tests: a clinic on a fixed day."""

from __future__ import annotations

from datetime import date, datetime

from desktop_crm.gui.worker import wait_for_tasks
from desktop_crm.services import patients, providers
from desktop_crm.services.patient_model import Patient
from desktop_crm.services.scheduling import appointments
from desktop_crm.services.scheduling.model import AppointmentRequest

CHI = "America/Chicago"
#: The harness clock starts on Friday 2027-01-15 (02:00 in Chicago).
DAY = date(2027, 1, 15)


def own_provider(session) -> str:
    [mine] = [
        p for p in providers.list_providers(session) if p.user_id == session.user_id
    ]
    return mine.id


def add_patient(session, family: str, zone: str = "") -> str:
    return patients.create_patient(
        session, Patient(family=family, given="Ana", timezone=zone)
    )


def book(session, patient, provider, hour, minute=0, day=DAY, **kw) -> list[str]:
    request = AppointmentRequest(
        patient,
        provider,
        datetime(day.year, day.month, day.day, hour, minute),
        CHI,
        kw.pop("duration", 30),
        video_link=kw.pop("video_link", "https://meet.example.org/r/1"),
        **kw,
    )
    return appointments.book(session, request)


def open_session(harness):
    """The admin's session (the body of each test module's ``session`` fixture)."""
    opened = harness.unlock_admin()
    yield opened
    wait_for_tasks()
    opened.lock()


def make_clinic(session) -> dict[str, str]:
    """The admin's own provider row and two patients (one in London)."""
    return {
        "provider": own_provider(session),
        "ana": add_patient(session, "Bélanger-Côté", "Europe/London"),
        "ben": add_patient(session, "O'Grady"),
    }
