"""The background writer behind create and restore, and the parallel checks.

Real files and real threads: what reaches the disk is compared byte for byte,
a full disk is /dev/full, and the checks run on a real SQLCipher copy.
"""

from __future__ import annotations

import errno
import hashlib
import io
import os
import threading
from pathlib import Path

import pytest
from support.vault_fixtures import VaultHarness

from desktop_crm.crypto import backup_format as fmt
from desktop_crm.crypto import primitives
from desktop_crm.services import backup, documents, patients
from desktop_crm.services.backup_io import BackgroundFileSink
from desktop_crm.services.patient_model import Patient

PASSPHRASE = "correct horse battery staple"


def sink_threads() -> list[str]:
    names = ("backup-writer", "backup-hasher", "backup-flusher")
    return [t.name for t in threading.enumerate() if t.name in names]


def open_new(path: Path) -> int:
    return os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)


def test_records_reach_the_file_in_order_and_digested(tmp_path):
    path = tmp_path / "out"
    fd = open_new(path)
    expected = bytearray(b"header bytes")
    try:
        with BackgroundFileSink(fd, depth=2, flush_every=8192) as sink:
            sink.put_bytes(b"header bytes")
            for number in range(200):
                piece = bytes([number % 251]) * (1000 + number)
                buffer = sink.take(1200)
                buffer[: len(piece)] = piece
                sink.put_record(buffer, len(piece))
                expected += piece
    finally:
        os.close(fd)

    assert path.read_bytes() == expected  # no buffer reused before it was written
    assert sink.sha256.hexdigest() == hashlib.sha256(expected).hexdigest()
    assert sink.buffers <= 2  # memory bounded by depth, not by the file size
    assert sink.flushes >= 1  # flushed in the background on the way
    assert sink_threads() == []


def test_without_digest_or_flushing_it_only_writes(tmp_path):
    path = tmp_path / "out"
    fd = open_new(path)
    try:
        with BackgroundFileSink(fd, flush_every=None, digest=False) as sink:
            for _ in range(10):
                sink.put_bytes(b"x" * 5000)
    finally:
        os.close(fd)

    assert path.read_bytes() == b"x" * 50_000
    assert sink.flushes == 0
    assert sink.sha256.hexdigest() == hashlib.sha256().hexdigest()


def test_a_full_disk_reaches_the_caller_and_stops_the_threads():
    fd = os.open("/dev/full", os.O_WRONLY)
    try:
        with pytest.raises(OSError) as caught:  # noqa: PT012 - from put or exit
            with BackgroundFileSink(fd, flush_every=None) as sink:
                for _ in range(100):
                    buffer = sink.take(4096)
                    sink.put_record(buffer, 4096)
    finally:
        os.close(fd)

    assert caught.value.errno == errno.ENOSPC
    assert sink_threads() == []


def test_an_error_in_the_block_wins_and_the_threads_stop(tmp_path):
    path = tmp_path / "out"
    fd = open_new(path)
    try:
        with pytest.raises(RuntimeError, match="cancelled here"):  # noqa: PT012
            with BackgroundFileSink(fd) as sink:
                sink.put_bytes(b"before")
                raise RuntimeError("cancelled here")
    finally:
        os.close(fd)

    assert path.read_bytes() == b"before"  # what was queued was drained
    assert sink_threads() == []


def test_a_writer_through_the_sink_makes_a_readable_backup(tmp_path):
    wrapped = fmt.new_backup_key(PASSPHRASE)
    _, recovery_public = primitives.new_keypair()
    key = primitives.random_bytes(32)
    payload = primitives.random_bytes(3 * 4096 + 123)
    header = fmt.BackupHeader(
        file_id="f-1",
        created_at="2030-01-01T00:00:00+00:00",
        source_vault_id="v-1",
        chunk_size=4096,
        payload_bytes=len(payload),
        backup_key=wrapped,
        recipients=(
            fmt.seal_content_key(key, "backup", wrapped.public_key, "f-1"),
            fmt.seal_content_key(key, "recovery", recovery_public, "f-1"),
        ),
    )
    path = tmp_path / "b.dcrmbak"
    fd = open_new(path)
    try:
        with BackgroundFileSink(fd, depth=2) as sink:
            writer = fmt.BackupWriter(sink, header, key)
            list(writer.copy_from(io.BytesIO(payload), len(payload)))
            writer.finish()
    finally:
        os.close(fd)

    data = path.read_bytes()
    assert writer.size == len(data)
    assert writer.sha256.hexdigest() == hashlib.sha256(data).hexdigest()
    reader = fmt.BackupReader(io.BytesIO(data))
    assert b"".join(reader.payload(reader.open_with_passphrase(PASSPHRASE))) == payload


@pytest.fixture
def session(memory_vault: VaultHarness):
    opened = memory_vault.created.session
    backup.set_backup_passphrase(opened, PASSPHRASE)
    pid = patients.create_patient(opened, Patient(family="Sink"))
    # Several default-size (1 MiB) chunks, so the queue actually fills.
    documents.attach(opened, pid, "scan.pdf", b"%PDF-" + os.urandom(3_500_000))
    return opened


def test_a_multi_chunk_backup_round_trips_with_its_digest(session, tmp_path):
    made = backup.create_backup(session, tmp_path / "b.dcrmbak")

    data = (tmp_path / "b.dcrmbak").read_bytes()
    assert made.size == len(data) > 3_500_000
    assert made.sha256 == hashlib.sha256(data).hexdigest()
    checked = backup.verify_backup(tmp_path / "b.dcrmbak", passphrase=PASSPHRASE)
    assert checked.sha256 == made.sha256 and checked.counts == made.counts
    assert checked.chunks >= 4
    assert sink_threads() == []


def test_both_checks_still_run_and_name_a_damaged_page(session, tmp_path):
    backup.create_backup(session, tmp_path / "b.dcrmbak")

    def damage(database: Path) -> None:
        with open(database, "r+b") as handle:
            handle.seek(-100, os.SEEK_END)  # inside the last page
            byte = handle.read(1)
            handle.seek(-100, os.SEEK_END)
            handle.write(bytes([byte[0] ^ 0x55]))

    with pytest.raises(backup.BackupDamaged, match="cipher_integrity_check"):
        backup.verify_backup(
            tmp_path / "b.dcrmbak", passphrase=PASSPHRASE, on_extracted=damage
        )
