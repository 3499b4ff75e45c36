"""Where the sync server keeps its state: SQLite (default) or PostgreSQL.

The server holds ciphertext and the routing facts the protocol names
(docs/sync-protocol.md): practices, workstations (token hashes), pairings,
records and blobs.  Nothing here can read a record.  Times are Unix seconds.

Cursors are per-practice increasing integers.  SQLite serialises writers, so
its INTEGER PRIMARY KEY commits in order; in PostgreSQL a push takes a
per-practice advisory lock for its transaction, so two pushes of one practice
cannot commit their identity values out of order and a pull never skips a
record that commits later with a smaller cursor.
"""

from __future__ import annotations

import hmac
import queue
import secrets
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Protocol

SQLITE_FILE = "sync-server.sqlite3"
LAST_SEEN_EVERY = 60  # seconds between last_seen updates of one workstation

BlobResult = Literal["created", "same", "conflict"]


class StoreUnavailable(Exception):
    """The database could not be reached; the request may be retried."""


def new_id() -> str:
    """A random opaque identifier (128 bits, 32 lowercase hex digits)."""
    return secrets.token_hex(16)


@dataclass(frozen=True)
class Workstation:
    id: str
    practice_id: str
    label: str
    token_hash: str
    created_at: int
    last_seen: int
    revoked: bool


@dataclass(frozen=True)
class Record:
    cursor: int
    workstation_id: str
    seq: int
    ciphertext: bytes
    received_at: int


class Store(Protocol):
    """What the HTTP handlers need from storage."""

    def create_practice(self, label: str, token_hash: str, now: int) -> Workstation:
        """A new practice with its first workstation."""
        ...

    def workstation_for_token(self, token_hash: str) -> Workstation | None:
        """The workstation holding the token of this hash, revoked or not."""
        ...

    def touch(self, workstation_id: str, now: int) -> None:
        """Record that the workstation was seen."""
        ...

    def add_pairing(
        self,
        practice_id: str,
        token_hash: str,
        expires_at: int,
        wrapped_key: bytes | None,
    ) -> str:
        """Store a single-use pairing; returns its id."""
        ...

    def join(
        self, practice_id: str, enrol_hash: str, label: str, token_hash: str, now: int
    ) -> tuple[Workstation, bytes | None] | None:
        """Use up a live pairing and add a workstation; None if there is none."""
        ...

    def push(
        self, ws: Workstation, records: Sequence[tuple[int, bytes]], now: int
    ) -> tuple[int, int]:
        """Store new (seq, ciphertext) records; returns (accepted, duplicates)."""
        ...

    def pull(
        self, practice_id: str, after: int, limit: int
    ) -> tuple[list[Record], bool]:
        """Records after the cursor, oldest first, and whether more follow."""
        ...

    def put_blob(
        self, practice_id: str, blob_id: str, data: bytes, now: int
    ) -> BlobResult: ...

    def get_blob(self, practice_id: str, blob_id: str) -> bytes | None: ...

    def usage(self, practice_id: str) -> int:
        """Bytes of ciphertext the practice keeps here (records and documents)."""
        ...

    def workstations(self, practice_id: str) -> list[Workstation]: ...

    def revoke(self, practice_id: str, workstation_id: str) -> bool:
        """Revoke a workstation of the practice; False if there is none."""
        ...

    def close(self) -> None: ...


def same_hash(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode("ascii"), b.encode("ascii"))


# -- SQLite ----------------------------------------------------------------

_SQLITE_SCHEMA = """
CREATE TABLE IF NOT EXISTS practices (
    id TEXT PRIMARY KEY,
    created_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS workstations (
    id TEXT PRIMARY KEY,
    practice_id TEXT NOT NULL REFERENCES practices(id),
    label TEXT NOT NULL,
    token_hash TEXT NOT NULL UNIQUE,
    created_at INTEGER NOT NULL,
    last_seen INTEGER NOT NULL,
    revoked INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS pairings (
    id TEXT PRIMARY KEY,
    practice_id TEXT NOT NULL REFERENCES practices(id),
    token_hash TEXT NOT NULL,
    expires_at INTEGER NOT NULL,
    wrapped_key BLOB,
    used INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS pairings_by_hash ON pairings(practice_id, token_hash);
CREATE TABLE IF NOT EXISTS records (
    cursor INTEGER PRIMARY KEY AUTOINCREMENT,
    practice_id TEXT NOT NULL REFERENCES practices(id),
    workstation_id TEXT NOT NULL REFERENCES workstations(id),
    seq INTEGER NOT NULL,
    size INTEGER NOT NULL,
    received_at INTEGER NOT NULL,
    ciphertext BLOB NOT NULL,
    UNIQUE (workstation_id, seq)
);
CREATE INDEX IF NOT EXISTS records_by_practice ON records(practice_id, cursor);
CREATE TABLE IF NOT EXISTS blobs (
    practice_id TEXT NOT NULL REFERENCES practices(id),
    id TEXT NOT NULL,
    size INTEGER NOT NULL,
    received_at INTEGER NOT NULL,
    ciphertext BLOB NOT NULL,
    PRIMARY KEY (practice_id, id)
);
"""

