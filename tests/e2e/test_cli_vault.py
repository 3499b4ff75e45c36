"""The vault through `desktop-crm` with a real Secret Service keyring."""

from __future__ import annotations

import subprocess
import sys
from contextlib import closing

import pytest
from support.cli_harness import CLI, PIN, secret_of

from desktop_crm.crypto import totp

pytestmark = [pytest.mark.e2e, pytest.mark.keyring]


def test_version_needs_no_vault_and_no_keyring(cli: CLI, no_secret_service):
    result = cli.run(
        "--version", env={**no_secret_service.env, "PYTHONPATH": cli.env["PYTHONPATH"]}
    )

    assert result.code == 0
    assert result.out.startswith("desktop-crm ")
    assert "sqlcipher 4." in result.out
    assert result.err == ""


def test_init_then_full_unlock_and_status(cli: CLI):
    secret, recovery = cli.init()

    result = cli.as_user("Ana Admin", PIN, cli.code(secret), "status")

    assert result.code == 0, result.err
    assert result.line("sqlcipher:").startswith("4.")
    assert "AES-256" in result.line("cipher:")
    assert result.line("users:").startswith("1")
    assert "SecretService" in result.line("keyring:")
    assert recovery.startswith("RK1-")
    db = (cli.data_dir / "vault.db").read_bytes()
    assert not db.startswith(b"SQLite format 3")


def test_wrong_pin_and_replayed_code_give_the_same_message(cli: CLI):
    secret, _ = cli.init()
    good = cli.code(secret)
    assert cli.as_user("Ana Admin", PIN, good, "status").code == 0

    wrong_pin = cli.as_user("Ana Admin", "975319", cli.code(secret), "status")
    replayed = cli.as_user("Ana Admin", PIN, good, "status")

    assert wrong_pin.code == replayed.code == 3
    assert wrong_pin.err == replayed.err
    assert "PIN or code not accepted" in replayed.err


def test_missing_code_without_grant_is_exit_3(cli: CLI):
    cli.init()

    result = cli.as_user("Ana Admin", PIN, None, "status")

    assert result.code == 3
    assert "TOTP code required" in result.err


def test_quick_reunlock_across_processes(cli: CLI):
    secret, _ = cli.init()
    assert cli.as_user("Ana Admin", PIN, cli.code(secret), "status").code == 0

    quick = cli.as_user("Ana Admin", PIN, None, "status")
    wrong_code = cli.as_user("Ana Admin", PIN, "000000", "status")
    still_quick = cli.as_user("Ana Admin", PIN, None, "status")

    assert quick.code == 0, quick.err
    assert wrong_code.code == 3
    assert still_quick.code == 0, "a failed attempt must not end the grant"


def test_lockout_survives_a_restart(cli: CLI):
    secret, _ = cli.init()

    codes = [cli.as_user("Ana Admin", "975319", None, "status").code for _ in range(5)]
    locked = cli.as_user("Ana Admin", PIN, cli.code(secret), "status")

    assert codes == [3] * 5
    assert locked.code == 4
    assert "try again in 30 s" in locked.err or "try again in 29 s" in locked.err


def test_pin_file_loses_one_newline_only(cli: CLI):
    secret, _ = cli.init()

    two_newlines = cli.run(
        "status",
        "--user",
        "Ana Admin",
        "--pin-file",
        cli.file("two.pin", PIN + "\n\n"),
        "--otp",
        cli.code(secret),
    )
    one_newline = cli.run(
        "status",
        "--user",
        "Ana Admin",
        "--pin-file",
        cli.file("one.pin", PIN + "\n"),
        "--otp",
        cli.code(secret),
    )

    assert two_newlines.code == 3
    assert one_newline.code == 0, one_newline.err


