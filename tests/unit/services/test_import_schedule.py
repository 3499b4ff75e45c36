"""HL7 FHIR R4 Appointment, Encounter and Communication examples, imported."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from fhir.resources.R4B.bundle import Bundle

import desktop_crm.services.scheduling  # noqa: F401 - export contributors
from desktop_crm.services import providers
from desktop_crm.services.exporting.fhir_export import patient_bundle
from desktop_crm.services.importing import import_fhir
from desktop_crm.services.importing.fhir_schedule import source_id
from desktop_crm.services.scheduling import appointments, communications
from desktop_crm.storage import queries

EXAMPLES = (
    Path(__file__).resolve().parents[4]
    / "shared"
    / "data"
    / "fhir-examples"
    / "r4-4.0.1"
)
pytestmark = pytest.mark.skipif(not EXAMPLES.is_dir(), reason="HL7 examples missing")
SCHEDULE_FILES = [
    "Appointment-2docs.json",
    "Appointment-example.json",
    "Appointment-examplereq.json",
    "Communication-example.json",
    "Communication-fm-attachment.json",
    "Communication-fm-solicited.json",
]


def _counts(session):
    counts = queries.table_counts(session.database())
    return {
        t: counts[t] for t in ("patients", "appointments", "communications", "visits")
    }


def _by_file(items):
    return {Path(r.file).name: r.reason for r in items}


@pytest.fixture
def imported(memory_vault):
    session = memory_vault.created.session
    report = import_fhir(session, [EXAMPLES])
    return session, report


def test_examples_import_or_are_left_out_with_a_reason(imported):
    session, report = imported

    assert (report.appointments, report.communications) == (2, 1)
    assert not set(_by_file(report.rejected)) & set(SCHEDULE_FILES)
    warned = _by_file(report.warnings)
    assert "start: no time yet" in warned["Appointment-examplereq.json"]
    for name in ("Communication-fm-attachment.json", "Communication-fm-solicited.json"):
        assert warned[name].startswith("subject: no imported patient")
    assert "2 appointments, 1 communications" in report.summary_line()


def test_imported_appointment_keeps_time_status_provider_and_reason(imported):
    session, _report = imported
    appt = appointments.get(session, source_id("Appointment/example"))
    both = appointments.get(session, source_id("Appointment/2docs"))

    assert appt.label("UTC") == "2013-12-10 09:00 UTC"
    assert (appt.duration_min, appt.status, appt.modality) == (
        120,
        "booked",
        "in-person",
    )
    assert appt.location == "South Wing, second floor"
    assert both.modality == "phone"  # the "Phone Call" participant
    names = {p.id: p.display for p in providers.list_providers(session)}
    assert "Careful" in names[appt.provider_id]
    # The reason is restricted like any visit reason: this admin has no
    # appointment of their own with the patient, so it stays hidden.
    assert appt.reason is None
    stored = session.database().query(
        "SELECT reason FROM appointments WHERE id = ?", (appt.id,)
    )
    assert stored[0][0] == "Severe burn of left ear"


def test_imported_communication_lands_in_the_log(imported):
    session, _report = imported
    patient_id = appointments.get(session, source_id("Appointment/example")).patient_id

    [entry] = communications.for_patient(session, patient_id)

    assert (entry.channel, entry.direction, entry.subject) == ("letter", "out", "Alert")
    assert "serum potassium" in entry.body
    assert "[see: Serum Potassium Observation]" in entry.body
    assert entry.at.isoformat() == "2014-12-13T02:01:10+00:00"


def test_a_second_import_adds_nothing(imported):
    session, _report = imported
    before = _counts(session)

    again = import_fhir(session, [EXAMPLES])

    assert (again.appointments, again.communications, again.encounters) == (0, 0, 0)
    assert _counts(session) == before


def test_the_patient_export_still_validates_with_imported_schedule(imported):
    session, _report = imported
    patient_id = appointments.get(session, source_id("Appointment/example")).patient_id

    bundle = patient_bundle(session, patient_id)

    Bundle.model_validate(bundle)
    kinds = [e["resource"]["resourceType"] for e in bundle["entry"]]
    assert kinds.count("Appointment") == 2 and kinds.count("Communication") == 1


def test_appointments_without_their_patient_are_left_out(memory_vault, tmp_path):
    session = memory_vault.created.session
    for name in SCHEDULE_FILES:
        shutil.copy(EXAMPLES / name, tmp_path / name)

    report = import_fhir(session, [tmp_path])

    assert report.rejected == []
    assert (report.appointments, report.communications) == (0, 0)
    assert len(report.warnings) == 6
    assert all("left out" in w.reason for w in report.warnings)
    assert _counts(session)["appointments"] == 0


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"status": "maybe"}, "status: is not an Appointment status"),
        ({"start": "yesterday"}, "start: is not an instant"),
        ({"start": "2013-12-10T09:00:00"}, "start: has no time zone"),
        ({"end": "2013-12-10T08:00:00Z"}, "end: the length must be"),
        ({"end": None}, "end: no end and no minutesDuration"),
    ],
)
def test_malformed_appointments_are_rejected_naming_the_field(
    memory_vault, tmp_path, changes, reason
):
    session = memory_vault.created.session
    resource = json.loads((EXAMPLES / "Appointment-example.json").read_text())
    resource |= changes
    resource = {k: v for k, v in resource.items() if v is not None}
    for name in ("Patient-example.json", "Practitioner-example.json"):
        shutil.copy(EXAMPLES / name, tmp_path / name)
    (tmp_path / "Appointment-bad.json").write_text(json.dumps(resource))

    report = import_fhir(session, [tmp_path])

    [rejected] = report.rejected
    assert Path(rejected.file).name == "Appointment-bad.json"
    assert rejected.entry == "Appointment/example"
    assert rejected.reason.startswith(reason)
    assert _counts(session)["appointments"] == 0
    assert report.patients == 1


def test_dry_run_counts_without_writing(memory_vault):
    session = memory_vault.created.session

    report = import_fhir(session, [EXAMPLES], dry_run=True)

    assert (report.appointments, report.communications) == (2, 1)
    assert _counts(session) == {
        "patients": 0,
        "appointments": 0,
        "communications": 0,
        "visits": 0,
    }
