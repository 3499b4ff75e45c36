"""`desktop-crm report compliance` through the real command and keyring."""

from __future__ import annotations

import io
import subprocess
import sys

import pytest
from pypdf import PdfReader
from support.cli_harness import CLI, PIN, secret_of

pytestmark = [pytest.mark.e2e, pytest.mark.keyring]

ADMIN = "Ana Admin"


def _report(cli: CLI, user: str, pin: str, otp: str | None):
    command = [sys.executable, "-m", "desktop_crm", "report", "compliance"]
    command += ["--data-dir", str(cli.data_dir), "--user", user]
    command += ["--pin-file", cli.file(f"{user}-report.pin", pin)]
    if otp is not None:
        command += ["--otp", otp]
    return subprocess.run(
        command,
        env=cli.env,
        capture_output=True,
        stdin=subprocess.DEVNULL,
        timeout=120,
        check=False,
    )


def _text(data: bytes) -> str:
    return "\n".join(p.extract_text() for p in PdfReader(io.BytesIO(data)).pages)


def test_admin_gets_the_pdf_and_front_desk_is_refused_with_exit_6(cli: CLI):
    secret, _ = cli.init()
    add = cli.as_user(
        ADMIN, PIN, cli.code(secret), "user", "add", "--name", "Bob Desk",
        "--role", "front-desk", "--new-pin-file", cli.file("bob.pin", "246802"),
    )  # fmt: skip
    assert add.code == 0, add.err

    made = _report(cli, ADMIN, PIN, None)

    assert made.returncode == 0, made.stderr.decode()
    assert made.stdout.startswith(b"%PDF-")
    text = _text(made.stdout)
    assert "164.312(a)(2)(iii)" in text and "164.308(a)(7)(ii)(A)" in text
    assert "Bob Desk" in text  # the user not yet enrolled in TOTP is named
    assert "chain intact" in text

    bob = _report(cli, "Bob Desk", "246802", cli.code(secret_of(add.line("totp-uri:"))))

    assert bob.returncode == 6
    assert "reports.compliance" in bob.stderr.decode()
    assert bob.stdout == b""
