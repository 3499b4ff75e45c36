"""Searching and exporting the audit log, and a patient's accounting of access."""

from __future__ import annotations

import csv
import io
import json
from dataclasses import replace
from datetime import UTC, date, datetime

import pytest
from pypdf import PdfReader

from desktop_crm.errors import InvalidInput, NotPermitted
from desktop_crm.services import audit_log, documents, patients
from desktop_crm.services.audit_log import AuditQuery
from desktop_crm.services.exporting import pdf_summary
from desktop_crm.services.patient_model import Patient
from desktop_crm.storage import audit
from desktop_crm.storage.writepath import AuditEvent

MARKER = "QXVALUEMARKERQ"
PDF = b"%PDF-1.7\n1 0 obj << >> endobj\ntrailer << >>\n%%EOF\n"


@pytest.fixture
def session(memory_vault):
    return memory_vault.created.session


@pytest.fixture
def record(session):
    """A patient that was created, viewed, edited, exported and given a document."""
    patient_id = patients.create_patient(session, Patient(family="Seen", given="Sue"))
    other = patients.create_patient(session, Patient(family="Other", given="Olly"))
    patients.open_patient(session, patient_id)
    patients.open_patient(session, other)
    loaded = patients.load_patient(session, patient_id)
    patients.update_patient(session, patient_id, replace(loaded, notes=MARKER))
    pdf_summary.patient_pdf(session, patient_id)
    document_id = documents.attach(session, patient_id, "consent.pdf", PDF)
    documents.open_document(session, document_id)
    return patient_id, other, document_id


def _log_size(session) -> int:
    return len(audit.entries(session.database(), 100_000))


def _staff_session(memory_vault, add_staff, name: str, roles: str):
    staff = add_staff(name, roles, "864209")
    return memory_vault.service.unlock(name, "864209", memory_vault.code(staff.secret))


def test_patient_filter_finds_its_record_and_documents_only(session, record):
    patient_id, other, document_id = record

    lines = audit_log.page(session, AuditQuery(patient_id=patient_id))

    ids = {(line.record_type, line.record_id) for line in lines}
    assert ids == {("patient", patient_id), ("document", document_id)}
    assert [line.seq for line in lines] == sorted((x.seq for x in lines), reverse=True)
    actions = {line.action for line in lines}
    assert {"patient.view", "patient.update", "patient.export"} <= actions
    assert {"document.attach", "document.view"} <= actions
    assert all(line.user == "Ana Admin" for line in lines)
    assert other not in {line.record_id for line in lines}


def test_merge_entries_belong_to_both_patients(session, record):
    patient_id, other, _ = record
    patients.merge(session, patient_id, other)

    for pid in (patient_id, other):
        actions = [
            line.action for line in audit_log.page(session, AuditQuery(patient_id=pid))
        ]
        assert "patient.merge" in actions


def test_accounting_says_who_did_what_and_where(session, record):
    patient_id, _, _ = record

    lines = audit_log.accounting(session, patient_id)

    kinds = [(line.action, line.kind) for line in lines]
    assert ("patient.view", "viewed") in kinds
    assert ("patient.update", "changed") in kinds
    assert ("patient.export", "exported") in kinds
    assert ("document.view", "viewed") in kinds
    assert all(line.workstation == session.workstation for line in lines)
    assert [line.seq for line in lines] == sorted(line.seq for line in lines)
    update = next(line for line in lines if line.action == "patient.update")
    assert "notes" in update.fields


def test_user_and_action_filters(session, record, memory_vault, add_staff):
    clerk = _staff_session(memory_vault, add_staff, "Fay Front", "front-desk")
    patients.open_patient(clerk, record[0])

    by_fay = audit_log.page(session, AuditQuery(user="fay front"))
    views = audit_log.page(session, AuditQuery(action="patient.view"))
    patient_any = audit_log.page(session, AuditQuery(action="patient.*"))

    assert {line.user for line in by_fay} == {"Fay Front"}
    assert "patient.view" in {line.action for line in by_fay}
    assert {line.action for line in views} == {"patient.view"}
    assert len(views) == 3
    assert {line.action.split(".")[0] for line in patient_any} == {"patient"}
    clerk.lock()


