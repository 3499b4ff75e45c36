"""Fixtures for service tests on a vault with an in-memory keyring."""

from __future__ import annotations

import pytest
from services_support import Staff
from support.vault_fixtures import VaultHarness

from desktop_crm.services import users
from desktop_crm.storage import queries


@pytest.fixture
def vault(memory_vault: VaultHarness) -> VaultHarness:
    """The memory vault with the setup session locked (nothing left open)."""
    memory_vault.created.session.lock()
    return memory_vault


@pytest.fixture
def add_staff(memory_vault: VaultHarness):
    """Add a user through the setup session (which stays open)."""

    def add(name: str, roles: str, pin: str) -> Staff:
        session = memory_vault.created.session
        enrolment = users.add_user(memory_vault.service, session, name, roles, pin)
        row = queries.user_by_name(session.database(), name)
        return Staff(name, pin, enrolment.secret, row.id)

    return add
