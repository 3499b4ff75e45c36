"""Documents: type sniffing, limits, storage inside the vault, audited reads."""

from __future__ import annotations

import hashlib
import stat

import pytest

from desktop_crm.errors import InvalidInput, NotPermitted
from desktop_crm.services import documents, patients
from desktop_crm.services.patient_model import Patient
from desktop_crm.storage import audit

PDF = b"%PDF-1.7\n1 0 obj << >> endobj\ntrailer << >>\n%%EOF\n"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + bytes(17)
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00"
GIF = b"GIF89a\x01\x00\x01\x00"
WEBP = b"RIFF\x24\x00\x00\x00WEBPVP8 "
TIFF_LE = b"II*\x00\x08\x00\x00\x00"
TIFF_BE = b"MM\x00*\x00\x00\x00\x08"
EXE = b"MZ\x90\x00\x03\x00\x00\x00" + bytes(64)


@pytest.fixture
def session(memory_vault):
    return memory_vault.created.session


@pytest.fixture
def patient_id(session) -> str:
    return patients.create_patient(session, Patient(family="Doc", given="Holder"))


def _actions(session, document_id: str) -> list[tuple[str, str]]:
    return [
        (e.action, e.outcome)
        for e in reversed(audit.entries(session.database(), 1000))
        if e.record_id == document_id
    ]


@pytest.mark.parametrize(
    ("data", "media_type"),
    [
        (PDF, "application/pdf"),
        (PNG, "image/png"),
        (JPEG, "image/jpeg"),
        (GIF, "image/gif"),
        (WEBP, "image/webp"),
        (TIFF_LE, "image/tiff"),
        (TIFF_BE, "image/tiff"),
    ],
)
def test_sniffs_accepted_types(data, media_type):
    assert documents.sniff_media_type(data) == media_type


@pytest.mark.parametrize(
    "data", [EXE, b"RIFF\x00\x00\x00\x00WAVEfmt ", b"GIF8", b"hello", b"\x00" * 16]
)
def test_sniffs_nothing_else(data):
    assert documents.sniff_media_type(data) is None


def test_attach_pdf_and_png_then_list(session, patient_id):
    pdf_id = documents.attach(session, patient_id, "consent.pdf", PDF)
    png_id = documents.attach(session, patient_id, "card.png", PNG)

    listed = documents.list_documents(session, patient_id)

    assert [(d.id, d.filename, d.media_type, d.size) for d in listed] == [
        (pdf_id, "consent.pdf", "application/pdf", len(PDF)),
        (png_id, "card.png", "image/png", len(PNG)),
    ]
    assert all(d.patient_id == patient_id and d.created_at for d in listed)
    assert _actions(session, pdf_id) == [("document.attach", "ok")]


def test_type_comes_from_content_not_extension(session, patient_id):
    doc_id = documents.attach(session, patient_id, "scan.pdf", PNG)

    info, _ = documents.open_document(session, doc_id)

    assert info.media_type == "image/png"


def test_sha256_is_stored(session, patient_id):
    doc_id = documents.attach(session, patient_id, "consent.pdf", PDF)

    digest = session.database().scalar(
        "SELECT sha256 FROM documents WHERE id = ?", (doc_id,)
    )

    assert digest == hashlib.sha256(PDF).hexdigest()


def test_refuses_exe_renamed_pdf(session, patient_id):
    with pytest.raises(InvalidInput, match="not a PDF or an image"):
        documents.attach(session, patient_id, "invoice.pdf", EXE)

    assert documents.list_documents(session, patient_id) == []


def test_refuses_empty(session, patient_id):
    with pytest.raises(InvalidInput, match="empty"):
        documents.attach(session, patient_id, "empty.pdf", b"")


def test_size_limit(session, patient_id):
    too_big = PDF + bytes(documents.MAX_BYTES + 1 - len(PDF))
    at_limit = too_big[:-1]

    with pytest.raises(InvalidInput, match="25 MB"):
        documents.attach(session, patient_id, "big.pdf", too_big)
    doc_id = documents.attach(session, patient_id, "limit.pdf", at_limit)

    assert documents.list_documents(session, patient_id)[0].id == doc_id


