"""Break-glass (#6): reason required, expiry enforced, review queue, audit marks."""

from __future__ import annotations

import pytest
from support.vault_fixtures import ADMIN, ADMIN_PIN

from desktop_crm.errors import InvalidInput, NotPermitted
from desktop_crm.services import (
    break_glass,
    documents,
    patients,
    settings,
    settings_keys,
    users,
)
from desktop_crm.services.patient_model import Patient
from desktop_crm.services.patients import PatientNotFound
from desktop_crm.storage import audit

PDF = b"%PDF-1.7\n1 0 obj << >> endobj\ntrailer << >>\n%%EOF\n"
REASON = "Patient called in distress; need the referral letter"


@pytest.fixture
def setup(memory_vault, add_staff):
    """A patient with a document, a biller and an auditor; admin session locked."""
    admin = memory_vault.created.session
    patient = patients.create_patient(admin, Patient(family="Glass", given="Bree"))
    other = patients.create_patient(admin, Patient(family="Other", given="Olly"))
    documents.attach(admin, patient, "letter.pdf", PDF)
    cy = add_staff("Cy Biller", "biller", "864208")
    au = add_staff("Au Ditor", "auditor", "975319")
    admin.lock()
    return memory_vault, patient, other, cy, au


def unlock(harness, staff):
    return harness.service.unlock(staff.name, staff.pin, harness.code(staff.secret))


def actions(session, action):
    return [e for e in audit.entries(session.database(), 1000) if e.action == action]


def test_grant_opens_one_record_for_reading_until_it_expires(setup):
    harness, patient, other, cy, _ = setup
    session = unlock(harness, cy)
    with pytest.raises(NotPermitted, match="documents.read"):
        documents.list_documents(session, patient)

    grant = break_glass.open_grant(session, patient, REASON)

    assert grant.expires_at - grant.opened_at == 3600
    assert [d.filename for d in documents.list_documents(session, patient)] == [
        "letter.pdf"
    ]
    assert session.allows("visits.notes", patient)
    # Only that record, and only reading.
    with pytest.raises(NotPermitted, match="documents.read"):
        documents.list_documents(session, other)
    with pytest.raises(NotPermitted, match="patients.write"):
        session.require("patients.write", patient)
    with pytest.raises(NotPermitted, match="documents.read"):
        session.require("documents.read")
    # Expiry by the vault's clock.
    harness.clock.advance(3599)
    documents.list_documents(session, patient)
    harness.clock.advance(1)
    with pytest.raises(NotPermitted, match="documents.read"):
        documents.list_documents(session, patient)
    session.lock()


def test_grant_opens_and_saves_that_patients_documents(setup, tmp_path):
    harness, patient, _, cy, _ = setup
    session = unlock(harness, cy)
    break_glass.open_grant(session, patient, REASON)
    (doc,) = documents.list_documents(session, patient)
    _, content = documents.open_document(session, doc.id)
    assert content == PDF
    documents.save_document(session, doc.id, tmp_path / "copy.pdf")
    assert (tmp_path / "copy.pdf").read_bytes() == PDF
    harness.clock.advance(3600)
    with pytest.raises(NotPermitted, match="documents.read"):
        documents.open_document(session, doc.id)
    assert [e.action for e in actions(session, "document.view")] == ["document.view"]
    session.lock()


def test_open_is_marked_in_the_audit_log_without_the_reason(setup):
    harness, patient, _, cy, _ = setup
    session = unlock(harness, cy)
    grant = break_glass.open_grant(session, patient, REASON)
    [entry] = actions(session, "break_glass.open")
    assert entry.record_type == "patient" and entry.record_id == patient
    assert entry.outcome.startswith("break-glass until ")
    assert entry.user_id == cy.user_id
    assert REASON not in str(audit.entries(session.database(), 1000))
    assert grant.reason == REASON
    session.lock()


@pytest.mark.parametrize("reason", ["", "   ", "urgent", "too short"])
def test_reason_is_required(setup, reason):
    harness, patient, _, cy, _ = setup
    session = unlock(harness, cy)
    with pytest.raises(InvalidInput) as caught:
        break_glass.open_grant(session, patient, reason)
    assert caught.value.message.startswith("reason:")
    assert not actions(session, "break_glass.open")
    assert session.break_glass_until(patient) is None
    session.lock()


def test_overlong_reason_is_refused(setup):
    harness, patient, _, cy, _ = setup
    session = unlock(harness, cy)
    with pytest.raises(InvalidInput, match="^reason: use at most"):
        break_glass.open_grant(session, patient, "x" * 1001)
    session.lock()


