"""A real, private Secret Service keyring for tests (pytest plugin).

Each :class:`SecretServiceSession` is "a new machine's keyring": a private
D-Bus session daemon plus ``gnome-keyring-daemon`` (secrets component only),
unlocked with a throwaway password, with its own throwaway ``HOME`` and
``XDG_RUNTIME_DIR`` in a temporary directory. Nothing touches the user's real
keyring or D-Bus session.

Fixtures:

``secret_service``
    a fresh session, activated in this process for the test's duration
    (``os.environ`` points at it and ``keyring`` uses its SecretService
    backend); ``secret_service.env`` is the environment for subprocesses.
``secret_service_factory``
    ``factory()`` returns another new, independent, started (not activated)
    session; every one is stopped at teardown.
``no_secret_service``
    an environment with no D-Bus session and a fresh ``HOME``, so ``keyring``
    finds no usable backend (it falls back to ``keyring.backends.fail``),
    like an SSH login without a desktop session; activated in this process
    for the test's duration too, and ``.env`` is the subprocess environment.

Under CI (``CI`` set) a missing ``dbus-daemon`` or ``gnome-keyring-daemon`` is
a test failure, never a silent skip; locally the tests are skipped with the
reason. The Debian packages are ``dbus`` and ``gnome-keyring``
(``scripts/bootstrap-system`` installs them).

The SecretService backend of ``keyring`` opens a new D-Bus connection
(``secretstorage.dbus_init()``, which reads ``DBUS_SESSION_BUS_ADDRESS`` at call
time) for every get/set/delete, so switching ``os.environ`` between sessions in
one process is enough for it to talk to the right daemon.
"""

from __future__ import annotations

import atexit
import os
import select
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

SECRETS_BUS_NAME = "org.freedesktop.secrets"
DEFAULT_PASSWORD = "desktop-crm-test-keyring"
START_TIMEOUT = 20.0

# Variables that would point a child at another D-Bus session, keyring daemon
# or keyring backend than ours; removed from every environment made here.
_FOREIGN_VARS = (
    "DBUS_SESSION_BUS_ADDRESS",
    "DBUS_SESSION_BUS_PID",
    "DBUS_SESSION_BUS_WINDOWID",
    "DBUS_STARTER_ADDRESS",
    "DBUS_STARTER_BUS_TYPE",
    "GNOME_KEYRING_CONTROL",
    "GNOME_KEYRING_PID",
    "PYTHON_KEYRING_BACKEND",
)

_live_sessions: set[SecretServiceSession] = set()


class SecretServiceUnavailable(RuntimeError):
    """The programs needed for a private Secret Service are not installed."""


def missing_programs() -> list[str]:
    """Names of the programs a session needs that are not on PATH."""
    return [p for p in ("dbus-daemon", "gnome-keyring-daemon") if not shutil.which(p)]


def _short_tempdir(prefix: str) -> Path:
    # Unix socket paths are limited to ~107 bytes; the keyring daemon puts its
    # control socket under XDG_RUNTIME_DIR, so keep the base path short.
    base = "/tmp" if os.path.isdir("/tmp") else None
    return Path(tempfile.mkdtemp(prefix=prefix, dir=base))


def _fresh_home_env(root: Path) -> dict[str, str]:
    """A copy of os.environ with a throwaway HOME/XDG dirs under *root*."""
    env = dict(os.environ)
    for name in _FOREIGN_VARS:
        env.pop(name, None)
    home = root / "home"
    runtime = root / "run"
    dirs = {
        "HOME": home,
        "XDG_RUNTIME_DIR": runtime,
        "XDG_DATA_HOME": home / ".local" / "share",
        "XDG_CONFIG_HOME": home / ".config",
        "XDG_CACHE_HOME": home / ".cache",
        "XDG_STATE_HOME": home / ".local" / "state",
    }
    for name, path in dirs.items():
        path.mkdir(parents=True, exist_ok=True)
        env[name] = str(path)
    runtime.chmod(0o700)
    return env


