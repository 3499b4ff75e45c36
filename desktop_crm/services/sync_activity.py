"""What the sync screens need beyond ``sync_service``: safe runs, a change
watch (the open conflicts a user may see are in ``sync_service``).

**Sharing the connection with the GUI thread.**  The session has one
SQLCipher connection; ``Database`` serialises single statements and whole
transactions with its lock, which is how the backup runs off the GUI thread.
That is not enough for sync: pulling merges a remote record by reading the
row and its field stamps and then writing, and a user's edit landing between
the read and the write would be merged against a stale row.  Holding the
lock for the whole run would freeze the screens for as long as the network
takes (up to the transport's timeout).  So a run started here takes turns
with the GUI thread: it holds ``Database.held()`` from its first answer from
the server onward and lets go only while a request is on the wire
(``_TurnTakingTransport``).  Every read-modify-write of a merge therefore runs
with the GUI's statements kept out, and the GUI waits at most for the local
work on one page (500 records), never for the network.  The engine's reads
before its first request (state, change log) need no turn: only a push
changes what they read, and runs never overlap (below).

**Never two runs at once.**  A push numbers records from ``push_seq``; two
pushes at once could send different records under the same number, and the
server would keep only one.  Every run through ``in_turns`` (sync, pairing
code, connect, workstation list, revoke) takes one gate per database; a
background run that finds it taken is skipped (``SyncBusy``), a user's action
waits for the running one.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import weakref
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from desktop_crm.errors import CRMError
from desktop_crm.services.session import Session, SessionLocked
from desktop_crm.storage.database import Database
from desktop_crm.sync.transport import (
    HttpsTransport,
    Joined,
    Page,
    PushResult,
    Registration,
    Transport,
    TransportFactory,
)

log = logging.getLogger(__name__)

T = TypeVar("T")

#: Background rounds repeat every minute: give up on a silent server sooner
#: than a command would, so the status line says so within seconds.
BACKGROUND_TIMEOUT = 15.0
BACKGROUND_ATTEMPTS = 2

_gates: weakref.WeakKeyDictionary[Database, threading.Lock] = (
    weakref.WeakKeyDictionary()
)
_gates_guard = threading.Lock()


class SyncBusy(CRMError):
    """Another sync run of this vault is in progress."""

    def __init__(self) -> None:
        super().__init__("a sync is running already: try again in a moment")


def background_transport(url: str, fingerprint: str, token: str | None) -> Transport:
    """The HTTPS transport with a shorter timeout and fewer retries."""
    return HttpsTransport(
        url,
        fingerprint,
        token,
        timeout=BACKGROUND_TIMEOUT,
        attempts=BACKGROUND_ATTEMPTS,
    )


def _gate(db: Database) -> threading.Lock:
    with _gates_guard:
        gate = _gates.get(db)
        if gate is None:
            gate = _gates[db] = threading.Lock()
        return gate


class _Turns:
    """The worker's hold on the connection, given up during requests."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self.db = session.database()
        self._held: contextlib.AbstractContextManager[Database] | None = None

    def hold(self) -> None:
        if self._held is None:
            held = self.db.held()
            held.__enter__()
            self._held = held

    def let_go(self) -> None:
        held, self._held = self._held, None
        if held is not None:
            held.__exit__(None, None, None)

    def request(self, call: Callable[[], T]) -> T:
        """Run one network call without the hold, then take it again."""
        self.let_go()
        try:
            return call()
        finally:
            self.hold()
            if self.session.locked:
                # Locked while the request was out: stop before touching
                # the (closed) connection again.
                raise SessionLocked

    def factory(self, inner: TransportFactory) -> TransportFactory:
        def make(url: str, fingerprint: str, token: str | None) -> Transport:
            return _TurnTakingTransport(inner(url, fingerprint, token), self)

        return make


class _TurnTakingTransport:
    """A ``Transport`` that lets the GUI thread in while a request is out."""

    def __init__(self, inner: Transport, turns: _Turns) -> None:
        self.inner = inner
        self.turns = turns

    def close(self) -> None:
        close = getattr(self.inner, "close", None)
        if callable(close):
            close()

    def create_practice(
        self, label: str, registration_code: str | None = None
    ) -> Registration:
        return self.turns.request(
            lambda: self.inner.create_practice(label, registration_code)
        )

    def create_pairing(
        self, token_hash: str, expires_at: str, wrapped_key: bytes
    ) -> str:
        return self.turns.request(
            lambda: self.inner.create_pairing(token_hash, expires_at, wrapped_key)
        )

    def join(self, practice_id: str, enrolment_token: str, label: str) -> Joined:
        return self.turns.request(
            lambda: self.inner.join(practice_id, enrolment_token, label)
        )

    def push(self, records: Sequence[tuple[int, bytes]]) -> PushResult:
        return self.turns.request(lambda: self.inner.push(records))

    def pull(self, after: int, limit: int) -> Page:
        return self.turns.request(lambda: self.inner.pull(after, limit))

    def put_blob(self, blob_id: str, data: bytes) -> None:
        self.turns.request(lambda: self.inner.put_blob(blob_id, data))

    def get_blob(self, blob_id: str) -> bytes | None:
        return self.turns.request(lambda: self.inner.get_blob(blob_id))

    def workstations(self) -> list[dict[str, Any]]:
        return self.turns.request(self.inner.workstations)

    def revoke(self, workstation_id: str) -> None:
        self.turns.request(lambda: self.inner.revoke(workstation_id))


def in_turns(
    session: Session,
    work: Callable[[TransportFactory], T],
    factory: TransportFactory,
    *,
    wait: float = 0.0,
) -> T:
    """Run ``work(turn_taking_factory)`` off the GUI thread (see the module doc).

    ``wait`` is how long to wait for a run already in progress (0: raise
    ``SyncBusy`` at once, as background rounds do).
    """
    gate = _gate(session.database())
    got = gate.acquire(timeout=wait) if wait > 0 else gate.acquire(blocking=False)
    if not got:
        raise SyncBusy
    turns = _Turns(session)
    try:
        return work(turns.factory(factory))
    finally:
        turns.let_go()
        gate.release()


def watch_changes(
    session: Session, on_commit: Callable[[], None]
) -> Callable[[], None]:
    """Call ``on_commit()`` after every commit of this session's database.

    It runs on the committing thread, right after the commit, and must not
    raise.  Returns the function that stops the watch.
    """
    db = session.database()

    def hook(_head: object) -> None:
        try:
            on_commit()
        except Exception:  # a watcher must never fail a commit
            log.warning("a sync change watcher failed")

    db.after_commit.append(hook)

    def stop() -> None:
        with contextlib.suppress(ValueError):
            db.after_commit.remove(hook)

    return stop
