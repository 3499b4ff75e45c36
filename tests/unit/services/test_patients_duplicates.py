"""Duplicate detection before saving, and an audited, undoable merge (B18)."""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import replace

import pytest

from desktop_crm.services import patients
from desktop_crm.services.patient_model import (
    ContactPoint,
    Identifier,
    Patient,
    parse_typed_date,
)
from desktop_crm.storage import patient_queries
from desktop_crm.storage.writepath import AuditEvent, Mutation

IMPORTED = Identifier("urn:oid:2.16.840.1.113883.4.3.25", "RX7731")
ORIGINAL = Patient(
    family="García-López",
    given="María José",
    sex_at_birth="female",
    birth_date="1984-02-29",
    phones=(ContactPoint("+1 555 010 0142"),),
)
SAME_PERSON = Patient(
    family="Garcia Lopez",
    given="Maria Jose",
    sex_at_birth="female",
    birth_date=parse_typed_date("02/29/1984"),
    phones=(ContactPoint("(555) 010-0142"),),
    identifiers=(IMPORTED,),
)
DIFFERENT = Patient(
    family="García", given="María", sex_at_birth="male", birth_date="1990-01-01"
)
NO_PHONE = Patient(
    family="Garcia-Lopez", given="Maria", sex_at_birth="female", birth_date="1984-02-29"
)


@pytest.fixture
def session(memory_vault):
    return memory_vault.created.session


@pytest.fixture
def original(session):
    return patients.create_patient(session, ORIGINAL)


def flagged(session, candidate: Patient) -> list[str]:
    return [c.patient.id for c in patients.find_duplicates(session, candidate)]


def test_b18_flags_probable_duplicates_only(session, original):
    results = {
        "same person": flagged(session, SAME_PERSON),
        "different": flagged(session, DIFFERENT),
        "no phone": flagged(session, NO_PHONE),
    }

    assert results == {
        "same person": [original],
        "different": [],
        "no phone": [original],
    }


def test_b18_reasons_name_birth_date_and_phone(session, original):
    candidates = patients.find_duplicates(session, SAME_PERSON)

    assert len(candidates) == 1
    assert set(candidates[0].reasons) == {
        "same birth date and similar name",
        "same phone",
    }


@pytest.mark.parametrize("candidate", [SAME_PERSON, NO_PHONE], ids=["one", "three"])
def test_create_refuses_until_allowed(session, original, candidate):
    before = patients.count(session)

    with pytest.raises(patients.DuplicatesFound) as caught:
        patients.create_patient(session, candidate)
    assert patients.count(session) == before
    assert [c.patient.id for c in caught.value.candidates] == [original]

    new_id = patients.create_patient(session, candidate, allow_duplicates=True)
    assert new_id != original and patients.count(session) == before + 1


def test_different_person_is_created_without_asking(session, original):
    new_id = patients.create_patient(session, DIFFERENT)

    assert new_id != original and patients.count(session) == 2


def test_same_identifier_is_flagged(session, original):
    patients.create_patient(session, SAME_PERSON, allow_duplicates=True)
    stranger = Patient(family="Zed", birth_date="2001-01-01", identifiers=(IMPORTED,))

    result = flagged(session, stranger)

    assert len(result) == 1


def test_same_email_is_flagged(session):
    first = patients.create_patient(
        session, Patient(family="Mail", emails=(ContactPoint("m.x@example.com"),))
    )
    other = Patient(family="Other", emails=(ContactPoint("m.x@example.com"),))

    assert flagged(session, other) == [first]


def test_many_namesakes_list_a_screenful(session):
    namesake = Patient(family="Chalmers", given="Peter", birth_date="1974-12-25")
    for _ in range(patients.DUPLICATE_LIMIT + 5):
        patients.create_patient(session, namesake, allow_duplicates=True)

    assert len(patients.find_duplicates(session, namesake)) == patients.DUPLICATE_LIMIT


@pytest.mark.parametrize("family", ["O'Brien-Núñez", "obrien nunez", "Nunez"])
def test_a_crowded_birth_date_still_finds_the_namesake(session, monkeypatch, family):
    monkeypatch.setattr(patients, "FEW_BORN", 3)
    for n in range(6):
        patients.create_patient(
            session,
            Patient(family=f"Crowd{n}", given="Peter", birth_date="1974-12-25"),
        )
    original = patients.create_patient(
        session,
        Patient(family="O’Brien-Nuñez", given="Peter", birth_date="1974-12-25"),
    )
    patients.create_patient(
        session,
        Patient(family="O'Brien", given="Peter", birth_date="1974-12-26"),
    )

    found = patients.find_duplicates(
        session, Patient(family=family, given="peter", birth_date="1974-12-25")
    )

    assert [c.patient.id for c in found] == [original]


