"""Faults during sync (issue #7): a killed server, a connection cut mid-body.

Two real vaults (SQLCipher, the real engine and HTTPS transport) sync through
the real sync server, which runs in its own process over loopback TLS with a
SQLite store in a folder.  Each test makes one fault happen at a chosen point,
without sleeps:

- the server is SIGKILLed while a workstation pushes several pages: from the
  test between two pages (after the first is acknowledged), or by the server
  itself on its second push, before storing it or after storing it but
  before answering;
- the same while a workstation pulls several pages;
- a loopback TCP proxy between workstation and server (TLS stays end to end,
  so the pinned fingerprint holds) cuts the connection after forwarding a
  set number of bytes, inside a pull answer's body or a push request's body,
  once (the transport's own retry recovers) or until it is told to stop.

Each time: the sync fails with one clear ``SyncError`` (no chained
traceback, no patient value in the message, kept as the last error), then,
with the server restarted on the same store folder and port or the proxy
passing bytes again, a retry converges: both vaults hold every record once,
the server holds each workstation's records under gapless sequence numbers,
each record was applied on the other side exactly once, nothing is pending.

Faults already covered elsewhere (tests/sync/test_engine_sync.py): a record
delivered twice, a push answer lost and the push retried.
"""

from __future__ import annotations

import os
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import pytest
from support.sync_server import HOST, TLSFiles, make_tls
from support.vault_fixtures import ADMIN, VaultHarness, make_vault

from desktop_crm.errors import CRMError
from desktop_crm.platform.secret_store import MemorySecretStore
from desktop_crm.services import patients, sync_service
from desktop_crm.services.clock import ManualClock
from desktop_crm.services.patient_model import Patient
from desktop_crm.services.session import Session
from desktop_crm.services.vault import VaultService
from desktop_crm.storage import sync_queries
from desktop_crm.sync.engine import PUSH_SEQ, PUSHED_CHANGE, SyncEngine
from desktop_crm.sync.transport import HttpsTransport, SyncError, close_transport

REPO = Path(__file__).resolve().parents[2]
PATIENTS = 24  # about two change records each: several pages of PAGE
PAGE = 10
JOIN_PIN = "246813"
CUT_AFTER = 8192  # bytes: past any TLS handshake flight, inside a 20 kB+ body
STORE_FILE = "sync-server.sqlite3"

# The server in its own process.  argv: folder cert key port.  It prints its
# port once listening.  A line "OP N WHEN" on stdin (OP push or pull, WHEN
# before or after) arms a SIGKILL of the whole process at the Nth next call of
# the store's OP: before the store is called, or after it returned (stored,
# not yet answered); it answers "armed".  End of stdin stops it cleanly.
SERVE = r"""
import os, signal, sys, threading
from pathlib import Path
from desktop_crm.sync.server import SQLiteStore, SyncServer, tls_context

folder, cert, key, port = Path(sys.argv[1]), sys.argv[2], sys.argv[3], int(sys.argv[4])


class Faulty:
    def __init__(self, store):
        self.store, self.armed, self.calls = store, None, 0

    def __getattr__(self, name):
        return getattr(self.store, name)

    def _call(self, op, *args):
        fatal = False
        if self.armed is not None and self.armed[0] == op:
            self.calls += 1
            fatal = self.calls == self.armed[1]
        if fatal and self.armed[2] == "before":
            os.kill(os.getpid(), signal.SIGKILL)
        result = getattr(self.store, op)(*args)
        if fatal:
            os.kill(os.getpid(), signal.SIGKILL)
        return result

    def push(self, *args):
        return self._call("push", *args)

    def pull(self, *args):
        return self._call("pull", *args)


store = Faulty(SQLiteStore(folder / "sync-server.sqlite3"))
server = SyncServer(("127.0.0.1", port), tls_context(cert, key), store)
print(server.port, flush=True)
threading.Thread(target=server.serve_forever, daemon=True).start()
for line in sys.stdin:
    op, n, when = line.split()
    store.calls, store.armed = 0, (op, int(n), when)
    print("armed", flush=True)
server.shutdown()
server.server_close()
store.close()
"""


