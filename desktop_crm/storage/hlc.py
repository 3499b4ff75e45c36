"""Hybrid logical clock stamps for change records (for sync's per-field merge)."""

from __future__ import annotations

import re
import threading
from collections.abc import Callable

_STAMP = re.compile(r"^(\d{13})\.(\d{5})\.(.+)$")


def parse(stamp: str) -> tuple[int, int, str]:
    match = _STAMP.match(stamp)
    if not match:
        raise ValueError("not a hybrid logical clock stamp")
    return int(match.group(1)), int(match.group(2)), match.group(3)


class HybridLogicalClock:
    """Stamps ``<wall ms>.<counter>.<device>`` that sort in causal order as text."""

    def __init__(
        self, device_id: str, now_ms: Callable[[], int], last: str | None = None
    ):
        self.device_id = device_id
        self._now_ms = now_ms
        self._lock = threading.Lock()
        self._wall, self._counter = 0, 0
        if last:
            self._wall, self._counter, _ = parse(last)

    def tick(self) -> str:
        with self._lock:
            now = self._now_ms()
            if now > self._wall:
                self._wall, self._counter = now, 0
            else:
                self._counter += 1
            return self._format()

    def observe(self, remote: str) -> None:
        """Move past a stamp received from another device."""
        wall, counter, _ = parse(remote)
        with self._lock:
            if (wall, counter) > (self._wall, self._counter):
                self._wall, self._counter = wall, counter

    def _format(self) -> str:
        return f"{self._wall:013d}.{self._counter:05d}.{self.device_id}"
