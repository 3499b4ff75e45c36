"""Process hardening that the platform allows (best effort)."""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import sys

log = logging.getLogger(__name__)

_PR_SET_DUMPABLE = 4


def make_non_dumpable() -> bool:
    """Ask Linux not to write core dumps of this process or let others ptrace it.

    Returns whether the request was accepted; other platforms return False.
    """
    if not sys.platform.startswith("linux"):
        return False
    libc_name = ctypes.util.find_library("c")
    if not libc_name:
        return False
    libc = ctypes.CDLL(libc_name, use_errno=True)
    if libc.prctl(_PR_SET_DUMPABLE, 0, 0, 0, 0) != 0:
        log.info("prctl(PR_SET_DUMPABLE) refused, errno %d", ctypes.get_errno())
        return False
    return True
