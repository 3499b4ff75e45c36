"""B01: a SQLCipher 3 database is converted once, with a backup of the original."""

from __future__ import annotations

import pytest
import sqlcipher3

from desktop_crm.storage.database import WrongDatabaseKey, key_literal, open_database


@pytest.fixture
def legacy(tmp_path, key):
    """A SQLCipher 3 file keyed with ``key`` holding one patient row."""
    path = tmp_path / "legacy_v3.db"
    conn = sqlcipher3.connect(str(path))
    conn.execute(f"PRAGMA key = {key_literal(key)}")
    conn.execute("PRAGMA cipher_compatibility = 3")
    conn.execute("CREATE TABLE patients (name TEXT, dob TEXT)")
    conn.execute("INSERT INTO patients VALUES ('Testpatient Legacy', '1970-01-01')")
    conn.commit()
    conn.close()
    return path


def test_legacy_database_opens_and_is_converted(legacy, key):
    original = legacy.read_bytes()

    db = open_database(legacy, key)

    rows = db.query("SELECT name, dob FROM patients")
    temp_store = db.pragma("temp_store")
    db.close()
    assert temp_store == 2
    assert db.info.migrated_from_v3 is True
    assert rows == [("Testpatient Legacy", "1970-01-01")]
    backups = list(legacy.parent.glob("legacy_v3.db.sqlcipher3-*"))
    assert len(backups) == 1
    assert backups[0].read_bytes() == original


def test_second_open_uses_plain_v4_settings(legacy, key):
    open_database(legacy, key).close()

    db = open_database(legacy, key)

    assert db.info.migrated_from_v3 is False
    assert db.scalar("SELECT count(*) FROM patients") == 1
    assert db.info.cipher_version.startswith("4.")
    db.close()
    assert len(list(legacy.parent.glob("*.sqlcipher3-*"))) == 1


def test_legacy_database_with_wrong_key_is_a_plain_wrong_key(legacy, key):
    original = legacy.read_bytes()
    wrong = bytes(b ^ 1 for b in key)

    with pytest.raises(WrongDatabaseKey):
        open_database(legacy, wrong)

    assert list(legacy.parent.glob("*.sqlcipher3-*")) == []
    assert legacy.read_bytes() == original
