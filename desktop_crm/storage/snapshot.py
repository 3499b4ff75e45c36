"""Consistent snapshots of the encrypted database file, and checks of a copy.

A snapshot is the database file as it is on disk (SQLCipher pages, still
encrypted), read while writers are held out and the write-ahead log is
empty.  Nothing is decrypted and re-encrypted, so taking one runs at the
speed of reading the file.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from desktop_crm.errors import VaultError
from desktop_crm.storage import queries
from desktop_crm.storage.database import (
    Database,
    KeyChangedUnderneath,
    _driver,
    open_database,
)

log = logging.getLogger(__name__)

CHECKPOINT_ATTEMPTS = 5


class SnapshotBusy(VaultError):
    """Other connections kept the write-ahead log from being emptied."""

    def __init__(self) -> None:
        super().__init__(
            "the vault is busy (another program keeps it open for reading): "
            "try the backup again in a moment"
        )


@dataclass(frozen=True)
class Snapshot:
    """An open, stable database file and the facts recorded with it."""

    handle: BinaryIO
    size: int
    schema_version: int
    counts: dict[str, int]


def _wal_path(path: Path) -> Path:
    return path.with_name(path.name + "-wal")


def _wal_empty(path: Path) -> bool:
    try:
        return _wal_path(path).stat().st_size == 0
    except FileNotFoundError:
        return True


def _hold_writers(db: Database) -> None:
    """BEGIN IMMEDIATE with an empty WAL, so the main file is complete and frozen.

    The checkpoint cannot run inside a transaction, so another connection may
    commit between the two steps; the WAL is then not empty and we try again.
    """
    for _ in range(CHECKPOINT_ATTEMPTS):
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        db.execute("BEGIN IMMEDIATE")
        if _wal_empty(db.path):
            return
        db.execute("ROLLBACK")
    raise SnapshotBusy


@contextlib.contextmanager
def consistent_snapshot(db: Database) -> Iterator[Snapshot]:
    """Hold writers out and yield the database file for reading.

    The Database's own lock keeps this process's other threads out; the
    write lock (BEGIN IMMEDIATE) keeps other connections out; the empty WAL
    means every committed page is in the main file.  Row counts and the
    schema version are read inside the same transaction.
    """
    # Other threads of this process stay out for the whole copy.
    with db.held():
        _hold_writers(db)
        try:
            counts = queries.table_counts(db)
            version = int(db.pragma("user_version"))
            with open(db.path, "rb") as handle:
                size = os.fstat(handle.fileno()).st_size
                yield Snapshot(handle, size, version, counts)
        finally:
            db.execute("ROLLBACK")


@dataclass(frozen=True)
class IntegrityReport:
    """What SQLite and SQLCipher said about a database copy.

    With problems, ``schema_version`` is -1 and ``counts`` empty: unread.
    """

    schema_version: int
    counts: dict[str, int]
    problems: tuple[str, ...]


#: Page cache of a checking connection: each page is read about once, so a
#: big cache buys nothing and would cost memory on a large vault.
CHECK_CACHE_KIB = 8 * 1024


def _open_for_check(path: Path, key: bytes | bytearray) -> Database:
    db = open_database(path, key)
    db.execute(f"PRAGMA cache_size = -{CHECK_CACHE_KIB}")
    return db


def _problems(db: Database, check: str) -> list[str]:
    """The rows of ``PRAGMA check`` that are not "ok", as problem lines.

    A copy damaged badly enough makes SQLite stop with an error instead of
    listing rows; that is a problem too, not a crash.
    """
    try:
        rows = db.query(f"PRAGMA {check}")
    except KeyChangedUnderneath:
        return [f"{check}: a page does not open under the recorded key"]
    except _driver().DatabaseError as exc:
        return [f"{check}: {exc}"]
    return [f"{check}: {row[0]}" for row in rows if row[0] != "ok"]


def _cipher_problems(path: Path, key: bytes | bytearray) -> list[str]:
    """``cipher_integrity_check`` (every page's HMAC) on its own connection."""
    db = _open_for_check(path, key)
    try:
        return _problems(db, "cipher_integrity_check")
    finally:
        db.close()


def check_copy(path: Path, key: bytes | bytearray) -> IntegrityReport:
    """Open an encrypted copy and run both integrity checks and the row counts.

    The two checks each read the whole file; they run side by side on two
    connections (SQLite releases the GIL while it works), so checking takes
    about as long as the slower of them rather than their sum.
    """
    db = _open_for_check(path, key)
    try:
        with ThreadPoolExecutor(1, thread_name_prefix="cipher-check") as pool:
            cipher = pool.submit(_cipher_problems, path, key)
            problems = _problems(db, "integrity_check") + cipher.result()
        if problems:
            # A damaged copy may not even answer the questions below.
            return IntegrityReport(-1, {}, tuple(problems))
        return IntegrityReport(
            int(db.pragma("user_version")), queries.table_counts(db), tuple(problems)
        )
    finally:
        db.close()
