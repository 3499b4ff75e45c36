"""The SQLCipher connection: raw-key open, version check, safe pragmas.

This module (with the rest of ``storage``) is the only importer of the
SQLCipher driver.  There is no fallback to plain ``sqlite3``: without the
driver the product refuses to run.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import shutil
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from desktop_crm.errors import CRMError, VaultError

log = logging.getLogger(__name__)

PLAINTEXT_MAGIC = b"SQLite format 3\x00"
KEY_BYTES = 32
MIN_CIPHER_MAJOR = 4


#: Prepared statements kept per connection.  The write path, the indexers and
#: the screens use many distinct statements; with the driver's default the
#: cache thrashed after an import or a batch of writes, and every record
#: opened parsed its SQL again (80 us instead of 47 us per lookup in
#: benchmarks/patients.py).
STATEMENT_CACHE = 512
#: A batch that has kept the write lock this long (seconds, through
#: back-to-back commit groups) lets it go for ``SHARE_PAUSE``: longer than
#: the 100 ms between two looks of SQLite's busy handler in another process.
SHARE_EVERY = 2.0
SHARE_PAUSE = 0.15
#: How long a statement waits for another process's write lock (ms).
BUSY_TIMEOUT_MS = 5000


class StorageUnavailable(CRMError):
    """The SQLCipher driver is missing or is not SQLCipher 4."""


class KeyChangedUnderneath(VaultError):
    """Another process rotated the database key while this connection was open."""

    def __init__(self) -> None:
        super().__init__(
            "the vault's database key was changed by another window or command "
            "while this session was open: unlock again"
        )


class GroupLost(VaultError):
    """SQLite rolled back a whole commit group (a full disk, an I/O error)."""

    def __init__(self, cause: BaseException) -> None:
        why = (
            "the disk holding the vault is full"
            if isinstance(cause, DiskFull)
            else "the disk may be failing"
        )
        super().__init__(
            f"{why}: the last changes of this run were not saved; nothing is "
            "half-written, and running it again redoes them"
        )


class VaultBusy(VaultError):
    """Another process held the vault's write lock for longer than we wait."""

    def __init__(self) -> None:
        super().__init__(
            "the vault is busy: another window or command (an import?) is writing "
            "to it; nothing was changed here, try again in a moment"
        )


class TakenMeanwhile(VaultError):
    """A unique value was stored by another process between read and write.

    ``column`` is ``table.column`` as SQLite names it (never a value).
    """

    def __init__(self, column: str) -> None:
        super().__init__(
            f"another window or command stored the same {column} at the same "
            "moment: nothing was changed here, try again"
        )
        self.column = column


class DiskFull(VaultError):
    """SQLite could not grow the database or its WAL (SQLITE_FULL)."""

    def __init__(self) -> None:
        super().__init__(
            "the disk holding the vault is full: this change was not saved; "
            "free some space and try again"
        )


class WrongDatabaseKey(VaultError):
    """The key does not open this database file."""

    def __init__(self) -> None:
        super().__init__("the database key does not open this vault's database")


def _driver() -> Any:
    try:
        import sqlcipher3
    except ImportError as exc:
        raise StorageUnavailable(
            "the SQLCipher driver (sqlcipher3) is not installed: refusing to run "
            "without database encryption"
        ) from exc
    return sqlcipher3


def key_literal(key: bytes | bytearray) -> str:
    """The SQL literal ``"x'<64 hex>'"`` for a raw 256-bit key.

    Checked before it ever reaches SQLCipher: anything else would be taken as
    a passphrase and silently create a differently keyed database.
    """
    if not isinstance(key, bytes | bytearray) or len(key) != KEY_BYTES:
        raise ValueError("a database key is exactly 32 bytes")
    return f"\"x'{bytes(key).hex()}'\""


@dataclass(frozen=True)
class OpenInfo:
    """Facts learnt while opening, for status screens and the user."""

    cipher_version: str
    migrated_from_v3: bool


