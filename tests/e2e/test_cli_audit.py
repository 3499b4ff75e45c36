"""`desktop-crm audit export` through the real command and keyring."""

from __future__ import annotations

import csv
import io
import subprocess
import sys
from datetime import UTC, datetime, timedelta

import pytest
from pypdf import PdfReader
from support.cli_harness import CLI, PIN, secret_of

pytestmark = [pytest.mark.e2e, pytest.mark.keyring]

ADMIN = "Ana Admin"
TODAY = datetime.now(UTC).date()
FROM, TO = str(TODAY - timedelta(days=2)), str(TODAY + timedelta(days=2))


@pytest.fixture
def vault(cli: CLI):
    """A vault with two patients, one of them exported; returns their ids."""
    secret, _ = cli.init()
    first = cli.as_user(
        ADMIN, PIN, cli.code(secret), "patients", "add", "--family", "Audited"
    )
    second = cli.as_user(ADMIN, PIN, None, "patients", "add", "--family", "Other")
    assert first.code == 0 and second.code == 0, first.err + second.err
    audited, other = first.out.strip(), second.out.strip()
    exported = cli.as_user(
        ADMIN, PIN, None, "patients", "export", audited, "--format", "fhir"
    )
    assert exported.code == 0, exported.err
    return audited, other


def _export(cli: CLI, *args: str) -> subprocess.CompletedProcess[bytes]:
    command = [sys.executable, "-m", "desktop_crm", "audit", "export", *args]
    command += ["--data-dir", str(cli.data_dir), "--user", ADMIN]
    command += ["--pin-file", cli.file("admin-audit.pin", PIN)]
    return subprocess.run(
        command,
        env=cli.env,
        capture_output=True,
        stdin=subprocess.DEVNULL,
        timeout=120,
        check=False,
    )


def _rows(data: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))


def test_export_csv_all_and_for_one_patient(cli: CLI, vault):
    audited, other = vault

    everything = _export(cli, "--from", FROM, "--to", TO, "--format", "csv")
    one = _export(
        cli, "--from", FROM, "--to", TO, "--patient", audited, "--format", "csv"
    )
    by_admin = _export(
        cli, "--from", FROM, "--to", TO, "--by-user", ADMIN, "--format", "csv"
    )

    assert everything.returncode == 0, everything.stderr
    rows = _rows(everything.stdout)
    assert rows[0][:3] == ["seq", "time_utc", "time_local"]
    actions = {row[6] for row in rows[1:]}
    assert {"vault.create", "session.unlock", "patient.create"} <= actions
    assert "patient.export" in actions
    patient_rows = _rows(one.stdout)[1:]
    assert {row[9] for row in patient_rows} == {audited}
    assert other not in one.stdout.decode()
    assert {row[6] for row in patient_rows} >= {"patient.create", "patient.export"}
    assert {row[4] for row in _rows(by_admin.stdout)[1:]} == {ADMIN}
    assert b"entries exported" in one.stderr


def test_export_pdf_is_binary_on_stdout(cli: CLI, vault):
    audited, _ = vault

    result = _export(
        cli, "--from", FROM, "--to", TO, "--patient", audited, "--format", "pdf"
    )

    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(b"%PDF-")
    text = PdfReader(io.BytesIO(result.stdout)).pages[0].extract_text()
    assert "Accounting of access" in text
    assert "patient.export" in text


def test_export_is_itself_audited(cli: CLI, vault):
    audited, _ = vault
    assert _export(cli, "--from", FROM, "--to", TO, "--format", "csv").returncode == 0

    later = _export(
        cli, "--from", FROM, "--to", TO, "--action", "audit.*", "--format", "csv"
    )

    rows = _rows(later.stdout)[1:]
    assert [(r[6], r[11]) for r in rows] == [("audit.export", "csv")]
    assert rows[0][10] == "from; to"


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (("--from", "2024-13-01", "--to", "2024-12-31"), "--from"),
        (("--from", "2024-01-01", "--to", "31/12/2024"), "--to"),
        (("--from", "2024-02-01", "--to", "2024-01-01"), "--to"),
    ],
    ids=["month", "format", "order"],
)
def test_bad_dates_exit_2_naming_the_option(cli: CLI, vault, args, named):
    result = _export(cli, *args, "--format", "csv")

    assert result.returncode == 2
    assert result.stdout == b""
    assert result.stderr.decode().startswith(f"desktop-crm: {named}:")


def test_unknown_user_is_named(cli: CLI, vault):
    result = _export(
        cli, "--from", FROM, "--to", TO, "--by-user", "Nobody", "--format", "csv"
    )

    assert result.returncode == 1
    assert "user: no user with this name" in result.stderr.decode()
    assert result.stdout == b""


def test_front_desk_is_refused_with_exit_6(cli: CLI, vault):
    add = cli.as_user(
        ADMIN, PIN, None, "user", "add", "--name", "Bob Desk", "--role",
        "front-desk", "--new-pin-file", cli.file("bob.pin", "246802"),
    )  # fmt: skip
    assert add.code == 0, add.err
    bob = cli.as_user(
        "Bob Desk", "246802", cli.code(secret_of(add.line("totp-uri:"))),
        "audit", "export", "--from", FROM, "--to", TO, "--format", "csv",
    )  # fmt: skip

    assert bob.code == 6
    assert "audit.read" in bob.err
    assert bob.out == ""
