"""Documents and exports leave nothing readable on disk except an explicit save."""

from __future__ import annotations

import io
import tempfile
from pathlib import Path

import pytest

from desktop_crm.services import documents, patients
from desktop_crm.services.exporting import csv_export, fhir_export, pdf_summary
from desktop_crm.services.patient_model import Patient

MARKER = "QXDOCMARKER7Q"
PDF = (
    b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\n% "
    + MARKER.encode()
    + b"\ntrailer << /Root 1 0 R >>\n%%EOF\n"
)


def files_holding(root: Path, needle: bytes) -> list[Path]:
    return sorted(
        p for p in root.rglob("*") if p.is_file() and needle in p.read_bytes()
    )


@pytest.fixture
def scratch(tmp_path, monkeypatch) -> Path:
    """Make any temporary file land where the test can see it."""
    folder = tmp_path / "scratch"
    folder.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    monkeypatch.chdir(folder)
    return folder


@pytest.mark.parametrize("locked", [False, True], ids=["unlocked", "locked"])
def test_document_bytes_only_in_the_saved_file(memory_vault, scratch, tmp_path, locked):
    session = memory_vault.created.session
    patient_id = patients.create_patient(session, Patient(family=MARKER + "Family"))
    doc_id = documents.attach(session, patient_id, f"{MARKER}.pdf", PDF)
    _, content = documents.open_document(session, doc_id)
    pdf_summary.patient_pdf(session, patient_id)
    fhir_export.patient_bundle(session, patient_id)
    csv_export.write_patients_csv(session, io.StringIO())
    saved = tmp_path / "saved" / "copy.pdf"
    saved.parent.mkdir()
    documents.save_document(session, doc_id, saved)
    if locked:
        session.lock()

    holding = files_holding(tmp_path, MARKER.encode())

    assert content == PDF
    assert holding == [saved]
    assert list(scratch.iterdir()) == []
    assert files_holding(memory_vault.root, MARKER.encode("utf-16-le")) == []


def test_vault_database_is_not_plaintext(memory_vault):
    session = memory_vault.created.session
    patient_id = patients.create_patient(session, Patient(family="Plain"))
    documents.attach(session, patient_id, "consent.pdf", PDF)
    session.lock()

    database_files = [p for p in memory_vault.root.rglob("*") if p.is_file()]

    assert database_files
    assert all(
        not p.read_bytes().startswith(b"SQLite format 3") for p in database_files
    )
    assert all(b"%PDF-1.4" not in p.read_bytes() for p in database_files)
