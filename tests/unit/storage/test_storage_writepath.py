"""The single write path: atomic changes with their audit entry and change records."""

from __future__ import annotations

import json

import pytest

from desktop_crm.storage import queries
from desktop_crm.storage.writepath import GENESIS, AuditEvent, Mutation, commit

MARKER = "QXMARKERZQ"


def user_insert(user_id: str, name: str = "Ana Admin") -> Mutation:
    return Mutation(
        "users",
        user_id,
        "insert",
        {"name": name, "roles": "admin", "created_at": "2027-01-01T00:00:00+00:00"},
    )


def counts(db) -> dict[str, int]:
    return queries.table_counts(db)


def test_commit_applies_mutations_with_audit_and_changes(db, actor):
    head = commit(db, actor, AuditEvent("user.add", "user", "u1"), [user_insert("u1")])

    assert queries.user_by_id(db, "u1").name == "Ana Admin"
    assert head.seq == 1
    row = db.query(
        "SELECT action, record_id, user_id, workstation, prev_hash, hash FROM audit_log"
    )
    assert row == [("user.add", "u1", "user-1", "ws-1", GENESIS, head.hash)]
    assert db.scalar("SELECT count(*) FROM change_log") == 1


def test_failing_second_mutation_writes_nothing(db, actor):
    before = counts(db)
    mutations = [
        user_insert("u1"),
        Mutation("users", "missing", "update", {"name": "Nobody"}),
    ]

    with pytest.raises(LookupError):
        commit(db, actor, AuditEvent("user.add"), mutations)

    assert counts(db) == before
    assert queries.user_by_id(db, "u1") is None


@pytest.mark.parametrize(
    "mutation",
    [
        Mutation("patients", "p1", "insert", {"name": "x"}),
        Mutation("users", "u2", "insert", {"name": "x", "password": "y"}),
        Mutation("users", "u2", "update", {"name; DROP TABLE users; --": "x"}),
        Mutation("settings", "k", "merge", {"value": "x"}),  # type: ignore[arg-type]
    ],
    ids=["unknown-table", "unknown-column", "injected-column", "unknown-op"],
)
def test_bad_mutation_raises_and_writes_nothing(db, actor, mutation):
    before = counts(db)

    with pytest.raises(ValueError):
        commit(db, actor, AuditEvent("x"), [user_insert("u1"), mutation])

    assert counts(db) == before


def test_after_commit_hooks_receive_the_new_head(db, actor):
    seen = []
    db.after_commit.append(seen.append)

    first = commit(db, actor, AuditEvent("a"))
    second = commit(db, actor, AuditEvent("b"), [user_insert("u1")])

    assert seen == [first, second]
    assert second.seq == first.seq + 1
    assert db.query("SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1") == [
        (second.seq, second.hash)
    ]


def test_failed_commit_calls_no_hook(db, actor):
    seen = []
    db.after_commit.append(seen.append)

    with pytest.raises(LookupError):
        commit(
            db,
            actor,
            AuditEvent("a"),
            [Mutation("users", "no", "update", {"name": "x"})],
        )

    assert seen == []


def test_change_records_only_for_synced_tables(db, actor):
    grant = Mutation(
        "unlock_grants",
        "u1:ws-1",
        "insert",
        {
            "user_id": "u1",
            "workstation": "ws-1",
            "granted_at": "2027-01-01T00:00:00+00:00",
            "expires_at": "2027-01-01T08:00:00+00:00",
        },
    )

    commit(db, actor, AuditEvent("x"), [user_insert("u1"), grant])

    rows = db.query("SELECT record_type, record_id, op, fields FROM change_log")
    assert len(rows) == 1
    assert rows[0][:3] == ("users", "u1", "insert")
    assert json.loads(rows[0][3]) == ["created_at", "name", "roles"]


def test_change_records_carry_increasing_hlc_and_device(db, actor):
    commit(db, actor, AuditEvent("x"), [user_insert("u1"), user_insert("u2", "Bo")])

    rows = db.query("SELECT hlc, device_id FROM change_log ORDER BY seq")

    assert [r[1] for r in rows] == ["device-1", "device-1"]
    assert rows[0][0] < rows[1][0]


def test_audit_holds_column_names_never_values(db, actor):
    commit(db, actor, AuditEvent("user.add", "user", "u1"), [user_insert("u1", MARKER)])
    commit(
        db,
        actor,
        AuditEvent("user.rename", "user", "u1"),
        [Mutation("users", "u1", "update", {"name": MARKER + "2"})],
    )

    rows = db.query("SELECT * FROM audit_log")

    assert MARKER not in repr(rows)
    fields = [json.loads(f) for (f,) in db.query("SELECT fields FROM audit_log")]
    assert fields == [["created_at", "name", "roles"], ["name"]]


def test_audit_only_commit_for_reads(db, actor):
    head = commit(db, actor, AuditEvent("patient.view", "patient", "p1"))

    assert head.seq == 1
    assert db.scalar("SELECT count(*) FROM change_log") == 0


def test_extra_events_come_first_in_the_same_chain(db, actor):
    extra = [AuditEvent("session.unlock", outcome="failed:pin")] * 2

    head = commit(db, actor, AuditEvent("session.unlock", outcome="full"), (), extra)

    rows = db.query("SELECT seq, outcome FROM audit_log ORDER BY seq")
    assert rows == [(1, "failed:pin"), (2, "failed:pin"), (3, "full")]
    assert head.seq == 3


@pytest.mark.parametrize("op", ["upsert", "delete"])
def test_upsert_and_delete(db, actor, op):
    commit(
        db,
        actor,
        AuditEvent("x"),
        [Mutation("settings", "k", "upsert", {"value": "1"})],
    )
    values = {"value": "2"} if op == "upsert" else {}

    commit(db, actor, AuditEvent("x"), [Mutation("settings", "k", op, values)])

    expected = "2" if op == "upsert" else None
    assert queries.setting(db, "k") == expected
