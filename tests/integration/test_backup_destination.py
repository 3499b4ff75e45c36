"""Where a backup cannot be written: a clear error naming the destination."""

from __future__ import annotations

import pytest
from support.small_disk import tmpfs
from support.vault_fixtures import VaultHarness

from desktop_crm.services import backup, documents, patients
from desktop_crm.services.patient_model import Patient

PASSPHRASE = "correct horse battery staple"


@pytest.fixture
def session(memory_vault: VaultHarness):
    opened = memory_vault.created.session
    backup.set_backup_passphrase(opened, PASSPHRASE)
    return opened


def test_missing_folder(session, tmp_path):
    target = tmp_path / "no-such-drive" / "b.dcrmbak"

    with pytest.raises(backup.DestinationError, match="no-such-drive does not exist"):
        backup.create_backup(session, target)

    assert session.setting(backup.LAST_RESULT, "").startswith("failed: ")


def test_a_file_where_the_folder_should_be(session, tmp_path):
    (tmp_path / "drive").write_text("not a folder")

    with pytest.raises(backup.DestinationError, match="drive is not a folder"):
        backup.create_backup(session, tmp_path / "drive" / "b.dcrmbak")


def test_an_existing_file_is_not_overwritten(session, tmp_path):
    (tmp_path / "b.dcrmbak").write_text("keep me")

    with pytest.raises(backup.DestinationError, match="already exists"):
        backup.create_backup(session, tmp_path / "b.dcrmbak")

    assert (tmp_path / "b.dcrmbak").read_text() == "keep me"


def test_a_folder_given_as_the_file_is_named_as_a_folder(session, tmp_path):
    (tmp_path / "drive").mkdir()

    with pytest.raises(backup.DestinationError, match="drive is a folder: give"):
        backup.create_backup(session, tmp_path / "drive")

    assert list((tmp_path / "drive").iterdir()) == []


def test_read_only_destination(session, tmp_path):
    # Tests run as root, for whom chmod 0500 does not stop writes: a
    # read-only mount does.
    with tmpfs(tmp_path / "ro", "ro,size=1m") as drive:
        with pytest.raises(backup.DestinationError, match=f"{drive}: Read-only"):
            backup.create_backup(session, drive / "b.dcrmbak")


def test_full_destination_leaves_no_partial_file(session, tmp_path):
    for number in range(3):
        pid = patients.create_patient(
            session, Patient(family=f"Full{number}"), allow_duplicates=True
        )
        documents.attach(session, pid, "scan.pdf", b"%PDF-" + bytes(200_000))
    with tmpfs(tmp_path / "small", "size=256k") as drive:
        with pytest.raises(backup.DestinationError, match="No space left"):
            backup.create_backup(session, drive / "b.dcrmbak")

        assert list(drive.iterdir()) == []