@dataclass
class ServerProcess:
    """The sync server in a subprocess; restartable on the same folder and port."""

    folder: Path
    tls: TLSFiles
    port: int = 0
    process: subprocess.Popen[str] | None = None
    _log: IO[bytes] | None = None

    @property
    def url(self) -> str:
        return f"https://{HOST}:{self.port}"

    @property
    def store_path(self) -> Path:
        return self.folder / STORE_FILE

    def start(self) -> None:
        assert self.process is None
        self.folder.mkdir(parents=True, exist_ok=True)
        self._log = (self.folder / "server.log").open("ab")
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-c",
                SERVE,
                str(self.folder),
                str(self.tls.cert_file),
                str(self.tls.key_file),
                str(self.port),
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._log,
            text=True,
            env=dict(os.environ, PYTHONPATH=str(REPO)),
            cwd=self.folder,
        )
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if not line.strip().isdigit():
            self._reap(kill=True)
            log = (self.folder / "server.log").read_text(errors="replace")
            raise AssertionError(f"the sync server did not start:\n{log[-2000:]}")
        port = int(line)
        assert self.port in (0, port)
        self.port = port

    def arm(self, op: str, nth: int, when: str) -> None:
        """SIGKILL the server at the ``nth`` next store ``op``, ``when``."""
        assert self.process is not None
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.write(f"{op} {nth} {when}\n")
        self.process.stdin.flush()
        assert self.process.stdout.readline().strip() == "armed"

    def kill(self) -> None:
        """SIGKILL from outside; returns once the process is gone."""
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)

    def killed(self) -> bool:
        """Whether the process ended by SIGKILL (waits for it to end); reaps it."""
        assert self.process is not None
        code = self.process.wait(10)
        self._reap(kill=False)
        return code == -signal.SIGKILL

    def stop(self) -> None:
        if self.process is None:
            return
        assert self.process.stdin is not None
        with suppress(OSError):
            self.process.stdin.close()
        try:
            self.process.wait(10)
        finally:
            self._reap(kill=True)

    def _reap(self, *, kill: bool) -> None:
        process, self.process = self.process, None
        assert process is not None
        if kill and process.poll() is None:
            process.kill()
        process.wait(10)
        for pipe in (process.stdin, process.stdout):
            if pipe is not None:
                with suppress(OSError):
                    pipe.close()
        if self._log is not None:
            self._log.close()
            self._log = None

    def seqs(self, workstation_id: str) -> list[int]:
        """The sequence numbers the store holds from one workstation, in order."""
        db = sqlite3.connect(f"file:{self.store_path}?mode=ro", uri=True)
        try:
            rows = db.execute(
                "SELECT seq FROM records WHERE workstation_id = ? ORDER BY seq",
                (workstation_id,),
            ).fetchall()
        finally:
            db.close()
        return [int(r[0]) for r in rows]


# -- the cutting proxy ---------------------------------------------------------


@dataclass
class _Cut:
    direction: str  # "request" (client to server) or "response"
    after: int  # bytes of that direction forwarded on a connection before the cut
    times: int | None  # connections to cut; None: until disarmed


