"""A small safe facade over `cryptography`: AEAD, HKDF, HPKE, X25519.

Every failure to open, unwrap or unseal becomes the one opaque
``DecryptionFailed``, chained from the library's own exception.
"""

from __future__ import annotations

import functools
import json
import secrets
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from cryptography.hazmat.primitives import hpke

# `cryptography` is imported inside each function: loading its Rust bindings
# costs tens of milliseconds that the lock screen need not wait for.

KEY_BYTES = 32
NONCE_BYTES = 12


@functools.cache
def _suite() -> hpke.Suite:
    from cryptography.hazmat.primitives import hpke

    return hpke.Suite(hpke.KEM.X25519, hpke.KDF.HKDF_SHA256, hpke.AEAD.AES_256_GCM)


class DecryptionFailed(Exception):
    """Opening a wrapped or sealed value failed; deliberately says nothing more."""


def random_bytes(count: int) -> bytes:
    return secrets.token_bytes(count)


def context(**fields: Any) -> bytes:
    """Canonical bytes for associated data or HPKE info: sorted compact JSON."""
    return json.dumps(fields, sort_keys=True, separators=(",", ":")).encode()


def hkdf(ikm: bytes, *, salt: bytes | None, purpose: str, length: int = 32) -> bytes:
    """Derive a subkey for one named purpose."""
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.kdf.hkdf import HKDF

    info = f"desktop-crm/v1/{purpose}".encode()
    return HKDF(algorithm=hashes.SHA256(), length=length, salt=salt, info=info).derive(
        ikm
    )


def aead_seal(key: bytes, plaintext: bytes, associated: bytes) -> tuple[bytes, bytes]:
    """Encrypt with AES-256-GCM under a fresh random nonce; returns (nonce, ct)."""
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    nonce = random_bytes(NONCE_BYTES)
    return nonce, AESGCM(key).encrypt(nonce, plaintext, associated)


def aead_open(key: bytes, nonce: bytes, ciphertext: bytes, associated: bytes) -> bytes:
    from cryptography.exceptions import InvalidTag
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    try:
        return AESGCM(key).decrypt(nonce, ciphertext, associated)
    except (InvalidTag, ValueError) as exc:
        raise DecryptionFailed from exc


def new_keypair() -> tuple[bytes, bytes]:
    """A fresh X25519 key pair as raw (private, public) bytes."""
    from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

    private = X25519PrivateKey.generate()
    return private.private_bytes_raw(), private.public_key().public_bytes_raw()


def public_from_private(private: bytes) -> bytes:
    from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

    try:
        key = X25519PrivateKey.from_private_bytes(private)
    except ValueError as exc:
        raise DecryptionFailed from exc
    return key.public_key().public_bytes_raw()


def hpke_seal(plaintext: bytes, public: bytes, info: bytes) -> bytes:
    """Seal to an X25519 public key (RFC 9180 base mode, AES-256-GCM)."""
    from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PublicKey

    key = X25519PublicKey.from_public_bytes(public)
    return _suite().encrypt(plaintext, key, info=info)


def hpke_open(sealed: bytes, private: bytes, info: bytes) -> bytes:
    from cryptography.exceptions import InvalidTag
    from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

    try:
        key = X25519PrivateKey.from_private_bytes(private)
        return _suite().decrypt(sealed, key, info=info)
    except (InvalidTag, ValueError) as exc:
        raise DecryptionFailed from exc


def wipe(buffer: bytearray) -> None:
    """Overwrite a secret buffer in place (best effort: Python may hold copies)."""
    for index in range(len(buffer)):
        buffer[index] = 0