# -- merge ---------------------------------------------------------------------


def add_visit(session, patient_id: str) -> str:
    visit_id = str(uuid.uuid4())
    session.write(
        AuditEvent("visit.create", "visit", visit_id),
        [
            Mutation(
                "visits",
                visit_id,
                "insert",
                {"patient_id": patient_id, "start": "2024-05-01T10:00", "type": "tele"},
            )
        ],
    )
    return visit_id


def add_document(session, patient_id: str) -> str:
    content = b"%PDF-1.4 consent"
    document_id = str(uuid.uuid4())
    values = {
        "patient_id": patient_id,
        "filename": "consent.pdf",
        "media_type": "application/pdf",
        "size": len(content),
        "sha256": hashlib.sha256(content).hexdigest(),
        "content": content,
        "created_at": "2024-05-01T10:00:00+00:00",
    }
    session.write(
        AuditEvent("document.attach", "document", document_id),
        [Mutation("documents", document_id, "insert", values)],
    )
    return document_id


def owners(session, survivor: str, retired: str) -> dict[str, tuple[list, list]]:
    db = session.database()
    return {
        t: (
            sorted(patient_queries.rows_of(db, t, survivor)),
            sorted(patient_queries.rows_of(db, t, retired)),
        )
        for t in ("visits", "documents", "patient_identifiers")
    }


@pytest.fixture
def pair(session, original):
    retired = patients.create_patient(session, SAME_PERSON, allow_duplicates=True)
    add_visit(session, retired)
    add_document(session, retired)
    add_visit(session, original)
    return original, retired


def test_b18_merge_moves_everything_and_audits_once(session, pair):
    survivor, retired = pair
    before = owners(session, survivor, retired)
    db = session.database()

    merge_id = patients.merge(session, survivor, retired)

    after = owners(session, survivor, retired)
    retired_mrn = [r for r in before["patient_identifiers"][1] if "mrn" in r]
    assert after["visits"] == (sorted(before["visits"][0] + before["visits"][1]), [])
    assert after["documents"] == (before["documents"][1], [])
    assert after["patient_identifiers"][1] == retired_mrn
    assert "urn:oid:2.16.840.1.113883.4.3.25|RX7731" in after["patient_identifiers"][0]
    assert patient_queries.patient_row(db, retired)["status"] == "merged"
    assert patients.merged_into(session, retired) == survivor
    assert patients.count(session) == 1
    assert [p.id for p in patients.search(session, "garcia")] == [survivor]
    assert [p.id for p in patients.search(session, "rx7731")] == [survivor]
    naming_both = db.query(
        "SELECT action FROM audit_log WHERE record_id LIKE ? AND record_id LIKE ?",
        (f"%{survivor}%", f"%{retired}%"),
    )
    assert naming_both == [("patient.merge",)]
    assert merge_id


def test_b18_undo_restores_everything(session, pair):
    survivor, retired = pair
    db = session.database()
    before = owners(session, survivor, retired)
    rows_before = {
        i: patient_queries.patient_row(db, i)["status"] for i in (survivor, retired)
    }
    merge_id = patients.merge(session, survivor, retired)

    patients.undo_merge(session, merge_id)

    assert owners(session, survivor, retired) == before
    rows_after = {
        i: patient_queries.patient_row(db, i)["status"] for i in (survivor, retired)
    }
    assert rows_after == rows_before
    assert patients.merged_into(session, retired) is None
    assert patients.count(session) == 2
    assert set(p.id for p in patients.search(session, "garcia")) == {survivor, retired}
    with pytest.raises(patients.InvalidInput):
        patients.undo_merge(session, merge_id)


def test_undo_merge_unindexes_identifier_from_survivor(session, pair):
    survivor, retired = pair
    merge_id = patients.merge(session, survivor, retired)

    patients.undo_merge(session, merge_id)

    assert [p.id for p in patients.search(session, "rx7731")] == [retired]


def test_merge_refuses_same_and_already_merged(session, pair):
    survivor, retired = pair
    patients.merge(session, survivor, retired)

    with pytest.raises(patients.InvalidInput):
        patients.merge(session, survivor, survivor)
    with pytest.raises(patients.InvalidInput):
        patients.merge(session, survivor, retired)


def test_merged_record_is_not_flagged_as_duplicate(session, pair):
    survivor, retired = pair
    patients.merge(session, survivor, retired)

    result = flagged(session, replace(SAME_PERSON, identifiers=()))

    assert result == [survivor]
