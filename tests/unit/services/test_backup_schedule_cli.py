"""`desktop-crm backup schedule / run-scheduled / status` with a real keyring."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from support.cli_harness import CLI, PIN

pytestmark = [pytest.mark.e2e, pytest.mark.keyring]

PASSPHRASE = "correct horse battery staple"


@pytest.fixture
def cli(secret_service, tmp_path: Path) -> CLI:
    """As tests/e2e/conftest.py's ``cli`` (this file lives beside the services)."""
    env = dict(secret_service.env)
    env["DESKTOP_CRM_TEST_KDF"] = "1"
    env["PYTHONPATH"] = str(Path(__file__).resolve().parents[3])
    work = tmp_path / "work"
    work.mkdir()
    return CLI(env, tmp_path / "vault", work)


def test_unattended_run_scheduled_then_nothing_due(cli: CLI):
    secret, _ = cli.init()

    def admin(*args: str, first: bool = False):
        return cli.as_user("Ana Admin", PIN, cli.code(secret) if first else None, *args)

    phrase = cli.file("phrase", PASSPHRASE)
    assert (
        admin("backup", "set-passphrase", "--passphrase-file", phrase, first=True).code
        == 0
    )
    dest = cli.workdir / "drive"
    dest.mkdir()
    (dest / "holiday.jpg").write_bytes(b"not ours")
    scheduled = admin(
        "backup", "schedule", "--at", "02:00", "--dest", str(dest), "--keep-daily", "3"
    )
    assert scheduled.code == 0, scheduled.err
    assert "keep 3 daily, 4 weekly, 12 monthly" in scheduled.out

    refused = cli.run("backup", "run-scheduled", "--unattended")
    assert refused.code == 1 and "unattended tasks are not enabled" in refused.err

    assert admin("unattended", "enable").code == 0
    first = cli.run("backup", "run-scheduled", "--unattended")
    again = cli.run("backup", "run-scheduled", "--unattended")
    status = cli.run("backup", "status", "--unattended")

    assert first.code == 0, first.err
    made = sorted(dest.glob("desktop-crm-backup-*.dcrmbak"))
    assert len(made) == 1
    assert re.match(rf"backup: {re.escape(str(made[0]))}, \d+ bytes", first.out)
    assert "drill: ok" in first.out
    assert again.code == 0 and again.out == "backup: nothing due\n"
    assert status.code == 0
    assert re.fullmatch(
        r"Last backup: \d{4}-\d\d-\d\d \d\d:\d\d, verified\n", status.out
    )
    assert (dest / "holiday.jpg").read_bytes() == b"not ours"


def test_a_missing_destination_fails_with_its_name(cli: CLI):
    secret, _ = cli.init()
    phrase = cli.file("phrase", PASSPHRASE)
    first = cli.as_user(
        "Ana Admin", PIN, cli.code(secret),
        "backup", "set-passphrase", "--passphrase-file", phrase,
    )  # fmt: skip
    assert first.code == 0, first.err
    gone = cli.workdir / "unplugged"
    scheduled = cli.as_user(
        "Ana Admin", PIN, None, "backup", "schedule", "--at", "01:00", "--dest",
        str(gone),
    )  # fmt: skip
    # kept (a drive may be unplugged now), with a warning naming the folder
    assert scheduled.code == 0
    assert f"warning: {gone} is not a folder that exists now" in scheduled.err

    run = cli.as_user("Ana Admin", PIN, None, "backup", "run-scheduled")
    status = cli.as_user("Ana Admin", PIN, None, "backup", "status")

    assert run.code == 1
    assert f"backup failed: backup destination {gone} does not exist" in run.out
    assert status.out.startswith(f"Backup failed: backup destination {gone}")
