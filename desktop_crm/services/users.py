"""User administration inside an unlocked session.

Add, change PIN, reset, change roles, deactivate, reset the authenticator and
clear a lockout.  Every action is audited (field names only).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence

from desktop_crm.crypto import pin as pin_policy
from desktop_crm.crypto import slots, totp
from desktop_crm.errors import InvalidInput
from desktop_crm.services import providers, shared_totp
from desktop_crm.services import settings_keys as keys
from desktop_crm.services.clock import iso
from desktop_crm.services.providers import PROVIDER_ROLE
from desktop_crm.services.roles import parse_roles
from desktop_crm.services.session import Session
from desktop_crm.services.vault import (
    Enrolment,
    VaultService,
    enrolment_for,
    totp_reset_key,
)
from desktop_crm.storage import queries
from desktop_crm.storage.queries import UserRow
from desktop_crm.storage.writepath import AuditEvent, Mutation

log = logging.getLogger(__name__)

ADMIN_ROLE = "admin"


def list_users(session: Session) -> list[UserRow]:
    return queries.all_users(session.database())


def _practice(session: Session) -> str:
    return session.setting(keys.PRACTICE_NAME, "")


def add_user(
    vault: VaultService, session: Session, name: str, roles: str, pin: str
) -> Enrolment:
    """Create a user with a slot on this workstation; returns their enrolment."""
    with vault.exclusive():
        vault.check_current(session)
        return _add_user_locked(vault, session, name, roles, pin)


def _add_user_locked(
    vault: VaultService, session: Session, name: str, roles: str, pin: str
) -> Enrolment:
    session.require("users.manage")
    name = name.strip()
    if not name or len(name) > 100 or any(ord(c) < 32 for c in name):
        raise InvalidInput("name", "use 1 to 100 printable characters")
    role_list = parse_roles(roles)
    pin_policy.check_pin(pin)
    if queries.user_by_name(session.database(), name) or session.header.slot_by_name(
        name
    ):
        raise InvalidInput("name", "a user with this name already exists")
    user_id = str(uuid.uuid4())
    secret = totp.new_secret()
    slot = slots.new_user_slot(
        vault_id=session.vault_id,
        user_id=user_id,
        name=name,
        pin=pin,
        device_secret=vault.device_secret(),
        totp_secret=secret,
        dek=bytes(session.dek),
        dek_generation=session.header.dek_generation,
    )
    session.write(
        AuditEvent("user.add", "user", user_id),
        [
            Mutation(
                "users",
                user_id,
                "insert",
                {
                    "name": name,
                    "roles": ",".join(role_list),
                    "active": 1,
                    "created_at": iso(vault.clock.now()),
                },
            )
        ],
    )
    vault.save_header(session, session.header.with_slot(slot))
    shared_totp.publish(session, user_id, secret)
    if PROVIDER_ROLE in role_list:
        # Practice users with the provider role belong on the providers list.
        providers.ensure_user_providers(session)
    return enrolment_for(secret, name, _practice(session))


def change_own_pin(
    vault: VaultService, session: Session, new_pin: str
) -> Enrolment | None:
    """Rewrap the user's own slot under a new PIN.

    After an admin reset the TOTP secret is replaced too (the admin knew the
    old one), and the new enrolment is returned; otherwise ``None``.
    """
    with vault.exclusive():
        vault.check_current(session)
        return _change_own_pin_locked(vault, session, new_pin)


def _change_own_pin_locked(
    vault: VaultService, session: Session, new_pin: str
) -> Enrolment | None:
    pin_policy.check_pin(new_pin, "new PIN")
    if session.user_id is None:
        raise InvalidInput("user", "this session has no user")
    slot = session.header.slots[session.user_id]
    enrolment = None
    secret = session.totp_secret
    changes: dict[str, object] = {"must_change_pin": 0}
    user = queries.user_by_id(session.database(), session.user_id)
    if session.must_change_pin and not (user and user.keeps_totp):
        # After an admin's reset (the admin saw that secret).  A slot an admin
        # approved on a joined workstation holds the practice's shared secret,
        # which the admin never saw: that one stays.
        secret = totp.new_secret()
        enrolment = enrolment_for(secret, session.user_name, _practice(session))
        # The step counter belongs to the old secret: a code from the new
        # authenticator entry may fall in the same 30-second step.
        changes.update(totp_enrolled=0, last_totp_step=0)
    new_slot = slots.rewrap_user_slot(
        slot,
        session.vault_id,
        session.private_key,
        secret,
        new_pin,
        vault.device_secret(),
    )
    vault.save_header(session, session.header.with_slot(new_slot))
    session.write(
        AuditEvent("user.change_pin", "user", session.user_id),
        [Mutation("users", session.user_id, "update", changes)],
    )
    session.totp_secret = secret
    session.must_change_pin = False
    if enrolment is not None:
        shared_totp.publish(session, session.user_id, secret)
    return enrolment


def reset_user(
    vault: VaultService, session: Session, name: str, temporary_pin: str
) -> Enrolment | None:
    """Give a user a temporary PIN and a new TOTP secret (admin).

    Both are to be replaced at that user's next unlock.  On a workstation
    that joined a synced practice, a user who arrived from another
    workstation (``needs_reset``) and enrolled an authenticator there is
    approved instead: their slot here holds the practice's shared secret,
    the admin is shown none (``None``), and the user signs in with the
    temporary PIN and their existing authenticator entry, then sets a PIN.
    """
    with vault.exclusive():
        vault.check_current(session)
        return _reset_user_locked(vault, session, name, temporary_pin)


def _reset_user_locked(
    vault: VaultService, session: Session, name: str, temporary_pin: str
) -> Enrolment | None:
    session.require("users.manage")
    pin_policy.check_pin(temporary_pin, "temporary PIN")
    user = _user_named(session, name)
    if not user.active:
        # A deactivated user's slot stays removed.
        raise InvalidInput("user", "is deactivated")
    shared = (
        shared_totp.shared_secret(session.database(), user.id)
        if user.needs_reset
        else None
    )
    secret = shared or totp.new_secret()
    slot = slots.new_user_slot(
        vault_id=session.vault_id,
        user_id=user.id,
        name=user.name,
        pin=temporary_pin,
        device_secret=vault.device_secret(),
        totp_secret=secret,
        dek=bytes(session.dek),
        dek_generation=session.header.dek_generation,
    )
    vault.save_header(session, session.header.with_slot(slot))
    session.write(
        AuditEvent(
            "user.reset", "user", user.id, outcome="approved" if shared else "ok"
        ),
        [
            Mutation(
                "users",
                user.id,
                "update",
                {
                    "must_change_pin": queries.PIN_CHANGE_KEEPS_TOTP if shared else 1,
                    "totp_enrolled": 1 if shared else 0,
                    "needs_reset": 0,
                    "last_totp_step": 0,
                },
            ),
        ],
    )
    vault.attempts.clear_user(user.id)
    settings_mark = queries.setting(session.database(), totp_reset_key(user.id))
    if settings_mark is not None:
        # The new secret above replaces any pending authenticator reset.
        session.write(
            AuditEvent("user.reset_totp", "user", user.id, outcome="superseded"),
            [Mutation("settings", totp_reset_key(user.id), "delete")],
        )
    if shared:
        return None
    return enrolment_for(secret, user.name, _practice(session))


# -- roles, deactivation, authenticator reset, lockout (#6) --------------------


def _user_named(session: Session, name: str) -> UserRow:
    user = queries.user_by_name(session.database(), name.strip())
    if user is None:
        raise InvalidInput("user", "no user by that name")
    return user


def _other_active_admins(session: Session, user_id: str) -> int:
    return sum(
        1
        for u in queries.all_users(session.database())
        if u.active and ADMIN_ROLE in u.roles and u.id != user_id
    )


def change_roles(
    vault: VaultService, session: Session, name: str, roles: str | Sequence[str]
) -> tuple[str, ...]:
    """Replace a user's roles (admin); returns the roles now held.

    The change takes effect at that user's next unlock.  A provider gains a
    providers-list row; one who loses the role keeps it (appointments refer
    to it).

    Raises:
        InvalidInput: unknown user or role, or the last active admin would
            lose the admin role.
    """
    session.require("users.manage")
    user = _user_named(session, name)
    role_list = parse_roles(roles)
    if (
        user.active
        and ADMIN_ROLE in user.roles
        and ADMIN_ROLE not in role_list
        and _other_active_admins(session, user.id) == 0
    ):
        raise InvalidInput("role", "the last active admin must keep the admin role")
    if role_list == user.roles:
        return role_list
    session.write(
        AuditEvent("user.role_change", "user", user.id),
        [Mutation("users", user.id, "update", {"roles": ",".join(role_list)})],
    )
    if PROVIDER_ROLE in role_list:
        providers.ensure_user_providers(session)
    log.info("roles of user %s changed", user.id)
    return role_list


def deactivate_user(vault: VaultService, session: Session, name: str) -> bool:
    """Deactivate a user and remove their key slot at once (admin).

    Returns whether rotating the database key is advisable: a user who held
    a slot could have kept the database key, which a rotation retires
    (``keys.rotate_dek``, ``desktop-crm rekey``).

    Raises:
        InvalidInput: unknown or already deactivated user, yourself, or the
            last active admin.
    """
    with vault.exclusive():
        vault.check_current(session)
        return _deactivate_locked(vault, session, name)


def _deactivate_locked(vault: VaultService, session: Session, name: str) -> bool:
    session.require("users.manage")
    user = _user_named(session, name)
    if user.id == session.user_id:
        raise InvalidInput("user", "you cannot deactivate yourself")
    had_slot = user.id in session.header.slots
    if not user.active and not had_slot:
        raise InvalidInput("user", "is already deactivated")
    if ADMIN_ROLE in user.roles and _other_active_admins(session, user.id) == 0:
        raise InvalidInput("user", "the last active admin cannot be deactivated")
    # The slot goes first: should the database write then fail, the user has
    # no slot (cannot unlock) and deactivating again finishes the job.
    if had_slot:
        vault.save_header(session, session.header.without_slot(user.id))
    if user.active:
        session.write(
            AuditEvent("user.deactivate", "user", user.id),
            [Mutation("users", user.id, "update", {"active": 0})],
        )
    vault.attempts.clear_user(user.id)
    log.info("user %s deactivated", user.id)
    return had_slot


def reset_totp(vault: VaultService, session: Session, name: str) -> None:
    """Make a user set up a new authenticator entry at their next unlock (admin).

    The TOTP secret lives in the user's slot, wrapped under their PIN, so it
    cannot be replaced here: their next unlock with the right PIN puts a new
    secret in the slot and shows it (``TOTPEnrolmentRequired``).  Until then
    their PIN alone gets that far, which is the stated cost of this reset.
    """
    session.require("users.manage")
    user = _user_named(session, name)
    if not user.active:
        raise InvalidInput("user", "is deactivated")
    session.write(
        AuditEvent("user.reset_totp", "user", user.id),
        [
            Mutation("settings", totp_reset_key(user.id), "upsert", {"value": "1"}),
            Mutation("unlock_grants", f"{user.id}:{session.workstation}", "delete"),
            Mutation(
                "users", user.id, "update", {"totp_enrolled": 0, "last_totp_step": 0}
            ),
        ],
    )
    vault.attempts.clear_user(user.id)


def unlock_user(vault: VaultService, session: Session, name: str) -> bool:
    """Clear a user's failed-unlock count and delay (admin).

    Returns whether they were locked out (waiting) before.
    """
    session.require("users.manage")
    user = _user_named(session, name)
    was_locked = is_locked_out(vault, user.id)
    vault.attempts.clear_user(user.id)
    session.write(
        AuditEvent(
            "user.unlock", "user", user.id, outcome="cleared" if was_locked else "ok"
        )
    )
    return was_locked


def is_locked_out(vault: VaultService, user_id: str) -> bool:
    """Whether the user must wait before their next unlock attempt."""
    return vault.attempts.wait_seconds(user_id, vault.clock.now()) > 0
