"""What an import can tell about a path before it reads it.

Asked through ``stat``, which neither follows into a FIFO (a read of one
waits for a writer forever) nor raises for a file in a folder that cannot
be entered (``Path.is_dir`` and ``Path.exists`` do, with PermissionError).
"""

from __future__ import annotations

import stat
from pathlib import Path

MISSING = "no such file or folder"


def unreadable(path: Path) -> str:
    """Why ``path`` cannot be read as a file, or "" when it can be tried."""
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        return MISSING
    except OSError as exc:
        return f"cannot be read ({exc.strerror})"
    if stat.S_ISDIR(mode):
        return "is a folder"
    if not stat.S_ISREG(mode):
        return "not a regular file (a FIFO, device or socket)"
    return ""


def is_dir(path: Path) -> bool:
    try:
        return stat.S_ISDIR(path.stat().st_mode)
    except OSError:
        return False


def size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0
