"""The sync server speaks docs/sync-protocol.md, on SQLite and on PostgreSQL."""

from __future__ import annotations

import base64
import hashlib
import secrets
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from support.sync_server import (
    Client,
    Practice,
    RunningServer,
    TLSFiles,
    new_practice,
    serve_in_thread,
)

from desktop_crm.sync.server import ServerConfig, SQLiteStore, Store

Connect = Callable[[str | None], Client]
Connector = Callable[[RunningServer], Connect]
HEX = "0123456789abcdef"


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def rfc3339(seconds: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(seconds))


def pairing(practice: Practice, ttl: int = 600, wrapped: bytes | None = None):
    enrolment = secrets.token_bytes(32)
    body = {
        "token_hash": hashlib.sha256(enrolment).hexdigest(),
        "expires_at": rfc3339(time.time() + ttl),
    }
    if wrapped is not None:
        body["wrapped_key"] = b64(wrapped)
    reply = practice.client.request("POST", "/v1/pairings", body)
    return reply, b64(enrolment)


def join(connect: Connect, practice: Practice, enrolment: str, label: str = "Laptop"):
    body = {
        "practice_id": practice.practice_id,
        "enrolment_token": enrolment,
        "label": label,
    }
    return connect(None).request("POST", "/v1/join", body)


def push(client: Client, *seqs: int, prefix: bytes = b"ct") -> dict:
    records = [{"seq": s, "ciphertext": b64(prefix + bytes([s % 256]))} for s in seqs]
    reply = client.request("POST", "/v1/changes", {"records": records})
    assert reply.status == 200, reply.body
    return reply.json()


def pull(client: Client, after: int = 0, limit: int | None = None) -> dict:
    query = f"?after={after}" + (f"&limit={limit}" if limit else "")
    reply = client.request("GET", "/v1/changes" + query)
    assert reply.status == 200, reply.body
    return reply.json()


def test_health_and_openapi(connect: Connect) -> None:
    client = connect(None)
    assert client.request("GET", "/v1/health").json() == {"status": "ok", "protocol": 1}
    document = client.request("GET", "/openapi.json").json()
    assert document["openapi"].startswith("3.1")
    assert "/v1/changes" in document["paths"]


def test_create_practice_gives_a_working_token(practice: Practice) -> None:
    assert len(practice.practice_id) == 32
    assert len(unb64(practice.token)) == 32
    listed = practice.client.request("GET", "/v1/workstations").json()
    [ws] = listed["workstations"]
    assert ws["id"] == practice.workstation_id
    assert ws["label"] == "Front desk"
    assert ws["revoked"] is False


def test_pairing_and_join_is_single_use(practice: Practice, connect: Connect) -> None:
    reply, enrolment = pairing(practice, wrapped=b"wrapped practice key")
    assert reply.status == 201, reply.body
    joined = join(connect, practice, enrolment)
    assert joined.status == 201, joined.body
    answer = joined.json()
    assert unb64(answer["wrapped_key"]) == b"wrapped practice key"
    laptop = connect(answer["token"])
    labels = {
        w["label"]
        for w in laptop.request("GET", "/v1/workstations").json()["workstations"]
    }
    assert labels == {"Front desk", "Laptop"}

    again = join(connect, practice, enrolment, "Second laptop")
    assert (again.status, again.json()) == (401, {"error": "unauthorized"})


def test_join_refuses_unknown_token_and_other_practice(
    practice: Practice, connect: Connect
) -> None:
    reply, enrolment = pairing(practice)
    assert reply.status == 201
    other = new_practice(connect)
    assert join(connect, other, enrolment).status == 401
    assert join(connect, practice, b64(secrets.token_bytes(32))).status == 401
    assert join(connect, practice, "not base64!").status == 401
    assert join(connect, practice, enrolment).status == 201  # still unused


def test_expired_pairing_is_refused(
    start_server: Callable[..., RunningServer], connector: Connector
) -> None:
    now = [time.time()]
    running = start_server(ServerConfig(clock=lambda: now[0]))
    connect = connector(running)
    practice = new_practice(connect)
    reply, enrolment = pairing(practice, ttl=600)
    assert reply.status == 201
    now[0] += 601
    assert join(connect, practice, enrolment).status == 401


@pytest.mark.parametrize("ttl", [-5, 0, 3600])
def test_pairing_expiry_must_be_within_ten_minutes(
    practice: Practice, ttl: int
) -> None:
    reply, _ = pairing(practice, ttl=ttl)
    assert (reply.status, reply.json()) == (400, {"error": "bad_request"})


def test_push_is_idempotent(practice: Practice) -> None:
    assert push(practice.client, 1, 2, 3) == {"accepted": 3, "duplicates": 0}
    assert push(practice.client, 2, 3, 4) == {"accepted": 1, "duplicates": 2}
    assert push(practice.client, 5, 5) == {"accepted": 1, "duplicates": 1}
    page = pull(practice.client)
    assert [r["seq"] for r in page["records"]] == [1, 2, 3, 4, 5]
    assert {r["workstation_id"] for r in page["records"]} == {practice.workstation_id}


