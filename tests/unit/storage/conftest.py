"""Fixtures for storage tests: a raw key, a migrated database and an actor."""

from __future__ import annotations

import os

import pytest

from desktop_crm.storage import migrations
from desktop_crm.storage.database import open_database
from desktop_crm.storage.hlc import HybridLogicalClock
from desktop_crm.storage.writepath import Actor


@pytest.fixture
def key() -> bytes:
    return os.urandom(32)


@pytest.fixture
def db_path(tmp_path):
    return tmp_path / "vault.db"


@pytest.fixture
def db(db_path, key):
    """A new encrypted database at the latest schema."""
    database = open_database(db_path, key, create=True)
    migrations.migrate(database)
    yield database
    database.close()


@pytest.fixture
def actor() -> Actor:
    ticks = iter(range(1_800_000_000_000, 1_900_000_000_000, 1000))
    return Actor("user-1", "ws-1", HybridLogicalClock("device-1", lambda: next(ticks)))
