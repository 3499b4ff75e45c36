"""`desktop-crm patients` and `documents` through the real command and keyring."""

from __future__ import annotations

import csv
import io
import json
import re
import subprocess
import sys

import pytest
from fhir.resources.R4B.bundle import Bundle
from pypdf import PdfReader
from support.cli_harness import CLI, PIN

pytestmark = [pytest.mark.e2e, pytest.mark.keyring]

ADMIN = "Ana Admin"
UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
PDF = b"%PDF-1.4\n% consent form\n%%EOF\n"


@pytest.fixture
def admin(cli: CLI):
    """Run a command as the admin: a full unlock first, then quick re-unlocks."""
    secret, _ = cli.init()
    first = [True]

    def run(*args: str):
        otp = cli.code(secret) if first[0] else None
        first[0] = False
        return cli.as_user(ADMIN, PIN, otp, *args)

    return run


def _bytes_of(cli: CLI, *args: str) -> subprocess.CompletedProcess[bytes]:
    """Like cli.as_user for the admin, but keeping stdout as bytes."""
    command = [sys.executable, "-m", "desktop_crm", *args, "--data-dir"]
    command += [str(cli.data_dir), "--user", ADMIN]
    command += ["--pin-file", cli.file("admin-bytes.pin", PIN)]
    return subprocess.run(
        command,
        env=cli.env,
        capture_output=True,
        stdin=subprocess.DEVNULL,
        timeout=120,
        check=False,
    )


def _add(admin, *args: str) -> str:
    result = admin("patients", "add", *args)
    assert result.code == 0, result.err
    assert re.fullmatch(UUID + "\n", result.out)
    return result.out.strip()


def test_add_count_search_and_export(cli: CLI, admin):
    zoe = _add(
        admin,
        "--family",
        "Bélanger-Côté",
        "--given",
        "Zoë",
        "--birth-date",
        "1984-02-29",
        "--phone",
        "+1 555 010 0142",
    )
    siobhan = _add(
        admin, "--family", "O'Grady", "--given", "Siobhán", "--birth-date", "1990-05"
    )
    _add(
        admin, "--family", '=HYPERLINK("http://evil.example/")', "--given", "@SUM(1+1)"
    )
    count = admin("patients", "count")
    found = admin("patients", "search", "o'grady")
    nothing = admin("patients", "search", "zzzqqq")
    fhir = admin("patients", "export", zoe, "--format", "fhir")
    table = admin("patients", "export-all", "--format", "csv")
    pdf = _bytes_of(cli, "patients", "export", siobhan, "--format", "pdf")

    assert count.out == "patients: 3\n" and count.err == ""
    assert found.out == f"{siobhan}\tO'Grady, Siobhán\t1990-05\n"
    assert (nothing.code, nothing.out) == (0, "")
    bundle = json.loads(fhir.out)
    Bundle.model_validate(bundle)
    assert bundle["entry"][0]["resource"]["name"][0]["family"] == "Bélanger-Côté"
    assert table.code == 0 and table.out.startswith("\ufeffid,mrn,family,")
    rows = list(csv.DictReader(io.StringIO(table.out.lstrip("\ufeff"), newline="")))
    by_id = {r["id"]: r for r in rows}
    assert by_id[zoe]["phones"] == "'+1 555-010-0142"
    assert by_id[siobhan]["family"] == "O'Grady"
    hostile = next(r for r in rows if r["given"] == "'@SUM(1+1)")
    assert hostile["family"] == '\'=HYPERLINK("http://evil.example/")'
    assert pdf.returncode == 0, pdf.stderr
    text = PdfReader(io.BytesIO(pdf.stdout)).pages[0].extract_text()
    assert "O'Grady, Siobhán" in text


def test_documents_duplicates_and_errors(cli: CLI, admin):
    patient = _add(
        admin,
        "--family",
        "García-López",
        "--given",
        "María",
        "--birth-date",
        "1984-02-29",
    )
    source = cli.workdir / "consent.pdf"
    source.write_bytes(PDF)
    target = cli.workdir / "copy.pdf"

    duplicate = admin(
        "patients",
        "add",
        "--family",
        "Garcia Lopez",
        "--given",
        "Maria",
        "--birth-date",
        "1984-02-29",
    )
    missing = admin("patients", "export", "no-such-id", "--format", "fhir")
    attached = admin("documents", "attach", patient, str(source))
    doc_id = attached.out.strip()
    listing = admin("documents", "list", patient)
    saved = admin("documents", "save", doc_id, "--out", str(target))
    again = admin("documents", "save", doc_id, "--out", str(target))

    assert duplicate.code == 1
    assert patient in duplicate.err and "--allow-duplicate" in duplicate.err
    assert "García" not in duplicate.err and "Garcia" not in duplicate.err
    assert missing.code == 1 and "no patient with that id" in missing.err
    assert attached.code == 0 and re.fullmatch(UUID, doc_id)
    fields = listing.out.rstrip("\n").split("\t")
    assert fields[:4] == [doc_id, "consent.pdf", "application/pdf", str(len(PDF))]
    assert saved.code == 0, saved.err
    assert target.read_bytes() == PDF
    assert target.stat().st_mode & 0o077 == 0
    assert again.code == 1 and "already exists" in again.err
