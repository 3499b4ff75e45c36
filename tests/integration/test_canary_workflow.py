"""Canary scan over a full workflow: no patient value or secret leaks anywhere.

A patient with unique marker values goes through import, edit, a document,
exports (to memory only), search, scheduling (an appointment with a reason,
a logged call, the provider's calendar), lock, unlock and a backup, against a real
Secret Service and a real SQLCipher vault. Then logs, the CLI's ``--debug``
stderr, the vault folder, files made in the OS temp folder and the backup's
bytes are searched for every marker, in UTF-8 and UTF-16 (both byte orders),
ignoring case. Only files the user explicitly hands over (the import source and
the CLI's PIN file) are allowed to hold them.
"""

from __future__ import annotations

import io
import json
import logging
import os
import subprocess
import sys
import tempfile
import time
import zlib
from dataclasses import replace
from datetime import datetime
from pathlib import Path

import pytest
from support.cli_harness import fresh_code

from desktop_crm.platform.secret_store import KeyringSecretStore
from desktop_crm.services import backup, documents, patients, providers
from desktop_crm.services.exporting import csv_export, fhir_export, pdf_summary
from desktop_crm.services.importing import import_fhir
from desktop_crm.services.patient_model import ContactPoint
from desktop_crm.services.scheduling import appointments, calendar_export
from desktop_crm.services.scheduling.communications import (
    Communication,
    log_communication,
)
from desktop_crm.services.scheduling.model import AppointmentRequest
from desktop_crm.services.session import Session
from desktop_crm.services.vault import VaultService

pytestmark = [pytest.mark.keyring, pytest.mark.slow]

FAMILY = "QXCANARYQ"
GIVEN = "ZYXWVU"
PHONE = "+1 555 019 7734"
EMAIL = "qx.canary@example.org"
NOTE = "QXNOTEQ"
EDITED_NOTE = "QXEDITEDNOTEQ"
DOCUMENT_MARKER = "QXDOCUMENTQ"
REASON = "QXREASONQ"
CALL_NOTE = "QXCALLNOTEQ"
#: The phone as typed, as stored (international format) and as bare digits.
PHONE_FORMS = (PHONE, "+1 555-019-7734", "555-019-7734", "5550197734")
MARKERS = (
    FAMILY,
    GIVEN,
    EMAIL,
    NOTE,
    EDITED_NOTE,
    DOCUMENT_MARKER,
    REASON,
    CALL_NOTE,
    *PHONE_FORMS,
)

ADMIN = "Canary Admin"
PIN = "80417263"
PASSPHRASE = "qx backup passphrase canary"
ENCODINGS = ("utf-8", "utf-16-le", "utf-16-be")
REPO = Path(__file__).resolve().parents[2]


def needles(*texts: str) -> dict[bytes, str]:
    """Each text, lower-cased, in every encoding, mapped back to the text."""
    return {t.lower().encode(e): t for t in texts for e in ENCODINGS}


def found_in(data: bytes, wanted: dict[bytes, str]) -> set[str]:
    """Which texts appear in ``data``; ``bytes.lower`` folds ASCII case only,
    which is enough for ASCII markers in all three encodings."""
    lowered = data.lower()
    return {text for needle, text in wanted.items() if needle in lowered}


def scan_files(paths: list[Path], wanted: dict[bytes, str]) -> dict[str, set[str]]:
    leaks = {}
    for path in paths:
        try:
            data = path.read_bytes()
        except OSError:  # vanished or unreadable (another process's file)
            continue
        hits = found_in(data, wanted)
        if hits:
            leaks[str(path)] = hits
    return leaks


def temp_files_since(since: float, allowed: set[Path]) -> list[Path]:
    """Regular files in the OS temp folder modified during the test."""
    out = []
    for folder, _, names in os.walk(tempfile.gettempdir()):
        for name in names:
            path = Path(folder, name)
            try:
                recent = path.is_file() and path.stat().st_mtime >= since
            except OSError:
                continue
            if recent and path not in allowed:
                out.append(path)
    return out