class CuttingProxy:
    """Plain TCP between client and server; may cut a connection after K bytes.

    It sees only TLS records, so it counts bytes per connection and direction;
    the handshake flights are far smaller than ``after``, so with bodies much
    larger than ``after`` the cut falls inside the first large body.
    """

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.listener = socket.create_server((HOST, 0))
        self.port = int(self.listener.getsockname()[1])
        self.cuts = 0
        self.connections = 0
        self._cut: _Cut | None = None
        self._lock = threading.Lock()
        self._sockets: list[socket.socket] = []
        self._threads = [threading.Thread(target=self._accept, daemon=True)]
        self._threads[0].start()

    @property
    def url(self) -> str:
        return f"https://{HOST}:{self.port}"

    def arm(self, direction: str, after: int, times: int | None) -> None:
        with self._lock:
            self._cut = _Cut(direction, after, times)

    def disarm(self) -> None:
        with self._lock:
            self._cut = None

    def _take(self, direction: str) -> int | None:
        """The byte limit for a new connection in this direction, if armed."""
        with self._lock:
            cut = self._cut
            if cut is None or cut.direction != direction:
                return None
            if cut.times is not None:
                cut.times -= 1
                if cut.times == 0:
                    self._cut = None
            return cut.after

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            try:
                server = socket.create_connection((HOST, self.target_port), timeout=10)
            except OSError:
                client.close()
                continue
            server.settimeout(None)
            with self._lock:
                self.connections += 1
                self._sockets += [client, server]
            pair = (client, server)
            up = self._take("request")
            down = self._take("response")
            for src, dst, limit in ((client, server, up), (server, client, down)):
                thread = threading.Thread(
                    target=self._pump, args=(src, dst, limit, pair), daemon=True
                )
                self._threads.append(thread)
                thread.start()

    def _pump(
        self,
        src: socket.socket,
        dst: socket.socket,
        limit: int | None,
        pair: tuple[socket.socket, socket.socket],
    ) -> None:
        forwarded = 0
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                if limit is not None and forwarded + len(data) >= limit:
                    dst.sendall(data[: limit - forwarded])
                    with self._lock:
                        self.cuts += 1
                    break
                dst.sendall(data)
                forwarded += len(data)
        except OSError:
            pass
        _close_pair(pair)

    def close(self) -> None:
        with suppress(OSError):
            self.listener.shutdown(socket.SHUT_RDWR)
        self.listener.close()
        with self._lock:
            opened = list(self._sockets)
        for sock in opened:
            with suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        for thread in self._threads:
            thread.join(10)
        for sock in opened:
            sock.close()


def _close_pair(pair: tuple[socket.socket, socket.socket]) -> None:
    """End both sides at once: the client sees the connection end mid-stream."""
    for sock in pair:
        with suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)


# -- two vaults ------------------------------------------------------------------


def _no_sleep(_: float) -> None:
    return None


class Transports:
    """The transport factory of the tests; closes what it made."""

    def __init__(self) -> None:
        self.opened: list[HttpsTransport] = []

    def __call__(self, url: str, fingerprint: str, token: str | None) -> HttpsTransport:
        # Two attempts without waiting: a fault the retry cannot get past fails.
        made = HttpsTransport(
            url, fingerprint, token, timeout=10, attempts=2, sleep=_no_sleep
        )
        self.opened.append(made)
        return made

    def close(self) -> None:
        while self.opened:
            self.opened.pop().close()


@dataclass
class World:
    server: ServerProcess
    clock: ManualClock
    transport: Transports
    a: VaultHarness
    sa: Session
    b_service: VaultService
    sb: Session

    def engine(self, side: str) -> SyncEngine:
        self.clock.advance(1)
        vault, session = (
            (self.a.service, self.sa) if side == "a" else (self.b_service, self.sb)
        )
        made = sync_service.engine_for(vault, session, self.transport)
        made.page = PAGE
        return made

    def sync(self, side: str) -> sync_service.SyncResult:
        engine = self.engine(side)
        try:
            return engine.sync_now()
        finally:
            close_transport(engine.transport)

    def close(self) -> None:
        self.transport.close()
        self.sa.lock()
        self.sb.lock()


def workstation(session: Session) -> str:
    return sync_queries.state(session.database())["workstation_id"]


def _world(tmp_path: Path, server: ServerProcess, url: str) -> World:
    # The vaults' clock must agree with the server's (pairing expiry).
    clock = ManualClock(time.time())
    transport = Transports()
    a = make_vault(tmp_path / "a", MemorySecretStore(), clock)
    sa = a.created.session
    sync_service.connect(
        a.service, sa, url, server.tls.fingerprint, transport_factory=transport
    )
    code = sync_service.pair_code(a.service, sa, transport_factory=transport)
    b_store = MemorySecretStore()
    joined = sync_service.join(
        tmp_path / "b",
        b_store,
        code.code,
        ADMIN,
        JOIN_PIN,
        transport_factory=transport,
        clock=clock,
    )
    b_service = VaultService(tmp_path / "b", b_store, clock)
    world = World(server, clock, transport, a, sa, b_service, joined.session)
    # Settle what joining made (the admin's authenticator entry, ...).
    world.sync("b")
    world.sync("a")
    return world


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ServerProcess]:
    running = ServerProcess(tmp_path / "server", make_tls(tmp_path / "tls"))
    running.start()
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture
def world(tmp_path: Path, server: ServerProcess) -> Iterator[World]:
    made = _world(tmp_path, server, server.url)
    yield made
    made.close()


