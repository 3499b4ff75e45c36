"""User administration inside an unlocked session: add, change PIN, reset."""

from __future__ import annotations

import logging
import uuid

from desktop_crm.crypto import pin as pin_policy
from desktop_crm.crypto import slots, totp
from desktop_crm.errors import InvalidInput
from desktop_crm.services import providers
from desktop_crm.services import settings_keys as keys
from desktop_crm.services.clock import iso
from desktop_crm.services.providers import PROVIDER_ROLE
from desktop_crm.services.roles import parse_roles
from desktop_crm.services.session import Session
from desktop_crm.services.vault import Enrolment, VaultService, enrolment_for
from desktop_crm.storage import queries
from desktop_crm.storage.queries import UserRow
from desktop_crm.storage.writepath import AuditEvent, Mutation

log = logging.getLogger(__name__)


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
    if session.must_change_pin:
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
    return enrolment


def reset_user(
    vault: VaultService, session: Session, name: str, temporary_pin: str
) -> Enrolment:
    """Give a user a temporary PIN and a new TOTP secret (admin).

    Both are to be replaced at that user's next unlock.
    """
    with vault.exclusive():
        vault.check_current(session)
        return _reset_user_locked(vault, session, name, temporary_pin)


def _reset_user_locked(
    vault: VaultService, session: Session, name: str, temporary_pin: str
) -> Enrolment:
    session.require("users.manage")
    pin_policy.check_pin(temporary_pin, "temporary PIN")
    user = queries.user_by_name(session.database(), name.strip())
    if user is None:
        raise InvalidInput("user", "no user by that name")
    secret = totp.new_secret()
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
        AuditEvent("user.reset", "user", user.id),
        [
            Mutation(
                "users",
                user.id,
                "update",
                {
                    "must_change_pin": 1,
                    "totp_enrolled": 0,
                    "needs_reset": 0,
                    "last_totp_step": 0,
                },
            ),
        ],
    )
    vault.attempts.clear_user(user.id)
    return enrolment_for(secret, user.name, _practice(session))
