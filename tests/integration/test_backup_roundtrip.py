"""Backup → restore round trips on real SQLCipher files, and restore's rules."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest
from support.vault_fixtures import ADMIN, ADMIN_PIN, VaultHarness

from desktop_crm.crypto import totp
from desktop_crm.errors import AuthenticationFailed, InvalidInput, NotPermitted
from desktop_crm.errors import VaultError as VaultErr
from desktop_crm.platform.secret_store import MemorySecretStore
from desktop_crm.services import backup, patients, settings, users
from desktop_crm.services import settings_keys as keys
from desktop_crm.services.clock import ManualClock
from desktop_crm.services.patient_model import ContactPoint, Identifier, Patient
from desktop_crm.services.vault import VaultService
from desktop_crm.storage import audit, queries
from desktop_crm.storage.database import (
    Database,
    VaultBusy,
    WrongDatabaseKey,
    open_database,
)
from desktop_crm.storage.queries import UserRow
from desktop_crm.storage.writepath import AuditEvent, Mutation

PASSPHRASE = "correct horse battery staple"
NEW_PIN = "246813"
PEOPLE = [
    Patient(
        family="García-López",
        given="María José",
        birth_date="1984-02-29",
        phones=(ContactPoint("+1 555 010 0142"),),
        identifiers=(Identifier("urn:ssn", "999-00-1234"),),
    ),
    Patient(family="O'Grady", given="Siobhán", birth_date="1990-07-01"),
    Patient(family="Nguyen", given="Bao", birth_date="1975-12-12", notes="x" * 5000),
]
#: Settings a restore legitimately changes or adds.
RESTORE_SETTINGS = {
    keys.VAULT_ID,
    keys.HEADER_GENERATION,
    keys.UNATTENDED,
    backup.PENDING_USERS,
    "restore.source_vault_id",
    "restore.backup_file_id",
    backup.LAST_AT,
    backup.LAST_OK_AT,
    backup.LAST_RESULT,
}


def dump(db: Database) -> dict[str, list[tuple[object, ...]]]:
    names = [
        str(r[0])
        for r in db.query(
            "SELECT name FROM sqlite_master WHERE type = 'table' "
            "AND name NOT LIKE 'sqlite_%' ORDER BY name"
        )
    ]
    return {n: db.query(f'SELECT * FROM "{n}" ORDER BY 1') for n in names}


@pytest.fixture
def practice(memory_vault: VaultHarness) -> VaultHarness:
    """A vault with three users (one deactivated), settings and patients."""
    s = memory_vault.created.session
    users.add_user(memory_vault.service, s, "Bea Front", "front-desk", "246802")
    users.add_user(memory_vault.service, s, "Cy Gone", "provider", "975319")
    gone = [u for u in users.list_users(s) if u.name == "Cy Gone"][0]
    s.write(
        AuditEvent("user.deactivate", "user", gone.id),
        [Mutation("users", gone.id, "update", {"active": 0})],
    )
    settings.save(s, {keys.IDLE_MINUTES: "7"})
    for person in PEOPLE:
        patients.create_patient(s, person, allow_duplicates=True)
    backup.set_backup_passphrase(s, PASSPHRASE)
    return memory_vault


def restored_user(user: UserRow, admin_id: str | None) -> UserRow:
    """What a restore does to one user row: only the admin stays active."""
    if user.id == admin_id:
        return replace(
            user,
            needs_reset=False,
            must_change_pin=False,
            totp_enrolled=False,
            last_totp_step=0,
        )
    return replace(user, active=False)


def restore(
    source: Path, root: Path, store: MemorySecretStore, **key: str
) -> tuple[object, object]:
    return backup.restore_backup(
        source,
        root,
        admin_name=ADMIN,
        new_pin=NEW_PIN,
        secrets_store=store,
        clock=ManualClock(),
        **key,
    )


def test_round_trip_gives_identical_rows_but_a_new_identity(practice, tmp_path):
    session = practice.created.session
    before = dump(session.database())
    staff = {u.id: u for u in queries.all_users(session.database())}
    made = backup.create_backup(session, tmp_path / "b.dcrmbak", chunk_size=8192)
    old_dek = bytes(session.dek)

    restored, enrolment = restore(
        made.path, tmp_path / "new", MemorySecretStore(), passphrase=PASSPHRASE
    )
    after = dump(restored.database())
    staff_after = {u.id: u for u in queries.all_users(restored.database())}

    assert made.size == (tmp_path / "b.dcrmbak").stat().st_size
    assert restored.vault_id != session.vault_id
    assert set(after) == set(before)
    for table in set(before) - {"users", "settings", "audit_log", "change_log"}:
        assert after[table] == before[table], table
    for table in ("audit_log", "change_log"):
        assert after[table][: len(before[table])] == before[table]
    actions = [row[4] for row in after["audit_log"][len(before["audit_log"]) :]]
    assert "vault.restored" in actions
    kept = {k: v for k, v in before["settings"] if k not in RESTORE_SETTINGS}
    now = {k: v for k, v in after["settings"] if k not in RESTORE_SETTINGS}
    assert now == kept
    assert dict(after["settings"])[keys.VAULT_ID] == restored.vault_id
    assert staff_after == {
        uid: restored_user(u, restored.user_id) for uid, u in staff.items()
    }
    assert enrolment.uri.startswith("otpauth://totp/")
    restored.lock()
    with pytest.raises(WrongDatabaseKey):
        open_database(tmp_path / "new" / "vault.db", old_dek).close()


def test_restored_users_admin_unlocks_others_wait_for_confirmation(practice, tmp_path):
    session = practice.created.session
    made = backup.create_backup(session, tmp_path / "b.dcrmbak")
    before = {u.name: u for u in users.list_users(session)}
    store, clock = MemorySecretStore(), ManualClock()
    restored, enrolment = restore(
        made.path, tmp_path / "new", store, passphrase=PASSPHRASE
    )
    restored.lock()
    service = VaultService(tmp_path / "new", store, clock)
    clock.advance(60)

    admin = service.unlock(ADMIN, NEW_PIN, totp.code_at(enrolment.secret, clock.now()))
    rows = {u.name: u for u in users.list_users(admin)}
    with pytest.raises(AuthenticationFailed):
        service.unlock("Bea Front", "246802", "000000")
    with pytest.raises(InvalidInput, match="not waiting"):
        backup.confirm_user(admin, "Cy Gone")
    backup.confirm_user(admin, "Bea Front")
    bea = [u for u in users.list_users(admin) if u.name == "Bea Front"][0]
    entries = audit.verify(admin.database(), service.files.read_head())
    admin.lock()

    assert before["Bea Front"].active and not rows["Bea Front"].active
    assert not rows["Cy Gone"].active
    assert rows[ADMIN].active and not rows[ADMIN].needs_reset
    assert bea.active and bea.needs_reset
    assert entries > 0


def test_restore_with_the_recovery_key_keeps_that_recovery_key(practice, tmp_path):
    session = practice.created.session
    made = backup.create_backup(session, tmp_path / "b.dcrmbak")
    recovery_text = practice.created.recovery_key
    store = MemorySecretStore()

    restored, _ = restore(
        made.path, tmp_path / "new", store, recovery_key_text=recovery_text
    )
    restored.lock()
    again, _ = VaultService(tmp_path / "new", store, ManualClock()).recover(
        ADMIN, recovery_text, "802468"
    )

    assert again.vault_id == restored.vault_id
    again.lock()


def test_restore_refuses_a_folder_that_holds_a_vault(practice, tmp_path):
    session = practice.created.session
    made = backup.create_backup(session, tmp_path / "b.dcrmbak")
    header = practice.service.files.header.read_bytes()

    with pytest.raises(VaultErr, match="already exists"):
        restore(made.path, practice.root, MemorySecretStore(), passphrase=PASSPHRASE)
    with pytest.raises(NotPermitted):
        backup.restore_backup(
            made.path,
            practice.root,
            passphrase=PASSPHRASE,
            admin_name=ADMIN,
            new_pin=NEW_PIN,
            secrets_store=practice.store,
            replace=True,
        )

    assert practice.service.files.header.read_bytes() == header
    assert not list(practice.root.glob(".restore-*"))


def test_replace_keeps_the_old_vault_as_a_dated_copy(practice, tmp_path):
    session = practice.created.session
    made = backup.create_backup(session, tmp_path / "b.dcrmbak")
    old_header = practice.service.files.header.read_bytes()

    restored, _ = backup.restore_backup(
        made.path,
        practice.root,
        passphrase=PASSPHRASE,
        admin_name=ADMIN,
        new_pin=NEW_PIN,
        secrets_store=practice.store,
        replace=True,
        replacing=session,
        clock=practice.clock,
    )
    copies = list(practice.root.parent.glob(f"{practice.root.name}-replaced-*"))
    restored.lock()

    assert session.locked
    assert len(copies) == 1
    assert (copies[0] / "vault.header").read_bytes() == old_header
    assert (copies[0] / "vault.db").exists()
    assert restored.vault_id != session.vault_id
    reopened = VaultService(practice.root, practice.store, practice.clock)
    assert reopened.files.load_header().vault_id == restored.vault_id


def test_writers_are_held_while_the_snapshot_is_copied(practice, tmp_path):
    session = practice.created.session
    other = open_database(practice.service.files.database, session.dek)
    other.execute("PRAGMA busy_timeout = 0")
    refused: list[str] = []

    def try_write(done: int, total: int) -> None:
        if refused:
            return
        try:
            other.execute("INSERT INTO settings (key, value) VALUES ('probe', '1')")
        except VaultBusy as exc:
            refused.append(exc.message)

    made = backup.create_backup(
        session, tmp_path / "b.dcrmbak", progress=try_write, chunk_size=4096
    )
    other.execute("INSERT INTO settings (key, value) VALUES ('probe', '2')")
    other.close()
    checked = backup.verify_backup(made.path, passphrase=PASSPHRASE)

    assert refused and "the vault is busy" in refused[0]
    assert checked.counts == made.counts


def test_backup_records_its_outcome_and_audits(practice, tmp_path):
    session = practice.created.session

    made = backup.create_backup(session, tmp_path / "b.dcrmbak")

    assert session.setting(backup.LAST_RESULT, "") == "ok"
    assert session.setting(backup.LAST_FILE, "") == str(made.path)
    last = audit.entries(session.database(), 1)[0]
    assert (last.action, last.outcome) == ("backup.create", "ok")


def test_passphrase_rules_and_permissions(practice, tmp_path):
    session = practice.created.session
    store = practice.store
    bea = users.add_user(practice.service, session, "Di Desk", "front-desk", "802461")

    with pytest.raises(InvalidInput, match="12 characters"):
        backup.set_backup_passphrase(session, "too short")
    practice.clock.advance(60)
    desk = VaultService(practice.root, store, practice.clock).unlock(
        "Di Desk", "802461", totp.code_at(bea.secret, practice.clock.now())
    )
    with pytest.raises(NotPermitted):
        backup.create_backup(desk, tmp_path / "b.dcrmbak")
    with pytest.raises(NotPermitted):
        backup.set_backup_passphrase(desk, PASSPHRASE)
    desk.lock()
    assert not (tmp_path / "b.dcrmbak").exists()


def test_new_passphrase_leaves_old_backups_on_the_old_one(practice, tmp_path):
    session = practice.created.session
    old = backup.create_backup(session, tmp_path / "old.dcrmbak")

    backup.set_backup_passphrase(session, "a brand new passphrase")
    new = backup.create_backup(session, tmp_path / "new.dcrmbak")

    assert backup.verify_backup(old.path, passphrase=PASSPHRASE).chunks >= 1
    assert backup.verify_backup(new.path, passphrase="a brand new passphrase")
    stored = json.loads(session.setting(backup.WRAPPED_PRIVATE, "{}"))
    assert "wrapped" in stored and PASSPHRASE not in json.dumps(stored)


def test_unlock_with_admin_pin_after_restore_on_the_same_keyring(practice, tmp_path):
    session = practice.created.session
    made = backup.create_backup(session, tmp_path / "b.dcrmbak")

    restored, enrolment = restore(
        made.path, tmp_path / "new", practice.store, passphrase=PASSPHRASE
    )
    restored.lock()
    clock = ManualClock(practice.clock.now() + 600)
    reopened = VaultService(tmp_path / "new", practice.store, clock).unlock(
        ADMIN, NEW_PIN, totp.code_at(enrolment.secret, clock.now())
    )

    assert reopened.user_name == ADMIN
    assert ADMIN_PIN != NEW_PIN
    reopened.lock()


def test_restored_vault_reports_the_restored_backup_as_its_last(practice, tmp_path):
    from desktop_crm.services import backup_schedule

    session = practice.created.session
    made = backup.create_backup(session, tmp_path / "b.dcrmbak", chunk_size=8192)
    with pytest.raises(backup.DestinationError, match="already exists"):
        backup.create_backup(session, tmp_path / "b.dcrmbak")

    restored, _ = restore(
        made.path, tmp_path / "new", MemorySecretStore(), passphrase=PASSPHRASE
    )
    health = backup_schedule.backup_health(restored, ManualClock().now())
    restored.lock()

    assert queries.setting(session.database(), backup.LAST_RESULT) == "ok"
    assert health.message.startswith("Last backup:")