class Database:
    """One SQLCipher connection, used from one thread at a time."""

    def __init__(self, conn: Any, path: Path, info: OpenInfo) -> None:
        self._conn = conn
        self._lock = threading.RLock()
        self.path = path
        self.info = info
        self.after_commit: list[Any] = []
        self._batch_depth = 0
        self._pending_head: Any = None
        self._group_seconds = 0.0
        self._group_began: float | None = None
        self._group_head: Any = None
        self._held_since: float | None = None

    # execute and query run thousands of times a second during an import:
    # they translate errors inline rather than through ``_key_guard``'s
    # generator (a tenth of an import's time went to entering and leaving it).
    def execute(self, sql: str, params: Sequence[Any] = ()) -> Any:
        with self._lock:
            try:
                return self._conn.execute(sql, params)
            except Exception as exc:
                _raise_actionable(exc)
                raise

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        with self._lock:
            try:
                return list(self._conn.execute(sql, params).fetchall())
            except Exception as exc:
                _raise_actionable(exc)
                raise

    def scalar(self, sql: str, params: Sequence[Any] = ()) -> Any:
        rows = self.query(sql, params)
        return rows[0][0] if rows else None

    @contextlib.contextmanager
    def transaction(self) -> Iterator[Database]:
        """BEGIN IMMEDIATE ... COMMIT, or ROLLBACK on any exception.

        Inside ``batch(group_seconds=...)`` it is a savepoint of the batch's
        open group instead: all or nothing on its own, committed with the
        group (see ``batch``).
        """
        share = False
        with self._lock:
            if self._group_seconds:
                with self._savepoint():
                    yield self
                if time.monotonic() - (self._group_began or 0.0) >= self._group_seconds:
                    self._commit_group()
                    share = self._share_due()
            else:
                with _key_guard():
                    self._conn.execute("BEGIN IMMEDIATE")
                try:
                    yield self
                except BaseException:
                    with contextlib.suppress(Exception):
                        self._conn.execute("ROLLBACK")
                    raise
                with _key_guard():
                    self._conn.execute("COMMIT")
        if share:
            # Outside the thread lock, so this process's other threads go on.
            time.sleep(SHARE_PAUSE)

    def _share_due(self) -> bool:
        """True when a long batch should leave the vault to others a moment.

        Between two groups the write lock is free only for as long as the
        importer works on its next patient, and SQLite's busy handler looks
        only every 100 ms: without a pause, another process (an unlock, a
        second import) would wait out its busy timeout and fail.
        """
        now = time.monotonic()
        if self._held_since is None:
            self._held_since = now
        if now - self._held_since < SHARE_EVERY:
            return False
        self._held_since = None
        return True

    @contextlib.contextmanager
    def _savepoint(self) -> Iterator[None]:
        self._open_group()
        with _key_guard():
            self._conn.execute("SAVEPOINT write_path")
        try:
            yield
        except BaseException as exc:
            if self._conn.in_transaction:
                with contextlib.suppress(Exception):
                    self._conn.execute("ROLLBACK TO write_path")
                    self._conn.execute("RELEASE write_path")
                raise
            # SQLite itself rolled the whole group back (a full disk, an I/O
            # error): the group's earlier writes are gone too, and the caller
            # must not count them as stored.
            self._lose_group()
            raise GroupLost(exc) from exc
        with _key_guard():
            self._conn.execute("RELEASE write_path")

    def _commit_group(self) -> None:
        if self._group_began is None:
            return
        try:
            with _key_guard():
                self._conn.execute("COMMIT")
        except Exception as exc:
            if self._conn.in_transaction:
                with contextlib.suppress(Exception):
                    self._conn.execute("ROLLBACK")
            self._lose_group()
            raise GroupLost(exc) from exc
        self._group_began = None

    def _lose_group(self) -> None:
        # The audit head outside the database must not name an entry that
        # was never stored: go back to the newest one that was.
        self._group_began = None
        self._pending_head = self._group_head

    @contextlib.contextmanager
    def held(self) -> Iterator[Database]:
        """Keep this process's other threads out for a multi-step read.

        A batch's open commit group is committed first, so the read sees (and
        may take its own transaction over) only committed data.
        """
        with self._lock:
            self._commit_group()
            yield self

    @contextlib.contextmanager
    def batch(self, group_seconds: float = 0.0) -> Iterator[Database]:
        """Many small transactions in a row (an import): cheaper, same safety.

        Each transaction still commits on its own, but the WAL is synced once
        at the end (a process crash loses nothing committed; a power cut may
        lose the batch's newest transactions, never consistency), and the
        commit hooks (the audit head kept outside the database) run once,
        with the newest head, when the batch ends.

        With ``group_seconds`` the transactions of the batch become savepoints
        (SQLite's nested transactions) of a group that commits once it has
        been open that long, and when the batch ends, also on an exception.
        Each write is still all or nothing on its own and a failed one takes
        nothing else with it; a crash loses at most the open group, whole
        writes only.  Other processes wait for the vault at most about that
        long.
        """
        with self._lock:
            if self._batch_depth == 0:
                self._conn.execute("PRAGMA synchronous = NORMAL")
                self._group_seconds = group_seconds
            self._batch_depth += 1
        try:
            yield self
        finally:
            with self._lock:
                # The last one out ends the batch, whichever thread it is.
                self._batch_depth -= 1
                if self._batch_depth == 0 and self._conn is not None:
                    self._group_seconds = 0.0
                    self._held_since = None
                    try:
                        self._commit_group()
                    finally:
                        # On a full disk these may fail too; the error that
                        # ended the batch is the one to report.
                        with contextlib.suppress(Exception):
                            self._conn.execute("PRAGMA synchronous = FULL")
                            self._conn.execute("PRAGMA wal_checkpoint(PASSIVE)")
                        head, self._pending_head = self._pending_head, None
                        if head is not None:
                            self._run_hooks(head)

    def committed(self, head: Any) -> None:
        """Called by the write path after each commit with the new chain head."""
        if self._batch_depth:
            self._pending_head = head
        else:
            self._run_hooks(head)

    def _run_hooks(self, head: Any) -> None:
        for hook in list(self.after_commit):
            hook(head)

    def pragma(self, name: str) -> Any:
        return self.scalar(f"PRAGMA {name}")

    def export_copy(self, target: Path, key: bytes | bytearray) -> None:
        """Write an encrypted copy of the database with ``sqlcipher_export``."""
        with self._lock:
            self._commit_group()  # ATTACH cannot run inside a transaction
            self._conn.execute(
                f"ATTACH DATABASE ? AS snapshot KEY {key_literal(key)}", (str(target),)
            )
            try:
                self._conn.execute("SELECT sqlcipher_export('snapshot')")
                # sqlcipher_export copies schema and rows but not user_version,
                # which is the schema version the migrations rely on.
                version = int(
                    self._conn.execute("PRAGMA main.user_version").fetchone()[0]
                )
                self._conn.execute(f"PRAGMA snapshot.user_version = {version}")
            finally:
                self._conn.execute("DETACH DATABASE snapshot")

    def rekey(self, new_key: bytes | bytearray) -> None:
        with self._lock:
            self._commit_group()
            try:
                self._conn.execute(f"PRAGMA rekey = {key_literal(new_key)}")
            except Exception as exc:
                # SQLCipher reports a rekey that ran out of room only as "an
                # error occurred with PRAGMA key or rekey": ask the disk.
                _raise_actionable(exc)
                if shutil.disk_usage(self.path.parent).free < _size(self.path):
                    raise DiskFull from exc
                raise

    def hold_write(self) -> bool:
        """Inside a grouped batch, take the vault's write lock now.

        What is read next cannot then change under the group's next write
        (another process waits): a check-then-create, such as matching a
        patient by name and birth date, stays true until it is written.
        Returns False outside a grouped batch, where nothing is held.
        """
        with self._lock:
            if not self._group_seconds:
                return False
            self._open_group()
            return True

    def _open_group(self) -> None:
        if self._group_began is None:
            with _key_guard():
                self._conn.execute("BEGIN IMMEDIATE")
            self._group_began = time.monotonic()
            self._group_head = self._pending_head

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                with contextlib.suppress(Exception):
                    self._commit_group()
                with contextlib.suppress(Exception):
                    self._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
                self._conn.close()
                self._conn = None

    @property
    def closed(self) -> bool:
        return self._conn is None


