"""The virtual-visit log: consent first, start from the appointment, close fulfils."""

from __future__ import annotations

import json
from datetime import datetime

import pytest
from fhir.resources.R4B.bundle import Bundle
from schedule_extras_support import NY, add_patient, add_provider, unlock

from desktop_crm.errors import InvalidInput, NotPermitted
from desktop_crm.services import providers
from desktop_crm.services.exporting.fhir_export import patient_bundle
from desktop_crm.services.scheduling import appointments, edits
from desktop_crm.services.scheduling import visits as vv
from desktop_crm.services.scheduling.model import AppointmentRequest
from desktop_crm.storage import audit, queries

GOOD = vv.VisitStart(
    consent="verbal",
    location_country="us",
    location_state="CA",
    participants=("patient", "interpreter"),
    platform="Doxy",
)


def _own_provider(session) -> str:
    [mine] = [
        p for p in providers.list_providers(session) if p.user_id == session.user_id
    ]
    return mine.id


def _book(session, patient, provider, modality="video", **kw) -> str:
    request = AppointmentRequest(
        patient,
        provider,
        datetime(2031, 6, 2, 9, 0),
        NY,
        30,
        modality=modality,
        video_link="https://meet.example.org/r/1" if modality == "video" else "",
        **kw,
    )
    return appointments.book(session, request)[0]


@pytest.fixture
def clinic(memory_vault):
    session = memory_vault.created.session
    patient = add_patient(session)
    appt = _book(session, patient, _own_provider(session))
    return session, patient, appt


def _state(session, appt_id):
    counts = queries.table_counts(session.database())
    status = appointments.get(session, appt_id).status
    return status, counts["visits"], counts["virtual_visits"]


def test_start_and_close_a_visit(memory_vault, clinic):
    session, patient, appt = clinic
    vv.check_in(session, appt)
    assert appointments.get(session, appt).status == "checked-in"

    visit_id = vv.start_visit(session, appt, GOOD, clock=memory_vault.clock)
    memory_vault.clock.advance(25 * 60 + 10)
    vv.report_problem(session, visit_id, "audio dropped for a minute")
    vv.set_note(session, visit_id, "reviewed sleep diary")
    vv.close_visit(session, visit_id, clock=memory_vault.clock)

    visit = vv.get_visit(session, visit_id)
    assert (visit.appointment_id, visit.patient_id) == (appt, patient)
    assert (visit.modality, visit.link) == ("video", "https://meet.example.org/r/1")
    assert (visit.location_country, visit.location_state) == ("US", "CA")
    assert visit.participants == ("patient", "interpreter")
    assert (visit.consent_method, visit.consent_by) == ("verbal", session.user_id)
    assert [p.text for p in visit.problems] == ["audio dropped for a minute"]
    assert (visit.state, visit.duration_min) == ("closed", 25)
    assert visit.note == "reviewed sleep diary"
    assert appointments.get(session, appt).status == "fulfilled"
    actions = [e.action for e in audit.entries(session.database(), limit=8)]
    assert {"visit.start", "visit.problem", "visit.note", "visit.close"} <= set(actions)


def test_a_booked_appointment_becomes_arrived_and_the_visit_in_progress(clinic):
    session, _patient, appt = clinic

    visit_id = vv.start_visit(session, appt, GOOD)

    assert appointments.get(session, appt).status == "arrived"
    found = vv.visit_for_appointment(session, appt)
    assert found is not None and found.id == visit_id
    assert (found.state, found.duration_min) == ("in-progress", None)


def test_a_phone_appointment_is_audio_only_and_the_export_has_a_vr_encounter(
    memory_vault,
):
    session = memory_vault.created.session
    patient = add_patient(session, "Chen")
    appt = _book(session, patient, _own_provider(session), modality="phone")
    visit_id = vv.start_visit(session, appt, GOOD)
    vv.close_visit(session, visit_id)

    bundle = patient_bundle(session, patient)

    Bundle.model_validate(bundle)
    [encounter] = [
        e["resource"]
        for e in bundle["entry"]
        if e["resource"]["resourceType"] == "Encounter"
    ]
    assert encounter["class"]["code"] == "VR"
    assert encounter["status"] == "finished"
    assert encounter["type"] == [{"text": "Audio-only visit"}]
    assert vv.get_visit(session, visit_id).modality == "audio-only"


def test_front_desk_runs_the_visit_but_never_reads_or_writes_the_note(
    memory_vault, clinic, add_staff
):
    session, _patient, appt = clinic
    desk = unlock(memory_vault, add_staff("Fran Desk", "front-desk", "246813"))
    visit_id = vv.start_visit(desk, appt, GOOD)
    vv.set_note(session, visit_id, "private words")

    with pytest.raises(NotPermitted, match="visits.notes"):
        vv.set_note(desk, visit_id, "anything")
    assert vv.get_visit(desk, visit_id).note is None
    vv.close_visit(desk, visit_id)
    assert vv.get_visit(session, visit_id).note == "private words"
    desk.lock()