def png_with_marker() -> bytes:
    """A valid 1x1 PNG with the marker appended after its IEND chunk."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        crc = zlib.crc32(kind + body).to_bytes(4, "big")
        return len(body).to_bytes(4, "big") + kind + body + crc

    header = (1).to_bytes(4, "big") * 2 + bytes([8, 0, 0, 0, 0])
    pixels = zlib.compress(b"\x00\x00")
    image = chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")
    return b"\x89PNG\r\n\x1a\n" + image + DOCUMENT_MARKER.encode()


def fhir_bundle() -> dict[str, object]:
    patient = {
        "resourceType": "Patient",
        "id": "canary-1",
        "name": [{"family": FAMILY, "given": [GIVEN]}],
        "birthDate": "1971-03-09",
        "gender": "female",
        "telecom": [
            {"system": "phone", "value": PHONE},
            {"system": "email", "value": EMAIL},
        ],
    }
    entry = {"fullUrl": "urn:uuid:canary-1", "resource": patient}
    return {"resourceType": "Bundle", "type": "collection", "entry": [entry]}


class Codes:
    """TOTP codes for distinct time steps (the vault refuses a replayed step)."""

    def __init__(self, secret: str) -> None:
        self.secret = secret
        self.used: set[int] = set()

    def next(self) -> str:
        return fresh_code(self.secret, self.used)


def import_edit_and_export(session: Session, source: Path) -> str:
    report = import_fhir(session, [source])
    assert report.patients == 1, report.rejected
    (found,) = patients.search(session, FAMILY)
    record = patients.open_patient(session, found.id)
    edited = replace(
        record,
        notes=f"{NOTE} {EDITED_NOTE}",
        phones=(ContactPoint(PHONE, use="mobile", reminders=True),),
    )
    assert "notes" in patients.update_patient(session, found.id, edited)
    documents.attach(session, found.id, "scan.png", png_with_marker())
    _, content = documents.open_document(
        session, documents.list_documents(session, found.id)[0].id
    )
    csv_text = io.StringIO(newline="")
    csv_export.write_patients_csv(session, csv_text)
    bundle = json.dumps(fhir_export.patient_bundle(session, found.id))
    pdf = pdf_summary.patient_pdf(session, found.id)
    assert DOCUMENT_MARKER.encode() in content
    assert FAMILY in csv_text.getvalue() and FAMILY in bundle
    assert pdf.startswith(b"%PDF")
    assert [p.id for p in patients.search(session, GIVEN.lower())] == [found.id]
    return found.id


def schedule(session: Session, patient_id: str) -> None:
    """Book a visit with a reason, log a call about it, export the calendar."""
    (provider,) = providers.list_providers(session)
    request = AppointmentRequest(
        patient_id=patient_id,
        provider_id=provider.id,
        local_start=datetime(2027, 3, 9, 10, 30),
        zone="America/Chicago",
        duration_min=30,
        video_link="https://visits.example.org/room/7",
        reason=REASON,
    )
    (appointment_id,) = appointments.book(session, request)
    assert appointments.get(session, appointment_id).reason == REASON
    call = Communication(
        patient_id, "call", "out", subject="Visit", body=CALL_NOTE,
        appointment_id=appointment_id,
    )  # fmt: skip
    log_communication(session, call)
    assert FAMILY.encode() not in calendar_export.provider_calendar(
        session, provider.id
    )


def run_cli_search(env: dict[str, str], root: Path, pin_file: Path) -> str:
    """``desktop-crm --debug patients search`` (quick re-unlock); its stderr."""
    command = [sys.executable, "-m", "desktop_crm", "--debug", "patients"]
    command += ["search", FAMILY, "--data-dir", str(root), "--user", ADMIN]
    command += ["--pin-file", str(pin_file)]
    child_env = {**env, "DESKTOP_CRM_TEST_KDF": "1", "PYTHONPATH": str(REPO)}
    proc = subprocess.run(
        command,
        env=child_env,
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert FAMILY in proc.stdout  # the user asked for it on standard output
    return proc.stderr


def test_full_workflow_leaks_no_canary(secret_service, tmp_path, caplog):
    caplog.set_level(logging.DEBUG)
    started = time.time() - 1
    root = tmp_path / "vault"
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    source = inbox / "canary-bundle.json"
    source.write_text(json.dumps(fhir_bundle()), encoding="utf-8")
    pin_file = inbox / "admin.pin"
    pin_file.write_text(PIN, encoding="utf-8")
    backup_file = tmp_path / "backups" / "canary.crmbackup"
    backup_file.parent.mkdir()

    vault = VaultService(root, KeyringSecretStore())
    created = vault.create("Canary Telehealth", ADMIN, PIN, "America/Chicago")
    codes = Codes(created.enrolment.secret)
    vault.confirm_enrolment(created.session, codes.next())
    created.session.lock()
    session = vault.unlock(ADMIN, PIN, codes.next())
    patient_id = import_edit_and_export(session, source)
    schedule(session, patient_id)
    session.lock()
    session = vault.unlock(ADMIN, PIN)  # quick re-unlock, PIN alone
    assert patients.open_patient(session, patient_id).family == FAMILY
    backup.set_backup_passphrase(session, PASSPHRASE)
    backup.create_backup(session, backup_file)
    session.lock()
    cli_stderr = run_cli_search(secret_service.env, root, pin_file)

    wanted = needles(*MARKERS, PIN, PASSPHRASE, created.enrolment.secret)
    log_text = "\n".join(
        f"{r.name} {r.getMessage()} {r.exc_text or ''}" for r in caplog.records
    )
    vault_files = [p for p in root.rglob("*") if p.is_file()]
    temp_files = temp_files_since(started, {source, pin_file})
    assert caplog.records and vault_files and temp_files
    assert set(scan_files([source, pin_file], wanted)) == {str(source), str(pin_file)}
    assert found_in(log_text.encode(), wanted) == set()
    assert found_in(cli_stderr.encode(), wanted) == set()
    assert scan_files(vault_files, wanted) == {}
    assert scan_files(temp_files, wanted) == {}
    assert found_in(backup_file.read_bytes(), wanted) == set()