_WS_COLUMNS = "id, practice_id, label, token_hash, created_at, last_seen, revoked"


def _workstation(row: Sequence[Any]) -> Workstation:
    return Workstation(
        id=row[0],
        practice_id=row[1],
        label=row[2],
        token_hash=row[3],
        created_at=int(row[4]),
        last_seen=int(row[5]),
        revoked=bool(row[6]),
    )


class _SqlStore:
    """What both stores do the same way; SQL is written with ``?`` marks.

    Subclasses give ``_tx`` (a transaction), ``_read`` (a connection for one
    read), ``_MARK`` (their parameter mark) and what differs: ``join`` and
    the ordering lock of ``push``.
    """

    _MARK = "?"

    def _tx(self) -> AbstractContextManager[Any]:
        raise NotImplementedError

    def _read(self) -> AbstractContextManager[Any]:
        raise NotImplementedError

    def _sql(self, text: str) -> str:
        return text if self._MARK == "?" else text.replace("?", self._MARK)

    def _order_pushes(self, db: Any, practice_id: str) -> None:
        """Make the cursors of one practice commit in the order drawn."""

    def create_practice(self, label: str, token_hash: str, now: int) -> Workstation:
        ws = Workstation(new_id(), new_id(), label, token_hash, now, now, False)
        with self._tx() as db:
            db.execute(
                self._sql("INSERT INTO practices VALUES (?, ?)"),
                (ws.practice_id, now),
            )
            self._insert_ws(db, ws)
        return ws

    def _insert_ws(self, db: Any, ws: Workstation) -> None:
        db.execute(
            self._sql(
                f"INSERT INTO workstations ({_WS_COLUMNS}) "
                "VALUES (?, ?, ?, ?, ?, ?, FALSE)"
            ),
            (
                ws.id,
                ws.practice_id,
                ws.label,
                ws.token_hash,
                ws.created_at,
                ws.last_seen,
            ),
        )

    def workstation_for_token(self, token_hash: str) -> Workstation | None:
        with self._read() as db:
            row = db.execute(
                self._sql(
                    f"SELECT {_WS_COLUMNS} FROM workstations WHERE token_hash = ?"
                ),
                (token_hash,),
            ).fetchone()
        return _workstation(row) if row else None

    def touch(self, workstation_id: str, now: int) -> None:
        with self._tx() as db:
            db.execute(
                self._sql("UPDATE workstations SET last_seen = ? WHERE id = ?"),
                (now, workstation_id),
            )

    def add_pairing(
        self,
        practice_id: str,
        token_hash: str,
        expires_at: int,
        wrapped_key: bytes | None,
    ) -> str:
        pairing_id = new_id()
        with self._tx() as db:
            db.execute(
                self._sql(
                    "INSERT INTO pairings (id, practice_id, token_hash, expires_at, "
                    "wrapped_key) VALUES (?, ?, ?, ?, ?)"
                ),
                (pairing_id, practice_id, token_hash, expires_at, wrapped_key),
            )
        return pairing_id

    def push(
        self, ws: Workstation, records: Sequence[tuple[int, bytes]], now: int
    ) -> tuple[int, int]:
        accepted = 0
        insert = self._sql(
            "INSERT INTO records (practice_id, workstation_id, seq, size, "
            "received_at, ciphertext) VALUES (?, ?, ?, ?, ?, ?) "
            "ON CONFLICT (workstation_id, seq) DO NOTHING"
        )
        with self._tx() as db:
            self._order_pushes(db, ws.practice_id)
            for seq, ciphertext in records:
                cur = db.execute(
                    insert,
                    (ws.practice_id, ws.id, seq, len(ciphertext), now, ciphertext),
                )
                accepted += cur.rowcount
        return accepted, len(records) - accepted

    def pull(
        self, practice_id: str, after: int, limit: int
    ) -> tuple[list[Record], bool]:
        with self._read() as db:
            rows = db.execute(
                self._sql(
                    "SELECT cursor, workstation_id, seq, ciphertext, received_at "
                    "FROM records WHERE practice_id = ? AND cursor > ? "
                    "ORDER BY cursor LIMIT ?"
                ),
                (practice_id, after, limit + 1),
            ).fetchall()
        records = [
            Record(int(r[0]), r[1], int(r[2]), bytes(r[3]), int(r[4]))
            for r in rows[:limit]
        ]
        return records, len(rows) > limit

    def put_blob(
        self, practice_id: str, blob_id: str, data: bytes, now: int
    ) -> BlobResult:
        with self._tx() as db:
            cur = db.execute(
                self._sql(
                    "INSERT INTO blobs VALUES (?, ?, ?, ?, ?) "
                    "ON CONFLICT (practice_id, id) DO NOTHING"
                ),
                (practice_id, blob_id, len(data), now, data),
            )
            if cur.rowcount == 1:
                return "created"
            row = db.execute(
                self._sql(
                    "SELECT ciphertext FROM blobs WHERE practice_id = ? AND id = ?"
                ),
                (practice_id, blob_id),
            ).fetchone()
        return "same" if bytes(row[0]) == data else "conflict"

    def usage(self, practice_id: str) -> int:
        with self._read() as db:
            row = db.execute(
                self._sql(
                    "SELECT (SELECT coalesce(sum(size), 0) FROM records "
                    "WHERE practice_id = ?) + (SELECT coalesce(sum(size), 0) "
                    "FROM blobs WHERE practice_id = ?)"
                ),
                (practice_id, practice_id),
            ).fetchone()
        return int(row[0])

    def get_blob(self, practice_id: str, blob_id: str) -> bytes | None:
        with self._read() as db:
            row = db.execute(
                self._sql(
                    "SELECT ciphertext FROM blobs WHERE practice_id = ? AND id = ?"
                ),
                (practice_id, blob_id),
            ).fetchone()
        return bytes(row[0]) if row else None

    def workstations(self, practice_id: str) -> list[Workstation]:
        with self._read() as db:
            rows = db.execute(
                self._sql(
                    f"SELECT {_WS_COLUMNS} FROM workstations WHERE practice_id = ? "
                    "ORDER BY created_at, id"
                ),
                (practice_id,),
            ).fetchall()
        return [_workstation(r) for r in rows]

    def revoke(self, practice_id: str, workstation_id: str) -> bool:
        with self._tx() as db:
            cur = db.execute(
                self._sql(
                    "UPDATE workstations SET revoked = TRUE "
                    "WHERE practice_id = ? AND id = ?"
                ),
                (practice_id, workstation_id),
            )
            return bool(cur.rowcount == 1)