@contextlib.contextmanager
def _key_guard() -> Iterator[None]:
    """Turn SQLite's errors that a user can act on into clear ones.

    "file is not a database" on a connection that opened fine means the pages
    are now under another key: a key rotation by another process.
    """
    try:
        yield
    except Exception as exc:
        _raise_actionable(exc)
        raise


_UNIQUE_FAILED = re.compile(r"UNIQUE constraint failed: ([\w., ]+)$")


def _raise_actionable(exc: Exception) -> None:
    """Raise the clear error for ``exc`` if a user can act on it; else return."""
    if not isinstance(exc, _driver().DatabaseError):
        return
    taken = _UNIQUE_FAILED.match(str(exc))
    if taken is not None and isinstance(exc, _driver().IntegrityError):
        raise TakenMeanwhile(taken.group(1)) from exc
    if "file is not a database" in str(exc):
        raise KeyChangedUnderneath from exc
    if "database or disk is full" in str(exc):
        raise DiskFull from exc
    if "database is locked" in str(exc):
        raise VaultBusy from exc


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def is_plaintext_sqlite(path: Path) -> bool:
    with contextlib.suppress(FileNotFoundError), open(path, "rb") as handle:
        return handle.read(len(PLAINTEXT_MAGIC)) == PLAINTEXT_MAGIC
    return False