def _reset_keyring_detection() -> None:
    """Forget keyring's cached list of viable backends (if keyring is loaded)."""
    try:
        import keyring.backend
    except ImportError:  # pragma: no cover - keyring is a runtime dependency
        return
    reset = getattr(keyring.backend.get_all_keyring, "reset", None)
    if callable(reset):
        try:
            reset()
        except KeyError:  # nothing cached yet
            pass


def _apply_env(values: dict[str, str | None]) -> None:
    for key, value in values.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


class _EnvActivation:
    """Shared in-process activation: swap os.environ entries and keyring's backend.

    ``activate()`` may be used bare (undo with ``deactivate()``), as
    ``with obj.activate():`` or as ``with obj:``; each activation is undone
    once, innermost first.
    """

    env: dict[str, str]

    def __init__(self) -> None:
        self._saved: list[tuple[dict[str, str | None], object]] = []
        # os.environ when the environment was made: activation changes only
        # the variables that ``env`` sets differently from it.
        self._base = dict(os.environ)

    # Subclasses choose the backend that keyring should use while active.
    def _keyring_backend(self) -> Any:
        raise NotImplementedError

    def _overrides(self) -> dict[str, str | None]:
        # The foreign variables are always set (or removed), so that activating
        # one session inside another leaves nothing of the outer one behind.
        keys = set(self.env) | set(self._base) | set(_FOREIGN_VARS)
        return {
            k: self.env.get(k)
            for k in keys
            if k in _FOREIGN_VARS or self.env.get(k) != self._base.get(k)
        }

    def activate(self) -> _Activated:
        import keyring.core

        overrides = self._overrides()
        saved = {key: os.environ.get(key) for key in overrides}
        self._saved.append((saved, keyring.core._keyring_backend))
        _apply_env(overrides)
        _reset_keyring_detection()
        backend = self._keyring_backend()
        if backend is None:
            keyring.core._keyring_backend = None  # detect again on next use
        else:
            keyring.core.set_keyring(backend)
        return _Activated(self)

    def deactivate(self) -> None:
        if not self._saved:
            return
        import keyring.core

        saved, previous_backend = self._saved.pop()
        _apply_env(saved)
        _reset_keyring_detection()
        keyring.core._keyring_backend = previous_backend

    def deactivate_all(self) -> None:
        while self._saved:
            self.deactivate()

    @property
    def active(self) -> bool:
        return bool(self._saved)

    def __enter__(self) -> Any:
        self.activate()
        return self

    def __exit__(self, *exc: object) -> None:
        self.deactivate()


class _Activated:
    def __init__(self, owner: _EnvActivation) -> None:
        self._owner = owner

    def __enter__(self) -> Any:
        return self._owner

    def __exit__(self, *exc: object) -> None:
        self._owner.deactivate()


