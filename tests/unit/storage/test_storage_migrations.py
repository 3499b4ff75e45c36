"""Schema migrations: every version upgrades, snapshots first, one transaction."""

from __future__ import annotations

import types

import pytest

from desktop_crm.errors import VaultError
from desktop_crm.storage import migrations
from desktop_crm.storage.database import open_database

LATEST = migrations.LATEST


def seed_row(db, version: int) -> str | None:
    """Insert a row fit for ``version``; return its user id, if any."""
    if version == 0:
        return None
    db.execute(
        "INSERT INTO users (id, name, roles, created_at) "
        "VALUES ('u1', 'Ana Admin', 'admin', '2027-01-01T00:00:00+00:00')"
    )
    db.execute("INSERT INTO settings (key, value) VALUES ('practice.name', 'P')")
    return "u1"


def test_steps_are_numbered_from_one():
    numbers = [n for n, _ in migrations.STEPS]

    assert numbers == list(range(1, LATEST + 1))
    assert LATEST >= 2


@pytest.mark.parametrize("start", range(LATEST))
def test_upgrade_from_every_version(tmp_path, key, start):
    path = tmp_path / "vault.db"
    db = open_database(path, key, create=True)
    migrations.migrate(db, target=start)
    user = seed_row(db, start)
    db.close()
    snapshots: list[int] = []

    def snapshot(version: int):
        snapshots.append(version)
        target = tmp_path / f"snapshot-{version}.db"
        db.export_copy(target, key)
        return target

    db = open_database(path, key)
    applied = migrations.migrate(db, snapshot=snapshot)

    assert applied == list(range(start + 1, LATEST + 1))
    assert migrations.schema_version(db) == LATEST
    assert snapshots == ([start] if start > 0 else [])
    if user is not None:
        assert db.scalar("SELECT name FROM users WHERE id = ?", (user,)) == "Ana Admin"
        assert db.scalar("SELECT last_totp_step FROM users") == 0
        copy = open_database(tmp_path / f"snapshot-{start}.db", key)
        assert copy.scalar("SELECT name FROM users") == "Ana Admin"
        copy.close()
    db.close()


def test_snapshot_keeps_schema_version(tmp_path, key):
    path = tmp_path / "vault.db"
    db = open_database(path, key, create=True)
    migrations.migrate(db, target=1)
    target = tmp_path / "snapshot.db"

    db.export_copy(target, key)

    copy = open_database(target, key)
    version = migrations.schema_version(copy)
    copy.close()
    db.close()
    assert version == 1


def test_latest_is_a_no_op(db):
    called = []

    applied = migrations.migrate(db, snapshot=called.append)

    assert applied == []
    assert called == []


def test_newer_schema_refused(db):
    db.execute(f"PRAGMA user_version = {LATEST + 1}")

    with pytest.raises(VaultError, match="newer"):
        migrations.migrate(db)


def test_failing_step_leaves_schema_unchanged(monkeypatch, tmp_path, key):
    db = open_database(tmp_path / "vault.db", key, create=True)
    migrations.migrate(db, target=1)
    broken = types.ModuleType("m0002_broken")
    broken.STATEMENTS = ["CREATE TABLE half_done (x TEXT)", "THIS IS NOT SQL"]
    monkeypatch.setattr(migrations, "STEPS", [migrations.STEPS[0], (2, broken)])

    with pytest.raises(Exception, match="syntax error"):
        migrations.migrate(db, target=2)

    assert migrations.schema_version(db) == 1
    tables = {r[0] for r in db.query("SELECT name FROM sqlite_master")}
    assert "half_done" not in tables
    db.close()