def test_dates_are_practice_days_inclusive(session):
    # The practice is in America/Chicago (UTC-6 in January).
    for moment in (
        datetime(2023, 1, 10, 5, 59, tzinfo=UTC),  # 9 Jan 23:59 in Chicago
        datetime(2023, 1, 10, 6, 0, tzinfo=UTC),  # 10 Jan 00:00
        datetime(2023, 1, 11, 5, 59, tzinfo=UTC),  # 10 Jan 23:59
        datetime(2023, 1, 11, 6, 0, tzinfo=UTC),  # 11 Jan 00:00
    ):
        session.write(AuditEvent("test.dated", at=moment))

    one_day = AuditQuery(
        action="test.dated", date_from=date(2023, 1, 10), date_to=date(2023, 1, 10)
    )
    lines = audit_log.page(session, one_day)

    assert sorted(line.at_local for line in lines) == [
        "2023-01-10 00:00:00",
        "2023-01-10 23:59:00",
    ]
    assert sorted(line.at_utc for line in lines)[0] == "2023-01-10 06:00:00"
    assert audit_log.count(session, one_day) == 2
    # No three-month limit: years back are found.
    assert audit_log.count(session, AuditQuery(date_from=date(2000, 1, 1))) > 4


def test_pages_are_keyset_and_complete(session):
    for i in range(25):
        session.write(AuditEvent("test.paged", "x", str(i)))
    query = AuditQuery(action="test.paged")

    seen: list[int] = []
    before = None
    while True:
        block = audit_log.page(session, query, before_seq=before, limit=10)
        if not block:
            break
        seen += [line.seq for line in block]
        before = block[-1].seq

    assert len(seen) == 25
    assert seen == sorted(seen, reverse=True)


@pytest.mark.parametrize(
    ("query", "field"),
    [
        (AuditQuery(user="Nobody Here"), "user"),
        (AuditQuery(patient_id="no-such-patient"), "patient"),
        (AuditQuery(date_from=date(2024, 2, 2), date_to=date(2024, 2, 1)), "to"),
    ],
    ids=["user", "patient", "dates"],
)
def test_bad_filters_name_the_field_and_write_nothing(session, record, query, field):
    before = _log_size(session)

    with pytest.raises(InvalidInput) as caught:
        audit_log.write_csv(session, query, io.StringIO())
    with pytest.raises(InvalidInput):
        audit_log.page(session, query)

    assert caught.value.field == field
    assert _log_size(session) == before


def test_csv_export_is_audited_with_filter_names_only(session, record):
    patient_id, _, _ = record
    out = io.StringIO(newline="")
    query = AuditQuery(patient_id=patient_id, date_from=date(2000, 1, 1))

    written = audit_log.write_csv(session, query, out)

    rows = list(csv.reader(io.StringIO(out.getvalue())))
    assert rows[0] == list(audit_log.CSV_COLUMNS)
    assert len(rows) == written + 1
    assert "audit.export" not in {row[6] for row in rows[1:]}
    assert {row[3] for row in rows[1:]} == {"America/Chicago"}
    newest = audit.entries(session.database(), 1)[0]
    assert (newest.action, newest.outcome) == ("audit.export", "csv")
    assert (newest.record_type, newest.record_id) == ("patient", patient_id)
    assert json.loads(newest.fields) == ["from", "patient"]
    # The export itself shows up in the patient's accounting.
    assert audit_log.accounting(session, patient_id)[-1].kind == "exported"


def test_csv_holds_field_names_never_values(session, record):
    out = io.StringIO(newline="")

    audit_log.write_csv(session, AuditQuery(), out)

    assert MARKER not in out.getvalue()
    assert "notes" in out.getvalue()


def test_csv_cells_cannot_run_as_formulas(session):
    session.write(AuditEvent("=HYPERLINK(1)", "-x", "@SUM(1)", outcome="+1"))
    out = io.StringIO(newline="")

    audit_log.write_csv(session, AuditQuery(action="=HYPERLINK(1)"), out)

    row = list(csv.reader(io.StringIO(out.getvalue())))[1]
    assert row[6:] == ["'=HYPERLINK(1)", "", "'-x", "'@SUM(1)", "", "'+1"]


