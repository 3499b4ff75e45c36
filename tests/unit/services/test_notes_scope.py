"""Visit reasons follow the provider notes scope (issue #6).

A provider reads the reasons of the patients they see (an appointment,
series or visit with a provider row linked to them); the practice setting
``access.provider_notes_scope`` = ``all`` widens that; roles without
``visits.notes`` (biller, front desk, admin alone) never see a reason.
"""

from __future__ import annotations

import uuid
from datetime import datetime

import pytest

from desktop_crm.errors import InvalidInput, NotPermitted
from desktop_crm.services import patients, providers, settings
from desktop_crm.services import settings_keys as keys
from desktop_crm.services.patient_model import Patient
from desktop_crm.services.roles import may_read_notes, notes_scope
from desktop_crm.services.scheduling import appointments
from desktop_crm.services.scheduling.model import AppointmentRequest
from desktop_crm.storage import audit, queries
from desktop_crm.storage.writepath import AuditEvent, Mutation

SCOPE = keys.PROVIDER_NOTES_SCOPE


def _own_provider(session) -> str:
    [mine] = [
        p for p in providers.list_providers(session) if p.user_id == session.user_id
    ]
    return mine.id


def _book(session, patient_id, provider_id, day, **kw) -> str:
    start = datetime(2025, 4, day, 9, 0)
    request = AppointmentRequest(
        patient_id, provider_id, start, "America/Chicago", 30, reason="grief", **kw
    )
    return appointments.book(session, request)[0]


@pytest.fixture
def clinic(memory_vault, add_staff):
    """Admin,provider 'Ana' with own patient Rivera; Dr Lee's patient Chen."""
    session = memory_vault.created.session
    own = _own_provider(session)
    lee, _ = providers.upsert_practitioner(
        session, "Lee", "Sam", "Dr Lee", "", [("urn:test", "lee")]
    )
    rivera = patients.create_patient(session, Patient(family="Rivera", given="Ana"))
    chen = patients.create_patient(session, Patient(family="Chen", given="Li"))
    mine = _book(session, rivera, own, 7)
    theirs = _book(session, chen, lee, 8)
    return session, rivera, chen, mine, theirs, add_staff


def _unlock(memory_vault, staff):
    return memory_vault.service.unlock(
        staff.name, staff.pin, memory_vault.code(staff.secret)
    )


def test_provider_sees_reasons_of_own_patients_only(clinic):
    session, rivera, chen, mine, theirs, _ = clinic

    assert notes_scope(session) == "own"
    assert appointments.get(session, mine).reason == "grief"
    assert appointments.get(session, theirs).reason is None
    assert may_read_notes(session, rivera) is True
    assert may_read_notes(session, chen) is False
    listed = {a.id: a.reason for a in appointments.patient_appointments(session, chen)}
    assert listed == {theirs: None}


def test_any_appointment_with_the_provider_opens_all_of_that_patients_reasons(clinic):
    session, _rivera, chen, _mine, theirs, _ = clinic

    _book(session, chen, _own_provider(session), 9, rrule="FREQ=WEEKLY;COUNT=2")

    assert may_read_notes(session, chen) is True
    assert appointments.get(session, theirs).reason == "grief"


def test_a_recorded_visit_with_the_provider_counts(clinic):
    session, _rivera, chen, _mine, theirs, _ = clinic
    visit_id = str(uuid.uuid4())
    session.write(
        AuditEvent("visit.import", "patient", chen, fields=("visits",)),
        [
            Mutation(
                "visits",
                visit_id,
                "insert",
                {"patient_id": chen, "provider_id": _own_provider(session)},
            )
        ],
    )

    assert may_read_notes(session, chen) is True
    assert appointments.get(session, theirs).reason == "grief"


def test_setting_all_widens_the_scope_and_is_audited(clinic):
    session, _rivera, chen, _mine, theirs, _ = clinic

    settings.save(session, {SCOPE: "all"})

    assert notes_scope(session) == "all"
    assert may_read_notes(session, chen) is True
    assert appointments.get(session, theirs).reason == "grief"
    newest = audit.entries(session.database(), limit=5)
    assert any(e.action == "settings.change" and e.record_id == SCOPE for e in newest)


def test_bad_scope_value_refused_and_setting_kept(clinic):
    session = clinic[0]
    settings.save(session, {SCOPE: "all"})

    with pytest.raises(InvalidInput, match="choose one of own, all") as caught:
        settings.save(session, {SCOPE: "everyone"})

    assert caught.value.field == "provider notes scope"
    assert queries.setting(session.database(), SCOPE) == "all"


@pytest.mark.parametrize("roles", ["front-desk", "biller", "admin", "auditor"])
def test_roles_without_visits_notes_never_see_reasons(memory_vault, clinic, roles):
    session, rivera, chen, mine, theirs, add_staff = clinic
    settings.save(session, {SCOPE: "all"})
    other = _unlock(memory_vault, add_staff("Olu Other", roles, "246813"))

    assert may_read_notes(other, rivera) is False
    if roles == "auditor":
        with pytest.raises(NotPermitted, match="appointments.read"):
            appointments.get(other, mine)
    else:
        shown = appointments.get(other, mine)
        assert (shown.reason, shown.status) == (None, "booked")
    other.lock()


def test_another_provider_sees_only_their_own_patients(memory_vault, clinic):
    session, rivera, chen, mine, theirs, add_staff = clinic
    staff = add_staff("Pat Provider", "provider", "246813")
    providers.ensure_user_providers(session)
    other = _unlock(memory_vault, staff)
    pat = _own_provider(other)
    _book(session, chen, pat, 10)

    assert may_read_notes(other, chen) is True
    assert may_read_notes(other, rivera) is False
    assert appointments.get(other, theirs).reason == "grief"
    assert appointments.get(other, mine).reason is None
    other.lock()


def test_break_glass_opens_one_patients_reasons_for_a_while(memory_vault, clinic):
    from desktop_crm.services import break_glass

    session, rivera, chen, mine, theirs, add_staff = clinic
    desk = _unlock(memory_vault, add_staff("Fran Desk", "front-desk", "246813"))

    break_glass.open_grant(desk, rivera, "patient called in distress, needs triage")

    assert may_read_notes(desk, rivera) is True
    assert may_read_notes(desk, chen) is False
    assert appointments.get(desk, mine).reason == "grief"
    memory_vault.clock.advance(2 * 3600)
    assert may_read_notes(desk, rivera) is False
    desk.lock()
