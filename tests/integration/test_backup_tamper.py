"""A product-made backup, damaged every way we can think of: always refused.

The backup is small (4 KiB chunks) and every damaged copy lives in memory,
so a thousand single-byte flips run in seconds.
"""

from __future__ import annotations

import hashlib
import io
import json
import random
import struct
import time
from dataclasses import dataclass

import pytest
from support.vault_fixtures import ADMIN, VaultHarness

from desktop_crm.crypto import backup_format as fmt
from desktop_crm.crypto import primitives, recovery_key
from desktop_crm.platform.secret_store import MemorySecretStore
from desktop_crm.services import backup, patients
from desktop_crm.services.patient_model import Patient
from desktop_crm.services.vault import VaultService

PASSPHRASE = "correct horse battery staple"
CHUNK = 4096
RECORD = fmt.NONCE_BYTES + CHUNK + fmt.TAG_BYTES


@dataclass
class Made:
    """A small backup, its bytes and where its parts start."""

    harness: VaultHarness
    data: bytes
    header_len: int

    @property
    def chunks_at(self) -> int:
        return 12 + self.header_len + fmt.MAC_BYTES

    @property
    def chunk_count(self) -> int:
        return -(-(len(self.data) - self.chunks_at) // RECORD)

    def chunk_of(self, offset: int) -> int:
        return (offset - self.chunks_at) // RECORD


@pytest.fixture(scope="module")
def made(tmp_path_factory) -> Made:
    from support.vault_fixtures import make_vault

    root = tmp_path_factory.mktemp("tamper")
    harness = make_vault(root / "vault", MemorySecretStore())
    session = harness.created.session
    for number in range(5):
        patients.create_patient(
            session,
            Patient(family=f"Tamper{number}", given="Test", birth_date="1980-01-01"),
            allow_duplicates=True,
        )
    backup.set_backup_passphrase(session, PASSPHRASE)
    result = backup.create_backup(session, root / "b.dcrmbak", chunk_size=CHUNK)
    data = result.path.read_bytes()
    (header_len,) = struct.unpack(">I", data[8:12])
    yield Made(harness, data, header_len)
    session.lock()


def verify(data: bytes, **key: str) -> backup.VerifyResult:
    key = key or {"passphrase": PASSPHRASE}
    return backup.verify_backup(io.BytesIO(data), **key)


def expected_refusal(made: Made, offset: int) -> tuple[type[Exception], ...]:
    if offset < 7:
        return (fmt.NotABackup,)
    if offset == 7:
        return (fmt.UnsupportedVersion,)
    if offset < made.chunks_at - fmt.MAC_BYTES:
        # Length or header JSON: malformed, cut short, or a key slot that no
        # longer opens; a parse that survives is caught by the header MAC.
        return (fmt.BackupTampered, fmt.BackupTruncated, fmt.BackupKeyRejected)
    return (fmt.BackupTampered,)


def test_the_untouched_backup_verifies(made):
    result = verify(made.data)

    assert result.chunks == made.chunk_count > 10
    assert result.sha256 == hashlib.sha256(made.data).hexdigest()


def test_a_thousand_single_byte_flips_are_all_refused(made):
    rng = random.Random(20240604)
    offsets = rng.sample(range(len(made.data)), 1000)
    started = time.perf_counter()
    misses = []

    for offset in offsets:
        copy = bytearray(made.data)
        copy[offset] ^= rng.randrange(1, 256)
        try:
            verify(bytes(copy))
        except expected_refusal(made, offset) as exc:
            if offset >= made.chunks_at:
                assert exc.chunk == made.chunk_of(offset), offset
                assert f"at chunk {made.chunk_of(offset)}" in str(exc)
            elif offset >= made.chunks_at - fmt.MAC_BYTES:
                assert "header does not match its MAC" in str(exc)
            continue
        misses.append(offset)

    assert misses == []
    assert time.perf_counter() - started < 120


@pytest.mark.parametrize("chunk", [0, 1, 5, -1])
def test_truncated_at_a_chunk_boundary(made, chunk):
    index = chunk % made.chunk_count
    cut = made.chunks_at + index * RECORD

    with pytest.raises(fmt.BackupTruncated, match=f"ends in chunk {index} of"):
        verify(made.data[:cut])


@pytest.mark.parametrize("inside", [1, 12, 100, RECORD - 1])
def test_truncated_inside_a_chunk(made, inside):
    cut = made.chunks_at + 3 * RECORD + inside

    with pytest.raises(fmt.BackupTruncated, match="ends in chunk 3 of"):
        verify(made.data[:cut])


@pytest.mark.parametrize("cut", [0, 3, 8, 11, 40, 200])
def test_truncated_before_the_chunks(made, cut):
    refused = fmt.NotABackup if cut < 7 else fmt.BackupTruncated

    with pytest.raises(refused):
        verify(made.data[:cut])


def test_last_chunk_missing_entirely(made):
    last = made.chunks_at + (made.chunk_count - 1) * RECORD

    with pytest.raises(fmt.BackupTruncated):
        verify(made.data[:last])


def test_two_chunks_swapped(made):
    data = bytearray(made.data)
    a, b = made.chunks_at + 2 * RECORD, made.chunks_at + 5 * RECORD
    data[a : a + RECORD], data[b : b + RECORD] = (
        made.data[b : b + RECORD],
        made.data[a : a + RECORD],
    )

    with pytest.raises(fmt.BackupTampered, match="at chunk 2$"):
        verify(bytes(data))


def test_a_chunk_duplicated_over_the_next(made):
    data = bytearray(made.data)
    a = made.chunks_at + 4 * RECORD
    data[a + RECORD : a + 2 * RECORD] = made.data[a : a + RECORD]

    with pytest.raises(fmt.BackupTampered, match="at chunk 5$"):
        verify(bytes(data))


@pytest.mark.parametrize("extra", [b"\x00", b"x" * 28, None])
def test_appended_bytes(made, extra):
    tail = (
        extra
        if extra is not None
        else made.data[made.chunks_at : made.chunks_at + RECORD]
    )

    with pytest.raises(fmt.BackupTampered, match="unexpected bytes after the last"):
        verify(made.data + tail)


def test_wrong_passphrase_and_wrong_recovery_key_read_like_a_bad_key_slot(made):
    other = recovery_key.encode(primitives.new_keypair()[0])
    header = json.loads(made.data[12 : 12 + made.header_len])
    wrapped = header["backup_key"]["wrapped"]
    flipped = wrapped[:10] + ("A" if wrapped[10] != "A" else "B") + wrapped[11:]
    bad_slot = made.data.replace(wrapped.encode(), flipped.encode())

    with pytest.raises(fmt.BackupKeyRejected) as by_phrase:
        verify(made.data, passphrase="wrong horse battery staple")
    with pytest.raises(fmt.BackupKeyRejected) as by_recovery:
        verify(made.data, recovery_key_text=other)
    with pytest.raises(fmt.BackupKeyRejected) as by_slot:
        verify(bad_slot)

    assert str(by_phrase.value) == str(by_recovery.value) == str(by_slot.value)
    assert by_phrase.value.exit_code == 3


def with_kdf(made: Made, **kdf: int) -> bytes:
    header = json.loads(made.data[12 : 12 + made.header_len])
    header["backup_key"]["kdf"].update(kdf)
    body = json.dumps(header, sort_keys=True, separators=(",", ":")).encode()
    rest = made.data[12 + made.header_len :]
    return made.data[:8] + struct.pack(">I", len(body)) + body + rest


@pytest.mark.parametrize(
    "kdf",
    [
        {"m": 2**30},
        {"m": 2**20 + 1},
        {"t": 1000},
        {"p": 1000},
        {"m": 8, "p": 1},
        {"alg": 1},
    ],
)
def test_crafted_kdf_parameters_are_refused_at_once(made, kdf):
    crafted = with_kdf(made, **kdf)
    started = time.perf_counter()

    with pytest.raises(fmt.BackupTampered, match="key-derivation cost"):
        verify(crafted)

    assert time.perf_counter() - started < 0.5


def test_recovery_key_opens_the_same_backup(made):
    result = verify(made.data, recovery_key_text=made.harness.created.recovery_key)

    assert result.chunks == made.chunk_count


def test_damaged_backups_never_touch_the_live_vault(made, tmp_path):
    h = made.harness
    files = h.service.files
    before = files.header.read_bytes()
    session = h.created.session
    bad = bytearray(made.data)
    bad[made.chunks_at + 7 * RECORD + 50] ^= 1
    source = tmp_path / "bad.dcrmbak"
    source.write_bytes(bytes(bad))

    with pytest.raises(fmt.BackupTampered, match="at chunk 7"):
        backup.restore_backup(
            source,
            h.root,
            passphrase=PASSPHRASE,
            admin_name=ADMIN,
            new_pin="246813",
            secrets_store=h.store,
            replace=True,
            replacing=session,
        )

    assert files.header.read_bytes() == before
    assert not session.locked
    assert not list(h.root.glob(".restore-*"))
    assert not list(h.root.parent.glob(f"{h.root.name}-replaced-*"))
    h.clock.advance(3600)
    VaultService(h.root, h.store, h.clock).unlock(ADMIN, "135790", h.code()).lock()


def test_not_a_backup_and_unsupported_version(made, tmp_path):
    newer = made.data[:7] + bytes([2]) + made.data[8:]
    plain = tmp_path / "notes.txt"
    plain.write_text("hello")

    with pytest.raises(fmt.UnsupportedVersion, match="version 2"):
        verify(newer)
    with pytest.raises(fmt.NotABackup):
        backup.verify_backup(plain, passphrase=PASSPHRASE)
    with pytest.raises(fmt.NotABackup):
        verify(b"")