@pytest.fixture
def proxy(server: ServerProcess) -> Iterator[CuttingProxy]:
    made = CuttingProxy(server.port)
    yield made
    made.close()


@pytest.fixture
def proxied(
    tmp_path: Path, server: ServerProcess, proxy: CuttingProxy
) -> Iterator[World]:
    """Both vaults connected to the server through the proxy (its host:port)."""
    made = _world(tmp_path, server, proxy.url)
    yield made
    made.close()


# -- helpers --------------------------------------------------------------------


def family(i: int) -> str:
    return f"Faultline{i:03d}"


def note(i: int) -> str:
    # Large notes make every page of records tens of kilobytes.
    return f"fake-note-{i:03d}" + " lorem ipsum dolor sit amet" * 100


def make_patients(session: Session) -> list[str]:
    return [
        patients.create_patient(
            session,
            Patient(
                family=family(i), given="Ana", birth_date="1980-04-02", notes=note(i)
            ),
            allow_duplicates=True,
        )
        for i in range(PATIENTS)
    ]


def patient_count(session: Session) -> int:
    return int(session.database().scalar("SELECT count(*) FROM patients"))


def present(session: Session, ids: list[str]) -> int:
    db = session.database()
    return sum(sync_queries.row(db, "patients", pid) is not None for pid in ids)


def state(session: Session) -> dict[str, str]:
    return sync_queries.state(session.database())


def assert_clear(error: SyncError, session: Session) -> None:
    """One user-fit message: no chained traceback, no patient value, kept."""
    assert isinstance(error, CRMError)
    assert error.__cause__ is None and error.__suppress_context__
    message = error.message
    assert message == str(error)
    assert "Traceback" not in message and "\n" not in message
    for value in ("Faultline", "fake-note", "lorem", "1980-04-02", ADMIN):
        assert value.lower() not in message.lower()
    assert sync_service.status(session).last_error == message


def assert_converged(world: World, ids: list[str]) -> None:
    """Retry both sides; then everything is everywhere, once."""
    world.sync("a")
    world.sync("b")
    world.sync("a")
    sa, sb = world.sa, world.sb
    for session in (sa, sb):
        status = sync_service.status(session)
        assert status.pending_changes == 0
        assert status.last_error == ""
        assert sync_queries.conflicts(session.database()) == []
    for i, pid in enumerate(ids):
        got = sync_queries.row(sb.database(), "patients", pid)
        assert got is not None, i
        assert got["family"] == family(i) and got["notes"] == note(i)
        assert got == sync_queries.row(sa.database(), "patients", pid)
    assert patient_count(sa) == patient_count(sb) == PATIENTS
    # The server holds each workstation's records once, numbered 1..n, and the
    # other side applied each of them exactly once.
    assert int(state(sa)[PUSH_SEQ]) >= PATIENTS
    for source, other in ((sa, sb), (sb, sa)):
        ws = workstation(source)
        numbers = list(range(1, int(state(source)[PUSH_SEQ]) + 1))
        assert world.server.seqs(ws) == numbers
        applied = other.database().query(
            "SELECT seq FROM sync_inbox WHERE workstation_id = ? ORDER BY seq", (ws,)
        )
        assert [int(r[0]) for r in applied] == numbers


class _KillAfterFirst:
    """A transport that lets the server be killed once one call of ``op`` returned."""

    def __init__(self, inner: Any, op: str, kill: Callable[[], None]) -> None:
        self.inner, self.op, self.kill, self.calls = inner, op, kill, 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def _after(self, op: str) -> None:
        if op == self.op:
            self.calls += 1
            if self.calls == 1:
                self.kill()

    def push(self, records: Any) -> Any:
        result = self.inner.push(records)
        self._after("push")
        return result

    def pull(self, after: int, limit: int) -> Any:
        result = self.inner.pull(after, limit)
        self._after("pull")
        return result