class SecretServiceSession(_EnvActivation):
    """A private D-Bus session bus with an unlocked gnome-keyring on it.

    ``start()`` is called by the constructor unless ``start=False``.
    Attributes once started:

    - ``env``: full environment for subprocesses (``DBUS_SESSION_BUS_ADDRESS``,
      ``HOME``, ``XDG_RUNTIME_DIR``, ``XDG_DATA_HOME`` ... all private);
    - ``root``: the temporary directory holding home, runtime dir and logs;
    - ``bus_address``, ``dbus_pid``, ``keyring_pid``.
    """

    def __init__(self, password: str = DEFAULT_PASSWORD, *, start: bool = True):
        super().__init__()
        self.password = password
        self.root: Path | None = None
        self.env = {}
        self.bus_address = ""
        self.dbus_pid: int | None = None
        self.keyring_pid: int | None = None
        self.keyring_output = ""
        self._dbus: subprocess.Popen[bytes] | None = None
        if start:
            self.start()

    # -- lifecycle -------------------------------------------------------
    def start(self) -> SecretServiceSession:
        if self._dbus is not None:
            return self
        missing = missing_programs()
        if missing:
            raise SecretServiceUnavailable(
                f"{' and '.join(missing)} not found on PATH; install the Debian "
                "packages dbus and gnome-keyring (scripts/bootstrap-system --test)"
            )
        _live_sessions.add(self)
        try:
            self.root = _short_tempdir("crm-ss-")
            self.env = _fresh_home_env(self.root)
            self._start_dbus()
            self._start_keyring()
        except BaseException:
            self.stop()
            raise
        return self

    def _log(self, name: str) -> Path:
        assert self.root is not None
        return self.root / name

    def _start_dbus(self) -> None:
        assert self.root is not None
        socket_path = self.root / "run" / "bus"
        read_fd, write_fd = os.pipe()
        try:
            with open(self._log("dbus-daemon.log"), "wb") as log:
                self._dbus = subprocess.Popen(
                    [
                        "dbus-daemon",
                        "--session",
                        "--nofork",
                        "--nosyslog",
                        f"--address=unix:path={socket_path}",
                        f"--print-address={write_fd}",
                    ],
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=log,
                    pass_fds=(write_fd,),
                    env=self.env,
                    cwd=self.root,
                    start_new_session=True,  # own process group: killpg in stop()
                )
            os.close(write_fd)
            write_fd = -1
            self.dbus_pid = self._dbus.pid
            self.bus_address = self._read_line(read_fd, START_TIMEOUT)
        finally:
            if write_fd >= 0:
                os.close(write_fd)
            os.close(read_fd)
        if not self.bus_address.startswith("unix:"):
            raise RuntimeError(
                "dbus-daemon did not print its address; its log:\n"
                + self._log("dbus-daemon.log").read_text(errors="replace")
            )
        self.env["DBUS_SESSION_BUS_ADDRESS"] = self.bus_address

    def _read_line(self, fd: int, timeout: float) -> str:
        deadline = time.monotonic() + timeout
        data = b""
        while b"\n" not in data:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            ready, _, _ = select.select([fd], [], [], remaining)
            if not ready:
                break
            chunk = os.read(fd, 4096)
            if not chunk:
                break
            data += chunk
        return data.decode(errors="replace").strip()

    def _start_keyring(self) -> None:
        out_path = self._log("gnome-keyring.out")
        err_path = self._log("gnome-keyring.log")
        # Files, not pipes: the daemonized child may keep inherited stdio open.
        with open(out_path, "wb") as out, open(err_path, "wb") as err:
            proc = subprocess.run(
                [
                    "gnome-keyring-daemon",
                    "--daemonize",
                    "--unlock",
                    "--components=secrets",
                ],
                input=self.password.encode(),
                stdout=out,
                stderr=err,
                env=self.env,
                cwd=self.root,
                timeout=START_TIMEOUT,
                check=False,
            )
        self.keyring_output = out_path.read_text(errors="replace")
        if proc.returncode != 0:
            raise RuntimeError(
                f"gnome-keyring-daemon exited with {proc.returncode}:\n"
                + err_path.read_text(errors="replace")
            )
        # It prints shell assignments such as GNOME_KEYRING_CONTROL=...; what
        # it prints varies by version (nothing at all when the control
        # directory is the default one), so take whatever it gives.
        for line in self.keyring_output.splitlines():
            name, sep, value = line.strip().partition("=")
            if sep and name.isidentifier():
                self.env[name] = value
        self.keyring_pid = self._wait_for_secrets_owner(START_TIMEOUT)

    def _wait_for_secrets_owner(self, timeout: float) -> int:
        from jeepney import DBus
        from jeepney.io.blocking import open_dbus_connection

        deadline = time.monotonic() + timeout
        with open_dbus_connection(bus=self.bus_address) as conn:
            bus = DBus()
            while True:
                reply = conn.send_and_get_reply(bus.NameHasOwner(SECRETS_BUS_NAME))
                if reply.body[0]:
                    pid = conn.send_and_get_reply(
                        bus.GetConnectionUnixProcessID(SECRETS_BUS_NAME)
                    ).body[0]
                    return int(pid)
                if time.monotonic() > deadline:
                    raise RuntimeError(
                        "gnome-keyring-daemon did not take the name "
                        f"{SECRETS_BUS_NAME} on the private bus; its log:\n"
                        + self._log("gnome-keyring.log").read_text(errors="replace")
                    )
                time.sleep(0.05)

    def stop(self) -> None:
        """Stop both daemons (whole process groups) and delete the temp dir.

        Safe to call more than once, and on a half-started session.
        """
        self.deactivate_all()
        if self.keyring_pid is not None:
            _kill_group_of(self.keyring_pid)
            self.keyring_pid = None
        if self._dbus is not None:
            _kill_popen_group(self._dbus)
            self._dbus = None
        if self.root is not None:
            shutil.rmtree(self.root, ignore_errors=True)
            self.root = None
        _live_sessions.discard(self)

    @property
    def running(self) -> bool:
        return self._dbus is not None and self._dbus.poll() is None

    def _keyring_backend(self) -> Any:
        from keyring.backends import SecretService

        return SecretService.Keyring()

    def __repr__(self) -> str:
        return f"<SecretServiceSession bus={self.bus_address!r} root={self.root}>"