class SQLiteStore(_SqlStore):
    """One SQLite file (WAL) in the server's data folder, one connection, a lock.

    Requests are short; one connection behind a lock is simpler than a pool
    and fast enough for the 200-workstation load test.
    """

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._lock = threading.Lock()
        try:
            self._db = sqlite3.connect(
                str(path), timeout=10, isolation_level=None, check_same_thread=False
            )
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.execute("PRAGMA foreign_keys=ON")
            self._db.executescript(_SQLITE_SCHEMA)
        except sqlite3.Error as exc:
            # A folder it may not write, a file that is not SQLite: say so as
            # an OS error about the file, as a failed mkdir would.
            raise OSError(0, f"cannot open {path.name} ({exc})") from None

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    @contextmanager
    def _read(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            yield self._db

    def join(
        self, practice_id: str, enrol_hash: str, label: str, token_hash: str, now: int
    ) -> tuple[Workstation, bytes | None] | None:
        with self._tx() as db:
            row = db.execute(
                "SELECT id, token_hash, wrapped_key FROM pairings "
                "WHERE practice_id = ? AND token_hash = ? AND used = 0 "
                "AND expires_at > ?",
                (practice_id, enrol_hash, now),
            ).fetchone()
            if row is None or not same_hash(row[1], enrol_hash):
                return None
            db.execute("UPDATE pairings SET used = 1 WHERE id = ?", (row[0],))
            ws = Workstation(new_id(), practice_id, label, token_hash, now, now, False)
            self._insert_ws(db, ws)
        return ws, row[2]

    def close(self) -> None:
        with self._lock:
            self._db.close()


# -- PostgreSQL ------------------------------------------------------------

_PG_SCHEMA = """
CREATE TABLE IF NOT EXISTS practices (
    id TEXT PRIMARY KEY,
    created_at BIGINT NOT NULL
);
CREATE TABLE IF NOT EXISTS workstations (
    id TEXT PRIMARY KEY,
    practice_id TEXT NOT NULL REFERENCES practices(id),
    label TEXT NOT NULL,
    token_hash TEXT NOT NULL UNIQUE,
    created_at BIGINT NOT NULL,
    last_seen BIGINT NOT NULL,
    revoked BOOLEAN NOT NULL DEFAULT FALSE
);
CREATE TABLE IF NOT EXISTS pairings (
    id TEXT PRIMARY KEY,
    practice_id TEXT NOT NULL REFERENCES practices(id),
    token_hash TEXT NOT NULL,
    expires_at BIGINT NOT NULL,
    wrapped_key BYTEA,
    used BOOLEAN NOT NULL DEFAULT FALSE
);
CREATE INDEX IF NOT EXISTS pairings_by_hash ON pairings(practice_id, token_hash);
CREATE TABLE IF NOT EXISTS records (
    cursor BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    practice_id TEXT NOT NULL REFERENCES practices(id),
    workstation_id TEXT NOT NULL REFERENCES workstations(id),
    seq BIGINT NOT NULL,
    size INTEGER NOT NULL,
    received_at BIGINT NOT NULL,
    ciphertext BYTEA NOT NULL,
    UNIQUE (workstation_id, seq)
);
CREATE INDEX IF NOT EXISTS records_by_practice ON records(practice_id, cursor);
CREATE TABLE IF NOT EXISTS blobs (
    practice_id TEXT NOT NULL REFERENCES practices(id),
    id TEXT NOT NULL,
    size INTEGER NOT NULL,
    received_at BIGINT NOT NULL,
    ciphertext BYTEA NOT NULL,
    PRIMARY KEY (practice_id, id)
);
"""

# Several server instances may start at once on one database.
_SCHEMA_LOCK = 0x44435253  # "DCRS"


class PostgresStore(_SqlStore):
    """PostgreSQL through psycopg 3; stateless, so instances can share it."""

    _MARK = "%s"

    def __init__(self, url: str, pool_size: int = 8) -> None:
        import psycopg  # the `server` extra: only needed for PostgreSQL

        self._psycopg = psycopg
        self._url = url
        self._pool: queue.LifoQueue[Any] = queue.LifoQueue()
        self._slots = threading.BoundedSemaphore(pool_size)
        with self._conn() as conn, conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (_SCHEMA_LOCK,))
            conn.execute(_PG_SCHEMA)

    @contextmanager
    def _conn(self) -> Iterator[Any]:
        psycopg = self._psycopg
        self._slots.acquire()
        try:
            try:
                conn = self._pool.get_nowait()
            except queue.Empty:
                try:
                    conn = psycopg.connect(
                        self._url, autocommit=True, connect_timeout=10
                    )
                except psycopg.OperationalError as exc:
                    raise StoreUnavailable("database unreachable") from exc
            try:
                yield conn
            except psycopg.OperationalError as exc:
                conn.close()
                raise StoreUnavailable("database connection lost") from exc
            except BaseException:
                if conn.closed or conn.broken:
                    conn.close()
                else:
                    self._pool.put(conn)
                raise
            self._pool.put(conn)
        finally:
            self._slots.release()

    @contextmanager
    def _tx(self) -> Iterator[Any]:
        with self._conn() as conn, conn.transaction():
            yield conn

    def _read(self) -> AbstractContextManager[Any]:
        return self._conn()

    def _order_pushes(self, db: Any, practice_id: str) -> None:
        db.execute(
            "SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", (practice_id,)
        )

    def join(
        self, practice_id: str, enrol_hash: str, label: str, token_hash: str, now: int
    ) -> tuple[Workstation, bytes | None] | None:
        with self._tx() as db:
            row = db.execute(
                "UPDATE pairings SET used = TRUE WHERE id = (SELECT id FROM pairings "
                "WHERE practice_id = %s AND token_hash = %s AND NOT used "
                "AND expires_at > %s LIMIT 1 FOR UPDATE) AND NOT used "
                "RETURNING token_hash, wrapped_key",
                (practice_id, enrol_hash, now),
            ).fetchone()
            if row is None or not same_hash(row[0], enrol_hash):
                return None
            ws = Workstation(new_id(), practice_id, label, token_hash, now, now, False)
            self._insert_ws(db, ws)
        return ws, (bytes(row[1]) if row[1] is not None else None)

    def close(self) -> None:
        while True:
            try:
                self._pool.get_nowait().close()
            except queue.Empty:
                return


def open_store(database: str | None, data_dir: Path) -> Store:
    """The store named by --database (postgresql://...) or SQLite in data_dir."""
    if database and database.startswith(("postgresql://", "postgres://")):
        return PostgresStore(database)
    if database:
        raise ValueError("database must be a postgresql:// URL")
    return SQLiteStore(data_dir / SQLITE_FILE)
