"""The backup container on its own: round trips, bounds, tampering, key slots."""

from __future__ import annotations

import io
import struct

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from hypothesis import given, settings
from hypothesis import strategies as st

from desktop_crm.crypto import backup_format as fmt
from desktop_crm.crypto import primitives
from desktop_crm.crypto.kdf import PRODUCTION
from desktop_crm.errors import InvalidInput

PHRASE = "correct horse battery staple"
WRAPPED = fmt.new_backup_key(PHRASE)
RECOVERY_PRIVATE, RECOVERY_PUBLIC = primitives.new_keypair()


def build(payload: bytes, chunk: int = 4096) -> tuple[bytes, bytes]:
    """A container around ``payload``; returns (file bytes, content key)."""
    key = primitives.random_bytes(32)
    header = fmt.BackupHeader(
        file_id="f-1",
        created_at="2030-01-01T00:00:00+00:00",
        source_vault_id="v-1",
        chunk_size=chunk,
        payload_bytes=len(payload),
        backup_key=WRAPPED,
        recipients=(
            fmt.seal_content_key(key, "backup", WRAPPED.public_key, "f-1"),
            fmt.seal_content_key(key, "recovery", RECOVERY_PUBLIC, "f-1"),
        ),
        counts={"patients": 3},
    )
    out = io.BytesIO()
    writer = fmt.BackupWriter(out, header, key)
    writer.write(payload[:10])
    list(writer.copy_from(io.BytesIO(payload[10:]), len(payload) - 10))
    writer.finish()
    return out.getvalue(), key


def read(data: bytes, phrase: str = PHRASE) -> bytes:
    reader = fmt.BackupReader(io.BytesIO(data))
    return b"".join(reader.payload(reader.open_with_passphrase(phrase)))


@settings(max_examples=40, deadline=None)
@given(size=st.integers(min_value=10, max_value=3 * 4096 + 17))
def test_round_trip_any_length(size):
    payload = primitives.random_bytes(size)

    data, _ = build(payload)

    assert read(data) == payload


def test_recovery_key_opens_the_same_content_key():
    data, key = build(b"x" * 5000)
    reader = fmt.BackupReader(io.BytesIO(data))

    assert reader.open_with_recovery(RECOVERY_PRIVATE) == key
    assert reader.open_with_passphrase(PHRASE) == key


def test_passphrase_is_compared_in_nfc():
    wrapped = fmt.new_backup_key("Zoë's backup phrase")

    private = fmt.open_backup_key(wrapped, "Zoe\u0308's backup phrase")

    assert primitives.public_from_private(bytes(private)) == wrapped.public_key


def test_wrong_passphrase_is_the_key_slot_message():
    data, _ = build(b"y" * 100)

    with pytest.raises(fmt.BackupKeyRejected) as refused:
        read(data, "not the passphrase")

    assert refused.value.exit_code == 3


def test_short_passphrase_refused():
    with pytest.raises(InvalidInput, match="at least 12"):
        fmt.new_backup_key("eleven char")


def test_the_final_chunk_flag_is_authenticated():
    data, key = build(b"z" * 10_000)
    chunks_at = 12 + struct.unpack(">I", data[8:12])[0] + fmt.MAC_BYTES
    reader = fmt.BackupReader(io.BytesIO(data))
    last_at = chunks_at + 2 * (4096 + 28)
    nonce = data[last_at : last_at + 12]
    plain = AESGCM(key).decrypt(
        nonce, data[last_at + 12 :], reader.header_hash + struct.pack(">QB", 2, 1)
    )
    not_final = AESGCM(key).encrypt(
        nonce, plain, reader.header_hash + struct.pack(">QB", 2, 0)
    )

    with pytest.raises(fmt.BackupTampered, match="at chunk 2"):
        read(data[: last_at + 12] + not_final)


def test_header_bounds_are_checked_before_any_key_work():
    data, _ = build(b"q" * 100)
    header = data[12 : 12 + struct.unpack(">I", data[8:12])[0]]

    for old, new in [
        (b'"chunk_size":4096', b'"chunk_size":1'),
        (b'"format":1', b'"format":9'),
    ]:
        with pytest.raises(fmt.BackupTampered):
            fmt.parse_header(header.replace(old, new))
    with pytest.raises(fmt.BackupTampered, match="not valid JSON"):
        fmt.parse_header(b"{")


def test_backup_kdf_is_at_least_the_production_floor(monkeypatch):
    monkeypatch.delenv("DESKTOP_CRM_TEST_KDF", raising=False)

    params = fmt.backup_kdf()

    assert params == fmt.BACKUP_KDF
    assert params.memory_kib >= PRODUCTION.memory_kib
    assert params.iterations >= PRODUCTION.iterations
    assert params.lanes >= PRODUCTION.lanes


def test_writer_refuses_more_or_less_payload_than_announced():
    data, _ = build(b"a" * 100)
    reader = fmt.BackupReader(io.BytesIO(data))
    key = primitives.random_bytes(32)
    writer = fmt.BackupWriter(io.BytesIO(), reader.header, key)

    with pytest.raises(ValueError, match="more payload"):
        writer.write(b"b" * 101)
    with pytest.raises(ValueError, match="shorter"):
        fmt.BackupWriter(io.BytesIO(), reader.header, key).finish()
