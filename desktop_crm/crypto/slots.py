"""Key slots: how the database key (DEK) is wrapped and sealed for each opener.

A user slot holds the user's X25519 private key and TOTP secret, wrapped with
AES-256-GCM under a key that HKDF derives from Argon2id(PIN) and the device
secret.  The DEK is sealed (HPKE) to the user's public key, so an admin holding
the DEK can re-seal it for everyone without knowing any PIN.  Associated data
binds the format version, vault id, user id, slot kind and KDF parameters, so
a slot moved to another user or downgraded does not open.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from desktop_crm.crypto import primitives as p
from desktop_crm.crypto.kdf import SALT_BYTES, KDFParams, argon2id, default_params

FORMAT_VERSION = 1
DEVICE_SECRET_BYTES = 32
DEK_BYTES = 32


@dataclass(frozen=True)
class UserSlot:
    """One user's wrapped secrets and sealed DEK, as stored in the header."""

    user_id: str
    name: str
    public_key: bytes
    kdf: KDFParams
    salt: bytes
    nonce: bytes
    wrapped: bytes
    sealed_dek: bytes
    pending_sealed_dek: bytes | None = None


@dataclass(frozen=True)
class SealedKey:
    """A DEK sealed to a public key that is not a user's (the recovery key)."""

    public_key: bytes
    sealed_dek: bytes
    pending_sealed_dek: bytes | None = None


@dataclass(frozen=True)
class WrappedKey:
    """The DEK wrapped under a key kept only in the OS keyring (unattended)."""

    nonce: bytes
    wrapped: bytes
    pending_nonce: bytes | None = None
    pending_wrapped: bytes | None = None


@dataclass
class OpenedSlot:
    """What a correct PIN and device secret recover from a user slot."""

    private_key: bytearray
    totp_secret: str

    def wipe(self) -> None:
        p.wipe(self.private_key)


def _wrap_context(vault_id: str, user_id: str, kdf: KDFParams) -> bytes:
    return p.context(
        format=FORMAT_VERSION,
        vault=vault_id,
        user=user_id,
        kind="user-slot",
        kdf=kdf.to_dict(),
    )


def seal_context(vault_id: str, owner: str, kind: str, dek_generation: int) -> bytes:
    """HPKE info binding a sealed DEK to its vault, owner, kind and generation."""
    return p.context(
        format=FORMAT_VERSION,
        vault=vault_id,
        owner=owner,
        kind=kind,
        dek_generation=dek_generation,
    )


def stretch_pin(pin: str, salt: bytes, kdf: KDFParams) -> bytes:
    """Argon2id of the PIN: the slow step of every unlock."""
    return argon2id(pin.encode(), salt, kdf)


def _wrap_key(stretched: bytes, device_secret: bytes, salt: bytes) -> bytes:
    return p.hkdf(stretched + device_secret, salt=salt, purpose="user-slot-wrap")


def seal_dek(
    dek: bytes | bytearray,
    public_key: bytes,
    vault_id: str,
    owner: str,
    kind: str,
    gen: int,
) -> bytes:
    return p.hpke_seal(bytes(dek), public_key, seal_context(vault_id, owner, kind, gen))


def unseal_dek(
    sealed: bytes,
    private_key: bytes | bytearray,
    vault_id: str,
    owner: str,
    kind: str,
    gen: int,
) -> bytearray:
    """Recover a DEK; raises ``DecryptionFailed`` on any mismatch."""
    dek = p.hpke_open(
        sealed, bytes(private_key), seal_context(vault_id, owner, kind, gen)
    )
    if len(dek) != DEK_BYTES:
        raise p.DecryptionFailed
    return bytearray(dek)


def new_user_slot(
    *,
    vault_id: str,
    user_id: str,
    name: str,
    pin: str,
    device_secret: bytes,
    totp_secret: str,
    dek: bytes,
    dek_generation: int,
    kdf: KDFParams | None = None,
) -> UserSlot:
    """Create a slot with a fresh key pair for a new or reset user."""
    private, public = p.new_keypair()
    sealed = seal_dek(dek, public, vault_id, user_id, "user", dek_generation)
    slot = UserSlot(
        user_id=user_id,
        name=name,
        public_key=public,
        kdf=kdf or default_params(),
        salt=b"",
        nonce=b"",
        wrapped=b"",
        sealed_dek=sealed,
    )
    return rewrap_user_slot(
        slot, vault_id, private, totp_secret, pin, device_secret, kdf=slot.kdf
    )


def rewrap_user_slot(
    slot: UserSlot,
    vault_id: str,
    private_key: bytes | bytearray,
    totp_secret: str,
    pin: str,
    device_secret: bytes,
    kdf: KDFParams | None = None,
) -> UserSlot:
    """Wrap the slot's secrets under a new PIN with a fresh salt and nonce."""
    kdf = kdf or default_params()
    salt = p.random_bytes(SALT_BYTES)
    key = _wrap_key(stretch_pin(pin, salt, kdf), device_secret, salt)
    plaintext = bytes(private_key) + totp_secret.encode("ascii")
    nonce, wrapped = p.aead_seal(
        key, plaintext, _wrap_context(vault_id, slot.user_id, kdf)
    )
    return replace(slot, kdf=kdf, salt=salt, nonce=nonce, wrapped=wrapped)


def open_user_slot(
    slot: UserSlot, vault_id: str, pin: str, device_secret: bytes
) -> OpenedSlot:
    """Unwrap a user's secrets; raises ``DecryptionFailed`` for a wrong PIN."""
    stretched = stretch_pin(pin, slot.salt, slot.kdf)
    return open_stretched(slot, vault_id, stretched, device_secret)


def open_stretched(
    slot: UserSlot, vault_id: str, stretched: bytes, device_secret: bytes
) -> OpenedSlot:
    """The fast half of ``open_user_slot``, given the stretched PIN."""
    key = _wrap_key(stretched, device_secret, slot.salt)
    plain = bytearray(
        p.aead_open(
            key,
            slot.nonce,
            slot.wrapped,
            _wrap_context(vault_id, slot.user_id, slot.kdf),
        )
    )
    private = bytearray(plain[:32])
    if len(plain) <= 32 or p.public_from_private(bytes(private)) != slot.public_key:
        raise p.DecryptionFailed
    totp = plain[32:].decode("ascii")
    p.wipe(plain)
    return OpenedSlot(private_key=private, totp_secret=totp)


def _unattended_context(vault_id: str, gen: int) -> bytes:
    return p.context(
        format=FORMAT_VERSION, vault=vault_id, kind="unattended", dek_generation=gen
    )


def wrap_unattended(
    dek: bytes | bytearray, key: bytes, vault_id: str, gen: int
) -> tuple[bytes, bytes]:
    return p.aead_seal(
        p.hkdf(key, salt=None, purpose="unattended-wrap"),
        bytes(dek),
        _unattended_context(vault_id, gen),
    )


def unwrap_unattended(
    nonce: bytes, wrapped: bytes, key: bytes, vault_id: str, gen: int
) -> bytearray:
    dek = p.aead_open(
        p.hkdf(key, salt=None, purpose="unattended-wrap"),
        nonce,
        wrapped,
        _unattended_context(vault_id, gen),
    )
    return bytearray(dek)
