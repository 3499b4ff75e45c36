"""One authenticator entry per user across a practice's synced workstations.

A user's TOTP secret lives in their key slot on each workstation, wrapped
under their PIN and that OS account's device secret.  On a vault connected
to a sync server it is also kept in ``user_totp``, sealed under a subkey of
the practice sync key (``crypto.sync_keys.seal_totp_secret``), and syncs
like any record.  So:

- a secret set on one workstation (enrolment, re-enrolment, PIN change after
  a reset) is published here and reaches the others;
- at a full unlock elsewhere, a published secret newer than the slot's is
  what the code is checked against, and the slot is rewrapped with it;
- an admin approving a user on a newly joined workstation gives them a slot
  holding the published secret: their existing authenticator entry works.

Anyone holding the vault's DEK can read the sync key and so these secrets;
TOTP is a factor the application enforces (docs/security-model.md), and on
an unconnected vault nothing is published.
"""

from __future__ import annotations

import logging

from desktop_crm.crypto import sync_keys
from desktop_crm.crypto.sync_keys import DecryptionFailed
from desktop_crm.services.clock import iso
from desktop_crm.services.session import Session
from desktop_crm.storage import queries, sync_queries
from desktop_crm.storage.database import Database
from desktop_crm.storage.writepath import AuditEvent, Mutation

log = logging.getLogger(__name__)


def _practice_key(db: Database) -> tuple[bytes, str] | None:
    key_hex = sync_queries.sync_key_hex(db)
    if key_hex is None:
        return None
    practice = sync_queries.state_value(db, sync_queries.PRACTICE_ID)
    if not practice:
        return None
    return bytes.fromhex(key_hex), practice


def shared_secret(db: Database, user_id: str) -> str | None:
    """The user's published secret, or None (not connected, none yet, unreadable)."""
    found = _practice_key(db)
    sealed = queries.user_totp_sealed(db, user_id) if found else None
    if found is None or sealed is None:
        return None
    try:
        return sync_keys.open_totp_secret(found[0], found[1], user_id, sealed)
    except DecryptionFailed:
        # Not this practice's key or altered: the slot's own secret stays in use.
        log.warning("a shared TOTP secret failed to open; the slot's is used")
        return None


def mutation(db: Database, user_id: str, secret: str, now: float) -> Mutation | None:
    """The write that publishes ``secret`` for the user (None when not connected)."""
    found = _practice_key(db)
    if found is None:
        return None
    sealed = sync_keys.seal_totp_secret(found[0], found[1], user_id, secret)
    return Mutation(
        "user_totp", user_id, "upsert", {"sealed": sealed, "updated_at": iso(now)}
    )


#: ``publish``'s ``current`` when the caller has not read the published secret.
NOT_READ = object()


def publish(
    session: Session, user_id: str, secret: str, *, current: object = NOT_READ
) -> bool:
    """Publish a user's secret to the practice; False when not connected or
    when it is the published one already.

    ``current`` is the published secret when the caller has just read it
    (``shared_secret``), so it is not opened twice.
    """
    db = session.database()
    if current is NOT_READ:
        current = shared_secret(db, user_id)
    if current == secret:
        return False
    change = mutation(db, user_id, secret, session.clock.now())
    if change is None:
        return False
    session.write(AuditEvent("user.totp_shared", "user", user_id), [change])
    return True