@pytest.mark.parametrize(
    ("given", "kept"),
    [
        ("../../etc/passwd.pdf", "passwd.pdf"),
        ("C:\\Users\\me\\Scans\\card.pdf", "card.pdf"),
        ("/tmp/x/consent form.pdf", "consent form.pdf"),
        ("Zoë's consent.pdf", "Zoë's consent.pdf"),
    ],
)
def test_filename_keeps_only_the_base_name(given, kept):
    assert documents.clean_filename(given) == kept


@pytest.mark.parametrize("name", ["", "folder/", "..", "a/..", "\x07"])
def test_refuses_names_without_a_file(name):
    with pytest.raises(InvalidInput, match="file name"):
        documents.clean_filename(name)


def test_attach_stores_the_base_name(session, patient_id):
    doc_id = documents.attach(session, patient_id, "../scans/Zoë's card.png", PNG)

    info, _ = documents.open_document(session, doc_id)

    assert info.filename == "Zoë's card.png"


def test_unknown_patient(session):
    with pytest.raises(patients.PatientNotFound):
        documents.attach(session, "nobody", "x.pdf", PDF)


def test_open_is_audited(session, patient_id):
    doc_id = documents.attach(session, patient_id, "consent.pdf", PDF)

    info, content = documents.open_document(session, doc_id)

    assert content == PDF
    assert info.filename == "consent.pdf"
    assert _actions(session, doc_id)[-1] == ("document.view", "ok")


def test_listing_is_not_audited(session, patient_id):
    doc_id = documents.attach(session, patient_id, "consent.pdf", PDF)

    documents.list_documents(session, patient_id)

    assert _actions(session, doc_id) == [("document.attach", "ok")]


def test_save_writes_owner_only_file_and_audits(session, patient_id, tmp_path):
    doc_id = documents.attach(session, patient_id, "consent.pdf", PDF)
    target = tmp_path / "out" / "copy.pdf"
    target.parent.mkdir()

    documents.save_document(session, doc_id, target)

    assert target.read_bytes() == PDF
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert [p.name for p in target.parent.iterdir()] == ["copy.pdf"]
    assert _actions(session, doc_id)[-1] == ("document.export", "ok")


def test_save_refuses_to_overwrite_unless_asked(session, patient_id, tmp_path):
    doc_id = documents.attach(session, patient_id, "consent.pdf", PDF)
    target = tmp_path / "copy.pdf"
    target.write_bytes(b"keep me")

    with pytest.raises(InvalidInput, match="already exists"):
        documents.save_document(session, doc_id, target)
    assert target.read_bytes() == b"keep me"
    documents.save_document(session, doc_id, target, overwrite=True)

    assert target.read_bytes() == PDF
    assert stat.S_IMODE(target.stat().st_mode) == 0o600


def test_failed_save_is_audited_as_failed(session, patient_id, tmp_path):
    doc_id = documents.attach(session, patient_id, "consent.pdf", PDF)

    with pytest.raises(InvalidInput, match="cannot be written"):
        documents.save_document(session, doc_id, tmp_path / "missing" / "copy.pdf")

    assert _actions(session, doc_id)[-2:] == [
        ("document.export", "ok"),
        ("document.export", "failed"),
    ]


def test_unknown_document(session, tmp_path):
    with pytest.raises(documents.DocumentNotFound):
        documents.open_document(session, "nope")
    with pytest.raises(documents.DocumentNotFound):
        documents.save_document(session, "nope", tmp_path / "x.pdf")


def test_permissions(memory_vault, add_staff, patient_id):
    session = memory_vault.created.session
    doc_id = documents.attach(session, patient_id, "consent.pdf", PDF)
    biller = add_staff("Bill Biller", "biller", "864202")
    other = memory_vault.service.unlock(
        biller.name, biller.pin, memory_vault.code(biller.secret)
    )

    try:
        with pytest.raises(NotPermitted):
            documents.attach(other, patient_id, "x.pdf", PDF)
        with pytest.raises(NotPermitted):
            documents.list_documents(other, patient_id)
        with pytest.raises(NotPermitted):
            documents.open_document(other, doc_id)
    finally:
        other.lock()