def _connect(path: Path, key: bytes | bytearray, compat: int | None) -> Any:
    driver = _driver()
    conn = driver.connect(
        str(path),
        isolation_level=None,
        check_same_thread=False,
        cached_statements=STATEMENT_CACHE,
    )
    # SQLCipher otherwise prints its own diagnostics (HMAC failures and the
    # like) on stderr; our errors say what went wrong in one line.
    conn.execute("PRAGMA cipher_log_level = NONE")
    conn.execute(f"PRAGMA key = {key_literal(key)}")
    if compat is not None:
        conn.execute(f"PRAGMA cipher_compatibility = {int(compat)}")
    return conn


def _readable(conn: Any) -> bool:
    driver = _driver()
    try:
        conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
    except driver.DatabaseError:
        return False
    return True


def _cipher_version(conn: Any) -> str:
    row = conn.execute("PRAGMA cipher_version").fetchone()
    version = str(row[0]) if row and row[0] else ""
    try:
        major = int(version.split(".")[0])
    except ValueError:
        major = 0
    if major < MIN_CIPHER_MAJOR:
        conn.close()
        raise StorageUnavailable(
            f"the database driver is not SQLCipher {MIN_CIPHER_MAJOR} "
            f"(reported '{version or 'none'}'): refusing to run"
        )
    return version


def _apply_pragmas(conn: Any) -> None:
    conn.execute("PRAGMA foreign_keys = ON")
    conn.execute("PRAGMA temp_store = MEMORY")
    conn.execute("PRAGMA secure_delete = ON")
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = FULL")
    conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    # 64 MiB of decrypted pages: misses cost a decryption each, and a busy
    # practice's working set (search index, today's patients) fits.
    conn.execute("PRAGMA cache_size = -65536")


def _migrate_legacy(path: Path, key: bytes | bytearray) -> Any:
    """Move a SQLCipher 3 database to the 4.x format, keeping the original."""
    backup = path.with_name(f"{path.name}.sqlcipher3-{time.strftime('%Y%m%d%H%M%S')}")
    shutil.copy2(path, backup)
    conn = _connect(path, key, compat=None)
    row = conn.execute("PRAGMA cipher_migrate").fetchone()
    if row is None or str(row[0]) != "0" or not _readable(conn):
        conn.close()
        raise VaultError(
            "the database is in the old SQLCipher 3 format and could not "
            f"be converted; the original is kept as {backup.name}"
        )
    log.info("converted a SQLCipher 3 database; original kept as %s", backup.name)
    return conn


def open_database(
    path: Path, key: bytes | bytearray, *, create: bool = False
) -> Database:
    """Open (or create) the encrypted database at ``path`` with a raw key.

    Raises:
        VaultError: the file is missing, is a plaintext SQLite file, or needs a
            different key (``WrongDatabaseKey``).
        StorageUnavailable: the driver is missing or not SQLCipher 4.
    """
    key_literal(key)
    _driver()  # no driver, no file: never create anything that is not encrypted
    exists = path.exists() and path.stat().st_size > 0
    if not exists and not create:
        what = "empty" if path.exists() else "missing"
        raise VaultError(f"the vault's database file is {what}")
    if not exists:
        # SQLite gives the -wal and -shm files the main file's permissions,
        # so the main file is made owner-only before SQLite creates anything.
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600))
        os.chmod(path, 0o600)
    if exists and is_plaintext_sqlite(path):
        raise VaultError("the database file is not encrypted: refusing to open it")
    conn = _connect(path, key, compat=None)
    version = _cipher_version(conn)
    migrated = False
    if not _readable(conn):
        conn.close()
        legacy = _connect(path, key, compat=3)
        if not _readable(legacy):
            legacy.close()
            raise WrongDatabaseKey
        legacy.close()
        conn = _migrate_legacy(path, key)
        migrated = True
    _apply_pragmas(conn)
    return Database(
        conn, path, OpenInfo(cipher_version=version, migrated_from_v3=migrated)
    )


def driver_versions() -> tuple[str, str]:
    """SQLCipher and OpenSSL versions of the installed driver (no vault needed)."""
    conn = _driver().connect(":memory:")
    try:
        conn.execute(f"PRAGMA key = {key_literal(bytes(KEY_BYTES))}")
        sqlcipher = str(conn.execute("PRAGMA cipher_version").fetchone()[0])
        row = conn.execute("PRAGMA cipher_provider_version").fetchone()
        openssl = str(row[0]) if row and row[0] else "OpenSSL (version unknown)"
    finally:
        conn.close()
    return sqlcipher, openssl


def integrity_problems(db: Database) -> list[str]:
    """Every page's HMAC (SQLCipher) and the b-tree structure (SQLite)."""
    problems = [
        f"page check: {r[0]}" for r in db.query("PRAGMA cipher_integrity_check")
    ]
    rows = db.query("PRAGMA integrity_check")
    if rows != [("ok",)]:
        problems += [f"structure: {r[0]}" for r in rows]
    return problems
