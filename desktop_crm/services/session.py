"""An unlocked session: the open database, the DEK, and who is using them."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field

from desktop_crm.crypto import primitives
from desktop_crm.crypto.header import VaultHeader
from desktop_crm.errors import CRMError, NotPermitted, VaultError
from desktop_crm.services.clock import Clock, SystemClock, from_iso
from desktop_crm.services.roles import allows
from desktop_crm.services.vault_files import VaultFiles
from desktop_crm.storage import break_glass_queries, queries
from desktop_crm.storage.database import Database
from desktop_crm.storage.writepath import Actor, AuditEvent, ChainHead, Mutation, commit

log = logging.getLogger(__name__)

#: What a break-glass grant widens, for its one patient: reading the record,
#: its documents and its visit reasons and notes.  Never writes.
BREAK_GLASS_PERMISSIONS = frozenset({"patients.read", "documents.read", "visits.notes"})


class SessionLocked(CRMError):
    """The session was locked; unlock again to continue."""

    def __init__(self) -> None:
        super().__init__("the vault is locked: unlock it to continue")


@dataclass
class Session:
    """What an unlock yields; ``lock()`` closes it and drops the key material."""

    files: VaultFiles
    header: VaultHeader
    db: Database | None
    dek: bytearray
    user_id: str | None
    user_name: str
    roles: tuple[str, ...]
    actor: Actor
    method: str
    must_change_pin: bool = False
    notices: list[str] = field(default_factory=list)
    private_key: bytearray = field(default_factory=bytearray)
    totp_secret: str = ""
    #: The audit chain head kept outside the database, as read at unlock
    #: (before this session wrote anything), and what was wrong with it.
    kept_head: ChainHead | None = None
    head_problem: str | None = None
    #: The vault's clock (break-glass expiry is judged by it).
    clock: Clock = field(default_factory=SystemClock)

    @property
    def vault_id(self) -> str:
        return self.header.vault_id

    @property
    def locked(self) -> bool:
        return self.db is None

    @property
    def workstation(self) -> str:
        return self.actor.workstation

    def database(self) -> Database:
        if self.db is None:
            raise SessionLocked
        return self.db

    def require(self, permission: str, patient_id: str | None = None) -> None:
        """Refuse unless the roles allow ``permission``.

        With ``patient_id``, an unexpired break-glass grant of this user for
        that patient also allows the reading permissions it widens
        (``BREAK_GLASS_PERMISSIONS``).
        """
        if not self.allows(permission, patient_id):
            log.info("refused %s for user %s", permission, self.user_id)
            raise NotPermitted(permission)

    def allows(self, permission: str, patient_id: str | None = None) -> bool:
        """Whether ``require`` would pass (for screens that hide what is refused)."""
        if allows(self.roles, permission):
            return True
        if patient_id is None or permission not in BREAK_GLASS_PERMISSIONS:
            return False
        return self.break_glass_until(patient_id) is not None

    def break_glass_until(self, patient_id: str) -> float | None:
        """When this user's break-glass access to ``patient_id`` ends, if it holds."""
        if self.user_id is None:
            return None
        expires = break_glass_queries.latest_expiry(
            self.database(), self.user_id, patient_id
        )
        if expires is None:
            return None
        until = from_iso(expires)
        return until if self.clock.now() < until else None

    def write(
        self,
        event: AuditEvent,
        mutations: Sequence[Mutation] = (),
        extra_events: Sequence[AuditEvent] = (),
    ) -> ChainHead:
        """The single write path, bound to this session's actor."""
        return commit(self.database(), self.actor, event, mutations, extra_events)

    def batch(
        self, group_seconds: float = 0.0
    ) -> contextlib.AbstractContextManager[Database]:
        """Many write-path calls in a row (imports): see ``Database.batch``."""
        return self.database().batch(group_seconds)

    def setting(self, key: str, default: str) -> str:
        value = queries.setting(self.database(), key)
        return default if value is None else value

    def lock(self, reason: str = "manual") -> None:
        """Audit the lock, close the database and overwrite held secrets."""
        if self.db is None:
            return
        try:
            self.write(AuditEvent("session.lock", "user", self.user_id, outcome=reason))
        except VaultError as exc:
            # Locking must always succeed; the entry is lost only when the
            # database itself is out of reach (its key changed underneath).
            log.warning("lock not recorded in the audit log: %s", exc.message)
        finally:
            self.db.close()
            self.db = None
            primitives.wipe(self.dek)
            primitives.wipe(self.private_key)
            self.totp_secret = ""
