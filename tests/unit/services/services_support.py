"""Shared helpers for the service tests (imported by their conftest and modules)."""

from __future__ import annotations

from dataclasses import dataclass

from support.vault_fixtures import ADMIN, VaultHarness

from desktop_crm.crypto import totp

WRONG_PIN = "246802"


@dataclass
class Staff:
    """A user added by the admin, with what they need to unlock."""

    name: str
    pin: str
    secret: str
    user_id: str


def admin_id(harness: VaultHarness) -> str:
    return harness.service.files.load_header().slot_by_name(ADMIN).user_id


def wrong_code(harness: VaultHarness) -> str:
    """A code that is not the admin's for any step near now."""
    now = harness.clock.now()
    near = {totp.code_at(harness.admin_secret, now + k * 30) for k in range(-3, 4)}
    candidates = (f"{n:06d}" for n in range(1000, 1_000_000, 7919))
    return next(c for c in candidates if c not in near)
