"""`desktop-crm backup ...` as a subprocess with real Secret Service keyrings."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from support.cli_harness import CLI, PIN, secret_of

pytestmark = [pytest.mark.e2e, pytest.mark.keyring]

PASSPHRASE = "correct horse battery staple"
NEW_PIN = "864209"


def admin(cli: CLI, secret: str | None, *args: str):
    """Run as the admin: a full unlock the first time, then quick re-unlock."""
    return cli.as_user("Ana Admin", PIN, secret and cli.code(secret), *args)


@pytest.fixture
def made(cli: CLI) -> tuple[CLI, str, str, Path]:
    """A vault with a second user, a passphrase and one backup."""
    secret, recovery = cli.init()
    phrase = cli.file("phrase", PASSPHRASE + "\n")
    assert (
        admin(cli, secret, "backup", "set-passphrase", "--passphrase-file", phrase).code
        == 0
    )
    added = admin(
        cli, None, "user", "add", "--name", "Bea Front", "--role", "front-desk",
        "--new-pin-file", cli.file("bea.pin", "246802"),
    )  # fmt: skip
    assert added.code == 0, added.err
    out = cli.workdir / "b.dcrmbak"
    created = admin(cli, None, "backup", "create", "--out", str(out))
    assert created.code == 0, created.err
    size = out.stat().st_size
    assert re.fullmatch(
        rf"backup: {re.escape(str(out))}, {size} bytes, sha256 [0-9a-f]{{64}}\n",
        created.out,
    )
    return cli, secret, recovery, out


def test_verify_ok_with_passphrase_or_recovery_key(made):
    cli, _, recovery, out = made

    by_phrase = cli.run(
        "backup", "verify", str(out), "--passphrase-file", cli.file("p", PASSPHRASE)
    )
    by_key = cli.run(
        "backup", "verify", str(out), "--recovery-key-file", cli.file("rk", recovery)
    )

    assert by_phrase.code == 0, by_phrase.err
    assert by_phrase.out.startswith(f"backup ok: {out}, ")
    assert "integrity ok" in by_phrase.out
    assert by_key.code == 0, by_key.err


def test_verify_names_what_is_wrong(made):
    cli, _, _, out = made
    data = out.read_bytes()
    phrase = cli.file("p", PASSPHRASE)
    damaged = cli.workdir / "damaged.dcrmbak"
    damaged.write_bytes(data[:-40] + bytes([data[-40] ^ 1]) + data[-39:])
    truncated = cli.workdir / "truncated.dcrmbak"
    truncated.write_bytes(data[: len(data) // 2])
    other = cli.workdir / "notes.txt"
    other.write_text("hello")

    wrong = cli.run(
        "backup", "verify", str(out), "--passphrase-file", cli.file("w", "wrong" * 4)
    )
    results = {
        name: cli.run("backup", "verify", str(path), "--passphrase-file", phrase)
        for name, path in [("damaged", damaged), ("cut", truncated), ("txt", other)]
    }

    assert wrong.code == 3
    assert "wrong backup passphrase or recovery key" in wrong.err
    assert results["damaged"].code == 1
    assert re.search(r"altered or damaged: at chunk \d+", results["damaged"].err)
    assert results["cut"].code == 1 and "truncated" in results["cut"].err
    assert results["txt"].code == 1 and "not a Desktop CRM backup" in results["txt"].err


def test_restore_on_a_new_machine_then_confirm_and_replace(
    made, secret_service_factory, tmp_path
):
    cli, _, _, out = made
    env = cli.env_for(secret_service_factory())
    other = CLI(env, tmp_path / "restored", cli.workdir)
    phrase = cli.file("p", PASSPHRASE)
    pin = cli.file("new.pin", NEW_PIN)
    restore = ["backup", "restore", str(out), "--passphrase-file", phrase,
               "--admin", "Ana Admin", "--new-pin-file", pin]  # fmt: skip

    first = other.run(*restore)
    secret = secret_of(first.line("totp-uri:"))
    status = other.as_user("Ana Admin", NEW_PIN, other.code(secret), "status")
    bea = other.as_user(
        "Ana Admin", NEW_PIN, None, "backup", "confirm-user", "Bea Front"
    )
    refused = other.run(*restore)
    no_admin = other.run(*restore, "--replace")
    replaced = other.as_user("Ana Admin", NEW_PIN, None, *restore, "--replace")

    assert first.code == 0, first.err
    assert status.code == 0, status.err
    assert status.line("users:").startswith("2 (1 active)")
    assert bea.code == 0, bea.err
    assert "confirmed: Bea Front" in bea.out
    assert refused.code == 1 and "already exists" in refused.err
    assert no_admin.code == 2
    assert replaced.code == 0, replaced.err
    assert len(list(tmp_path.glob("restored-replaced-*"))) == 1


def test_unattended_backup_needs_no_pin(made):
    cli, _, _, _ = made
    assert admin(cli, None, "unattended", "enable").code == 0
    out = cli.workdir / "night.dcrmbak"

    result = cli.run("backup", "create", "--out", str(out), "--unattended")

    assert result.code == 0, result.err
    assert out.exists()
