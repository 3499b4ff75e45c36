"""Token buckets per workstation token and per client address (in memory).

This is the only state a server instance keeps outside its database: with
several instances behind a load balancer each enforces its own share.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

MAX_KEYS = 50_000  # buckets kept before idle full ones are dropped


@dataclass(frozen=True)
class Rate:
    per_second: float
    burst: float


class RateLimiter:
    """`take(key)` spends one token; returns 0 when allowed, else seconds to wait."""

    def __init__(self, rate: Rate, clock: Callable[[], float] = time.monotonic) -> None:
        self.rate = rate
        self._clock = clock
        self._lock = threading.Lock()
        self._buckets: dict[str, tuple[float, float]] = {}  # key: (tokens, at)

    def take(self, key: str) -> int:
        now = self._clock()
        with self._lock:
            tokens, at = self._buckets.get(key, (self.rate.burst, now))
            tokens = min(self.rate.burst, tokens + (now - at) * self.rate.per_second)
            if tokens >= 1:
                self._buckets[key] = (tokens - 1, now)
                self._prune(now)
                return 0
            self._buckets[key] = (tokens, now)
        return max(1, math.ceil((1 - tokens) / self.rate.per_second))

    def _prune(self, now: float) -> None:
        if len(self._buckets) <= MAX_KEYS:
            return
        full_after = self.rate.burst / self.rate.per_second
        self._buckets = {
            k: v for k, v in self._buckets.items() if now - v[1] < full_after
        }
