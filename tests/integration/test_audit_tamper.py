"""Tampering with the audit log of a real vault, then `desktop-crm audit verify`.

The attacker holds the database key (the DEK) and a copy of SQLCipher: they
open vault.db, drop the append-only triggers and edit, delete, reorder or cut
off entries.  The chain (and the head kept outside the database) must give
every such change away, naming the entry and the reason; an untouched log,
and one that runs past the kept head after a crash, must verify.

tests/unit/storage/test_storage_audit.py covers the same cases on a bare
database; these run the whole product: unlock, head check, command line.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

import pytest
from support.cli_harness import CLI, PIN

from desktop_crm.platform.secret_store import KeyringSecretStore
from desktop_crm.services import patients
from desktop_crm.services.patient_model import Patient
from desktop_crm.services.vault import VaultService
from desktop_crm.storage.database import Database, open_database
from desktop_crm.storage.writepath import ChainHead

pytestmark = [pytest.mark.e2e, pytest.mark.keyring]

ADMIN = "Ana Admin"


@dataclass
class Tampered:
    """A vault with some history, the attacker's key, and the CLI to check it."""

    cli: CLI
    service: VaultService
    secret: str
    dek: bytes
    entries: int

    def attacker(self) -> closing[Database]:
        db = self.open()
        db.execute("DROP TRIGGER IF EXISTS audit_log_no_update")
        db.execute("DROP TRIGGER IF EXISTS audit_log_no_delete")
        return closing(db)

    def open(self) -> Database:
        return open_database(self.service.files.database, self.dek)

    def verify(self):
        return self.cli.as_user(
            ADMIN, PIN, self.cli.code(self.secret), "audit", "verify"
        )


@pytest.fixture
def cli(secret_service, tmp_path: Path) -> CLI:
    """As in tests/e2e/conftest.py: the command with a private keyring."""
    env = dict(secret_service.env)
    env["DESKTOP_CRM_TEST_KDF"] = "1"
    env["PYTHONPATH"] = str(Path(__file__).resolve().parents[2])
    work = tmp_path / "work"
    work.mkdir()
    return CLI(env, tmp_path / "vault", work)


@pytest.fixture
def vault(cli: CLI) -> Iterator[Tampered]:
    service = VaultService(cli.data_dir, KeyringSecretStore())
    created = service.create("Tamper Telehealth", ADMIN, PIN, "America/Chicago")
    secret = created.enrolment.secret
    service.confirm_enrolment(created.session, cli.code(secret))
    session = created.session
    for family in ("Able", "Baker", "Chase"):
        patient_id = patients.create_patient(session, Patient(family=family))
        patients.open_patient(session, patient_id)
    dek = bytes(session.dek)
    session.lock()
    with closing(open_database(service.files.database, dek)) as db:
        entries = int(db.scalar("SELECT max(seq) FROM audit_log"))
    yield Tampered(cli, service, secret, dek, entries)


def _failure(result) -> tuple[int, str]:
    assert result.code == 1, (result.code, result.out, result.err)
    found = re.search(r"audit entry (\d+): (.+)$", result.err.strip())
    assert found, result.err
    return int(found.group(1)), found.group(2)


def test_untouched_log_verifies(vault: Tampered):
    result = vault.verify()

    assert result.code == 0, result.err
    # The command's own unlock entry is part of the chain it checks.
    assert result.out.strip() == f"audit: {vault.entries + 1} entries, chain intact"


def test_edited_entry_is_named(vault: Tampered):
    with vault.attacker() as db:
        db.execute("UPDATE audit_log SET action = 'patient.create' WHERE seq = 5")

    seq, reason = _failure(vault.verify())

    assert (seq, reason) == (5, "edited")


def test_edited_and_rehashed_entry_breaks_the_next_link(vault: Tampered):
    from desktop_crm.storage.writepath import entry_hash

    with vault.attacker() as db:
        row = db.query("SELECT * FROM audit_log WHERE seq = 5")[0]
        forged = [*row[:2], None, *row[3:9]]  # blame nobody
        db.execute(
            "UPDATE audit_log SET user_id = NULL, hash = ? WHERE seq = 5",
            (entry_hash(row[9], forged),),
        )

    seq, reason = _failure(vault.verify())

    assert seq == 6
    assert "reordered or an earlier entry was removed" in reason


def test_deleted_middle_entry_is_named(vault: Tampered):
    with vault.attacker() as db:
        db.execute("DELETE FROM audit_log WHERE seq = 4")

    seq, reason = _failure(vault.verify())

    assert (seq, reason) == (4, "missing entries before it")


def test_reordered_entries_are_named(vault: Tampered):
    with vault.attacker() as db:
        db.execute("UPDATE audit_log SET seq = -1 WHERE seq = 4")
        db.execute("UPDATE audit_log SET seq = 4 WHERE seq = 5")
        db.execute("UPDATE audit_log SET seq = 5 WHERE seq = -1")

    seq, reason = _failure(vault.verify())

    assert seq == 4
    assert reason == "reordered or an earlier entry was removed"


def test_cut_off_newest_entries_are_named(vault: Tampered):
    with vault.attacker() as db:
        db.execute("DELETE FROM audit_log WHERE seq > ?", (vault.entries - 3,))

    seq, reason = _failure(vault.verify())

    # The command's unlock appended entries after the cut (its own, and one
    # saying the head check failed); the kept head still names the newest
    # entry that existed before the cut, so the gap is reported.
    assert seq > vault.entries - 3
    assert reason == f"cut off: entries {seq}-{vault.entries} are gone"


def test_chain_past_the_kept_head_verifies(vault: Tampered):
    """A crash after a commit but before the head was written leaves the kept
    head behind the log: that is not tampering."""
    with closing(vault.open()) as db:
        seq, digest = db.query(
            "SELECT seq, hash FROM audit_log WHERE seq = ?", (vault.entries - 2,)
        )[0]
    vault.service.files.write_head(ChainHead(seq, digest))

    result = vault.verify()

    assert result.code == 0, result.err
    assert "chain intact" in result.out


def test_kept_head_naming_another_hash_is_caught(vault: Tampered):
    with closing(vault.open()) as db:
        other = db.scalar("SELECT hash FROM audit_log WHERE seq = 2")
    vault.service.files.write_head(ChainHead(vault.entries, str(other)))

    seq, reason = _failure(vault.verify())

    assert seq == vault.entries
    assert "differs from the head kept outside the vault" in reason
