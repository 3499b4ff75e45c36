"""User administration (#6): roles, deactivation, authenticator reset, lockout."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest
from services_support import WRONG_PIN
from support.vault_fixtures import ADMIN

from desktop_crm.crypto import header as header_format
from desktop_crm.crypto import totp
from desktop_crm.errors import (
    AuthenticationFailed,
    InvalidInput,
    LockedOut,
    NotPermitted,
)
from desktop_crm.services import keys, providers, users
from desktop_crm.services.vault import TOTPEnrolmentRequired
from desktop_crm.storage import audit, queries


def unlock(harness, staff):
    return harness.service.unlock(staff.name, staff.pin, harness.code(staff.secret))


def last_entry(session, action):
    found = [e for e in audit.entries(session.database(), 1000) if e.action == action]
    assert found, action
    return found[0]


def user(session, name):
    return queries.user_by_name(session.database(), name)


# -- roles ---------------------------------------------------------------------


def test_change_roles_is_audited_with_the_field_name_only(memory_vault, add_staff):
    bo = add_staff("Bo Front", "front-desk", "975319")
    session = memory_vault.created.session

    held = users.change_roles(memory_vault.service, session, bo.name, "biller,auditor")

    assert held == ("biller", "auditor")
    assert user(session, bo.name).roles == ("biller", "auditor")
    entry = last_entry(session, "user.role_change")
    assert entry.record_id == bo.user_id
    assert json.loads(entry.fields) == ["roles"]
    assert "biller" not in entry.outcome


def test_new_roles_apply_at_the_next_unlock(memory_vault, add_staff):
    bo = add_staff("Bo Front", "front-desk", "975319")
    users.change_roles(
        memory_vault.service, memory_vault.created.session, bo.name, "auditor"
    )
    session = unlock(memory_vault, bo)
    assert session.roles == ("auditor",)
    session.lock()


def test_provider_role_puts_the_user_on_the_providers_list(memory_vault, add_staff):
    bo = add_staff("Bo Front", "front-desk", "975319")
    session = memory_vault.created.session

    users.change_roles(
        memory_vault.service, session, bo.name, ["front-desk", "provider"]
    )

    linked = [p for p in providers.list_providers(session) if p.user_id == bo.user_id]
    assert len(linked) == 1


@pytest.mark.parametrize(
    ("roles", "field"),
    [("nurse", "role"), ("", "role"), (" , ", "role")],
)
def test_bad_roles_are_refused_and_nothing_changes(
    memory_vault, add_staff, roles, field
):
    bo = add_staff("Bo Front", "front-desk", "975319")
    session = memory_vault.created.session

    with pytest.raises(InvalidInput) as caught:
        users.change_roles(memory_vault.service, session, bo.name, roles)

    assert caught.value.message.startswith(f"{field}:")
    assert user(session, bo.name).roles == ("front-desk",)


def test_last_active_admin_keeps_the_admin_role(memory_vault):
    session = memory_vault.created.session

    with pytest.raises(InvalidInput, match="^role: the last active admin"):
        users.change_roles(memory_vault.service, session, ADMIN, "provider")

    assert user(session, ADMIN).roles == ("admin", "provider")


def test_admin_role_may_move_when_another_admin_exists(memory_vault, add_staff):
    add_staff("Di Admin", "admin", "975319")
    session = memory_vault.created.session
    users.change_roles(memory_vault.service, session, ADMIN, "provider")
    assert user(session, ADMIN).roles == ("provider",)


def test_unknown_user_is_refused(memory_vault):
    with pytest.raises(InvalidInput, match="^user: no user by that name"):
        users.change_roles(
            memory_vault.service, memory_vault.created.session, "Nobody", "biller"
        )


def test_non_admin_cannot_administer_users(memory_vault, add_staff):
    bo = add_staff("Bo Front", "front-desk", "975319")
    add_staff("Cy Biller", "biller", "864208")
    memory_vault.created.session.lock()
    session = unlock(memory_vault, bo)
    service = memory_vault.service
    for action in (
        lambda: users.change_roles(service, session, "Cy Biller", "admin"),
        lambda: users.deactivate_user(service, session, "Cy Biller"),
        lambda: users.reset_totp(service, session, "Cy Biller"),
        lambda: users.unlock_user(service, session, "Cy Biller"),
    ):
        with pytest.raises(NotPermitted, match="users.manage"):
            action()
    session.lock()


# -- deactivation --------------------------------------------------------------


def test_deactivate_removes_the_slot_and_advises_rekey(memory_vault, add_staff):
    bo = add_staff("Bo Front", "front-desk", "975319")
    session = memory_vault.created.session

    advised = users.deactivate_user(memory_vault.service, session, bo.name)

    assert advised is True
    assert bo.user_id not in memory_vault.service.files.load_header().slots
    assert bo.user_id not in session.header.slots
    assert not user(session, bo.name).active
    entry = last_entry(session, "user.deactivate")
    assert entry.record_id == bo.user_id and json.loads(entry.fields) == ["active"]
    assert bo.name not in memory_vault.service.user_names()


def test_deactivated_user_cannot_unlock_with_correct_pin_and_code(
    memory_vault, add_staff
):
    bo = add_staff("Bo Front", "front-desk", "975319")
    old_slot = memory_vault.created.session.header.slots[bo.user_id]
    session = memory_vault.created.session
    users.deactivate_user(memory_vault.service, session, bo.name)
    dek = bytes(session.dek)
    session.lock()

    # Their slot is gone from the header.
    with pytest.raises(AuthenticationFailed) as caught:
        unlock(memory_vault, bo)
    assert caught.value.message == AuthenticationFailed.GENERIC

    # Even a header that still holds the slot (an old copy, re-signed so it
    # passes the header checks) stops at the users row.
    files = memory_vault.service.files
    current = files.load_header()
    files.save_header(
        header_format.sign(replace(current.with_slot(old_slot), mac=b""), dek)
    )
    with pytest.raises(AuthenticationFailed) as caught:
        unlock(memory_vault, bo)
    assert caught.value.message == AuthenticationFailed.GENERIC
    assert memory_vault.service.attempts.state(bo.user_id).failures == 1


def test_cannot_deactivate_yourself_or_twice(memory_vault, add_staff):
    bo = add_staff("Bo Front", "front-desk", "975319")
    session = memory_vault.created.session
    service = memory_vault.service

    with pytest.raises(InvalidInput, match="^user: you cannot deactivate yourself"):
        users.deactivate_user(service, session, ADMIN)
    users.deactivate_user(service, session, bo.name)
    with pytest.raises(InvalidInput, match="^user: is already deactivated"):
        users.deactivate_user(service, session, bo.name)
    assert user(session, ADMIN).active


def test_last_active_admin_cannot_be_deactivated(memory_vault, add_staff):
    di = add_staff("Di Admin", "admin", "975319")
    memory_vault.created.session.lock()
    session = unlock(memory_vault, di)
    users.deactivate_user(memory_vault.service, session, ADMIN)

    ed = users.add_user(memory_vault.service, session, "Ed Admin", "admin", "864208")
    assert ed.secret
    users.deactivate_user(memory_vault.service, session, "Ed Admin")
    # Di is now the only active admin; another admin session cannot remove her.
    session.lock()
    session = unlock(memory_vault, di)
    with pytest.raises(InvalidInput, match="yourself"):
        users.deactivate_user(memory_vault.service, session, di.name)
    session.lock()


def test_last_admin_refusal_names_the_user_field(memory_vault, add_staff):
    di = add_staff("Di Admin", "admin", "975319")
    session = memory_vault.created.session
    users.change_roles(memory_vault.service, session, ADMIN, "provider")
    # ADMIN (no longer an admin) still holds users.manage in this session.
    with pytest.raises(InvalidInput, match="^user: the last active admin"):
        users.deactivate_user(memory_vault.service, session, di.name)
    assert user(session, di.name).active


def test_rekey_after_deactivation_keeps_the_others(memory_vault, add_staff):
    bo = add_staff("Bo Front", "front-desk", "975319")
    cy = add_staff("Cy Biller", "biller", "864208")
    session = memory_vault.created.session
    users.deactivate_user(memory_vault.service, session, bo.name)
    keys.rotate_dek(memory_vault.service, session)
    session.lock()
    unlock(memory_vault, cy).lock()
    with pytest.raises(AuthenticationFailed):
        unlock(memory_vault, bo)


def test_reset_of_a_deactivated_user_is_refused(memory_vault, add_staff):
    bo = add_staff("Bo Front", "front-desk", "975319")
    session = memory_vault.created.session
    users.deactivate_user(memory_vault.service, session, bo.name)
    with pytest.raises(InvalidInput, match="^user: is deactivated"):
        users.reset_user(memory_vault.service, session, bo.name, "864208")
    assert bo.user_id not in memory_vault.service.files.load_header().slots


# -- authenticator reset -------------------------------------------------------


def test_reset_totp_forces_a_new_authenticator_entry(memory_vault, add_staff):
    bo = add_staff("Bo Front", "front-desk", "975319")
    admin = memory_vault.created.session
    unlock(memory_vault, bo).lock()

    users.reset_totp(memory_vault.service, admin, bo.name)

    assert not user(admin, bo.name).totp_enrolled
    assert last_entry(admin, "user.reset_totp").record_id == bo.user_id
    # The old authenticator no longer opens the vault: the PIN leads to the
    # new entry, and no session is handed out with it.
    with pytest.raises(TOTPEnrolmentRequired) as caught:
        unlock(memory_vault, bo)
    new_secret = caught.value.enrolment.secret
    assert new_secret != bo.secret
    assert caught.value.enrolment.uri.startswith("otpauth://totp/")
    with pytest.raises(AuthenticationFailed):
        unlock(memory_vault, bo)
    # A PIN-only try (the entry was not kept) issues a newer one.
    with pytest.raises(TOTPEnrolmentRequired) as caught:
        memory_vault.service.unlock(bo.name, bo.pin)
    assert caught.value.enrolment.secret != new_secret
    new_secret = caught.value.enrolment.secret

    session = memory_vault.service.unlock(
        bo.name, bo.pin, memory_vault.code(new_secret)
    )
    assert user(session, bo.name).totp_enrolled
    session.lock()
    # Done: the next unlock is an ordinary (here quick) one.
    again = memory_vault.service.unlock(bo.name, bo.pin)
    assert again.method == "quick"
    again.lock()
    assert last_entry(admin, "user.totp_reenrol").record_id == bo.user_id


def test_reset_totp_with_a_wrong_pin_reveals_nothing(memory_vault, add_staff):
    bo = add_staff("Bo Front", "front-desk", "975319")
    users.reset_totp(memory_vault.service, memory_vault.created.session, bo.name)
    with pytest.raises(AuthenticationFailed):
        memory_vault.service.unlock(bo.name, WRONG_PIN)
    assert memory_vault.service.attempts.state(bo.user_id).failures == 1


def test_reset_totp_of_unknown_user(memory_vault):
    with pytest.raises(InvalidInput, match="^user:"):
        users.reset_totp(memory_vault.service, memory_vault.created.session, "Nobody")


# -- lockout -------------------------------------------------------------------


def test_unlock_user_clears_a_lockout(memory_vault, add_staff):
    bo = add_staff("Bo Front", "front-desk", "975319")
    service = memory_vault.service
    for _ in range(5):
        with pytest.raises(AuthenticationFailed):
            service.unlock(bo.name, WRONG_PIN, "000000")
    with pytest.raises(LockedOut):
        service.unlock(bo.name, bo.pin, "000000")
    admin = memory_vault.created.session
    assert users.is_locked_out(service, bo.user_id)

    assert users.unlock_user(service, admin, bo.name) is True

    assert not users.is_locked_out(service, bo.user_id)
    assert last_entry(admin, "user.unlock").outcome == "cleared"
    unlock(memory_vault, bo).lock()


def test_last_unlock_is_recorded_per_user(memory_vault, add_staff):
    bo = add_staff("Bo Front", "front-desk", "975319")
    admin = memory_vault.created.session
    assert user(admin, bo.name).last_unlock_at is None
    unlock(memory_vault, bo).lock()
    rows = {u.name: u for u in users.list_users(admin)}
    assert rows[bo.name].last_unlock_at is not None


def test_totp_code_helper_matches(memory_vault):
    # Guard for the helper above: codes come from the injected clock.
    assert len(totp.code_at(memory_vault.admin_secret, memory_vault.clock.now())) == 6
