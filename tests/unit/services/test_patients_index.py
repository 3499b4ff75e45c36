"""The search index stays in step with the records, at a cost that does not grow."""

from __future__ import annotations

import uuid
from dataclasses import replace

import pytest

from desktop_crm.services import patients
from desktop_crm.services.patient_model import Identifier, Patient
from desktop_crm.storage.writepath import AuditEvent, Mutation

OLD = Identifier("urn:x", "OLDID77")
FULL_SCAN = "SCAN patient_search VIRTUAL TABLE INDEX 0:"


@pytest.fixture
def session(memory_vault):
    return memory_vault.created.session


def index_rows(session) -> int:
    return int(session.database().scalar("SELECT count(*) FROM patient_search"))


def test_one_index_row_per_listed_patient(session):
    ids = [
        patients.create_patient(session, Patient(family=f"Row{i}")) for i in range(5)
    ]
    record = patients.load_patient(session, ids[0])
    patients.update_patient(session, ids[0], replace(record, family="Renamed"))

    assert index_rows(session) == patients.count(session) == 5
    assert [p.id for p in patients.search(session, "renamed")] == [ids[0]]
    assert patients.search(session, "row0") == []


def test_added_identifier_is_searchable(session):
    patient_id = patients.create_patient(session, Patient(family="Ids"))
    record = patients.load_patient(session, patient_id)

    patients.update_patient(session, patient_id, replace(record, identifiers=(OLD,)))

    assert [p.id for p in patients.search(session, "oldid77")] == [patient_id]


def test_removed_identifier_is_no_longer_searchable(session):
    patient_id = patients.create_patient(
        session, Patient(family="Ids", identifiers=(OLD,))
    )
    record = patients.load_patient(session, patient_id)

    fields = patients.update_patient(
        session, patient_id, replace(record, identifiers=())
    )

    assert fields == ["identifiers"]
    assert patients.load_patient(session, patient_id).identifiers[0].system != "urn:x"
    assert patients.search(session, "oldid77") == []


def filler(count: int) -> list[Mutation]:
    return [
        Mutation(
            "patients",
            str(uuid.uuid4()),
            "insert",
            {
                "mrn": f"F{i:07d}",
                "family": f"Filler{i}",
                "created_at": "2024-01-01T00:00:00+00:00",
                "updated_at": "2024-01-01T00:00:00+00:00",
            },
        )
        for i in range(count)
    ]


def test_reindex_does_not_scan_whole_index(session):
    session.write(AuditEvent("test.fill"), filler(50))
    patient_id = patients.create_patient(session, Patient(family="Plan"))
    record = patients.load_patient(session, patient_id)
    db = session.database()
    statements: list[str] = []
    original = db.execute

    def recording(sql, params=()):
        statements.append(sql)
        return original(sql, params)

    db.execute = recording
    try:
        patients.update_patient(session, patient_id, replace(record, given="New"))
    finally:
        del db.execute

    index_sql = [s for s in statements if "patient_search" in s and "INSERT" not in s]
    plans = [
        row[3]
        for sql in index_sql
        for row in db.query("EXPLAIN QUERY PLAN " + sql, ("x",) * sql.count("?"))
    ]
    assert index_sql and FULL_SCAN not in plans
