"""Series edits (this / this and following / all), communications, FHIR export."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from fhir.resources.R4B.bundle import Bundle

import desktop_crm.services.scheduling  # noqa: F401 - registers the contributors
from desktop_crm.errors import InvalidInput
from desktop_crm.services import patients, providers
from desktop_crm.services.exporting.fhir_export import patient_bundle
from desktop_crm.services.patient_model import Patient
from desktop_crm.services.scheduling import appointments, communications, edits
from desktop_crm.services.scheduling.appointments import ProviderNotFound
from desktop_crm.services.scheduling.model import AppointmentRequest

ZONE = "America/New_York"


def _setup(harness):
    session = harness.created.session
    patient_id = patients.create_patient(
        session, Patient(family="Rivera", given="Ana", timezone="Europe/London")
    )
    provider_id, _ = providers.upsert_practitioner(
        session, "Lee", "Sam", "Dr Lee", "", [("urn:test", "lee")]
    )
    return session, patient_id, provider_id


def _series(session, patient_id, provider_id, count=6):
    ids = appointments.book(
        session,
        AppointmentRequest(
            patient_id,
            provider_id,
            datetime(2031, 3, 3, 9, 0),
            ZONE,
            30,
            reason="anxiety",
            rrule=f"FREQ=WEEKLY;COUNT={count}",
        ),
    )
    return ids


def _local(session, patient_id):
    found = appointments.patient_appointments(session, patient_id)
    return [
        (
            a.start.astimezone(__import__("zoneinfo").ZoneInfo(ZONE)).strftime(
                "%m-%d %H:%M"
            ),
            a.status,
        )
        for a in found
    ]


def test_edit_this_one_then_all_keeps_the_exception(memory_vault):
    session, patient_id, provider_id = _setup(memory_vault)
    ids = _series(session, patient_id, provider_id)

    edits.reschedule(session, ids[2], datetime(2031, 3, 17, 15, 0))
    edits.cancel(session, ids[4], "patient away")
    edits.reschedule(session, ids[0], datetime(2031, 3, 3, 10, 0), scope="all")

    assert _local(session, patient_id) == [
        ("03-03 10:00", "booked"),
        ("03-10 10:00", "booked"),
        ("03-17 15:00", "booked"),  # the exception kept its own time
        ("03-24 10:00", "booked"),
        ("03-31 09:00", "cancelled"),  # the cancelled one stays as it was
        ("04-07 10:00", "booked"),
    ]


def test_this_and_following_splits_the_series(memory_vault):
    session, patient_id, provider_id = _setup(memory_vault)
    ids = _series(session, patient_id, provider_id)
    edits.reschedule(session, ids[4], datetime(2031, 3, 31, 16, 0))

    new_series = edits.reschedule(
        session, ids[3], datetime(2031, 3, 24, 11, 0), scope="following"
    )

    assert new_series != ids[0].split(".")[0]
    assert _local(session, patient_id) == [
        ("03-03 09:00", "booked"),
        ("03-10 09:00", "booked"),
        ("03-17 09:00", "booked"),
        ("03-24 11:00", "booked"),
        ("03-31 16:00", "booked"),  # the exception moved to the new series
        ("04-07 11:00", "booked"),
    ]


def test_cancel_this_and_following_and_all(memory_vault):
    session, patient_id, provider_id = _setup(memory_vault)
    ids = _series(session, patient_id, provider_id)

    edits.cancel(session, ids[3], "moving away", scope="following")
    statuses = [s for _, s in _local(session, patient_id)]
    assert statuses == ["booked"] * 3

    edits.cancel(session, ids[0], "stopped", scope="all")
    assert {s for _, s in _local(session, patient_id)} == {"cancelled"}
    with pytest.raises(InvalidInput):
        edits.cancel(session, ids[1], "", scope="all")


def test_communications_log_and_fhir_export(memory_vault):
    session, patient_id, provider_id = _setup(memory_vault)
    [appt_id] = appointments.book(
        session,
        AppointmentRequest(
            patient_id, provider_id, datetime(2031, 5, 5, 9, 0), ZONE, 30
        ),
    )
    _series(session, patient_id, provider_id, count=2)
    edits.cancel(session, appt_id, "clinic closed")
    when = datetime(2031, 5, 1, 12, 0, tzinfo=UTC)
    communications.log_communication(
        session,
        communications.Communication(
            patient_id, "call", "in", "Rescheduling", "Asked to move", appt_id, when
        ),
    )
    communications.log_communication(
        session,
        communications.Communication(patient_id, "letter", "out", "Welcome", at=when),
    )
    with pytest.raises(InvalidInput):
        communications.log_communication(
            session, communications.Communication(patient_id, "fax", "out")
        )

    logged = communications.for_patient(session, patient_id)
    assert [(c.channel, c.direction, c.appointment_id) for c in logged] == [
        ("call", "in", appt_id),
        ("letter", "out", None),
    ]

    bundle = patient_bundle(session, patient_id)
    Bundle.model_validate(bundle)
    kinds = [e["resource"]["resourceType"] for e in bundle["entry"]]
    assert kinds.count("Appointment") == 3
    assert kinds.count("Communication") == 2
    cancelled = next(
        e["resource"] for e in bundle["entry"] if e["resource"].get("id") == appt_id
    )
    assert cancelled["status"] == "cancelled"


def test_provider_name_ambiguous_or_unknown_lists_candidates(memory_vault):
    session, _, _ = _setup(memory_vault)
    providers.upsert_practitioner(
        session, "Lee", "Jo", "Dr Lee", "", [("urn:test", "lee2")]
    )
    with pytest.raises(ProviderNotFound) as caught:
        appointments.provider_by_name(session, "Dr Lee")
    assert caught.value.exit_code == 2 and len(caught.value.candidates) == 2
    with pytest.raises(ProviderNotFound, match="'Dr Who' matches none"):
        appointments.provider_by_name(session, "Dr Who")
