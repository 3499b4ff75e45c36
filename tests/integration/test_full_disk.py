"""A vault on a disk that fills up (a real tmpfs): every write says the disk
is full, nothing is half-written, and with space again it opens, verifies and
a rerun of the import completes."""

from __future__ import annotations

import errno
import json
import os
from pathlib import Path

import pytest
from support.small_disk import remount, tmpfs
from support.vault_fixtures import make_vault

from desktop_crm.cli import commands
from desktop_crm.cli.main import main
from desktop_crm.errors import CRMError
from desktop_crm.platform.secret_store import MemorySecretStore
from desktop_crm.services import backup, documents, patients
from desktop_crm.services.importing import import_fhir
from desktop_crm.services.patient_model import Patient
from desktop_crm.storage import audit, queries

FULL = "disk holding the vault is full"
PASSPHRASE = "correct horse battery staple"


def many_patients(folder: Path, count: int) -> Path:
    path = folder / "many.ndjson"
    with path.open("w", encoding="utf-8") as out:
        for number in range(count):
            resource = {
                "resourceType": "Patient",
                "id": f"p{number}",
                "identifier": [{"system": "urn:example:chart", "value": f"c{number}"}],
                "name": [
                    {"family": f"Family{number % 97}", "given": [f"Given{number}"]}
                ],
                "birthDate": f"19{50 + number % 50}-0{1 + number % 9}-1{number % 9}",
            }
            out.write(json.dumps(resource) + "\n")
    return path


def chain_intact(harness, session) -> bool:
    db = session.database()
    kept = harness.service.files.read_head()
    return audit.verify(db, kept) == queries.audit_head(db)[0]


def restore_into(backup_file: Path, target: Path) -> None:
    backup.restore_backup(
        backup_file,
        target,
        passphrase=PASSPHRASE,
        admin_name="Ana Admin",
        new_pin="246813",
        secrets_store=MemorySecretStore(),
    )


def fill(drive: Path) -> None:
    """Take every free byte of ``drive``."""
    with open(drive / "filler", "wb", buffering=0) as filler:
        try:
            while filler.write(b"\0" * 4096):
                pass
        except OSError as exc:
            assert exc.errno == errno.ENOSPC


def test_an_import_that_fills_the_disk_says_so_and_a_rerun_completes(tmp_path):
    source = many_patients(tmp_path, 3000)
    with tmpfs(tmp_path / "small", "size=3m") as drive:
        harness = make_vault(drive / "vault", MemorySecretStore())
        session = harness.created.session

        with pytest.raises(CRMError, match=FULL):
            import_fhir(session, [source])
        session.lock()

        remount(drive, "size=64m")
        reopened = harness.unlock_admin()
        stored = patients.count(reopened)
        assert 0 < stored < 3000
        report = import_fhir(reopened, [source])
        assert (report.patients, report.unchanged) == (3000 - stored, stored)
        assert patients.count(reopened) == 3000
        assert chain_intact(harness, reopened)
        reopened.lock()


def test_every_write_on_a_full_disk_says_the_disk_is_full(tmp_path):
    with tmpfs(tmp_path / "small", "size=4m") as drive:
        harness = make_vault(drive / "vault", MemorySecretStore())
        session = harness.created.session
        patients.create_patient(session, Patient(family="Before"))
        fill(drive)

        for number in range(20):  # the WAL's spare room runs out on the way
            with pytest.raises(CRMError, match=FULL):
                for _ in range(50):
                    patients.create_patient(
                        session, Patient(family=f"Full{number}"), allow_duplicates=True
                    )
        with pytest.raises(CRMError, match=FULL):
            harness.unlock_admin()  # an unlock is audited: it needs room too

        (drive / "filler").unlink()
        reopened = harness.unlock_admin()
        assert patients.search(reopened, "Before")
        assert chain_intact(harness, reopened)
        reopened.lock()


def test_a_restore_onto_a_full_disk_names_the_destination(memory_vault, tmp_path):
    session = memory_vault.created.session
    backup.set_backup_passphrase(session, PASSPHRASE)
    for number in range(30):
        patients.create_patient(session, Patient(family=f"Kept{number}"))
    made = backup.create_backup(session, tmp_path / "b.dcrmbak")
    with tmpfs(tmp_path / "tiny", "size=64k") as drive:
        with pytest.raises(backup.DestinationError, match="No space left") as caught:
            restore_into(made.path, drive / "restored")

        assert f"cannot restore into {drive / 'restored'}" in caught.value.message
        assert list(drive.iterdir()) == []  # not even the empty vault folder


def test_the_command_line_names_a_full_disk_instead_of_an_internal_error(
    monkeypatch, capsys
):
    def full() -> str:
        raise OSError(errno.ENOSPC, "No space left on device", "/some/file")

    monkeypatch.setattr(commands, "version_text", full)

    assert main(["--version"]) == 1
    err = capsys.readouterr().err
    assert "is full (No space left on device)" in err
    assert "internal error" not in err and "/some/file" not in err


def test_a_restore_with_room_to_unpack_but_not_to_rekey_names_the_destination(
    memory_vault, tmp_path
):
    session = memory_vault.created.session
    backup.set_backup_passphrase(session, PASSPHRASE)
    pid = patients.create_patient(session, Patient(family="Kept"))
    documents.attach(session, pid, "scan.pdf", b"%PDF-" + os.urandom(3_000_000))
    made = backup.create_backup(session, tmp_path / "b.dcrmbak")
    # Room for the unpacked database, not for re-keying it under a new key.
    room = int(made.size * 1.3) // 1024
    with tmpfs(tmp_path / "small", f"size={room}k") as drive:
        with pytest.raises(backup.DestinationError, match="No space left") as caught:
            restore_into(made.path, drive / "restored")

        assert "twice the database's size" in caught.value.message
        assert list(drive.iterdir()) == []
