"""Fixtures for a vault in a temporary folder with an injected clock."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from desktop_crm.crypto import totp
from desktop_crm.platform.secret_store import MemorySecretStore, SecretStore
from desktop_crm.services.clock import ManualClock
from desktop_crm.services.session import Session
from desktop_crm.services.vault import CreatedVault, VaultService

ADMIN = "Ana Admin"
ADMIN_PIN = "135790"
PRACTICE = "Smith & Jones Telehealth"
ZONE = "America/Chicago"


@dataclass
class VaultHarness:
    """A created vault plus what a test needs to unlock it again."""

    root: Path
    store: SecretStore
    clock: ManualClock
    service: VaultService
    created: CreatedVault

    @property
    def admin_secret(self) -> str:
        return self.created.enrolment.secret

    def code(self, secret: str | None = None) -> str:
        """The current code for ``secret`` (the admin's by default)."""
        self.clock.advance(totp.PERIOD)
        return totp.code_at(secret or self.admin_secret, self.clock.now())

    def unlock_admin(self) -> Session:
        return self.service.unlock(ADMIN, ADMIN_PIN, self.code())

    def fresh_service(self, store: SecretStore | None = None) -> VaultService:
        """Another process's view of the same folder (same clock)."""
        return VaultService(self.root, store or self.store, self.clock)


def make_vault(
    root: Path, store: SecretStore, clock: ManualClock | None = None
) -> VaultHarness:
    clock = clock or ManualClock()
    service = VaultService(root, store, clock)
    created = service.create(PRACTICE, ADMIN, ADMIN_PIN, ZONE)
    service.confirm_enrolment(
        created.session, totp.code_at(created.enrolment.secret, clock.now())
    )
    return VaultHarness(root, store, clock, service, created)


@pytest.fixture
def memory_vault(tmp_path: Path) -> VaultHarness:
    """A new vault with an in-memory keyring (fast unit tests only)."""
    harness = make_vault(tmp_path / "vault", MemorySecretStore())
    yield harness
    harness.created.session.lock()
