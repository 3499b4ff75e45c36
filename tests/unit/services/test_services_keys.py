"""Key rotation, header rollback and swap, recovery, unattended and deactivation."""

from __future__ import annotations

import pytest
from support.vault_fixtures import ADMIN, ADMIN_PIN, make_vault

from desktop_crm.errors import AuthenticationFailed, NotPermitted, VaultError
from desktop_crm.platform.secret_store import MemorySecretStore
from desktop_crm.services import keys, users
from desktop_crm.services.keys import UnattendedDisabled
from desktop_crm.services.roles import SERVICE_ROLE
from desktop_crm.services.vault import AccessNeedsReset
from desktop_crm.storage import audit
from desktop_crm.storage.database import WrongDatabaseKey, open_database
from desktop_crm.storage.writepath import AuditEvent, Mutation

NEW_PIN = "246813"


def unlock(harness, staff, service=None):
    service = service or harness.service
    return service.unlock(staff.name, staff.pin, harness.code(staff.secret))


def test_rekey_keeps_every_user_and_drops_the_old_key(memory_vault, add_staff):
    bo = add_staff("Bo Front", "front-desk", "975319")
    cy = add_staff("Cy Biller", "biller", "864208")
    session = memory_vault.created.session
    old_dek = bytes(session.dek)

    keys.rotate_dek(memory_vault.service, session)

    session.lock()
    header = memory_vault.service.files.load_header()
    assert header.dek_generation == 2
    assert all(s.pending_sealed_dek is None for s in header.slots.values())
    for staff in (bo, cy):
        unlock(memory_vault, staff).lock()
    admin = memory_vault.unlock_admin()
    assert audit.verify(admin.database(), memory_vault.service.files.read_head()) > 0
    admin.lock()
    with pytest.raises(WrongDatabaseKey):
        open_database(memory_vault.service.files.database, old_dek)


def test_interrupted_rekey_is_completed_at_next_unlock(
    memory_vault, add_staff, monkeypatch
):
    bo = add_staff("Bo Front", "front-desk", "975319")
    session = memory_vault.created.session
    old_dek = bytes(session.dek)

    def crash(*_args):
        raise RuntimeError("power cut before the final header save")

    monkeypatch.setattr(keys, "finish_rotation", crash)
    with pytest.raises(RuntimeError, match="power cut"):
        keys.rotate_dek(memory_vault.service, session)
    session.lock()
    pending = memory_vault.service.files.load_header()
    assert all(s.pending_sealed_dek for s in pending.slots.values())

    admin = memory_vault.unlock_admin()

    admin.lock()
    header = memory_vault.service.files.load_header()
    assert header.dek_generation == 2
    assert all(s.pending_sealed_dek is None for s in header.slots.values())
    assert header.recovery.pending_sealed_dek is None
    unlock(memory_vault, bo).lock()
    memory_vault.unlock_admin().lock()
    with pytest.raises(WrongDatabaseKey):
        open_database(memory_vault.service.files.database, old_dek)


def test_pending_rotation_before_rekey_is_dropped(memory_vault, monkeypatch):
    session = memory_vault.created.session

    def crash(_key):
        raise RuntimeError("crash before PRAGMA rekey")

    monkeypatch.setattr(session.database(), "rekey", crash)
    with pytest.raises(RuntimeError):
        keys.rotate_dek(memory_vault.service, session)
    session.lock()

    memory_vault.unlock_admin().lock()

    header = memory_vault.service.files.load_header()
    assert header.dek_generation == 1
    assert all(s.pending_sealed_dek is None for s in header.slots.values())


def test_old_header_put_back_is_refused(memory_vault):
    files = memory_vault.service.files
    old_header = files.header.read_bytes()
    session = memory_vault.created.session
    users.change_own_pin(memory_vault.service, session, NEW_PIN)
    session.lock()
    files.header.write_bytes(old_header)

    with pytest.raises(VaultError, match="older"):
        memory_vault.service.unlock(ADMIN, ADMIN_PIN, memory_vault.code())


def test_header_from_another_vault_is_refused(memory_vault, tmp_path):
    memory_vault.created.session.lock()
    other = make_vault(tmp_path / "other", memory_vault.store, memory_vault.clock)
    other.created.session.lock()
    memory_vault.service.files.header.write_bytes(
        other.service.files.header.read_bytes()
    )

    with pytest.raises(VaultError):
        memory_vault.service.unlock(ADMIN, ADMIN_PIN, other.code())