# -- the server killed -----------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize(
    "moment", ["between_pages", "before_storing_page_2", "after_storing_page_2"]
)
def test_server_killed_during_push(world: World, moment: str):
    ids = make_patients(world.sa)
    assert sync_service.status(world.sa).pending_changes > 3 * PAGE  # many pages
    engine = world.engine("a")
    if moment == "between_pages":
        engine.transport = _KillAfterFirst(engine.transport, "push", world.server.kill)
    else:
        world.server.arm("push", 2, moment.split("_")[0])

    with pytest.raises(SyncError, match="cannot reach the sync server") as caught:
        engine.sync_now()
    close_transport(engine.transport)

    assert world.server.killed()
    assert_clear(caught.value, world.sa)
    # The first page was acknowledged and kept; the rest is still pending.
    sent = int(state(world.sa)[PUSH_SEQ])
    assert 0 < int(state(world.sa)[PUSHED_CHANGE])
    assert sync_service.status(world.sa).pending_changes > 0
    held = world.server.seqs(workstation(world.sa))
    if moment == "after_storing_page_2":
        # Page 2 is stored, its answer never came: it is sent again below.
        assert len(held) > sent
    else:
        assert len(held) == sent

    world.server.start()  # same store folder, same port: the vaults' URL holds
    assert_converged(world, ids)


@pytest.mark.slow
@pytest.mark.parametrize("moment", ["between_pages", "during_page_2"])
def test_server_killed_during_pull(world: World, moment: str):
    ids = make_patients(world.sa)
    world.sync("a")
    cursor = int(state(world.sb)["pull_cursor"])
    engine = world.engine("b")
    if moment == "between_pages":
        engine.transport = _KillAfterFirst(engine.transport, "pull", world.server.kill)
    else:
        world.server.arm("pull", 2, "before")

    with pytest.raises(SyncError, match="cannot reach the sync server") as caught:
        engine.sync_now()
    close_transport(engine.transport)

    assert world.server.killed()
    assert_clear(caught.value, world.sb)
    # The first page was applied and the cursor moved past it; not the rest.
    assert int(state(world.sb)["pull_cursor"]) > cursor
    assert 0 < present(world.sb, ids) < PATIENTS

    world.server.start()
    assert_converged(world, ids)


# -- the connection cut mid-body -------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("times", [1, None], ids=["once", "until_stopped"])
def test_connection_cut_inside_a_pull_answer(
    proxied: World, proxy: CuttingProxy, times: int | None
):
    world = proxied
    ids = make_patients(world.sa)
    world.sync("a")
    cursor = int(state(world.sb)["pull_cursor"])
    proxy.arm("response", CUT_AFTER, times)

    if times == 1:
        # The transport's own retry gets past one cut, within the same sync.
        world.sync("b")
        assert proxy.cuts == 1
    else:
        with pytest.raises(SyncError, match="cannot reach the sync server") as caught:
            world.sync("b")
        assert proxy.cuts == 2  # both attempts cut
        assert_clear(caught.value, world.sb)
        # The cut page was not applied, nor anything after it.
        assert int(state(world.sb)["pull_cursor"]) == cursor
        assert present(world.sb, ids) == 0
        proxy.disarm()

    assert_converged(world, ids)
    assert proxy.cuts == (1 if times == 1 else 2)


@pytest.mark.slow
@pytest.mark.parametrize("times", [1, None], ids=["once", "until_stopped"])
def test_connection_cut_inside_a_push_request(
    proxied: World, proxy: CuttingProxy, times: int | None
):
    world = proxied
    ids = make_patients(world.sa)
    before = dict(state(world.sa))
    held = world.server.seqs(workstation(world.sa))
    proxy.arm("request", CUT_AFTER, times)

    if times == 1:
        world.sync("a")
        assert proxy.cuts == 1
    else:
        with pytest.raises(SyncError, match="cannot reach the sync server") as caught:
            world.sync("a")
        assert proxy.cuts == 2
        assert_clear(caught.value, world.sa)
        # A body cut short stores nothing, and the vault still has it pending.
        assert world.server.seqs(workstation(world.sa)) == held
        after = state(world.sa)
        assert after[PUSH_SEQ] == before[PUSH_SEQ]
        assert after[PUSHED_CHANGE] == before[PUSHED_CHANGE]
        proxy.disarm()

    assert_converged(world, ids)