def test_unknown_patient_is_refused(setup):
    harness, _, _, cy, _ = setup
    session = unlock(harness, cy)
    with pytest.raises(PatientNotFound):
        break_glass.open_grant(session, "no-such-patient", REASON)
    assert not actions(session, "break_glass.open")
    session.lock()


def test_auditor_cannot_use_break_glass(setup):
    harness, patient, _, _, au = setup
    session = unlock(harness, au)
    with pytest.raises(NotPermitted, match="patients.read"):
        break_glass.open_grant(session, patient, REASON)
    session.lock()


def test_nothing_to_widen_for_admin_provider(setup):
    harness, patient, *_ = setup
    session = harness.unlock_admin()
    settings.save(session, {settings_keys.PROVIDER_NOTES_SCOPE: "all"})
    with pytest.raises(InvalidInput, match="^patient: you can already read"):
        break_glass.open_grant(session, patient, REASON)
    session.lock()


def test_provider_may_open_a_patient_outside_their_notes_scope(setup):
    harness, patient, *_ = setup
    session = harness.unlock_admin()  # admin,provider; has not seen this patient
    break_glass.open_grant(session, patient, REASON)
    assert break_glass.needs_break_glass(session, patient)
    assert session.break_glass_until(patient) is not None
    session.lock()


def test_review_queue_notice_and_review(setup):
    harness, patient, _, cy, _ = setup
    session = unlock(harness, cy)
    grant = break_glass.open_grant(session, patient, REASON)
    with pytest.raises(NotPermitted, match="break_glass.review"):
        break_glass.review_queue(session)
    session.lock()

    admin = harness.unlock_admin()
    assert any("1 break-glass access await" in n for n in admin.notices)
    [queued] = break_glass.review_queue(admin)
    assert (queued.id, queued.user_name, queued.patient_id) == (
        grant.id,
        cy.name,
        patient,
    )
    assert queued.reviewed_at is None

    break_glass.mark_reviewed(admin, grant.id)

    assert break_glass.review_queue(admin) == []
    [done] = break_glass.review_queue(admin, include_reviewed=True)
    assert done.reviewed_by == ADMIN and done.reviewed_at is not None
    [entry] = actions(admin, "break_glass.review")
    assert entry.record_id == grant.id
    with pytest.raises(InvalidInput, match="^id: this break-glass access is already"):
        break_glass.mark_reviewed(admin, grant.id)
    with pytest.raises(InvalidInput, match="^id: no break-glass"):
        break_glass.mark_reviewed(admin, "nope")
    admin.lock()
    admin = harness.service.unlock(ADMIN, ADMIN_PIN, harness.code())
    assert not any("break-glass" in n for n in admin.notices)
    admin.lock()


def test_own_grant_needs_another_admin(memory_vault, add_staff):
    admin = memory_vault.created.session
    patient = patients.create_patient(admin, Patient(family="Glass", given="Bree"))
    di = add_staff("Di Admin", "admin", "975319")
    admin.lock()
    session = unlock(memory_vault, di)
    grant = break_glass.open_grant(session, patient, REASON)
    with pytest.raises(InvalidInput, match="^id: another admin must review"):
        break_glass.mark_reviewed(session, grant.id)
    session.lock()
    admin = memory_vault.unlock_admin()
    break_glass.mark_reviewed(admin, grant.id)
    admin.lock()


def test_duration_is_a_setting(setup):
    harness, patient, _, cy, _ = setup
    admin = harness.unlock_admin()
    with pytest.raises(InvalidInput, match="^hours:"):
        break_glass.set_hours(admin, 0)
    with pytest.raises(InvalidInput, match="^hours:"):
        break_glass.set_hours(admin, 25)
    assert break_glass.hours(admin) == 1
    break_glass.set_hours(admin, 2)
    admin.lock()
    session = unlock(harness, cy)
    grant = break_glass.open_grant(session, patient, REASON)
    assert grant.expires_at - grant.opened_at == 7200
    with pytest.raises(NotPermitted, match="settings.manage"):
        break_glass.set_hours(session, 3)
    session.lock()


def test_deactivated_user_keeps_no_access(setup):
    harness, patient, _, cy, _ = setup
    session = unlock(harness, cy)
    break_glass.open_grant(session, patient, REASON)
    session.lock()
    admin = harness.unlock_admin()
    users.deactivate_user(harness.service, admin, cy.name)
    # The grant stays in the queue for review.
    assert len(break_glass.review_queue(admin)) == 1
    admin.lock()