def test_users_add_reset_change_pin_and_rekey(cli: CLI):
    admin_secret, _ = cli.init()
    admin_code = cli.code(admin_secret)
    add = cli.as_user(
        "Ana Admin",
        PIN,
        admin_code,
        "user",
        "add",
        "--name",
        "Bob Desk",
        "--role",
        "front-desk",
        "--new-pin-file",
        cli.file("bob.pin", "246802"),
    )
    assert add.code == 0, add.err
    bob_secret = secret_of(add.line("totp-uri:"))
    add2 = cli.as_user(
        "Ana Admin",
        PIN,
        None,
        "user",
        "add",
        "--name",
        "Cleo Care",
        "--role",
        "provider",
        "--new-pin-file",
        cli.file("cleo.pin", "802468"),
    )
    cleo_secret = secret_of(add2.line("totp-uri:"))
    assert cli.as_user("Bob Desk", "246802", cli.code(bob_secret), "status").code == 0

    not_admin = cli.as_user("Bob Desk", "246802", None, "rekey")
    rekey = cli.as_user("Ana Admin", PIN, None, "rekey")

    assert not_admin.code == 6
    assert "users.manage" in not_admin.err or "keys.manage" in not_admin.err
    assert rekey.code == 0, rekey.err
    assert cli.as_user("Ana Admin", PIN, None, "status").code == 0
    assert cli.as_user("Bob Desk", "246802", None, "status").code == 0
    assert cli.as_user("Cleo Care", "802468", cli.code(cleo_secret), "status").code == 0

    reset = cli.as_user(
        "Ana Admin",
        PIN,
        None,
        "user",
        "reset",
        "Bob Desk",
        "--new-pin-file",
        cli.file("tmp.pin", "314159"),
    )
    assert reset.code == 0, reset.err
    temp_secret = secret_of(reset.line("totp-uri:"))
    blocked = cli.as_user("Bob Desk", "314159", cli.code(temp_secret), "status")
    assert blocked.code == 1
    assert "change-pin" in blocked.err
    changed = cli.as_user(
        "Bob Desk",
        "314159",
        None,
        "user",
        "change-pin",
        "--new-pin-file",
        cli.file("bob2.pin", "271828"),
    )
    assert changed.code == 0, changed.err
    new_secret = secret_of(changed.line("totp-uri:"))
    assert new_secret != temp_secret
    assert cli.as_user("Bob Desk", "271828", cli.code(new_secret), "status").code == 0


def test_recovery_on_a_new_machine(cli: CLI, secret_service_factory):
    admin_secret, recovery = cli.init()
    add = cli.as_user(
        "Ana Admin",
        PIN,
        cli.code(admin_secret),
        "user",
        "add",
        "--name",
        "Bob Desk",
        "--role",
        "front-desk",
        "--new-pin-file",
        cli.file("bob.pin", "246802"),
    )
    bob_secret = secret_of(add.line("totp-uri:"))
    new_machine = secret_service_factory()
    env = cli.env_for(new_machine)

    no_device = cli.run(
        "status",
        "--user",
        "Ana Admin",
        "--pin-file",
        cli.file("a.pin", PIN),
        "--otp",
        cli.code(admin_secret),
        env=env,
    )
    recovered = cli.run(
        "recover",
        "--user",
        "Ana Admin",
        "--recovery-key-file",
        cli.file("rk", recovery.lower() + "\n"),
        "--new-pin-file",
        cli.file("new.pin", "864209"),
        env=env,
    )

    assert no_device.code == 5
    assert "recovery key" in no_device.err
    assert recovered.code == 0, recovered.err
    new_secret = secret_of(recovered.line("totp-uri:"))
    ok = cli.run(
        "status",
        "--user",
        "Ana Admin",
        "--pin-file",
        cli.file("n.pin", "864209"),
        "--otp",
        cli.code(new_secret),
        env=env,
    )
    assert ok.code == 0, ok.err
    bob = cli.run(
        "status",
        "--user",
        "Bob Desk",
        "--pin-file",
        cli.file("b.pin", "246802"),
        "--otp",
        cli.code(bob_secret),
        env=env,
    )
    assert bob.code == 3


def test_new_recovery_key_retires_the_old_one(cli: CLI, secret_service_factory):
    secret, old = cli.init()

    fresh = cli.as_user("Ana Admin", PIN, cli.code(secret), "recovery-key", "new")

    assert fresh.code == 0, fresh.err
    new = fresh.line("recovery-key:")
    assert new != old
    other = secret_service_factory()
    env = cli.env_for(other)
    refused = cli.run(
        "recover",
        "--user",
        "Ana Admin",
        "--recovery-key-file",
        cli.file("old", old),
        "--new-pin-file",
        cli.file("p", "864209"),
        env=env,
    )
    assert refused.code == 3
    accepted = cli.run(
        "recover",
        "--user",
        "Ana Admin",
        "--recovery-key-file",
        cli.file("new", new),
        "--new-pin-file",
        cli.file("p2", "864209"),
        env=env,
    )
    assert accepted.code == 0, accepted.err


def test_unattended_slot(cli: CLI):
    secret, _ = cli.init()
    refused = cli.run("status", "--unattended")
    enabled = cli.as_user("Ana Admin", PIN, cli.code(secret), "unattended", "enable")

    status = cli.run("status", "--unattended")
    audit = cli.as_user("Ana Admin", PIN, None, "audit", "verify")

    assert refused.code == 1
    assert enabled.code == 0, enabled.err
    assert status.code == 0, status.err
    assert audit.code == 0
    assert "chain intact" in audit.out