def test_another_provider_cannot_read_the_note(memory_vault, clinic, add_staff):
    session, _patient, appt = clinic
    staff = add_staff("Pat Provider", "provider", "246813")
    providers.ensure_user_providers(session)
    other = unlock(memory_vault, staff)
    visit_id = vv.start_visit(session, appt, GOOD)
    vv.set_note(session, visit_id, "private words")

    assert vv.get_visit(other, visit_id).note is None
    with pytest.raises(NotPermitted):
        vv.set_note(other, visit_id, "mine now")
    other.lock()


# -- bad input: named field, nothing written -------------------------------------------


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"consent": ""}, "consent"),
        ({"consent": "assumed"}, "consent"),
        ({"location_country": "USA"}, "location country"),
        ({"location_state": ""}, "location state"),
        ({"location_state": "x" * 101}, "location state"),
        ({"participants": ("p",) * 13}, "participants"),
        ({"participants": ("x" * 101,)}, "participants"),
        ({"link": "http://meet.example.org/r/1"}, "video link"),
        ({"modality": "hologram"}, "modality"),
        ({"platform": "x" * 101}, "platform"),
    ],
)
def test_bad_start_names_the_field_and_writes_nothing(clinic, changes, field):
    session, _patient, appt = clinic
    before = _state(session, appt)

    with pytest.raises(InvalidInput) as caught:
        vv.start_visit(session, appt, vv.VisitStart(**{**GOOD.__dict__, **changes}))

    assert caught.value.field == field
    assert _state(session, appt) == before


def test_consent_error_says_consent(clinic):
    session, _patient, appt = clinic
    with pytest.raises(InvalidInput, match="consent to telehealth"):
        vv.start_visit(session, appt, vv.VisitStart("", "US", "CA"))


def test_a_state_is_optional_outside_us_ca_au(clinic):
    session, _patient, appt = clinic
    visit_id = vv.start_visit(session, appt, vv.VisitStart("written", "de"))
    assert vv.get_visit(session, visit_id).location_country == "DE"


def test_in_person_cancelled_and_twice_started_are_refused(memory_vault, clinic):
    session, patient, appt = clinic
    other = _book(session, add_patient(session, "Chen"), add_provider(session))
    in_person = _book(
        session,
        add_patient(session, "Diaz"),
        add_provider(session, "Moss"),
        "in-person",
    )
    edits.cancel(session, other, "patient unwell")

    cases = [(in_person, "modality"), (other, "status")]
    for appt_id, field in cases:
        before = _state(session, appt_id)
        with pytest.raises(InvalidInput) as caught:
            vv.start_visit(session, appt_id, GOOD)
        assert caught.value.field == field
        assert _state(session, appt_id) == before
    visit_id = vv.start_visit(session, appt, GOOD)
    with pytest.raises(InvalidInput) as caught:
        vv.start_visit(session, appt, GOOD)
    assert caught.value.field == "appointment"
    vv.close_visit(session, visit_id)
    with pytest.raises(InvalidInput, match="already closed"):
        vv.close_visit(session, visit_id)
    with pytest.raises(InvalidInput, match="already closed"):
        vv.report_problem(session, visit_id, "late echo")


def test_problem_and_note_limits(clinic):
    session, _patient, appt = clinic
    visit_id = vv.start_visit(session, appt, GOOD)

    for text in ("", "   ", "x" * 501):
        with pytest.raises(InvalidInput) as caught:
            vv.report_problem(session, visit_id, text)
        assert caught.value.field == "connection problem"
    with pytest.raises(InvalidInput) as caught:
        vv.set_note(session, visit_id, "x" * 20_001)
    assert caught.value.field == "note"
    visit = vv.get_visit(session, visit_id)
    assert (visit.problems, visit.note) == ((), "")
    with pytest.raises(InvalidInput) as caught:
        vv.get_visit(session, "no-such-visit")
    assert caught.value.field == "visit"


def test_check_in_and_no_show_follow_the_workflow(clinic):
    session, _patient, appt = clinic
    vv.mark_no_show(session, appt)
    assert appointments.get(session, appt).status == "noshow"

    for action in (vv.check_in, vv.mark_no_show):
        with pytest.raises(InvalidInput) as caught:
            action(session, appt)
        assert caught.value.field == "status"
    assert appointments.get(session, appt).status == "noshow"


def test_no_show_is_refused_once_the_visit_started(clinic):
    session, _patient, appt = clinic
    vv.start_visit(session, appt, GOOD)

    with pytest.raises(InvalidInput, match="visit has started"):
        vv.mark_no_show(session, appt)
    assert appointments.get(session, appt).status == "arrived"


def test_stored_participants_are_json_and_the_audit_holds_no_values(clinic):
    session, _patient, appt = clinic
    visit_id = vv.start_visit(session, appt, GOOD)
    vv.set_note(session, visit_id, "private words")

    row = session.database().query(
        "SELECT participants FROM virtual_visits WHERE id = ?", (visit_id,)
    )
    assert json.loads(row[0][0]) == ["patient", "interpreter"]
    for entry in audit.entries(session.database(), limit=5):
        assert "private" not in repr(entry) and "interpreter" not in repr(entry)
