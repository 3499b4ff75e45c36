"""Auditing of patient records: views are logged, searches are not, no values."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from desktop_crm.services import patients
from desktop_crm.services.patient_model import Patient

MARKER = "QXAUDITMARKERQ"


@pytest.fixture
def session(memory_vault):
    return memory_vault.created.session


def audit_rows(session, since: int = 0) -> list[tuple]:
    return session.database().query(
        "SELECT seq, action, record_type, record_id, fields FROM audit_log "
        "WHERE seq > ? ORDER BY seq",
        (since,),
    )


def last_seq(session) -> int:
    return int(session.database().scalar("SELECT max(seq) FROM audit_log"))


def test_open_writes_one_view_entry(session):
    patient_id = patients.create_patient(session, Patient(family="Viewed"))
    start = last_seq(session)

    patients.open_patient(session, patient_id)

    rows = audit_rows(session, start)
    assert [(r[1], r[2], r[3]) for r in rows] == [
        ("patient.view", "patient", patient_id)
    ]


def test_search_count_and_page_write_nothing(session):
    patients.create_patient(session, Patient(family="Searched", given="Sam"))
    start = last_seq(session)
    changes = session.database().scalar("SELECT count(*) FROM change_log")

    for query in ("s", "se", "sea", "searched sam", "1970-01-01", "555"):
        patients.search(session, query)
    patients.count(session)
    patients.page(session, 0, 50)

    assert audit_rows(session, start) == []
    assert session.database().scalar("SELECT count(*) FROM change_log") == changes


def test_update_logs_field_names_never_values(session):
    patient_id = patients.create_patient(
        session, Patient(family="Edited", given="Eve", notes="plain")
    )
    record = patients.load_patient(session, patient_id)
    start = last_seq(session)
    seq_changes = session.database().scalar("SELECT max(seq) FROM change_log")

    changed = patients.update_patient(
        session, patient_id, replace(record, notes=f"{MARKER} note", pronouns=MARKER)
    )

    db = session.database()
    rows = audit_rows(session, start)
    assert changed == ["notes", "pronouns"]
    assert [(r[1], r[3]) for r in rows] == [("patient.update", patient_id)]
    assert {"notes", "pronouns"} <= set(json.loads(rows[0][4]))
    audit_text = json.dumps(db.query("SELECT * FROM audit_log"))
    assert MARKER not in audit_text
    fields = db.query("SELECT fields FROM change_log WHERE seq > ?", (seq_changes,))
    assert fields and all(MARKER not in f for (f,) in fields)
    assert all("notes" in json.loads(f) for (f,) in fields)


def test_create_audit_has_no_values(session):
    patient_id = patients.create_patient(
        session, Patient(family=MARKER, given=MARKER, notes=MARKER)
    )

    entries = session.database().query(
        "SELECT * FROM audit_log WHERE record_id = ?", (patient_id,)
    )

    assert [e[4] for e in entries] == ["patient.create"]
    assert MARKER not in json.dumps(entries)


def test_unchanged_update_writes_nothing(session):
    patient_id = patients.create_patient(session, Patient(family="Same"))
    record = patients.load_patient(session, patient_id)
    start = last_seq(session)

    changed = patients.update_patient(session, patient_id, record)

    assert changed == [] and audit_rows(session, start) == []


def test_history_lists_who_and_which_fields(session):
    patient_id = patients.create_patient(session, Patient(family="Hist"))
    record = patients.load_patient(session, patient_id)
    patients.update_patient(session, patient_id, replace(record, given="Now"))

    entries = patients.history(session, patient_id)

    assert [e[2] for e in entries] == ["patient.create", "patient.update"]
    assert "given" in entries[1][3] and "family" not in entries[1][3]
    assert all(e[1] == session.user_name for e in entries)
