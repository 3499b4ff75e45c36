"""The backup container: a versioned, authenticated header and AES-256-GCM chunks.

Layout (all integers big-endian; ``docs/backup-format.md`` is the full
specification an independent decoder is written from)::

    "DCRMBAK" version(1) | header length (u32) | header JSON | header MAC (32)
    chunk 0 | chunk 1 | ... | chunk n-1        each: nonce(12) ct tag(16)

The content key is random for every file and sealed (HPKE) to the practice's
backup public key and to the recovery public key.  The backup private key,
wrapped under Argon2id(passphrase), travels in the header, so the file and its
passphrase (or the recovery key) are enough to read it anywhere.  Each chunk's
associated data binds the SHA-256 of the header, the chunk index and a
final-chunk flag, so reordering, truncation and appended data are caught.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import struct
import unicodedata
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, BinaryIO, Protocol, runtime_checkable

from desktop_crm.crypto import primitives as p
from desktop_crm.crypto.kdf import SALT_BYTES, KDFParams, argon2id, testing_enabled
from desktop_crm.errors import CRMError, VaultError

MAGIC_PREFIX = b"DCRMBAK"
VERSION = 1
MAGIC = MAGIC_PREFIX + bytes([VERSION])
MAX_HEADER_BYTES = 64 * 1024
MAX_MANIFEST_BYTES = 64 * 1024
MAC_BYTES = 32
NONCE_BYTES = 12
TAG_BYTES = 16
DEFAULT_CHUNK_BYTES = 1 << 20
MIN_CHUNK_BYTES = 4096
MAX_CHUNK_BYTES = 16 << 20
MAX_PAYLOAD_BYTES = 1 << 48
MIN_PASSPHRASE_CHARS = 12
#: Argon2id cost for the backup passphrase: typed rarely, attacked offline.
BACKUP_KDF = KDFParams(memory_kib=256 * 1024, iterations=3, lanes=4)
RECIPIENT_KINDS = ("backup", "recovery")

_LENGTH = struct.Struct(">I")
_CHUNK_AD = struct.Struct(">32sQB")


class BackupFormatError(VaultError):
    """The file is not a readable backup; the message names what is wrong."""


class NotABackup(BackupFormatError):
    """The file does not start with the backup magic."""

    def __init__(self) -> None:
        super().__init__("not a Desktop CRM backup file")


class UnsupportedVersion(BackupFormatError):
    """A backup format version this program does not read."""

    def __init__(self, version: int) -> None:
        super().__init__(
            f"backup format version {version} is not supported (this version of "
            f"Desktop CRM reads version {VERSION}): update the application"
        )


class BackupTruncated(BackupFormatError):
    """The file ends before the backup does."""

    def __init__(self, detail: str) -> None:
        super().__init__(f"the backup file is truncated: {detail}")


class BackupTampered(BackupFormatError):
    """Authentication failed for one part of the file."""

    def __init__(self, where: str, chunk: int | None = None) -> None:
        super().__init__(f"the backup file was altered or damaged: {where}")
        self.chunk = chunk


class BackupKeyRejected(CRMError):
    """Wrong passphrase, wrong recovery key or an altered key slot: one message."""

    exit_code = 3
    MESSAGE = (
        "the backup's key slot did not open: wrong backup passphrase or recovery "
        "key, or the key slot was altered"
    )

    def __init__(self) -> None:
        super().__init__(self.MESSAGE)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _unb64(raw: Any, where: str, length: int | None = None) -> bytes:
    if not isinstance(raw, str):
        raise BackupTampered(f"header field {where} is missing or malformed")
    try:
        data = base64.b64decode(raw, validate=True)
    except ValueError as exc:
        raise BackupTampered(f"header field {where} is not valid base64") from exc
    if length is not None and len(data) != length:
        raise BackupTampered(f"header field {where} has the wrong length")
    return data


def _int(raw: Any, where: str, low: int, high: int) -> int:
    if not isinstance(raw, int) or isinstance(raw, bool) or not low <= raw <= high:
        raise BackupTampered(f"header field {where} is out of range")
    return raw


def _text(raw: Any, where: str, limit: int = 200) -> str:
    if not isinstance(raw, str) or len(raw) > limit:
        raise BackupTampered(f"header field {where} is malformed")
    return raw


def backup_kdf() -> KDFParams:
    """The Argon2id cost for a new backup passphrase in this process."""
    from desktop_crm.crypto.kdf import TESTING

    return TESTING if testing_enabled() else BACKUP_KDF


def _kdf_from(raw: Any) -> KDFParams:
    """Bounded read of KDF parameters: refused at once, before any Argon2id."""
    try:
        return KDFParams.from_dict(raw)
    except VaultError as exc:
        raise BackupTampered(
            "the key-derivation cost in the header is outside the allowed range "
            "(refused without trying it)"
        ) from exc


def _passphrase_bytes(passphrase: str) -> bytes:
    return unicodedata.normalize("NFC", passphrase).encode("utf-8")


def check_passphrase(passphrase: str) -> None:
    """Refuse a backup passphrase shorter than the minimum."""
    from desktop_crm.errors import InvalidInput

    text = unicodedata.normalize("NFC", passphrase)
    if len(text) < MIN_PASSPHRASE_CHARS or not text.strip():
        raise InvalidInput(
            "backup passphrase", f"use at least {MIN_PASSPHRASE_CHARS} characters"
        )


# -- the passphrase-wrapped backup key ---------------------------------------
@dataclass(frozen=True)
class WrappedBackupKey:
    """The backup private key, wrapped under Argon2id of the backup passphrase."""

    key_id: str
    public_key: bytes
    kdf: KDFParams
    salt: bytes
    nonce: bytes
    wrapped: bytes

    def to_dict(self) -> dict[str, Any]:
        return {
            "key_id": self.key_id,
            "public_key": _b64(self.public_key),
            "kdf": self.kdf.to_dict(),
            "salt": _b64(self.salt),
            "nonce": _b64(self.nonce),
            "wrapped": _b64(self.wrapped),
        }

    @classmethod
    def from_dict(cls, raw: Any) -> WrappedBackupKey:
        if not isinstance(raw, dict):
            raise BackupTampered("header field backup_key is malformed")
        return cls(
            key_id=_text(raw.get("key_id"), "backup_key.key_id", 64),
            public_key=_unb64(raw.get("public_key"), "backup_key.public_key", 32),
            kdf=_kdf_from(raw.get("kdf")),
            salt=_unb64(raw.get("salt"), "backup_key.salt", SALT_BYTES),
            nonce=_unb64(raw.get("nonce"), "backup_key.nonce", NONCE_BYTES),
            wrapped=_unb64(raw.get("wrapped"), "backup_key.wrapped", 32 + TAG_BYTES),
        )


def _key_wrap_context(key_id: str, public_key: bytes, kdf: KDFParams) -> bytes:
    return p.context(
        format=VERSION,
        kind="backup-private-key",
        key_id=key_id,
        public_key=_b64(public_key),
        kdf=kdf.to_dict(),
    )


def _key_wrap_key(passphrase: str, salt: bytes, kdf: KDFParams) -> bytes:
    stretched = argon2id(_passphrase_bytes(passphrase), salt, kdf)
    return p.hkdf(stretched, salt=salt, purpose="backup-key-wrap")


def new_backup_key(passphrase: str, kdf: KDFParams | None = None) -> WrappedBackupKey:
    """A fresh X25519 backup key pair, its private half wrapped under the phrase."""
    check_passphrase(passphrase)
    kdf = kdf or backup_kdf()
    private, public = p.new_keypair()
    key_id = str(uuid.uuid4())
    salt = p.random_bytes(SALT_BYTES)
    nonce, wrapped = p.aead_seal(
        _key_wrap_key(passphrase, salt, kdf),
        private,
        _key_wrap_context(key_id, public, kdf),
    )
    return WrappedBackupKey(key_id, public, kdf, salt, nonce, wrapped)


def open_backup_key(key: WrappedBackupKey, passphrase: str) -> bytearray:
    """Unwrap the backup private key; ``BackupKeyRejected`` on any mismatch."""
    try:
        private = bytearray(
            p.aead_open(
                _key_wrap_key(passphrase, key.salt, key.kdf),
                key.nonce,
                key.wrapped,
                _key_wrap_context(key.key_id, key.public_key, key.kdf),
            )
        )
        if p.public_from_private(bytes(private)) != key.public_key:
            raise p.DecryptionFailed
    except p.DecryptionFailed as exc:
        raise BackupKeyRejected from exc
    return private


# -- the header ----------------------------------------------------------------
@dataclass(frozen=True)
class Recipient:
    """The content key sealed (HPKE) to one public key."""

    kind: str
    public_key: bytes
    sealed: bytes


@dataclass(frozen=True)
class BackupHeader:
    """Everything before the chunks: who can open the file and how it is cut."""

    file_id: str
    created_at: str
    source_vault_id: str
    chunk_size: int
    payload_bytes: int
    backup_key: WrappedBackupKey
    recipients: tuple[Recipient, ...]
    counts: dict[str, int] = field(default_factory=dict)

    @property
    def chunk_count(self) -> int:
        return max(1, -(-self.payload_bytes // self.chunk_size))

    def recipient(self, kind: str) -> Recipient:
        for item in self.recipients:
            if item.kind == kind:
                return item
        raise BackupKeyRejected

    def to_json(self) -> bytes:
        body = {
            "format": VERSION,
            "file_id": self.file_id,
            "created_at": self.created_at,
            "source_vault_id": self.source_vault_id,
            "chunk_size": self.chunk_size,
            "payload_bytes": self.payload_bytes,
            "backup_key": self.backup_key.to_dict(),
            "recipients": [
                {
                    "kind": r.kind,
                    "public_key": _b64(r.public_key),
                    "sealed_content_key": _b64(r.sealed),
                }
                for r in self.recipients
            ],
            "counts": dict(sorted(self.counts.items())),
        }
        return json.dumps(body, sort_keys=True, separators=(",", ":")).encode()


def _parse_counts(raw: Any) -> dict[str, int]:
    if not isinstance(raw, dict) or len(raw) > 1000:
        raise BackupTampered("header field counts is malformed")
    return {_text(k, "counts"): _int(v, "counts", 0, 1 << 62) for k, v in raw.items()}


def _parse_recipients(raw: Any) -> tuple[Recipient, ...]:
    if not isinstance(raw, list) or len(raw) != len(RECIPIENT_KINDS):
        raise BackupTampered("header field recipients is malformed")
    found = []
    for item in raw:
        if not isinstance(item, dict) or item.get("kind") not in RECIPIENT_KINDS:
            raise BackupTampered("header field recipients is malformed")
        found.append(
            Recipient(
                kind=str(item["kind"]),
                public_key=_unb64(item.get("public_key"), "recipients.public_key", 32),
                sealed=_unb64(
                    item.get("sealed_content_key"), "recipients.sealed_content_key"
                ),
            )
        )
    if sorted(r.kind for r in found) != sorted(RECIPIENT_KINDS):
        raise BackupTampered("header field recipients is malformed")
    return tuple(found)


def parse_header(data: bytes) -> BackupHeader:
    """Parse and bound-check the header JSON (not yet authenticated)."""
    try:
        raw = json.loads(data)
    except (ValueError, UnicodeDecodeError) as exc:
        raise BackupTampered("the header is not valid JSON") from exc
    if not isinstance(raw, dict):
        raise BackupTampered("the header is not a JSON object")
    if raw.get("format") != VERSION:
        raise BackupTampered("the header's format field does not match")
    return BackupHeader(
        file_id=_text(raw.get("file_id"), "file_id", 64),
        created_at=_text(raw.get("created_at"), "created_at", 64),
        source_vault_id=_text(raw.get("source_vault_id"), "source_vault_id", 64),
        chunk_size=_int(
            raw.get("chunk_size"), "chunk_size", MIN_CHUNK_BYTES, MAX_CHUNK_BYTES
        ),
        payload_bytes=_int(
            raw.get("payload_bytes"), "payload_bytes", 4, MAX_PAYLOAD_BYTES
        ),
        backup_key=WrappedBackupKey.from_dict(raw.get("backup_key")),
        recipients=_parse_recipients(raw.get("recipients")),
        counts=_parse_counts(raw.get("counts")),
    )


def _seal_info(kind: str, file_id: str) -> bytes:
    return p.context(
        format=VERSION, kind="backup-content-key", recipient=kind, file_id=file_id
    )


def seal_content_key(
    content_key: bytes, kind: str, public: bytes, file_id: str
) -> Recipient:
    return Recipient(
        kind, public, p.hpke_seal(content_key, public, _seal_info(kind, file_id))
    )


def _mac_key(content_key: bytes | bytearray) -> bytes:
    return p.hkdf(bytes(content_key), salt=None, purpose="backup-header-mac")


def _chunk_ad(header_hash: bytes, index: int, final: bool) -> bytes:
    return _CHUNK_AD.pack(header_hash, index, 1 if final else 0)


# -- writing -------------------------------------------------------------------
@runtime_checkable
class RecordSink(Protocol):
    """Where a ``BackupWriter`` sends the file's bytes, in order.

    ``take`` hands out a buffer to seal the next chunk into; ``put_record``
    hands it back filled (the sink owns it until it has written it);
    ``put_bytes`` queues bytes the writer does not reuse.  ``sha256`` is the
    digest of every byte written (complete once the sink has finished).
    """

    sha256: hashlib._Hash

    def take(self, size: int) -> bytearray: ...

    def put_record(self, buffer: bytearray, length: int) -> None: ...

    def put_bytes(self, data: bytes) -> None: ...


class StreamSink:
    """Writes to a binary stream at once, reusing one buffer (in-memory files)."""

    def __init__(self, out: BinaryIO) -> None:
        self._out = out
        self._buffer = bytearray()
        self.sha256 = hashlib.sha256()

    def take(self, size: int) -> bytearray:
        if len(self._buffer) < size:
            self._buffer = bytearray(size)
        return self._buffer

    def put_record(self, buffer: bytearray, length: int) -> None:
        self.put_bytes(memoryview(buffer)[:length])

    def put_bytes(self, data: bytes | memoryview) -> None:
        self._out.write(data)
        self.sha256.update(data)


class BackupWriter:
    """Writes one backup: the header, then the payload cut into sealed chunks.

    The payload length is fixed in the header, so the writer knows which chunk
    is the final one.  Each chunk is sealed straight into a buffer the sink
    hands out, so the only copies are the read into the chunk buffer and the
    write out of the sink's.  ``sha256`` is the digest of every byte written.
    """

    def __init__(
        self, out: BinaryIO | RecordSink, header: BackupHeader, content_key: bytes
    ):
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM

        self._sink = out if isinstance(out, RecordSink) else StreamSink(out)
        self._aead = AESGCM(content_key)
        self._chunk = header.chunk_size
        self._record = NONCE_BYTES + self._chunk + TAG_BYTES
        self._left = header.payload_bytes
        self._buffer = bytearray(self._chunk)
        self._view = memoryview(self._buffer)
        self._fill = 0
        self._index = 0
        self.size = 0
        body = header.to_json()
        if len(body) > MAX_HEADER_BYTES:
            raise ValueError("backup header too large")
        prefix = MAGIC + _LENGTH.pack(len(body)) + body
        self._header_hash = hashlib.sha256(prefix).digest()
        mac = hmac.new(_mac_key(content_key), prefix, hashlib.sha256).digest()
        self._sink.put_bytes(prefix + mac)
        self.size += len(prefix) + len(mac)

    @property
    def sha256(self) -> hashlib._Hash:
        """The digest of the file so far (of all of it once the sink finished)."""
        return self._sink.sha256

    def _room(self) -> int:
        return min(self._chunk - self._fill, self._left)

    def _flush_if_full(self) -> None:
        if self._fill and (self._fill == self._chunk or self._left == 0):
            final = self._left == 0
            record = self._sink.take(self._record)
            out = memoryview(record)
            length = NONCE_BYTES + self._fill + TAG_BYTES
            nonce = p.random_bytes(NONCE_BYTES)
            out[:NONCE_BYTES] = nonce
            self._aead.encrypt_into(
                nonce,
                self._view[: self._fill],
                _chunk_ad(self._header_hash, self._index, final),
                out[NONCE_BYTES:length],
            )
            self._sink.put_record(record, length)
            self.size += length
            self._index += 1
            self._fill = 0

    def write(self, data: bytes) -> None:
        """Add payload bytes (small pieces: the manifest)."""
        view = memoryview(data)
        while view:
            take = min(self._room(), len(view))
            if take <= 0:
                raise ValueError("more payload than the header announced")
            self._view[self._fill : self._fill + take] = view[:take]
            self._fill += take
            self._left -= take
            view = view[take:]
            self._flush_if_full()

    def copy_from(self, source: BinaryIO, count: int) -> Iterator[int]:
        """Read ``count`` bytes from ``source`` straight into chunks.

        Yields the bytes copied after each read, for progress and cancel.
        """
        while count > 0:
            take = min(self._room(), count)
            if take <= 0:
                raise ValueError("more payload than the header announced")
            got = source.readinto(self._view[self._fill : self._fill + take])  # type: ignore[attr-defined]
            if not got:
                raise OSError("the source ended early")
            self._fill += got
            self._left -= got
            count -= got
            self._flush_if_full()
            yield got

    def finish(self) -> None:
        """Check that exactly the announced payload was written."""
        if self._left != 0 or self._fill != 0:
            raise ValueError("the payload is shorter than the header announced")


# -- reading -------------------------------------------------------------------
class BackupReader:
    """Reads and checks a backup from a seekable binary file.

    ``sha256`` is the digest of every byte read so far; after ``payload`` has
    been consumed it is the digest of the whole file.
    """

    def __init__(self, source: BinaryIO) -> None:
        self._source = source
        self.sha256 = hashlib.sha256()
        source.seek(0, 2)
        self.file_size = source.tell()
        source.seek(0)
        magic = source.read(len(MAGIC))
        self.sha256.update(magic)
        if not magic.startswith(MAGIC_PREFIX[: len(magic)]) or len(magic) < len(
            MAGIC_PREFIX
        ):
            raise NotABackup
        if len(magic) < len(MAGIC):
            raise BackupTruncated("it ends inside the format marker")
        if magic[-1] != VERSION:
            raise UnsupportedVersion(magic[-1])
        (length,) = _LENGTH.unpack(self._read_exact(_LENGTH.size, "header length"))
        if not 2 <= length <= MAX_HEADER_BYTES:
            raise BackupTampered("the header length is out of range")
        self.header_bytes = self._read_exact(length, "header")
        self._mac = self._read_exact(MAC_BYTES, "header MAC")
        prefix = MAGIC + _LENGTH.pack(length) + self.header_bytes
        self._prefix = prefix
        self.header_hash = hashlib.sha256(prefix).digest()
        self.header = parse_header(self.header_bytes)
        self.chunks_offset = len(prefix) + MAC_BYTES

    def _read_exact(self, count: int, what: str) -> bytes:
        data = self._source.read(count)
        if len(data) != count:
            raise BackupTruncated(f"it ends inside the {what}")
        self.sha256.update(data)
        return data

    # -- opening the content key ------------------------------------------------
    def _unseal(self, kind: str, private: bytes | bytearray) -> bytearray:
        recipient = self.header.recipient(kind)
        try:
            if p.public_from_private(bytes(private)) != recipient.public_key:
                raise p.DecryptionFailed
            key = p.hpke_open(
                recipient.sealed,
                bytes(private),
                _seal_info(kind, self.header.file_id),
            )
        except p.DecryptionFailed as exc:
            raise BackupKeyRejected from exc
        if len(key) != p.KEY_BYTES:
            raise BackupKeyRejected
        return bytearray(key)

    def open_with_passphrase(self, passphrase: str) -> bytearray:
        """The content key via the backup passphrase."""
        private = open_backup_key(self.header.backup_key, passphrase)
        try:
            return self._unseal("backup", private)
        finally:
            p.wipe(private)

    def open_with_recovery(self, private: bytes) -> bytearray:
        """The content key via the recovery key (raw X25519 private bytes)."""
        return self._unseal("recovery", private)

    # -- the payload ---------------------------------------------------------------
    def _check_header_and_size(self, content_key: bytes | bytearray) -> None:
        expected_mac = hmac.new(
            _mac_key(content_key), self._prefix, hashlib.sha256
        ).digest()
        if not hmac.compare_digest(expected_mac, self._mac):
            raise BackupTampered("the header does not match its MAC")
        h = self.header
        expected = (
            self.chunks_offset
            + h.chunk_count * (NONCE_BYTES + TAG_BYTES)
            + h.payload_bytes
        )
        if self.file_size < expected:
            record = NONCE_BYTES + h.chunk_size + TAG_BYTES
            at = (self.file_size - self.chunks_offset) // record
            raise BackupTruncated(
                f"{self.file_size} of {expected} bytes present, it ends in chunk "
                f"{max(0, at)} of {h.chunk_count}"
            )
        if self.file_size > expected:
            raise BackupTampered(
                f"{self.file_size - expected} unexpected bytes after the last chunk"
            )

    def payload(self, content_key: bytes | bytearray) -> Iterator[bytes]:
        """Decrypt every chunk in order; raises ``BackupTampered`` naming it."""
        from cryptography.exceptions import InvalidTag
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM

        self._check_header_and_size(content_key)
        aead = AESGCM(bytes(content_key))
        h = self.header
        self._source.seek(self.chunks_offset)
        left = h.payload_bytes
        # One buffer for every record: read into it, hash it, decrypt from it.
        record = memoryview(bytearray(NONCE_BYTES + h.chunk_size + TAG_BYTES))
        for index in range(h.chunk_count):
            plain_len = min(h.chunk_size, left)
            view = record[: NONCE_BYTES + plain_len + TAG_BYTES]
            self._read_into(view, f"chunk {index}")
            final = index == h.chunk_count - 1
            try:
                plain = aead.decrypt(
                    view[:NONCE_BYTES],
                    view[NONCE_BYTES:],
                    _chunk_ad(self.header_hash, index, final),
                )
            except InvalidTag as exc:
                raise BackupTampered(f"at chunk {index}", chunk=index) from exc
            left -= plain_len
            yield plain

    def _read_into(self, view: memoryview, what: str) -> None:
        got = 0
        while got < len(view):
            count = self._source.readinto(view[got:])  # type: ignore[attr-defined]
            if not count:
                raise BackupTruncated(f"it ends inside the {what}")
            got += count
        self.sha256.update(view)


# -- the inner manifest ------------------------------------------------------------
@dataclass
class Manifest:
    """What the payload says about itself before the database bytes."""

    vault_id: str
    practice_name: str
    dek: bytearray
    dek_generation: int
    schema_version: int
    counts: dict[str, int]
    db_bytes: int
    recovery_public_key: bytes
    created_at: str

    def to_bytes(self) -> bytes:
        body = json.dumps(
            {
                "format": VERSION,
                "vault_id": self.vault_id,
                "practice_name": self.practice_name,
                "dek": _b64(bytes(self.dek)),
                "dek_generation": self.dek_generation,
                "schema_version": self.schema_version,
                "counts": dict(sorted(self.counts.items())),
                "db_bytes": self.db_bytes,
                "recovery_public_key": _b64(self.recovery_public_key),
                "created_at": self.created_at,
            },
            sort_keys=True,
            separators=(",", ":"),
        ).encode()
        return _LENGTH.pack(len(body)) + body

    @classmethod
    def from_json(cls, data: bytes) -> Manifest:
        try:
            raw = json.loads(data)
        except (ValueError, UnicodeDecodeError) as exc:
            raise BackupTampered("the manifest is not valid JSON") from exc
        if not isinstance(raw, dict) or raw.get("format") != VERSION:
            raise BackupTampered("the manifest is malformed")
        return cls(
            vault_id=_text(raw.get("vault_id"), "vault_id", 64),
            practice_name=_text(raw.get("practice_name"), "practice_name"),
            dek=bytearray(_unb64(raw.get("dek"), "dek", p.KEY_BYTES)),
            dek_generation=_int(
                raw.get("dek_generation"), "dek_generation", 1, 1 << 40
            ),
            schema_version=_int(raw.get("schema_version"), "schema_version", 0, 10_000),
            counts=_parse_counts(raw.get("counts")),
            db_bytes=_int(raw.get("db_bytes"), "db_bytes", 0, MAX_PAYLOAD_BYTES),
            recovery_public_key=_unb64(
                raw.get("recovery_public_key"), "recovery_public_key", 32
            ),
            created_at=_text(raw.get("created_at"), "created_at", 64),
        )


def payload_bytes(manifest: Manifest) -> int:
    return len(manifest.to_bytes()) + manifest.db_bytes


def split_payload(
    chunks: Iterator[bytes], payload_total: int
) -> tuple[Manifest, Iterator[bytes]]:
    """Read the manifest off the front of the payload; the rest is the database."""
    pending = bytearray()
    while len(pending) < _LENGTH.size:
        pending += next(chunks)
    (length,) = _LENGTH.unpack(pending[: _LENGTH.size])
    if length > MAX_MANIFEST_BYTES or _LENGTH.size + length > payload_total:
        raise BackupTampered("the manifest length is out of range")
    while len(pending) < _LENGTH.size + length:
        pending += next(chunks)
    end = _LENGTH.size + length
    manifest = Manifest.from_json(bytes(pending[_LENGTH.size : end]))
    if manifest.db_bytes != payload_total - end:
        raise BackupTampered("the manifest's database size does not match")
    rest = bytes(pending[end:])
    # Only the manifest (it holds the DEK) is secret; the rest is database
    # pages, still encrypted.  Same-length slice assignment zeroes in place.
    pending[:end] = bytes(end)

    def database() -> Iterator[bytes]:
        if rest:
            yield rest
        yield from chunks

    return manifest, database()


ProgressFn = Callable[[int, int], None]