def test_pull_pages_with_increasing_cursors(
    practice: Practice, connect: Connect
) -> None:
    reply, enrolment = pairing(practice)
    laptop = connect(join(connect, practice, enrolment).json()["token"])
    push(practice.client, *range(1, 8))
    push(laptop, 1, 2, 3, prefix=b"laptop")
    seen: list[dict] = []
    after, more = 0, True
    while more:
        page = pull(laptop, after, limit=4)
        seen += page["records"]
        assert page["next"] == (
            page["records"][-1]["cursor"] if page["records"] else after
        )
        after, more = page["next"], page["more"]
    cursors = [r["cursor"] for r in seen]
    assert cursors == sorted(cursors) and len(set(cursors)) == 10
    assert unb64(seen[-1]["ciphertext"]) == b"laptop\x03"
    assert seen[0]["received_at"].endswith("Z")
    empty = pull(laptop, after)
    assert empty == {"records": [], "next": after, "more": False}


def test_practices_are_separate(practice: Practice, connect: Connect) -> None:
    other = new_practice(connect)
    push(practice.client, 1)
    assert pull(other.client)["records"] == []
    blob = "ab" * 32
    assert practice.client.request("PUT", f"/v1/blobs/{blob}", raw=b"x").status == 201
    assert other.client.request("GET", f"/v1/blobs/{blob}").status == 404
    revoke = other.client.request(
        "POST", f"/v1/workstations/{practice.workstation_id}/revoke"
    )
    assert (revoke.status, revoke.json()) == (404, {"error": "not_found"})


def test_blobs_put_get_conflict(practice: Practice) -> None:
    blob_id = "".join(secrets.choice(HEX) for _ in range(64))
    path = f"/v1/blobs/{blob_id}"
    assert practice.client.request("GET", path).status == 404
    created = practice.client.request("PUT", path, raw=b"\x00sealed bytes")
    assert (created.status, created.json()) == (201, {"id": blob_id, "size": 13})
    assert practice.client.request("PUT", path, raw=b"\x00sealed bytes").status == 200
    conflict = practice.client.request("PUT", path, raw=b"other bytes")
    assert (conflict.status, conflict.json()) == (409, {"error": "conflict"})
    got = practice.client.request("GET", path)
    assert got.status == 200
    assert got.headers["content-type"] == "application/octet-stream"
    assert got.body == b"\x00sealed bytes"
    bad = practice.client.request("PUT", "/v1/blobs/ABC", raw=b"x")
    assert (bad.status, bad.json()) == (400, {"error": "bad_request"})


def test_revoked_workstation_is_refused(practice: Practice, connect: Connect) -> None:
    reply, enrolment = pairing(practice)
    answer = join(connect, practice, enrolment).json()
    laptop = connect(answer["token"])
    assert laptop.request("GET", "/v1/changes").status == 200
    revoked = practice.client.request(
        "POST", f"/v1/workstations/{answer['workstation_id']}/revoke"
    )
    assert (revoked.status, revoked.json()) == (
        200,
        {"revoked": answer["workstation_id"]},
    )
    refused = laptop.request("GET", "/v1/changes")
    assert (refused.status, refused.json()) == (401, {"error": "unauthorized"})
    listed = practice.client.request("GET", "/v1/workstations").json()["workstations"]
    assert {w["id"]: w["revoked"] for w in listed}[answer["workstation_id"]] is True


def test_restart_on_the_same_store_keeps_everything(
    start_server: Callable[..., RunningServer],
    open_store: Callable[[], Store],
    connector: Connector,
    tls: TLSFiles,
) -> None:
    first = open_store()
    with serve_in_thread(first, tls) as running:
        practice = new_practice(connector(running))
        push(practice.client, 1, 2)
        practice.client.request("PUT", "/v1/blobs/" + "cd" * 32, raw=b"blob")
        practice.client.close()
    first.close()

    client = connector(start_server(store=open_store()))(practice.token)
    assert [r["seq"] for r in pull(client)["records"]] == [1, 2]
    assert client.request("GET", "/v1/blobs/" + "cd" * 32).body == b"blob"
    assert push(client, 2, 3) == {"accepted": 1, "duplicates": 1}


def test_sqlite_store_lives_in_the_data_folder(
    tmp_path: Path, tls: TLSFiles, connector: Connector
) -> None:
    store = SQLiteStore(tmp_path / "data" / "sync-server.sqlite3")
    try:
        with serve_in_thread(store, tls) as running:
            new_practice(connector(running))
    finally:
        store.close()
    assert (tmp_path / "data" / "sync-server.sqlite3").stat().st_size > 0
