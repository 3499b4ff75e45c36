"""Atomic, private file writes: temp file, fsync, rename, fsync of the folder."""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
from pathlib import Path

PRIVATE_FILE = 0o600
PRIVATE_DIR = 0o700
#: What the OS says when a disk (or the user's quota on it) has no room left.
_NO_ROOM = frozenset({errno.ENOSPC, errno.EDQUOT})


def is_disk_full(exc: BaseException) -> bool:
    """Whether ``exc`` is the OS saying a disk (or a quota) has no room."""
    return isinstance(exc, OSError) and exc.errno in _NO_ROOM


def ensure_private_dir(path: Path) -> Path:
    """Create ``path`` (and parents) readable only by this OS account."""
    path.mkdir(parents=True, exist_ok=True, mode=PRIVATE_DIR)
    with contextlib.suppress(OSError):
        os.chmod(path, PRIVATE_DIR)
    return path


def fsync_dir(path: Path) -> None:
    """Flush a folder's entries so a rename survives a power cut (POSIX only)."""
    if os.name != "posix":
        return
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write(path: Path, data: bytes) -> None:
    """Replace ``path`` with ``data`` so readers see the old or new file, whole.

    The temporary file is created with owner-only permissions before anything
    is written to it.
    """
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise
    fsync_dir(path.parent)
