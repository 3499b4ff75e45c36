"""Batches: many writes in a row, grouped into few commits, each still whole."""

from __future__ import annotations

import threading

import pytest

from desktop_crm.storage import queries
from desktop_crm.storage.database import DiskFull, GroupLost, open_database
from desktop_crm.storage.writepath import AuditEvent, Mutation, commit

LONG = 3600.0  # a group that only the end of the batch commits


def user(user_id: str) -> Mutation:
    return Mutation(
        "users",
        user_id,
        "insert",
        {
            "name": f"Admin {user_id}",
            "roles": "admin",
            "created_at": "2027-01-01T00:00:00+00:00",
        },
    )


def add_user(db, actor, user_id: str):
    event = AuditEvent("user.add", "user", user_id)
    return commit(db, actor, event, [user(user_id)])


@pytest.fixture
def other(db, db_path, key):
    """A second connection, as another process would see the vault."""
    second = open_database(db_path, key)
    yield second
    second.close()


def stored(db) -> list[str]:
    return [row[0] for row in db.query("SELECT id FROM users ORDER BY id")]


def audit_seqs(db) -> list[int]:
    return [row[0] for row in db.query("SELECT seq FROM audit_log ORDER BY seq")]


def test_grouped_writes_commit_together_when_the_batch_ends(db, other, actor):
    heads = []
    db.after_commit.append(heads.append)

    with db.batch(LONG):
        first = add_user(db, actor, "u1")
        last = add_user(db, actor, "u2")
        assert stored(db) == ["u1", "u2"]
        assert stored(other) == []
        assert db.pragma("synchronous") == 1
        assert heads == []

    assert stored(other) == ["u1", "u2"]
    assert heads == [last] and first.seq + 1 == last.seq
    assert db.pragma("synchronous") == 2


def test_a_failed_write_in_a_group_takes_nothing_else_with_it(db, other, actor):
    with db.batch(LONG):
        add_user(db, actor, "u1")
        with pytest.raises(LookupError):
            commit(
                db,
                actor,
                AuditEvent("user.edit"),
                [
                    user("u2"),
                    Mutation("users", "missing", "update", {"name": "Nobody"}),
                ],
            )
        add_user(db, actor, "u3")

    assert stored(other) == ["u1", "u3"]
    assert audit_seqs(other) == [1, 2]


def test_a_group_commits_once_it_has_been_open_long_enough(db, other, actor):
    with db.batch(1e-9):
        add_user(db, actor, "u1")
        assert stored(other) == ["u1"]


def test_an_exception_out_of_the_batch_still_commits_the_whole_writes(db, other, actor):
    heads = []
    db.after_commit.append(heads.append)

    with pytest.raises(KeyboardInterrupt), db.batch(LONG):
        head = add_user(db, actor, "u1")
        raise KeyboardInterrupt

    assert stored(other) == ["u1"]
    assert heads == [head]
    assert db.pragma("synchronous") == 2


def test_held_and_close_commit_the_open_group_first(db, other, actor, db_path, key):
    with db.batch(LONG):
        add_user(db, actor, "u1")
        with db.held():
            assert stored(other) == ["u1"]
        add_user(db, actor, "u2")
        db.close()

    reopened = open_database(db_path, key)
    try:
        assert stored(reopened) == ["u1", "u2"]
    finally:
        reopened.close()


def test_a_group_sqlite_rolled_back_is_reported_not_counted(db, other, actor):
    heads = []
    db.after_commit.append(heads.append)
    before = add_user(db, actor, "u0")

    with db.batch(LONG):
        add_user(db, actor, "u1")
        # What a full disk or an I/O error does: SQLite ends the whole
        # transaction, the group's earlier writes with it.
        with pytest.raises(GroupLost, match="disk may be failing"):
            with db.transaction():
                db.execute("ROLLBACK")
                raise OSError("disk I/O error")
        after = add_user(db, actor, "u2")

    assert stored(other) == ["u0", "u2"]
    assert audit_seqs(other) == [1, 2]
    assert heads == [before, after]


def test_a_failed_group_commit_is_reported_and_the_head_stays_true(db, other, actor):
    db.execute("CREATE TABLE parent (id TEXT PRIMARY KEY)")
    db.execute(
        "CREATE TABLE child (parent TEXT REFERENCES parent(id) "
        "DEFERRABLE INITIALLY DEFERRED)"
    )
    heads = []
    db.after_commit.append(heads.append)
    before = add_user(db, actor, "u0")

    with pytest.raises(GroupLost), db.batch(LONG):
        add_user(db, actor, "u1")
        with db.transaction():
            db.execute("INSERT INTO child VALUES ('nobody')")  # fails at COMMIT

    assert stored(other) == ["u0"]
    assert heads == [before]
    assert not db._conn.in_transaction
    add_user(db, actor, "u2")
    assert stored(other) == ["u0", "u2"]


def test_the_last_thread_out_of_a_shared_batch_ends_it(db, other, actor):
    inside, outer_left = threading.Event(), threading.Event()
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            with db.batch(LONG):
                inside.set()
                outer_left.wait(10)
                add_user(db, actor, "u2")
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    with db.batch(LONG):
        add_user(db, actor, "u1")
        thread = threading.Thread(target=worker)
        thread.start()
        assert inside.wait(10)
    outer_left.set()
    assert stored(other) == []  # the worker's batch is still open
    thread.join(10)

    assert errors == []
    assert stored(other) == ["u1", "u2"]
    assert db.pragma("synchronous") == 2


def test_without_a_group_each_write_commits_on_its_own(db, other, actor):
    with db.batch():
        add_user(db, actor, "u1")
        assert stored(other) == ["u1"]
    assert queries.user_by_id(other, "u1") is not None


def test_a_copy_or_a_rekey_inside_a_batch_commits_the_group_first(
    db, actor, db_path, key, tmp_path
):
    new_key = bytes(32)
    with db.batch(LONG):
        add_user(db, actor, "u1")
        db.export_copy(tmp_path / "copy.db", key)
        add_user(db, actor, "u2")
        db.rekey(new_key)
    db.close()

    copy = open_database(tmp_path / "copy.db", key)
    reopened = open_database(db_path, new_key)
    try:
        assert stored(copy) == ["u1"]
        assert stored(reopened) == ["u1", "u2"]
    finally:
        copy.close()
        reopened.close()


def big_user(user_id: str) -> Mutation:
    mutation = user(user_id)
    mutation.values["name"] = user_id + "x" * 200_000
    return mutation


def test_a_full_disk_in_a_group_is_named_and_loses_only_the_open_group(
    db, other, actor
):
    heads = []
    db.after_commit.append(heads.append)
    before = add_user(db, actor, "u0")
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.execute(f"PRAGMA max_page_count = {db.pragma('page_count') + 8}")

    with db.batch(LONG):
        add_user(db, actor, "u1")
        # SQLite answers SQLITE_FULL by rolling back the whole transaction.
        with pytest.raises(GroupLost, match="disk holding the vault is full"):
            commit(db, actor, AuditEvent("user.add"), [big_user("u2")])
        after = add_user(db, actor, "u3")

    assert stored(other) == ["u0", "u3"]
    assert audit_seqs(other) == [1, 2]
    assert heads == [before, after]


def test_a_full_disk_outside_a_batch_changes_nothing(db, other, actor):
    add_user(db, actor, "u1")
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.execute(f"PRAGMA max_page_count = {db.pragma('page_count') + 8}")

    with pytest.raises(DiskFull):
        commit(db, actor, AuditEvent("user.add"), [big_user("u2")])

    assert stored(other) == ["u1"]
    assert audit_seqs(other) == [1]
