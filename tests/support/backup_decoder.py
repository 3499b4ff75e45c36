"""An independent backup decoder, written from docs/backup-format.md alone.

It imports nothing from desktop_crm: only `cryptography` and `argon2`, so a
test that decodes a product-made backup with it shows the document is enough.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import struct
import unicodedata
from dataclasses import dataclass

from argon2.low_level import Type, hash_secret_raw
from cryptography.hazmat.primitives import hashes, hpke
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF


class DecodeError(Exception):
    """The file does not decode."""


@dataclass
class Decoded:
    """What the decoder recovered."""

    header: dict
    manifest: dict
    database: bytes


def _canonical(obj: object) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":")).encode()


def _hkdf(ikm: bytes, salt: bytes | None, info: str) -> bytes:
    return HKDF(hashes.SHA256(), 32, salt, info.encode()).derive(ikm)


def _suite() -> hpke.Suite:
    return hpke.Suite(hpke.KEM.X25519, hpke.KDF.HKDF_SHA256, hpke.AEAD.AES_256_GCM)


def _check_kdf(kdf: dict, *, test_floor: bool) -> None:
    m, t, p = kdf["m"], kdf["t"], kdf["p"]
    low = (64, 1, 1) if test_floor else (65536, 3, 4)
    if kdf["alg"] != 2 or m > 1048576 or t > 16 or p > 16 or m < 8 * p:
        raise DecodeError("kdf out of range")
    if m < low[0] or t < low[1] or p < low[2]:
        raise DecodeError("kdf below floor")


def _private_from_passphrase(header: dict, passphrase: str, test_floor: bool) -> bytes:
    key = header["backup_key"]
    kdf = key["kdf"]
    _check_kdf(kdf, test_floor=test_floor)
    salt = base64.b64decode(key["salt"])
    stretched = hash_secret_raw(
        unicodedata.normalize("NFC", passphrase).encode("utf-8"),
        salt,
        time_cost=kdf["t"],
        memory_cost=kdf["m"],
        parallelism=kdf["p"],
        hash_len=32,
        type=Type.ID,
    )
    wrap = _hkdf(stretched, salt, "desktop-crm/v1/backup-key-wrap")
    ad = _canonical(
        {
            "format": 1,
            "kdf": {"alg": 2, "m": kdf["m"], "p": kdf["p"], "t": kdf["t"]},
            "key_id": key["key_id"],
            "kind": "backup-private-key",
            "public_key": key["public_key"],
        }
    )
    private = AESGCM(wrap).decrypt(
        base64.b64decode(key["nonce"]), base64.b64decode(key["wrapped"]), ad
    )
    public = X25519PrivateKey.from_private_bytes(private).public_key()
    if public.public_bytes_raw() != base64.b64decode(key["public_key"]):
        raise DecodeError("public key mismatch")
    return private


def decode_recovery_key(text: str) -> bytes:
    cleaned = re.sub(r"[\s\-]+", "", text).upper()
    if not cleaned.startswith("RK1"):
        raise DecodeError("not a recovery key")
    body = cleaned[3:].replace("0", "O").replace("1", "I")
    raw = base64.b32decode(body + "=")
    key, check = raw[:32], raw[32:]
    if hashlib.sha256(b"desktop-crm recovery key" + key).digest()[:2] != check:
        raise DecodeError("recovery key checksum")
    return key


def _content_key(header: dict, kind: str, private: bytes) -> bytes:
    recipient = next(r for r in header["recipients"] if r["kind"] == kind)
    key = X25519PrivateKey.from_private_bytes(private)
    if key.public_key().public_bytes_raw() != base64.b64decode(recipient["public_key"]):
        raise DecodeError("recipient mismatch")
    info = _canonical(
        {
            "file_id": header["file_id"],
            "format": 1,
            "kind": "backup-content-key",
            "recipient": kind,
        }
    )
    return _suite().decrypt(
        base64.b64decode(recipient["sealed_content_key"]), key, info=info
    )


def decode(
    data: bytes,
    *,
    passphrase: str | None = None,
    recovery_key: str | None = None,
    test_floor: bool = True,
) -> Decoded:
    """Decode a whole backup held in memory."""
    if data[:7] != b"DCRMBAK":
        raise DecodeError("not a backup")
    if data[7] != 1:
        raise DecodeError("unsupported version")
    (header_len,) = struct.unpack(">I", data[8:12])
    prefix = data[: 12 + header_len]
    header = json.loads(data[12 : 12 + header_len])
    header_mac = data[12 + header_len : 44 + header_len]
    if passphrase is not None:
        private = _private_from_passphrase(header, passphrase, test_floor)
        content_key = _content_key(header, "backup", private)
    else:
        assert recovery_key is not None
        content_key = _content_key(
            header, "recovery", decode_recovery_key(recovery_key)
        )
    mac_key = _hkdf(content_key, None, "desktop-crm/v1/backup-header-mac")
    if not hmac.compare_digest(
        hmac.new(mac_key, prefix, hashlib.sha256).digest(), header_mac
    ):
        raise DecodeError("header mac")
    digest = hashlib.sha256(prefix).digest()
    size, total = header["chunk_size"], header["payload_bytes"]
    count = max(1, -(-total // size))
    if len(data) != 44 + header_len + count * 28 + total:
        raise DecodeError("wrong length")
    aead = AESGCM(content_key)
    offset, plain = 44 + header_len, bytearray()
    for index in range(count):
        length = size if index < count - 1 else total - (count - 1) * size
        record = data[offset : offset + 12 + length + 16]
        ad = digest + struct.pack(">Q", index) + bytes([index == count - 1])
        plain += aead.decrypt(record[:12], record[12:], ad)
        offset += len(record)
    (manifest_len,) = struct.unpack(">I", plain[:4])
    manifest = json.loads(plain[4 : 4 + manifest_len])
    database = bytes(plain[4 + manifest_len :])
    if len(database) != manifest["db_bytes"]:
        raise DecodeError("database length")
    return Decoded(header, manifest, database)
