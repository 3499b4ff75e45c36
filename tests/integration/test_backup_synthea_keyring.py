"""Backup round trip of the shared Synthea data onto a new machine's keyring."""

from __future__ import annotations

from pathlib import Path

import pytest
from support.vault_fixtures import ADMIN, make_vault

from desktop_crm.platform.secret_store import KeyringSecretStore
from desktop_crm.services import backup
from desktop_crm.services.clock import ManualClock
from desktop_crm.services.importing import import_fhir
from desktop_crm.storage.database import Database

SHARED = Path(__file__).resolve().parents[3] / "shared" / "data" / "synthea-fhir"
PASSPHRASE = "correct horse battery staple"
CHANGED_BY_RESTORE = {"users", "settings", "audit_log", "change_log"}

pytestmark = [pytest.mark.keyring, pytest.mark.slow]


def dump(db: Database) -> dict[str, list[tuple[object, ...]]]:
    names = [
        str(r[0])
        for r in db.query(
            "SELECT name FROM sqlite_master WHERE type = 'table' "
            "AND name NOT LIKE 'sqlite_%' ORDER BY name"
        )
    ]
    return {n: db.query(f'SELECT * FROM "{n}" ORDER BY 1') for n in names}


@pytest.mark.skipif(
    not SHARED.is_dir(), reason="shared Synthea data not beside the repo"
)
def test_synthea_vault_restores_identically_under_a_fresh_keyring(
    secret_service, secret_service_factory, tmp_path
):
    practice = make_vault(tmp_path / "vault", KeyringSecretStore())
    session = practice.created.session
    report = import_fhir(session, [SHARED])
    backup.set_backup_passphrase(session, PASSPHRASE)
    before = dump(session.database())
    made = backup.create_backup(session, tmp_path / "synthea.dcrmbak")
    session.lock()
    new_machine = secret_service_factory()

    with new_machine.activate():
        restored, enrolment = backup.restore_backup(
            made.path,
            tmp_path / "restored",
            passphrase=PASSPHRASE,
            admin_name=ADMIN,
            new_pin="246813",
            secrets_store=KeyringSecretStore(),
            clock=ManualClock(),
        )
        after = dump(restored.database())
        restored.lock()

    assert report.patients == 31 and not report.rejected
    assert before["patients"] and before["visits"]
    assert set(after) == set(before)
    for table in set(before) - CHANGED_BY_RESTORE:
        assert after[table] == before[table], table
    for table in ("audit_log", "change_log"):
        assert after[table][: len(before[table])] == before[table], table
    assert enrolment.uri.startswith("otpauth://")
