"""`desktop-crm server run` and `desktop-crm sync ...` end to end (issue #7).

A real sync server runs as its own process on loopback TLS (trustme
certificates); two workstations (two vault folders, the real keyring) connect,
pair, join and sync through it using only the command line.
"""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import pytest
from support.cli_harness import CLI, PIN, secret_of
from support.sync_server import make_tls

pytestmark = [pytest.mark.e2e, pytest.mark.keyring]

ADMIN = "Ana Admin"
FAMILY = "QXSYNCFAMILYQ"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def server(cli: CLI, tmp_path: Path):
    """`desktop-crm server run` in a child process; yields (url, fingerprint)."""
    tls = make_tls(tmp_path / "tls")
    port = _free_port()
    command = [sys.executable, "-m", "desktop_crm", "server", "run"]
    command += ["--listen", f"127.0.0.1:{port}", "--cert", str(tls.cert_file)]
    command += ["--key", str(tls.key_file), "--data-dir", str(tmp_path / "server")]
    child = subprocess.Popen(
        command,
        env=cli.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert child.stdout is not None
        line = child.stdout.readline()
        assert line.strip() == f"listening on https://127.0.0.1:{port}", line
        yield f"https://127.0.0.1:{port}", tls.fingerprint.upper(), tmp_path / "server"
    finally:
        child.terminate()
        child.wait(timeout=30)
        if child.stdout is not None:
            child.stdout.close()


def _admin(cli: CLI, secret: str):
    """The admin's commands: a code the first time, then quick re-unlock."""
    first = [True]

    def run(*args: str):
        otp = cli.code(secret) if first[0] else None
        first[0] = False
        return cli.as_user(ADMIN, PIN, otp, *args)

    return run


def test_two_workstations_sync_through_the_server(cli: CLI, server, tmp_path):
    url, fingerprint, server_dir = server
    secret, _ = cli.init()
    front = _admin(cli, secret)

    # Colons in the fingerprint are allowed; a wrong one is refused.
    wrong = front("sync", "connect", url, "--fingerprint", "ab" * 32)
    assert wrong.code != 0 and "fingerprint" in wrong.err
    pinned = ":".join(fingerprint[i : i + 2] for i in range(0, 64, 2))
    connected = front("sync", "connect", url, "--fingerprint", pinned)
    assert connected.code == 0, connected.err
    assert connected.out.startswith("connected: practice ")

    added = front("patients", "add", "--family", FAMILY, "--given", "Ann")
    assert added.code == 0, added.err
    pushed = front("sync", "now")
    assert pushed.code == 0, pushed.err
    assert pushed.out.startswith("pushed: ") and "conflicts: 0" in pushed.out

    made = front("sync", "pair-code")
    assert made.code == 0, made.err
    code = made.line("pair-code:")
    assert made.line("expires:")

    laptop = CLI(cli.env, tmp_path / "laptop", cli.workdir)
    joined = laptop.run(
        "sync",
        "join",
        "--code-file",
        laptop.file("pair.code", code + "\n"),
        "--admin",
        ADMIN,
        "--new-pin-file",
        laptop.file("laptop.pin", "97531864\n"),
    )
    assert joined.code == 0, joined.err
    laptop_secret = secret_of(joined.line("totp-uri:"))
    # The code was for one use only.
    again = CLI(cli.env, tmp_path / "third", cli.workdir).run(
        "sync",
        "join",
        "--code-file",
        laptop.file("pair.code", code + "\n"),
        "--admin",
        ADMIN,
        "--new-pin-file",
        laptop.file("third.pin", "97531864\n"),
    )
    assert again.code != 0

    on_laptop = laptop.as_user(
        ADMIN, "97531864", laptop.code(laptop_secret), "patients", "search", FAMILY
    )
    assert on_laptop.code == 0, on_laptop.err
    assert FAMILY in on_laptop.out

    # An edit on the laptop reaches the front desk.
    second = laptop.as_user(
        ADMIN, "97531864", None, "patients", "add", "--family", "Second"
    )
    assert second.code == 0, second.err
    assert laptop.as_user(ADMIN, "97531864", None, "sync", "now").code == 0
    pulled = front("sync", "now")
    assert pulled.code == 0 and not pulled.out.startswith("pushed: 0, pulled: 0")
    assert front("patients", "count").out.strip() == "patients: 2"

    status = laptop.as_user(ADMIN, "97531864", None, "sync", "status")
    assert status.code == 0 and f"server: {url}" in status.out
    workstation = status.line("workstation:")
    revoked = front("sync", "revoke", workstation)
    assert revoked.code == 0, revoked.err
    refused = laptop.as_user(ADMIN, "97531864", None, "sync", "now")
    assert refused.code != 0

    # The server holds ciphertext only.
    for path in server_dir.rglob("*"):
        if path.is_file():
            assert FAMILY.encode() not in path.read_bytes(), path.name