def test_recovery_on_a_new_keyring(memory_vault, add_staff):
    bo = add_staff("Bo Front", "front-desk", "975319")
    memory_vault.created.session.lock()
    new_machine = memory_vault.fresh_service(MemorySecretStore())

    session, enrolment = new_machine.recover(
        ADMIN, memory_vault.created.recovery_key, NEW_PIN
    )

    assert session.user_name == ADMIN
    session.lock()
    again = new_machine.unlock(ADMIN, NEW_PIN, memory_vault.code(enrolment.secret))
    assert again.method == "full"
    again.lock()
    with pytest.raises(AccessNeedsReset):
        unlock(memory_vault, bo)
    with pytest.raises(AuthenticationFailed):
        unlock(memory_vault, bo, new_machine)


def test_reset_user_clears_needs_reset(memory_vault, add_staff):
    bo = add_staff("Bo Front", "front-desk", "975319")
    memory_vault.created.session.lock()
    session, _ = memory_vault.service.recover(
        ADMIN, memory_vault.created.recovery_key, NEW_PIN
    )
    enrolment = users.reset_user(memory_vault.service, session, bo.name, "135792")
    session.lock()

    reset = memory_vault.service.unlock(
        bo.name, "135792", memory_vault.code(enrolment.secret)
    )

    assert reset.must_change_pin
    reset.lock()


def test_wrong_recovery_key_refused(memory_vault):
    memory_vault.created.session.lock()
    other = make_vault(
        memory_vault.root.parent / "other", MemorySecretStore(), memory_vault.clock
    )
    other.created.session.lock()

    with pytest.raises(AuthenticationFailed):
        memory_vault.service.recover(ADMIN, other.created.recovery_key, NEW_PIN)


def test_new_recovery_key_retires_the_old_one(memory_vault):
    session = memory_vault.created.session
    old_key = memory_vault.created.recovery_key

    new_key = keys.new_recovery_key(memory_vault.service, session)

    session.lock()
    assert new_key != old_key
    with pytest.raises(AuthenticationFailed):
        memory_vault.service.recover(ADMIN, old_key, NEW_PIN)
    recovered, _ = memory_vault.service.recover(ADMIN, new_key, NEW_PIN)
    recovered.lock()


def test_unattended_enable_open_and_disable(memory_vault):
    session = memory_vault.created.session
    keys.enable_unattended(memory_vault.service, session)
    session.lock()

    service_session = keys.open_unattended(memory_vault.fresh_service())

    assert service_session.roles == (SERVICE_ROLE,)
    assert service_session.user_id is None
    with pytest.raises(NotPermitted):
        service_session.require("users.manage")
    service_session.lock()
    admin = memory_vault.unlock_admin()
    keys.disable_unattended(memory_vault.service, admin)
    admin.lock()
    with pytest.raises(UnattendedDisabled):
        keys.open_unattended(memory_vault.fresh_service())


def test_unattended_slot_survives_rekey(memory_vault):
    session = memory_vault.created.session
    keys.enable_unattended(memory_vault.service, session)

    keys.rotate_dek(memory_vault.service, session)

    session.lock()
    reopened = keys.open_unattended(memory_vault.fresh_service())
    assert reopened.method == "unattended"
    reopened.lock()


def test_unattended_refused_without_its_keyring_entry(memory_vault):
    session = memory_vault.created.session
    keys.enable_unattended(memory_vault.service, session)
    session.lock()

    elsewhere = memory_vault.fresh_service(MemorySecretStore())

    with pytest.raises(Exception, match="keyring"):
        keys.open_unattended(elsewhere)


def test_unattended_never_enabled(vault):
    with pytest.raises(UnattendedDisabled):
        keys.open_unattended(vault.service)


def test_deactivated_user_is_refused(memory_vault, add_staff):
    bo = add_staff("Bo Front", "front-desk", "975319")
    session = memory_vault.created.session
    session.write(
        AuditEvent("user.deactivate", "user", bo.user_id),
        [Mutation("users", bo.user_id, "update", {"active": 0})],
    )
    session.lock()

    with pytest.raises(AuthenticationFailed) as caught:
        unlock(memory_vault, bo)

    assert type(caught.value) is AuthenticationFailed
    assert caught.value.message == AuthenticationFailed.GENERIC


def test_non_admin_cannot_rotate_or_add_users(memory_vault, add_staff):
    bo = add_staff("Bo Front", "front-desk", "975319")
    memory_vault.created.session.lock()
    session = unlock(memory_vault, bo)

    with pytest.raises(NotPermitted):
        keys.rotate_dek(memory_vault.service, session)
    with pytest.raises(NotPermitted):
        users.add_user(memory_vault.service, session, "Eve", "admin", "975319")

    session.lock()
