"""The hash-chained audit log: verification finds every kind of tampering."""

from __future__ import annotations

import pytest
import sqlcipher3

from desktop_crm.storage import audit
from desktop_crm.storage.audit import AuditChainBroken
from desktop_crm.storage.database import open_database
from desktop_crm.storage.writepath import AuditEvent, ChainHead, commit

ENTRIES = 6


@pytest.fixture
def heads(db, actor) -> list[ChainHead]:
    return [
        commit(db, actor, AuditEvent(f"action.{i}", "x", str(i)))
        for i in range(ENTRIES)
    ]


@pytest.fixture
def attacker(db, db_path, key, heads):
    """A second connection by someone holding the key, with the triggers dropped."""
    conn = open_database(db_path, key)
    conn.execute("DROP TRIGGER audit_log_no_update")
    conn.execute("DROP TRIGGER audit_log_no_delete")
    yield conn
    conn.close()


def test_untouched_chain_verifies(db, heads):
    count = audit.verify(db, heads[-1])

    assert count == ENTRIES
    assert audit.verify(db, None) == ENTRIES


def test_empty_chain_verifies(db):
    assert audit.verify(db, None) == 0


def test_entries_newest_first(db, heads):
    newest = audit.entries(db, limit=2)

    assert [e.seq for e in newest] == [ENTRIES, ENTRIES - 1]
    assert newest[0].hash == heads[-1].hash


@pytest.mark.parametrize(
    "sql",
    [
        "UPDATE audit_log SET outcome = 'x' WHERE seq = 2",
        "DELETE FROM audit_log WHERE seq = 2",
    ],
    ids=["update", "delete"],
)
def test_triggers_keep_the_log_append_only(db, heads, sql):
    with pytest.raises(sqlcipher3.DatabaseError, match="append-only"):
        db.execute(sql)

    assert audit.verify(db, heads[-1]) == ENTRIES


@pytest.mark.parametrize("column", ["action", "outcome", "user_id", "fields", "at"])
def test_edited_entry_found(db, heads, attacker, column):
    attacker.execute(f"UPDATE audit_log SET {column} = 'forged' WHERE seq = 3")

    with pytest.raises(AuditChainBroken) as caught:
        audit.verify(db, heads[-1])

    assert caught.value.seq == 3
    assert caught.value.reason == "edited"


def test_edited_and_rehashed_entry_found_by_next_link(db, heads, attacker):
    from desktop_crm.storage.writepath import entry_hash

    row = attacker.query("SELECT * FROM audit_log WHERE seq = 3")[0]
    forged = list(row[:9])
    forged[8] = "forged"
    attacker.execute(
        "UPDATE audit_log SET outcome = 'forged', hash = ? WHERE seq = 3",
        (entry_hash(row[9], forged),),
    )

    with pytest.raises(AuditChainBroken) as caught:
        audit.verify(db, heads[-1])

    assert caught.value.seq == 4
    assert "reordered" in caught.value.reason


def test_removed_middle_entry_found(db, heads, attacker):
    attacker.execute("DELETE FROM audit_log WHERE seq = 3")

    with pytest.raises(AuditChainBroken) as caught:
        audit.verify(db, heads[-1])

    assert caught.value.seq == 3
    assert "missing" in caught.value.reason


def test_removed_first_entry_found(db, heads, attacker):
    attacker.execute("DELETE FROM audit_log WHERE seq = 1")

    with pytest.raises(AuditChainBroken, match="missing"):
        audit.verify(db, heads[-1])


def test_swapped_entries_found(db, heads, attacker):
    attacker.execute("UPDATE audit_log SET seq = -1 WHERE seq = 2")
    attacker.execute("UPDATE audit_log SET seq = 2 WHERE seq = 3")
    attacker.execute("UPDATE audit_log SET seq = 3 WHERE seq = -1")

    with pytest.raises(AuditChainBroken) as caught:
        audit.verify(db, heads[-1])

    assert caught.value.seq == 2
    assert "reordered" in caught.value.reason or "out of order" in caught.value.reason


def test_cut_off_newest_entries_found(db, heads, attacker):
    attacker.execute(f"DELETE FROM audit_log WHERE seq > {ENTRIES - 2}")

    with pytest.raises(AuditChainBroken) as caught:
        audit.verify(db, heads[-1])

    assert "cut off" in caught.value.reason
    assert caught.value.seq == ENTRIES - 1


def test_whole_log_removed_found(db, heads, attacker):
    attacker.execute("DELETE FROM audit_log")

    with pytest.raises(AuditChainBroken, match="cut off"):
        audit.verify(db, heads[-1])


def test_chain_extending_past_kept_head_verifies(db, heads):
    kept = heads[2]

    count = audit.verify(db, kept)

    assert count == ENTRIES


def test_kept_head_with_other_hash_found(db, heads):
    kept = ChainHead(heads[2].seq, heads[1].hash)

    with pytest.raises(AuditChainBroken, match="kept outside"):
        audit.verify(db, kept)


def test_rewritten_chain_found_by_kept_head(db, heads, attacker):
    from desktop_crm.storage.writepath import GENESIS, entry_hash

    prev = GENESIS
    for row in attacker.query("SELECT * FROM audit_log ORDER BY seq"):
        forged = [*row[:8], "forged"]
        digest = entry_hash(prev, forged)
        attacker.execute(
            "UPDATE audit_log SET outcome = 'forged', prev_hash = ?, hash = ? "
            "WHERE seq = ?",
            (prev, digest, row[0]),
        )
        prev = digest

    with pytest.raises(AuditChainBroken, match="kept outside"):
        audit.verify(db, heads[-1])
