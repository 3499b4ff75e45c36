"""Text form of the recovery key: base32 groups with a checksum.

The recovery key is an X25519 private key.  It is written as ``RK1-`` and
eleven groups of five base32 characters: 32 key bytes and a 2-byte SHA-256
checksum, so a mistyped character is caught before any decryption runs.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re

from desktop_crm.errors import InvalidInput

PREFIX = "RK1"
GROUP = 5
_FIELD = "recovery key"


def _checksum(key: bytes) -> bytes:
    return hashlib.sha256(b"desktop-crm recovery key" + key).digest()[:2]


def encode(private_key: bytes) -> str:
    if len(private_key) != 32:
        raise ValueError("a recovery key is 32 bytes")
    text = base64.b32encode(bytes(private_key) + _checksum(bytes(private_key)))
    body = text.decode("ascii").rstrip("=")
    groups = [body[i : i + GROUP] for i in range(0, len(body), GROUP)]
    return "-".join([PREFIX, *groups])


def groups(text: str) -> list[str]:
    """The groups after the prefix, for asking the admin to type some back."""
    return text.split("-")[1:]


def decode(text: str) -> bytes:
    """Parse a typed recovery key, forgiving case, spaces, dashes, 0/O and 1/I.

    Raises:
        InvalidInput: wrong prefix, wrong length or a failed checksum.
    """
    cleaned = re.sub(r"[\s\-]+", "", text).upper()
    if not cleaned.startswith(PREFIX):
        raise InvalidInput(
            _FIELD, f"not a recovery key: a recovery key starts with {PREFIX}-"
        )
    body = cleaned[len(PREFIX) :].replace("0", "O").replace("1", "I")
    if not re.fullmatch(r"[A-Z2-7]{55}", body):
        raise InvalidInput(_FIELD, "expected 55 characters after the prefix")
    raw = base64.b32decode(body + "=")
    if base64.b32encode(raw).decode("ascii").rstrip("=") != body:
        # The last character carries three unused bits; only one spelling is valid.
        raise InvalidInput(_FIELD, "the last character is wrong")
    key, check = raw[:32], raw[32:]
    if not hmac.compare_digest(_checksum(key), check):
        raise InvalidInput(_FIELD, "a character is wrong (the checksum does not match)")
    return key
