"""Documents attached to a patient (consent forms, insurance cards, scans).

Documents live inside the encrypted vault, in the ``documents`` table, and are
written only through the session's write path.  They never appear as loose
files, except where a user explicitly saves one with :func:`save_document`.
Viewing and saving are audited; listing is not (it shows no content).

The type of a document is read from its first bytes, never from the file
name's extension, and only PDF and common image types are accepted.
"""

from __future__ import annotations

import hashlib
import logging
import unicodedata
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from desktop_crm.errors import CRMError, InvalidInput
from desktop_crm.platform import pdf_render
from desktop_crm.platform.atomic import atomic_write
from desktop_crm.services.patients import PatientNotFound
from desktop_crm.services.session import Session
from desktop_crm.storage import patient_queries
from desktop_crm.storage.writepath import AuditEvent, Mutation

log = logging.getLogger(__name__)

MAX_BYTES = 25 * 1024 * 1024
MAX_FILENAME = 255

#: Magic numbers of the accepted types: (prefix, offset, media type).  WebP
#: is a RIFF container whose form type sits at offset 8.
_SIGNATURES: tuple[tuple[bytes, int, str], ...] = (
    (b"%PDF-", 0, "application/pdf"),
    (b"\x89PNG\r\n\x1a\n", 0, "image/png"),
    (b"\xff\xd8\xff", 0, "image/jpeg"),
    (b"GIF87a", 0, "image/gif"),
    (b"GIF89a", 0, "image/gif"),
    (b"WEBP", 8, "image/webp"),
    (b"II*\x00", 0, "image/tiff"),
    (b"MM\x00*", 0, "image/tiff"),
)


class DocumentNotFound(CRMError):
    """No document with that id."""

    def __init__(self) -> None:
        super().__init__("no document with that id")


@dataclass(frozen=True)
class DocumentInfo:
    """What a document list shows: everything but the content."""

    id: str
    patient_id: str
    filename: str
    media_type: str
    size: int
    created_at: str


def sniff_media_type(data: bytes) -> str | None:
    """The media type that the content's magic bytes announce, or None."""
    for magic, offset, media_type in _SIGNATURES:
        if data[offset : offset + len(magic)] != magic:
            continue
        if media_type == "image/webp" and not data.startswith(b"RIFF"):
            continue
        return media_type
    return None


def clean_filename(filename: str) -> str:
    """Keep only the base name (either separator), NFC, without control chars.

    Raises:
        InvalidInput: nothing usable is left, or the name is too long.
    """
    base = filename.replace("\\", "/").rsplit("/", 1)[-1]
    base = unicodedata.normalize("NFC", base.strip())
    base = "".join(c for c in base if unicodedata.category(c)[0] != "C")
    if base in ("", ".", ".."):
        raise InvalidInput("file name", "must name a file")
    if len(base) > MAX_FILENAME:
        raise InvalidInput("file name", f"use at most {MAX_FILENAME} characters")
    return base


def _check_content(data: bytes) -> str:
    if not data:
        raise InvalidInput("document", "the file is empty")
    if len(data) > MAX_BYTES:
        raise InvalidInput(
            "document", f"the file is larger than the limit of {MAX_BYTES // 2**20} MB"
        )
    media_type = sniff_media_type(data)
    if media_type is None:
        raise InvalidInput(
            "document",
            "not a PDF or an image (PNG, JPEG, GIF, WebP or TIFF); "
            "the content was checked, not the file name",
        )
    return media_type


def attach(session: Session, patient_id: str, filename: str, data: bytes) -> str:
    """Store a document for a patient inside the vault; returns its id.

    A file name with folders in it keeps only its base name.

    Raises:
        InvalidInput: empty, too big, a type that is not accepted, or no name.
        PatientNotFound: no patient with that id.
    """
    session.require("documents.write")
    media_type = _check_content(data)
    name = clean_filename(filename)
    db = session.database()
    if patient_queries.patient_row(db, patient_id) is None:
        raise PatientNotFound
    document_id = str(uuid.uuid4())
    values = {
        "patient_id": patient_id,
        "filename": name,
        "media_type": media_type,
        "size": len(data),
        "sha256": hashlib.sha256(data).hexdigest(),
        "content": bytes(data),
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    session.write(
        AuditEvent("document.attach", "document", document_id),
        [Mutation("documents", document_id, "insert", values)],
    )
    log.info("document %s attached", document_id)
    return document_id


def list_documents(session: Session, patient_id: str) -> list[DocumentInfo]:
    """A patient's documents, oldest first (not audited: no content is read)."""
    session.require("documents.read", patient_id)
    rows = patient_queries.documents(session.database(), patient_id)
    return [DocumentInfo(i, patient_id, n, t, s, c) for i, n, t, s, c in rows]


def _load(session: Session, document_id: str) -> tuple[DocumentInfo, bytes]:
    """The document and its content; ``documents.read`` is checked for its
    patient (so a break-glass grant for that patient counts)."""
    db = session.database()
    found = patient_queries.document_content(db, document_id)
    if found is None:
        raise DocumentNotFound
    patient_id, _, content = found
    for info in list_documents(session, patient_id):
        if info.id == document_id:
            return info, content
    raise DocumentNotFound


def open_document(session: Session, document_id: str) -> tuple[DocumentInfo, bytes]:
    """Read a document for viewing in the app; writes a ``document.view`` entry."""
    info, content = _load(session, document_id)
    session.write(AuditEvent("document.view", "document", document_id))
    return info, content


@dataclass(frozen=True)
class Preview:
    """What the app can show of a document: an image, or why it cannot."""

    info: DocumentInfo
    image: bytes
    note: str


def preview_document(session: Session, document_id: str) -> Preview:
    """An image to show for a document (a PDF's first page is drawn).

    Audited like opening it (``document.view``).
    """
    info, content = open_document(session, document_id)
    if info.media_type == "application/pdf":
        try:
            return Preview(info, pdf_render.first_page_png(content), "")
        except pdf_render.PreviewUnavailable as exc:
            return Preview(info, b"", exc.message)
    return Preview(info, content, "")


def save_document(
    session: Session, document_id: str, target: Path, *, overwrite: bool = False
) -> None:
    """Save a copy of a document to ``target`` (owner-only permissions).

    The ``document.export`` audit entry is written before the file, so no copy
    leaves the vault unaudited; a write that then fails is audited as
    ``failed``.  The file is written atomically (temporary file, rename).

    Raises:
        InvalidInput: ``target`` exists and ``overwrite`` is off, or it cannot
            be written.
        DocumentNotFound: no document with that id.
    """
    _, content = _load(session, document_id)
    target = Path(target)
    if target.exists() and not overwrite:
        raise InvalidInput("target file", "already exists (choose another name)")
    session.write(AuditEvent("document.export", "document", document_id))
    try:
        atomic_write(target, content)
    except OSError as exc:
        session.write(
            AuditEvent("document.export", "document", document_id, outcome="failed")
        )
        raise InvalidInput(
            "target file", f"cannot be written: {exc.strerror or 'error'}"
        ) from exc
    log.info("document %s saved to disk", document_id)
