"""Merge ids in any session, document events in a patient's history."""

from __future__ import annotations

import pytest

from desktop_crm.services import documents, patients
from desktop_crm.services.patient_model import Patient

PDF = b"%PDF-1.4\n% consent form\n%%EOF\n"


@pytest.fixture
def session(memory_vault):
    return memory_vault.created.session


def person(session, family: str, birth: str = "1970-01-01") -> str:
    return patients.create_patient(
        session, Patient(family=family, given="Test", birth_date=birth)
    )


def test_merge_is_offered_for_undo_from_another_session(memory_vault, session):
    survivor = person(session, "Alpha")
    retired = person(session, "Bravo", "1980-05-05")
    merge_id = patients.merge(session, survivor, retired)

    other = memory_vault.unlock_admin()
    try:
        for patient_id in (survivor, retired):
            found = patients.undoable_merge(other, patient_id)
            assert found is not None and found.id == merge_id
            assert (found.survivor_id, found.retired_id) == (survivor, retired)
        patients.undo_merge(other, merge_id)
        assert patients.undoable_merge(other, survivor) is None
        listed = patients.merges_of(other, survivor)
        assert [(m.id, m.undone_at is not None) for m in listed] == [(merge_id, True)]
    finally:
        other.lock()


def test_newest_merge_not_undone_is_the_one_offered(memory_vault, session):
    hub = person(session, "Hub")
    first = patients.merge(session, hub, person(session, "One", "1981-01-01"))
    memory_vault.clock.advance(5)
    second = patients.merge(session, hub, person(session, "Two", "1982-02-02"))

    assert [m.id for m in patients.merges_of(session, hub)] == [second, first]
    assert patients.undoable_merge(session, hub).id == second
    patients.undo_merge(session, second)
    assert patients.undoable_merge(session, hub).id == first
    patients.undo_merge(session, first)
    assert patients.undoable_merge(session, hub) is None
    assert patients.merges_of(session, person(session, "Loner")) == []


def test_history_shows_document_events_in_order(session, tmp_path):
    patient_id = person(session, "Doc")
    other_id = person(session, "Other", "1990-09-09")
    document_id = documents.attach(session, patient_id, "consent.pdf", PDF)
    documents.attach(session, other_id, "not-mine.pdf", PDF)
    documents.open_document(session, document_id)
    documents.save_document(session, document_id, tmp_path / "copy.pdf")
    patients.open_patient(session, patient_id)

    actions = [row[2] for row in patients.history(session, patient_id)]

    assert actions == [
        "patient.create",
        "document.attach",
        "document.view",
        "document.export",
        "patient.view",
    ]


def test_documents_moved_by_a_merge_show_in_the_survivors_history(session):
    survivor = person(session, "Alpha")
    retired = person(session, "Bravo", "1980-05-05")
    documents.attach(session, retired, "card.pdf", PDF)

    merge_id = patients.merge(session, survivor, retired)
    assert "document.attach" in [r[2] for r in patients.history(session, survivor)]
    patients.undo_merge(session, merge_id)
    assert "document.attach" not in [r[2] for r in patients.history(session, survivor)]
    assert "document.attach" in [r[2] for r in patients.history(session, retired)]