class NoSecretService(_EnvActivation):
    """An environment with no D-Bus session bus and a fresh, empty HOME."""

    def __init__(self) -> None:
        super().__init__()
        self.root = _short_tempdir("crm-nss-")
        self.env = _fresh_home_env(self.root)
        # Like an SSH login without a desktop session.
        for name in ("DISPLAY", "WAYLAND_DISPLAY"):
            self.env.pop(name, None)

    def _keyring_backend(self) -> None:
        return None  # let keyring detect (and find nothing usable)

    def close(self) -> None:
        self.deactivate_all()
        shutil.rmtree(self.root, ignore_errors=True)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # pragma: no cover - not ours any more
        return True
    try:  # a zombie is as good as gone
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return True


def _kill_group_of(pid: int, timeout: float = 5.0) -> None:
    """TERM (then KILL) the process group that *pid* leads or belongs to."""
    try:
        pgid = os.getpgid(pid)
    except ProcessLookupError:
        return
    own_group = pgid == os.getpgrp()  # never signal our own group
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            if own_group:
                os.kill(pid, sig)
            else:
                os.killpg(pgid, sig)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not _pid_alive(pid):
                return
            time.sleep(0.02)


def _kill_popen_group(proc: subprocess.Popen[bytes], timeout: float = 5.0) -> None:
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            pass
        try:
            proc.wait(timeout=timeout)
            break
        except subprocess.TimeoutExpired:
            continue
    # Reap anything left in the group (e.g. services the bus activated).
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


@atexit.register
def _stop_all_sessions() -> None:  # e.g. after KeyboardInterrupt
    for session in list(_live_sessions):
        session.stop()


# -- fixtures ------------------------------------------------------------


def _new_session_or_skip() -> SecretServiceSession:
    missing = missing_programs()
    if missing:
        reason = (
            f"{' and '.join(missing)} not installed: no private Secret Service "
            "(Debian packages dbus, gnome-keyring; see scripts/bootstrap-system)"
        )
        if os.environ.get("CI"):
            pytest.fail(f"CI must run the keyring tests, but {reason}", pytrace=False)
        pytest.skip(reason)
    return SecretServiceSession()


@pytest.fixture
def secret_service() -> Iterator[SecretServiceSession]:
    """A new machine's keyring, active in this process for the whole test."""
    session = _new_session_or_skip()
    try:
        with session:
            yield session
    finally:
        session.stop()


@pytest.fixture
def secret_service_factory() -> Iterator[Callable[[], SecretServiceSession]]:
    """Call it to get more independent, started sessions (not activated)."""
    sessions: list[SecretServiceSession] = []

    def factory() -> SecretServiceSession:
        session = _new_session_or_skip()
        sessions.append(session)
        return session

    try:
        yield factory
    finally:
        for session in reversed(sessions):
            session.stop()


@pytest.fixture
def no_secret_service() -> Iterator[NoSecretService]:
    """No D-Bus session and a fresh HOME, active in this process for the test."""
    nss = NoSecretService()
    try:
        with nss:
            yield nss
    finally:
        nss.close()
