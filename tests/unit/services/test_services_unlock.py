"""Unlock: lockout delays, one message for every failure, quick re-unlock grants."""

from __future__ import annotations

import pytest
from services_support import WRONG_PIN, admin_id, wrong_code
from support.vault_fixtures import ADMIN, ADMIN_PIN

from desktop_crm.crypto import totp
from desktop_crm.errors import AuthenticationFailed, LockedOut, TOTPRequired
from desktop_crm.services import settings_keys
from desktop_crm.storage import audit
from desktop_crm.storage.writepath import AuditEvent, Mutation

HOUR = 3600


def fail_pin(harness, times: int = 1) -> None:
    for _ in range(times):
        with pytest.raises(AuthenticationFailed):
            harness.service.unlock(ADMIN, WRONG_PIN, "000000")


def current_code(harness) -> str:
    """The admin's code now, without moving the clock (unlike ``code()``)."""
    return totp.code_at(harness.admin_secret, harness.clock.now())


def lockout_seconds(harness, service=None) -> int:
    with pytest.raises(LockedOut) as caught:
        (service or harness.service).unlock(ADMIN, ADMIN_PIN, current_code(harness))
    return caught.value.seconds


def test_five_wrong_pins_then_locked_out_for_30_s(vault):
    fail_pin(vault, 5)

    seconds = lockout_seconds(vault)

    assert seconds == 30


def test_fewer_than_five_failures_do_not_lock(vault):
    fail_pin(vault, 4)

    session = vault.unlock_admin()

    assert session.method == "full"
    session.lock()
    assert vault.service.attempts.state(admin_id(vault)).failures == 0


def test_delay_doubles_and_caps_at_15_minutes(vault):
    fail_pin(vault, 5)
    seen = [lockout_seconds(vault)]

    for _ in range(6):
        vault.clock.advance(seen[-1])
        fail_pin(vault)
        seen.append(lockout_seconds(vault))

    assert seen == [30, 60, 120, 240, 480, 900, 900]


def test_lockout_message_says_how_long(vault):
    fail_pin(vault, 5)

    with pytest.raises(LockedOut) as caught:
        vault.service.unlock(ADMIN, ADMIN_PIN)

    assert "30 s" in caught.value.message


def test_lockout_survives_a_restart(vault):
    fail_pin(vault, 5)
    vault.clock.advance(10)
    restarted = vault.fresh_service()

    seconds = lockout_seconds(vault, restarted)

    assert seconds == 20


def test_unlock_works_again_after_waiting(vault):
    fail_pin(vault, 5)
    vault.clock.advance(30)

    session = vault.unlock_admin()

    assert session.method == "full"
    session.lock()
    assert vault.service.attempts.state(admin_id(vault)).failures == 0


def test_lockout_applies_before_the_pin_is_checked(vault):
    fail_pin(vault, 5)

    with pytest.raises(LockedOut):
        vault.service.unlock(ADMIN, ADMIN_PIN, current_code(vault))

    assert vault.service.attempts.state(admin_id(vault)).failures == 5


def test_wrong_pin_wrong_code_replay_and_unknown_user_look_alike(vault):
    session = vault.unlock_admin()
    session.lock()
    replayed = totp.code_at(vault.admin_secret, vault.clock.now())
    attempts = [
        (ADMIN, WRONG_PIN, vault.code()),
        (ADMIN, ADMIN_PIN, wrong_code(vault)),
        (ADMIN, ADMIN_PIN, replayed),
        ("Nobody Here", ADMIN_PIN, vault.code()),
    ]
    messages = []

    for name, pin, code in attempts:
        with pytest.raises(AuthenticationFailed) as caught:
            vault.service.unlock(name, pin, code)
        messages.append((type(caught.value), caught.value.message))

    assert set(messages) == {(AuthenticationFailed, AuthenticationFailed.GENERIC)}


def test_full_unlock_needs_a_code_without_a_grant(vault):
    with pytest.raises(TOTPRequired):
        vault.service.unlock(ADMIN, ADMIN_PIN)


