"""The private Secret Service fixtures really give an isolated, working keyring."""

from __future__ import annotations

import os
import subprocess
import sys

import keyring
import keyring.backends.fail
import keyring.backends.SecretService
import pytest
from support.secret_service import NoSecretService, SecretServiceSession

pytestmark = pytest.mark.keyring

SERVICE = "desktop-crm-fixture-test"

PRINT_BACKEND = (
    "import keyring; k = keyring.get_keyring(); "
    "print(type(k).__module__ + '.' + type(k).__name__); "
    "print([type(b).__name__ for b in getattr(k, 'backends', [])])"
)


def _run(code: str, env: dict[str, str]) -> str:
    result = subprocess.run(
        [sys.executable, "-c", code],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_backend_is_secret_service(secret_service: SecretServiceSession) -> None:
    assert isinstance(keyring.get_keyring(), keyring.backends.SecretService.Keyring)
    # Not only forced: the backend finds a usable service on the private bus.
    assert keyring.backends.SecretService.Keyring.priority > 0
    assert os.environ["DBUS_SESSION_BUS_ADDRESS"] == secret_service.bus_address
    assert os.environ["HOME"] == secret_service.env["HOME"]


def test_set_get_delete_round_trip(secret_service: SecretServiceSession) -> None:
    assert keyring.get_password(SERVICE, "alice") is None
    keyring.set_password(SERVICE, "alice", "s3cret-é")
    assert keyring.get_password(SERVICE, "alice") == "s3cret-é"
    keyring.set_password(SERVICE, "alice", "replaced")
    assert keyring.get_password(SERVICE, "alice") == "replaced"
    keyring.delete_password(SERVICE, "alice")
    assert keyring.get_password(SERVICE, "alice") is None


def test_environment_restored_after_deactivation(secret_service_factory) -> None:
    before = dict(os.environ)
    backend_before = keyring.core._keyring_backend
    session = secret_service_factory()
    with session:
        assert os.environ["DBUS_SESSION_BUS_ADDRESS"] == session.bus_address
        with session.activate():  # nested activation undoes only itself
            pass
        assert os.environ["DBUS_SESSION_BUS_ADDRESS"] == session.bus_address
    assert dict(os.environ) == before
    assert keyring.core._keyring_backend is backend_before


def test_factory_sessions_are_isolated(secret_service_factory) -> None:
    first = secret_service_factory()
    second = secret_service_factory()
    assert first.bus_address != second.bus_address
    assert first.env["HOME"] != second.env["HOME"]
    with first:
        keyring.set_password(SERVICE, "bob", "only-in-first")
    with second:
        assert keyring.get_password(SERVICE, "bob") is None
        keyring.set_password(SERVICE, "bob", "only-in-second")
    with first:
        assert keyring.get_password(SERVICE, "bob") == "only-in-first"
        with second:  # nested: the inner session wins, then the outer is back
            assert keyring.get_password(SERVICE, "bob") == "only-in-second"
        assert keyring.get_password(SERVICE, "bob") == "only-in-first"


def test_subprocess_with_env_sees_in_process_secret(
    secret_service: SecretServiceSession,
) -> None:
    keyring.set_password(SERVICE, "carol", "from-the-test-process")
    out = _run(
        PRINT_BACKEND + f"; print(keyring.get_password({SERVICE!r}, 'carol'))",
        secret_service.env,
    )
    backend, _chain, secret = out.splitlines()
    # The subprocess detects SecretService by itself (nothing forces it there).
    assert backend == "keyring.backends.SecretService.Keyring"
    assert secret == "from-the-test-process"


def test_stop_kills_both_daemons(secret_service_factory) -> None:
    session = secret_service_factory()
    root = session.root
    assert root is not None and root.exists()
    pids = [session.dbus_pid, session.keyring_pid]
    assert all(pids) and session.running
    session.stop()
    session.stop()  # idempotent
    for pid in pids:
        assert pid is not None
        assert not _alive(pid), f"process {pid} survived stop()"
    assert not root.exists()


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def test_no_secret_service_subprocess_gets_fail_backend(
    no_secret_service: NoSecretService,
) -> None:
    env = no_secret_service.env
    assert "DBUS_SESSION_BUS_ADDRESS" not in env
    out = _run(PRINT_BACKEND, env)
    backend, chain = out.splitlines()
    # Observed with keyring 25 on Linux: no D-Bus session means SecretService
    # is not viable, no other backend is either, so keyring picks the fail
    # backend (whose get/set raise NoKeyringError), not a chainer.
    assert backend == "keyring.backends.fail.Keyring", out
    assert chain == "[]"


def test_no_secret_service_in_process(no_secret_service: NoSecretService) -> None:
    assert "DBUS_SESSION_BUS_ADDRESS" not in os.environ
    assert isinstance(keyring.get_keyring(), keyring.backends.fail.Keyring)
    with pytest.raises(keyring.errors.NoKeyringError):
        keyring.get_password(SERVICE, "dave")
