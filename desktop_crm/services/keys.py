"""Key rotation, the recovery key, and the opt-in unattended-task slot."""

from __future__ import annotations

import logging
from dataclasses import replace

from desktop_crm.crypto import header as header_format
from desktop_crm.crypto import primitives, recovery_key, slots
from desktop_crm.crypto.primitives import DecryptionFailed
from desktop_crm.crypto.slots import SealedKey, WrappedKey
from desktop_crm.errors import CRMError, KeyringUnavailable
from desktop_crm.services import settings_keys as keys
from desktop_crm.services.roles import SERVICE_ROLE
from desktop_crm.services.session import Session
from desktop_crm.services.vault import VaultService, finish_rotation
from desktop_crm.storage import queries
from desktop_crm.storage.writepath import AuditEvent, Mutation

log = logging.getLogger(__name__)


def unattended_secret_name(vault_id: str) -> str:
    return f"unattended-{vault_id}"


def rotate_dek(vault: VaultService, session: Session) -> None:
    """Rotate the database key and re-seal it for every slot (admin).

    Crash-safe in two steps: first the header gains the new DEK as
    "pending" beside the current one, then the database is rekeyed, then the
    pending values become current.  An interrupted rotation is completed at
    the next unlock.
    """
    session.require("keys.manage")
    with vault.exclusive():
        vault.check_current(session)
        _rotate_locked(vault, session)


def _rotate_locked(vault: VaultService, session: Session) -> None:
    db = session.database()
    header = session.header
    gen = header.dek_generation + 1
    new_dek = bytearray(primitives.random_bytes(slots.DEK_BYTES))
    users = {
        uid: replace(
            s,
            pending_sealed_dek=slots.seal_dek(
                new_dek, s.public_key, header.vault_id, uid, "user", gen
            ),
        )
        for uid, s in header.slots.items()
    }
    rec = header.recovery
    recovery = replace(
        rec,
        pending_sealed_dek=slots.seal_dek(
            new_dek, rec.public_key, header.vault_id, "recovery", "recovery", gen
        ),
    )
    unattended = header.unattended
    if unattended is not None:
        nonce, wrapped = slots.wrap_unattended(
            new_dek, _unattended_key(vault, header.vault_id), header.vault_id, gen
        )
        unattended = replace(unattended, pending_nonce=nonce, pending_wrapped=wrapped)
    pending = replace(
        header,
        slots=users,
        recovery=recovery,
        unattended=unattended,
        generation=header.generation + 1,
    )
    vault.files.save_header(header_format.sign(pending, session.dek))
    db.rekey(new_dek)
    final = finish_rotation(pending, new_dek)
    vault.files.save_header(final)
    primitives.wipe(session.dek)
    session.dek = new_dek
    session.header = final
    session.write(
        AuditEvent("vault.rekey", "vault", header.vault_id),
        [
            Mutation(
                "settings",
                keys.HEADER_GENERATION,
                "upsert",
                {"value": str(final.generation)},
            )
        ],
    )
    log.info("database key rotated to generation %d", final.dek_generation)


def new_recovery_key(vault: VaultService, session: Session) -> str:
    """Issue a new recovery key; the old one stops working (admin).

    The DEK is rotated as well, so an old header copy together with the old
    recovery key cannot open the current database.
    """
    session.require("keys.manage")
    with vault.exclusive():
        vault.check_current(session)
        return _new_recovery_key_locked(vault, session)


def _new_recovery_key_locked(vault: VaultService, session: Session) -> str:
    private, public = primitives.new_keypair()
    header = session.header
    sealed = slots.seal_dek(
        session.dek,
        public,
        header.vault_id,
        "recovery",
        "recovery",
        header.dek_generation,
    )
    vault.save_header(session, replace(header, recovery=SealedKey(public, sealed)))
    rotate_dek(vault, session)
    session.write(AuditEvent("vault.recovery_key_new", "vault", header.vault_id))
    return recovery_key.encode(private)


def _unattended_key(vault: VaultService, vault_id: str) -> bytes:
    stored = vault.secrets.get(unattended_secret_name(vault_id))
    if stored is None:
        raise KeyringUnavailable(
            "the unattended-task key is not in this OS account's keyring: an admin "
            "must enable unattended tasks again on this workstation"
        )
    return bytes.fromhex(stored)


def enable_unattended(vault: VaultService, session: Session) -> None:
    """Let scheduled tasks open the vault while nobody is signed in (admin).

    Trade-off: anyone who can use this OS account can then open the vault
    without a PIN.
    """
    session.require("keys.manage")
    key = primitives.random_bytes(32)
    vault.secrets.set(unattended_secret_name(session.vault_id), key.hex())
    nonce, wrapped = slots.wrap_unattended(
        session.dek, key, session.vault_id, session.header.dek_generation
    )
    vault.save_header(
        session, replace(session.header, unattended=WrappedKey(nonce, wrapped))
    )
    session.write(
        AuditEvent(
            "settings.unattended", "settings", keys.UNATTENDED, outcome="enabled"
        ),
        [Mutation("settings", keys.UNATTENDED, "upsert", {"value": "1"})],
    )


def disable_unattended(vault: VaultService, session: Session) -> None:
    session.require("keys.manage")
    vault.save_header(session, replace(session.header, unattended=None))
    vault.secrets.delete(unattended_secret_name(session.vault_id))
    session.write(
        AuditEvent(
            "settings.unattended", "settings", keys.UNATTENDED, outcome="disabled"
        ),
        [Mutation("settings", keys.UNATTENDED, "upsert", {"value": "0"})],
    )


class UnattendedDisabled(CRMError):
    """No unattended-task slot is enabled for this vault."""

    def __init__(self) -> None:
        super().__init__(
            "unattended tasks are not enabled for this vault (an admin can enable "
            "them in Admin › Security, or with: desktop-crm unattended enable)"
        )


def open_unattended(vault: VaultService) -> Session:
    """Open the vault with the unattended slot, as the narrow service role."""
    header = vault.files.load_header()
    if header.unattended is None:
        raise UnattendedDisabled
    key = _unattended_key(vault, header.vault_id)
    u = header.unattended

    def unseal(_sealed: bytes, gen: int) -> bytearray:
        if gen == header.dek_generation:
            return slots.unwrap_unattended(
                u.nonce, u.wrapped, key, header.vault_id, gen
            )
        if u.pending_nonce is None or u.pending_wrapped is None:
            raise DecryptionFailed
        return slots.unwrap_unattended(
            u.pending_nonce, u.pending_wrapped, key, header.vault_id, gen
        )

    dek, db, header = vault._open_with(header, unseal, owner="unattended")
    session = vault.session_for(
        header, db, dek, None, "unattended tasks", (SERVICE_ROLE,), "unattended"
    )
    session.write(
        AuditEvent("session.unlock", "vault", header.vault_id, outcome="unattended")
    )
    if queries.setting(db, keys.UNATTENDED) != "1":
        session.lock("unattended-disabled")
        raise UnattendedDisabled
    return session