def test_quick_unlock_within_grant(vault):
    vault.unlock_admin().lock()
    vault.clock.advance(8 * HOUR - 1)

    session = vault.service.unlock(ADMIN, ADMIN_PIN)

    assert session.method == "quick"
    session.lock()


def test_quick_unlock_refused_after_grant(vault):
    vault.unlock_admin().lock()
    vault.clock.advance(8 * HOUR + 1)

    with pytest.raises(TOTPRequired):
        vault.service.unlock(ADMIN, ADMIN_PIN)


def test_quick_unlock_does_not_extend_the_grant(vault):
    vault.unlock_admin().lock()
    vault.clock.advance(7 * HOUR)
    vault.service.unlock(ADMIN, ADMIN_PIN).lock()
    vault.clock.advance(HOUR + 1)

    with pytest.raises(TOTPRequired):
        vault.service.unlock(ADMIN, ADMIN_PIN)


def test_quick_unlock_still_checks_the_pin(vault):
    vault.unlock_admin().lock()

    with pytest.raises(AuthenticationFailed):
        vault.service.unlock(ADMIN, WRONG_PIN)


def set_quick_hours(session, hours: str) -> None:
    session.write(
        AuditEvent("settings.change", "settings", settings_keys.QUICK_UNLOCK_HOURS),
        [
            Mutation(
                "settings", settings_keys.QUICK_UNLOCK_HOURS, "upsert", {"value": hours}
            )
        ],
    )


def test_no_quick_unlock_when_hours_set_to_zero(vault):
    session = vault.unlock_admin()
    set_quick_hours(session, "0")
    session.lock()
    vault.unlock_admin().lock()

    with pytest.raises(TOTPRequired):
        vault.service.unlock(ADMIN, ADMIN_PIN)


def test_setting_hours_to_zero_ends_existing_grants(vault):
    session = vault.unlock_admin()
    set_quick_hours(session, "0")
    session.lock()

    with pytest.raises(TOTPRequired):
        vault.service.unlock(ADMIN, ADMIN_PIN).lock()


def test_wrong_code_in_grant_period_counts_but_grant_still_works(vault):
    vault.unlock_admin().lock()

    with pytest.raises(AuthenticationFailed):
        vault.service.unlock(ADMIN, ADMIN_PIN, wrong_code(vault))

    assert vault.service.attempts.state(admin_id(vault)).failures == 1
    session = vault.service.unlock(ADMIN, ADMIN_PIN)
    assert session.method == "quick"
    session.lock()


def test_replayed_code_refused_in_grant_period(vault):
    code = vault.code()
    vault.service.unlock(ADMIN, ADMIN_PIN, code).lock()

    with pytest.raises(AuthenticationFailed):
        vault.service.unlock(ADMIN, ADMIN_PIN, code)


def test_failures_move_into_the_audit_log_at_next_unlock(vault):
    fail_pin(vault, 2)
    with pytest.raises(AuthenticationFailed):
        vault.service.unlock(ADMIN, ADMIN_PIN, wrong_code(vault))

    session = vault.unlock_admin()

    rows = session.database().query(
        "SELECT record_id, outcome FROM audit_log "
        "WHERE action = 'session.unlock' AND outcome LIKE 'failed:%' ORDER BY seq"
    )
    uid = admin_id(vault)
    assert rows == [(uid, "failed:credentials")] * 3
    assert vault.service.attempts.take_queued() == []
    assert audit.verify(session.database(), vault.service.files.read_head()) > 3
    session.lock()


def test_clock_skew_hint_after_two_equal_skews(vault):
    messages = []

    for _ in range(2):
        vault.clock.advance(totp.PERIOD)
        ahead = totp.code_at(vault.admin_secret, vault.clock.now() + 3 * totp.PERIOD)
        with pytest.raises(AuthenticationFailed) as caught:
            vault.service.unlock(ADMIN, ADMIN_PIN, ahead)
        messages.append(caught.value.message)

    assert messages[0] == AuthenticationFailed.GENERIC
    assert "90 s ahead of" in messages[1]