def test_no_keyring_gives_a_clear_message_and_no_files(cli: CLI, no_secret_service):
    env = cli.env_for(no_secret_service)

    result = cli.run(
        "init",
        "--practice",
        "P",
        "--admin",
        "A",
        "--pin-file",
        cli.file("p", PIN),
        env=env,
    )

    assert result.code == 5
    assert "gnome-keyring" in result.err
    assert "Traceback" not in result.err
    assert len(result.err.strip().splitlines()) == 1
    assert not cli.data_dir.exists() or not any(cli.data_dir.iterdir())


def test_locked_keyring_is_not_a_wrong_pin(cli: CLI):
    import secretstorage

    secret, _ = cli.init()
    with closing(secretstorage.dbus_init()) as connection:
        secretstorage.get_default_collection(connection).lock()

    result = cli.as_user("Ana Admin", PIN, cli.code(secret), "status")

    assert result.code == 5
    assert "keyring is locked" in result.err
    assert "PIN" not in result.err


def test_bad_usage_is_exit_2(cli: CLI):
    cli.init()

    no_pin = cli.run("status", "--user", "Ana Admin")
    unknown = cli.run("frobnicate")

    assert no_pin.code == 2
    assert unknown.code == 2


def test_cli_does_not_load_qt():
    code = (
        "import sys, desktop_crm.cli.main as m\n"
        "m.main(['--version'])\n"
        "assert not [n for n in sys.modules if n.startswith('PySide6')]\n"
    )

    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)

    assert proc.returncode == 0, proc.stderr


def test_totp_module_matches_authenticator_codes():
    secret = totp.new_secret()

    code = totp.code_at(secret, 1_800_000_000)

    assert totp.verify(secret, code, 1_800_000_000, 0) == 1_800_000_000 // 30


def test_concurrent_rekeys_never_break_the_vault(cli: CLI):
    secret, recovery = cli.init()
    assert cli.as_user("Ana Admin", PIN, cli.code(secret), "status").code == 0
    pin_file = cli.file("admin-race.pin", PIN)
    command = [
        sys.executable,
        "-m",
        "desktop_crm",
        "rekey",
        "--data-dir",
        str(cli.data_dir),
        "--user",
        "Ana Admin",
        "--pin-file",
        pin_file,
    ]

    outcomes = []
    for _ in range(4):
        racers = [
            subprocess.Popen(
                command,
                env=cli.env,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for _ in range(3)
        ]
        for racer in racers:
            out, err = racer.communicate(timeout=120)
            outcomes.append((racer.returncode, err.strip()))

    assert all(code in (0, 1) for code, _ in outcomes), outcomes
    assert all("Traceback" not in err for _, err in outcomes), outcomes
    assert any(code == 0 for code, _ in outcomes)
    assert cli.as_user("Ana Admin", PIN, None, "status").code == 0
    assert cli.as_user("Ana Admin", PIN, None, "audit", "verify").code == 0


def test_check_finds_a_flipped_byte(cli: CLI):
    secret, _ = cli.init()
    assert cli.as_user("Ana Admin", PIN, cli.code(secret), "check").code == 0
    db = cli.data_dir / "vault.db"
    data = bytearray(db.read_bytes())
    data[len(data) // 2] ^= 0x40
    db.write_bytes(bytes(data))

    result = cli.as_user("Ana Admin", PIN, None, "check")

    # Either the damaged page is caught by the check itself, or unlocking
    # already reads it; both must be one clear line, never a success.
    assert result.code != 0
    assert "Traceback" not in result.err
    assert len(result.err.strip().splitlines()) <= 21


def test_files_are_owner_only(cli: CLI):
    secret, _ = cli.init()
    cli.as_user("Ana Admin", PIN, cli.code(secret), "status")

    modes = {p.name: p.stat().st_mode & 0o777 for p in cli.data_dir.iterdir()}

    assert cli.data_dir.stat().st_mode & 0o777 == 0o700
    assert all(mode == 0o600 for name, mode in modes.items() if name != "snapshots"), (
        modes
    )


def test_odd_data_folders_give_one_line(cli: CLI, tmp_path):
    a_file = tmp_path / "a-file"
    a_file.write_text("x")
    pin = cli.file("p.pin", PIN)

    results = [
        cli.run(
            "--data-dir",
            str(where),
            "init",
            "--practice",
            "P",
            "--admin",
            "A",
            "--pin-file",
            pin,
        )
        for where in (a_file, a_file / "sub", "/proc/no-such-vault")
    ]

    for result in results:
        assert result.code == 1, result
        assert len(result.err.strip().splitlines()) == 1, result.err
        assert "Traceback" not in result.err
