"""Failed unlock attempts, kept outside the database (they happen before unlock).

After five failures each further try waits 30 s, doubling up to 15 minutes.
The counts live in a small versioned file in the vault folder, so a restart
does not reset them; failures are also queued there and moved into the
audit log at the next successful unlock.  Someone who can write the vault
folder can reset the file: that is the documented limit of this control.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from desktop_crm.errors import LockedOut
from desktop_crm.platform.atomic import atomic_write
from desktop_crm.services.clock import iso

log = logging.getLogger(__name__)

MAGIC = b"DESKTOP-CRM-UNLOCK-ATTEMPTS 1\n"
FREE_ATTEMPTS = 5
FIRST_DELAY = 30
MAX_DELAY = 15 * 60
MAX_QUEUED = 1000


def delay_after(failures: int) -> int:
    """Seconds to wait after ``failures`` consecutive failures."""
    if failures < FREE_ATTEMPTS:
        return 0
    return int(min(FIRST_DELAY * 2 ** (failures - FREE_ATTEMPTS), MAX_DELAY))


@dataclass
class UserAttempts:
    """One user's consecutive failures and the skew seen in their codes."""

    failures: int = 0
    last: float = 0.0
    skews: list[int] = field(default_factory=list)


class AttemptLog:
    """The attempts file of one vault folder."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def _load(self) -> dict[str, Any]:
        try:
            data = self.path.read_bytes()
        except FileNotFoundError:
            return {"users": {}, "queued": []}
        if not data.startswith(MAGIC):
            log.info("unlock-attempts file unreadable: counting it as tampered with")
            return {"users": {}, "queued": [], "tampered": True}
        try:
            raw = json.loads(data[len(MAGIC) :])
        except ValueError:
            return {"users": {}, "queued": [], "tampered": True}
        if not isinstance(raw, dict):
            return {"users": {}, "queued": [], "tampered": True}
        raw.setdefault("users", {})
        raw.setdefault("queued", [])
        return raw

    def _save(self, raw: dict[str, Any]) -> None:
        atomic_write(self.path, MAGIC + json.dumps(raw, sort_keys=True).encode())

    def state(self, user_id: str) -> UserAttempts:
        entry = self._load()["users"].get(user_id, {})
        return UserAttempts(
            failures=int(entry.get("failures", 0)),
            last=float(entry.get("last", 0.0)),
            skews=[int(s) for s in entry.get("skews", [])],
        )

    def wait_seconds(self, user_id: str, now: float) -> float:
        """How long the user must still wait before trying again (0: no wait)."""
        state = self.state(user_id)
        return max(0.0, state.last + delay_after(state.failures) - now)

    def check(self, user_id: str, now: float) -> None:
        """Raise ``LockedOut`` while the user must still wait."""
        wait = self.wait_seconds(user_id, now)
        if wait > 0:
            raise LockedOut(int(wait + 0.999))

    def fail(
        self, user_id: str, now: float, reason: str, skew: int | None = None
    ) -> UserAttempts:
        raw = self._load()
        entry = raw["users"].setdefault(user_id, {})
        entry["failures"] = int(entry.get("failures", 0)) + 1
        entry["last"] = now
        skews = [int(s) for s in entry.get("skews", [])][-2:]
        entry["skews"] = [*skews, skew if skew is not None else 0]
        queued = raw["queued"]
        queued.append({"user_id": user_id, "at": iso(now), "reason": reason})
        raw["queued"] = queued[-MAX_QUEUED:]
        self._save(raw)
        return self.state(user_id)

    def succeed(self, user_id: str) -> None:
        raw = self._load()
        if user_id in raw["users"]:
            del raw["users"][user_id]
            self._save(raw)

    def clear_user(self, user_id: str) -> None:
        """An admin's "unlock a locked-out user"."""
        self.succeed(user_id)

    def take_queued(self) -> list[dict[str, str]]:
        """Failures recorded since the last unlock, oldest first."""
        raw = self._load()
        queued = [q for q in raw["queued"] if isinstance(q, dict)]
        if raw.get("tampered"):
            queued.insert(
                0, {"user_id": "", "at": "", "reason": "attempts-file-damaged"}
            )
        return queued

    def clear_queued(self) -> None:
        raw = self._load()
        if not raw["queued"] and not raw.get("tampered"):
            return  # nothing to clear: no write on an ordinary unlock
        raw.pop("tampered", None)
        raw["queued"] = []
        self._save(raw)