def test_pdf_export_renders_and_is_audited(session, record):
    patient_id, _, _ = record

    data = audit_log.export_pdf(session, AuditQuery(patient_id=patient_id))

    text = "\n".join(p.extract_text() for p in PdfReader(io.BytesIO(data)).pages)
    assert text.startswith("Accounting of access")
    assert "America/Chicago" in text
    assert "patient.view" in text and "document.attach" in text
    assert MARKER not in text
    newest = audit.entries(session.database(), 1)[0]
    assert (newest.action, newest.outcome) == ("audit.export", "pdf")


def test_pdf_refuses_more_rows_than_it_can_hold(session, record, monkeypatch):
    monkeypatch.setattr(audit_log, "PDF_MAX_ROWS", 3)
    before = _log_size(session)

    with pytest.raises(InvalidInput, match="export CSV") as caught:
        audit_log.export_pdf(session, AuditQuery())

    assert caught.value.field == "filters"
    assert _log_size(session) == before


def test_auditor_reads_and_exports(memory_vault, add_staff, record):
    auditor = _staff_session(memory_vault, add_staff, "Al Auditor", "auditor")

    lines = audit_log.accounting(auditor, record[0])
    written = audit_log.write_csv(auditor, AuditQuery(), io.StringIO())

    assert lines and written > len(lines)
    assert "Al Auditor" in audit_log.user_names(auditor)
    assert "patient.view" in audit_log.action_names(auditor)
    auditor.lock()


@pytest.mark.parametrize("roles", ["front-desk", "provider", "biller"])
def test_other_roles_are_refused(memory_vault, add_staff, record, roles):
    staff = _staff_session(memory_vault, add_staff, "Sam Staff", roles)
    before = _log_size(memory_vault.created.session)

    with pytest.raises(NotPermitted, match="audit.read"):
        audit_log.page(staff, AuditQuery())
    with pytest.raises(NotPermitted, match="audit.read"):
        audit_log.accounting(staff, record[0])
    with pytest.raises(NotPermitted, match="audit.read"):
        audit_log.write_csv(staff, AuditQuery(), io.StringIO())

    assert _log_size(memory_vault.created.session) == before
    staff.lock()


def test_catalog_follows_the_log_and_repairs_a_gap(session, record):
    patient_id, _, _ = record
    db = session.database()
    first = audit_log.count(session, AuditQuery(patient_id=patient_id))
    patients.open_patient(session, patient_id)  # a new entry after the catch-up
    assert audit_log.count(session, AuditQuery(patient_id=patient_id)) == first + 1
    # Rows removed from the derived catalog behind the product's back come
    # back at the next full check (which `audit verify` runs).
    with db.transaction():
        db.execute("DELETE FROM audit_catalog WHERE seq = 2")
        db.execute("DELETE FROM audit_patients")
    audit.catch_up(db, full_check=True)
    assert audit_log.count(session, AuditQuery()) == _log_size(session)
    assert audit_log.count(session, AuditQuery(patient_id=patient_id)) == first + 1


def test_an_altered_catalog_cannot_put_entries_under_another_user(
    session, record, memory_vault, add_staff
):
    staff = _staff_session(memory_vault, add_staff, "Fay Front", "front-desk")
    db = session.database()
    audit.catch_up(db)
    with db.transaction():  # forge: every entry now "by" the front desk user
        db.execute("UPDATE audit_catalog SET user_id = ?", (staff.user_id,))
    lines = audit_log.page(session, AuditQuery(user="Fay Front"))
    assert {line.user for line in lines} == {"Fay Front"}
    staff.lock()


def test_accounting_covers_appointments_and_series_occurrences(session, record):
    from desktop_crm.services import providers
    from desktop_crm.services.scheduling import appointments
    from desktop_crm.services.scheduling.model import AppointmentRequest

    patient_id, other, _ = record
    (provider,) = providers.list_providers(session)
    request = AppointmentRequest(
        patient_id=patient_id,
        provider_id=provider.id,
        local_start=datetime(2031, 3, 3, 9, 0),
        zone="America/Chicago",
        duration_min=30,
        rrule="FREQ=WEEKLY;COUNT=3",
    )
    occurrence = appointments.book(session, request)[1]
    appointments.get(session, occurrence)

    mine = audit_log.accounting(session, patient_id)
    theirs = audit_log.accounting(session, other)
    assert ("appointment", occurrence) in {(x.record_type, x.record_id) for x in mine}
    assert occurrence not in {x.record_id for x in theirs}
