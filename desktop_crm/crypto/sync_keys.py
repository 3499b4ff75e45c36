"""Keys and sealed records of end-to-end encrypted sync (issue #7).

Follows docs/sync-protocol.md: a practice sync key (32 random bytes) only
the practice's workstations hold; HKDF-SHA256 record and blob keys; each
record and blob sealed with AES-256-GCM under associated data naming the
practice, workstation and position, so a record moved anywhere else fails to
open; blob ids that reveal nothing about content; and the pairing code an
admin hands to a new workstation.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
import struct
from dataclasses import dataclass

from desktop_crm.crypto.primitives import DecryptionFailed
from desktop_crm.errors import InvalidInput

KEY_BYTES = 32
NONCE_BYTES = 12
TOKEN_BYTES = 32
FINGERPRINT_BYTES = 32
PREFIX = "desktop-crm/1"
RECORD_INFO = b"desktop-crm sync records v1"
BLOB_INFO = b"desktop-crm sync blobs v1"
TOTP_INFO = b"desktop-crm sync totp v1"
PAIRING_PREFIX = "crm1-"
_PAIRING_VERSION = 1
_CHECKSUM_BYTES = 4
_BLOB_ID = re.compile(r"^[0-9a-f]{64}$")
_FINGERPRINT_TEXT = re.compile(r"^[0-9a-fA-F]{64}$")

__all__ = [
    "DecryptionFailed",
    "PairingCode",
    "SyncKeys",
    "new_sync_key",
    "parse_fingerprint",
]


def new_sync_key() -> bytes:
    """A fresh practice sync key: 256 random bits."""
    return secrets.token_bytes(KEY_BYTES)


def new_token() -> bytes:
    """A fresh enrolment token or one-use key: 256 random bits."""
    return secrets.token_bytes(TOKEN_BYTES)


def b64(data: bytes) -> str:
    """Base64url without padding (the protocol's form of binary values)."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def unb64(text: str) -> bytes:
    """The inverse of ``b64``; raises ValueError on anything not canonical."""
    padded = text + "=" * (-len(text) % 4)
    data = base64.urlsafe_b64decode(padded.encode("ascii"))
    if b64(data) != text:
        raise ValueError("not canonical base64url")
    return data


def _hkdf(key: bytes, info: bytes) -> bytes:
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.kdf.hkdf import HKDF

    return HKDF(
        algorithm=hashes.SHA256(), length=KEY_BYTES, salt=None, info=info
    ).derive(key)


def seal(key: bytes, plaintext: bytes, associated: bytes) -> bytes:
    """AES-256-GCM under a fresh random nonce; returns ``nonce || sealed``."""
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    nonce = secrets.token_bytes(NONCE_BYTES)
    return nonce + AESGCM(key).encrypt(nonce, plaintext, associated)


def open_sealed(key: bytes, data: bytes, associated: bytes) -> bytes:
    """Open ``nonce || sealed``; any change, wrong key or wrong AD fails."""
    from cryptography.exceptions import InvalidTag
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    if len(data) < NONCE_BYTES + 16:
        raise DecryptionFailed
    try:
        return AESGCM(key).decrypt(data[:NONCE_BYTES], data[NONCE_BYTES:], associated)
    except (InvalidTag, ValueError) as exc:
        raise DecryptionFailed from exc


def record_ad(practice_id: str, workstation_id: str, seq: int) -> bytes:
    return f"{PREFIX}|{practice_id}|{workstation_id}|{int(seq)}".encode()


def blob_ad(practice_id: str, blob_id: str) -> bytes:
    return f"{PREFIX}|{practice_id}|blob|{blob_id}".encode()


def pairing_ad(practice_id: str) -> bytes:
    return f"{PREFIX}|{practice_id}|pairing".encode()


def totp_ad(practice_id: str, user_id: str) -> bytes:
    return f"{PREFIX}|{practice_id}|totp|{user_id}".encode()


def seal_totp_secret(
    sync_key: bytes, practice_id: str, user_id: str, secret: str
) -> str:
    """A user's TOTP secret sealed for the practice's workstations (base64url).

    The associated data names the practice and the user, so a sealed secret
    copied onto another user's record fails to open.
    """
    key = _hkdf(sync_key, TOTP_INFO)
    return b64(seal(key, secret.encode("ascii"), totp_ad(practice_id, user_id)))


def open_totp_secret(sync_key: bytes, practice_id: str, user_id: str, text: str) -> str:
    """The inverse of ``seal_totp_secret``; raises DecryptionFailed."""
    try:
        data = unb64(text)
    except ValueError:
        raise DecryptionFailed from None
    key = _hkdf(sync_key, TOTP_INFO)
    plain = open_sealed(key, data, totp_ad(practice_id, user_id))
    try:
        return plain.decode("ascii")
    except UnicodeDecodeError:
        raise DecryptionFailed from None


@dataclass(frozen=True)
class SyncKeys:
    """The subkeys of one practice's sync key."""

    practice_id: str
    record_key: bytes
    blob_key: bytes

    @classmethod
    def derive(cls, sync_key: bytes, practice_id: str) -> SyncKeys:
        if len(sync_key) != KEY_BYTES:
            raise ValueError("a sync key is 32 bytes")
        return cls(
            practice_id, _hkdf(sync_key, RECORD_INFO), _hkdf(sync_key, BLOB_INFO)
        )

    def seal_record(self, workstation_id: str, seq: int, plaintext: bytes) -> bytes:
        ad = record_ad(self.practice_id, workstation_id, seq)
        return seal(self.record_key, plaintext, ad)

    def open_record(self, workstation_id: str, seq: int, ciphertext: bytes) -> bytes:
        ad = record_ad(self.practice_id, workstation_id, seq)
        return open_sealed(self.record_key, ciphertext, ad)

    def blob_id(self, content_sha256: bytes) -> str:
        """HMAC-SHA256(blob key, SHA-256(content)) in lowercase hex."""
        return hmac.new(self.blob_key, content_sha256, hashlib.sha256).hexdigest()

    def blob_id_of(self, content: bytes) -> str:
        return self.blob_id(hashlib.sha256(content).digest())

    def seal_blob(self, blob_id: str, content: bytes) -> bytes:
        return seal(self.blob_key, content, blob_ad(self.practice_id, blob_id))

    def open_blob(self, blob_id: str, ciphertext: bytes) -> bytes:
        """Open a blob and check it is the content its id names."""
        content = open_sealed(
            self.blob_key, ciphertext, blob_ad(self.practice_id, blob_id)
        )
        if not hmac.compare_digest(self.blob_id_of(content), blob_id):
            raise DecryptionFailed
        return content


def is_blob_id(text: str) -> bool:
    return bool(_BLOB_ID.match(text))


def wrap_sync_key(sync_key: bytes, one_use_key: bytes, practice_id: str) -> bytes:
    """The sync key sealed under a pairing's one-use key."""
    return seal(one_use_key, sync_key, pairing_ad(practice_id))


def unwrap_sync_key(wrapped: bytes, one_use_key: bytes, practice_id: str) -> bytes:
    key = open_sealed(one_use_key, wrapped, pairing_ad(practice_id))
    if len(key) != KEY_BYTES:
        raise DecryptionFailed
    return key


def parse_fingerprint(text: str) -> str:
    """A SHA-256 certificate fingerprint as 64 lowercase hex digits.

    Accepts upper or lower case, with or without colons between bytes.
    """
    compact = text.strip().replace(":", "")
    if not _FINGERPRINT_TEXT.match(compact):
        raise InvalidInput(
            "fingerprint",
            "give the certificate's SHA-256 fingerprint: 64 hex digits "
            "(colons between pairs allowed)",
        )
    return compact.lower()


@dataclass(frozen=True)
class PairingCode:
    """What a joining workstation needs, in one pasteable line.

    Binary layout (then ``crm1-`` + base64url without padding):
    version (1 byte), URL (2-byte length + UTF-8), fingerprint (32 bytes),
    practice id (1-byte length + UTF-8), enrolment token (32 bytes),
    one-use key (32 bytes), and the first 4 bytes of SHA-256 of all that.
    """

    url: str
    fingerprint: str
    practice_id: str
    enrolment_token: bytes
    one_use_key: bytes

    def encode(self) -> str:
        url = self.url.encode()
        practice = self.practice_id.encode()
        if len(url) > 0xFFFF or len(practice) > 0xFF:
            raise ValueError("pairing code field too long")
        if len(self.enrolment_token) != TOKEN_BYTES or len(self.one_use_key) != (
            KEY_BYTES
        ):
            raise ValueError("pairing code keys are 32 bytes")
        body = (
            bytes([_PAIRING_VERSION])
            + struct.pack(">H", len(url))
            + url
            + bytes.fromhex(parse_fingerprint(self.fingerprint))
            + bytes([len(practice)])
            + practice
            + self.enrolment_token
            + self.one_use_key
        )
        checksum = hashlib.sha256(body).digest()[:_CHECKSUM_BYTES]
        return PAIRING_PREFIX + b64(body + checksum)

    @classmethod
    def decode(cls, text: str) -> PairingCode:
        """Parse a pasted code; any typo gives one clear message."""
        compact = "".join(text.split())
        if compact.lower().startswith("pair-code:"):
            compact = compact[len("pair-code:") :]
        if not compact.startswith(PAIRING_PREFIX):
            raise InvalidInput(
                "pairing code",
                f"must start with '{PAIRING_PREFIX}': paste the whole code",
            )
        try:
            raw = unb64(compact[len(PAIRING_PREFIX) :])
        except (ValueError, UnicodeEncodeError):
            raise _mistyped() from None
        body, checksum = raw[:-_CHECKSUM_BYTES], raw[-_CHECKSUM_BYTES:]
        expected = hashlib.sha256(body).digest()[:_CHECKSUM_BYTES]
        if len(raw) <= _CHECKSUM_BYTES or not hmac.compare_digest(checksum, expected):
            raise _mistyped()
        try:
            return _parse_body(body)
        except (ValueError, IndexError, struct.error):
            raise _mistyped() from None


def _mistyped() -> InvalidInput:
    return InvalidInput(
        "pairing code",
        "the code is damaged or mistyped (its checksum does not match): "
        "copy it again from the admin's workstation",
    )


def _parse_body(body: bytes) -> PairingCode:
    if body[0] != _PAIRING_VERSION:
        raise ValueError("unknown version")
    pos = 1
    (url_len,) = struct.unpack_from(">H", body, pos)
    pos += 2
    url = body[pos : pos + url_len].decode()
    pos += url_len
    fingerprint = body[pos : pos + FINGERPRINT_BYTES].hex()
    pos += FINGERPRINT_BYTES
    practice_len = body[pos]
    pos += 1
    practice = body[pos : pos + practice_len].decode()
    pos += practice_len
    token = body[pos : pos + TOKEN_BYTES]
    key = body[pos + TOKEN_BYTES : pos + TOKEN_BYTES + KEY_BYTES]
    if len(key) != KEY_BYTES or pos + TOKEN_BYTES + KEY_BYTES != len(body):
        raise ValueError("wrong length")
    if len(fingerprint) != 2 * FINGERPRINT_BYTES:
        raise ValueError("wrong length")
    return PairingCode(url, fingerprint, practice, token, key)
