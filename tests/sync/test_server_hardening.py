"""The sync server refuses bad input with JSON errors and keeps serving."""

from __future__ import annotations

import base64
import json
import logging
import socket
import ssl
import threading
import time
from collections.abc import Callable

import pytest
from support.sync_server import (
    HOST,
    Client,
    Practice,
    RunningServer,
    TLSFiles,
    new_practice,
)

from desktop_crm.sync.server import ServerConfig
from desktop_crm.sync.server.ratelimit import Rate

Connect = Callable[[str | None], Client]
Connector = Callable[[RunningServer], Connect]


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def raw_exchange(port: int, tls: TLSFiles, data: bytes, timeout: float = 10) -> bytes:
    """Send raw bytes over TLS and read until the server closes."""
    context = tls.client_context()
    with socket.create_connection((HOST, port), timeout=timeout) as sock:
        with context.wrap_socket(sock, server_hostname=HOST) as conn:
            conn.sendall(data)
            chunks = []
            while True:
                try:
                    chunk = conn.recv(65536)
                except (TimeoutError, ssl.SSLError, ConnectionResetError):
                    break
                if not chunk:
                    break
                chunks.append(chunk)
    return b"".join(chunks)


def status_and_body(answer: bytes) -> tuple[int, dict]:
    head, _, body = answer.partition(b"\r\n\r\n")
    return int(head.split()[1]), json.loads(body)


def test_every_auth_failure_is_the_same_401(
    practice: Practice, connect: Connect
) -> None:
    joined = practice.client.request("GET", "/v1/workstations")
    assert joined.status == 200
    revoked = new_practice(connect)
    assert (
        revoked.client.request(
            "POST", f"/v1/workstations/{revoked.workstation_id}/revoke"
        ).status
        == 200
    )
    attempts = [
        {},
        {"Authorization": "Basic dXNlcjpwYXNz"},
        {"Authorization": "Bearer"},
        {"Authorization": "Bearer not-base64!"},
        {"Authorization": "Bearer " + b64(b"short")},
        {"Authorization": "Bearer " + b64(bytes(32))},
        {"Authorization": "Bearer " + revoked.token},
        {"Authorization": "bearer " + practice.token},
    ]
    replies = []
    for headers in attempts:
        reply = connect(None).request("GET", "/v1/changes", headers=headers)
        replies.append(
            (
                reply.status,
                reply.body,
                sorted((k, v) for k, v in reply.headers.items() if k != "date"),
            )
        )
    assert replies[0][:2] == (401, b'{"error":"unauthorized"}')
    assert all(r == replies[0] for r in replies), replies


def test_oversized_bodies_are_refused_before_reading(
    server: RunningServer, tls: TLSFiles, practice: Practice
) -> None:
    auth = f"Authorization: Bearer {practice.token}\r\n".encode()
    for method, path, size in [
        (b"POST", b"/v1/changes", 8 * 1024 * 1024 + 1),
        (b"POST", b"/v1/practices", 8 * 1024 * 1024 + 1),
        (b"PUT", b"/v1/blobs/" + b"ab" * 32, 40 * 1024 * 1024 + 1),
    ]:
        head = (
            method + b" " + path + b" HTTP/1.1\r\nHost: x\r\n" + auth
            + b"Content-Length: " + str(size).encode() + b"\r\n\r\n"
        )  # fmt: skip
        started = time.monotonic()
        answer = raw_exchange(server.port, tls, head)  # no body sent at all
        assert status_and_body(answer) == (413, {"error": "too_large"})
        assert time.monotonic() - started < 5
        assert b"Connection: close" in answer


def test_token_rate_limit_gives_429_with_retry_after(
    start_server: Callable[..., RunningServer], connector: Connector
) -> None:
    config = ServerConfig(token_rate=Rate(per_second=0.2, burst=3))
    practice = new_practice(connector(start_server(config)))
    statuses = [practice.client.request("GET", "/v1/changes") for _ in range(4)]
    assert [r.status for r in statuses] == [200, 200, 200, 429]
    assert statuses[3].json() == {"error": "rate_limited"}
    assert int(statuses[3].headers["retry-after"]) >= 1


def test_address_rate_limit_covers_failed_logins(
    start_server: Callable[..., RunningServer], connector: Connector
) -> None:
    config = ServerConfig(address_rate=Rate(per_second=0.1, burst=3))
    connect = connector(start_server(config))
    practice = new_practice(connect)  # spends one
    bad = {"Authorization": "Bearer " + b64(bytes(32))}
    first = connect(None).request("GET", "/v1/changes", headers=bad)
    second = connect(None).request("GET", "/v1/changes", headers=bad)
    third = connect(None).request("GET", "/v1/changes", headers=bad)
    assert [first.status, second.status, third.status] == [401, 401, 429]
    assert "retry-after" in third.headers
    # a valid token is limited by its own bucket, not the address's
    assert practice.client.request("GET", "/v1/changes").status == 200


MALFORMED_PUSHES = [
    b"{",
    b"[]",
    b"null",
    b'"text"',
    b"\xff\xfe",
    b"{}",
    b'{"records": "x"}',
    b'{"records": [1]}',
    b'{"records": [{"seq": 0, "ciphertext": "AA"}]}',
    b'{"records": [{"seq": true, "ciphertext": "AA"}]}',
    b'{"records": [{"seq": 1.5, "ciphertext": "AA"}]}',
    b'{"records": [{"seq": 1e300, "ciphertext": "AA"}]}',
    b'{"records": [{"seq": 99999999999999999999, "ciphertext": "AA"}]}',
    b'{"records": [{"seq": 1, "ciphertext": "not base64!"}]}',
    b'{"records": [{"seq": 1, "ciphertext": "AB=="}]}',
    b'{"records": [{"seq": 1, "ciphertext": ""}]}',
    b'{"records": [{"seq": 1}]}',
    b'{"records": [{"seq": NaN, "ciphertext": "AA"}]}',
    b"[" * 100_000 + b"]" * 100_000,
    json.dumps(
        {"records": [{"seq": i, "ciphertext": "AA"} for i in range(1, 502)]}
    ).encode(),
]


@pytest.mark.parametrize("body", MALFORMED_PUSHES, ids=range(len(MALFORMED_PUSHES)))
def test_malformed_push_is_400_and_stores_nothing(
    practice: Practice, body: bytes
) -> None:
    reply = practice.client.request(
        "POST", "/v1/changes", raw=body, headers={"Content-Type": "application/json"}
    )
    assert (reply.status, reply.json()) == (400, {"error": "bad_request"})
    assert practice.client.request("GET", "/v1/changes").json()["records"] == []


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/v1/practices", {}),
        ("/v1/practices", {"label": ""}),
        ("/v1/practices", {"label": 5}),
        ("/v1/practices", {"label": "x" * 101}),
        ("/v1/practices", {"label": "tab\there"}),
        ("/v1/pairings", {"token_hash": "ab" * 32}),
        ("/v1/pairings", {"token_hash": "xyz", "expires_at": "2030-01-01T00:00:00Z"}),
        ("/v1/pairings", {"token_hash": "ab" * 32, "expires_at": "tomorrow"}),
        ("/v1/pairings", {"token_hash": "ab" * 32, "expires_at": "2030-01-01T00:00"}),
        ("/v1/join", {"practice_id": 1, "enrolment_token": "x", "label": "L"}),
        ("/v1/join", {"practice_id": "p", "enrolment_token": "x"}),
    ],
)
def test_malformed_fields_are_400(practice: Practice, path: str, body: dict) -> None:
    reply = practice.client.request("POST", path, body)
    assert (reply.status, reply.json()) == (400, {"error": "bad_request"})


@pytest.mark.parametrize(
    "query",
    ["after=-1", "after=x", "limit=0", "limit=501", "after=1&after=2",
     "after=" + "9" * 25, "after=1e3"],
)  # fmt: skip
def test_bad_pull_queries_are_400(practice: Practice, query: str) -> None:
    reply = practice.client.request("GET", "/v1/changes?" + query)
    assert (reply.status, reply.json()) == (400, {"error": "bad_request"})


@pytest.mark.parametrize(
    ("method", "target"),
    [("GET", "/v1/changes?~=true"), ("GET", "/v1/changes?after=0&x"),
     ("GET", "/v1/workstations?all=1"), ("GET", "/openapi.json?v=2")],
)  # fmt: skip
def test_unknown_query_parameters_are_400(
    practice: Practice, method: str, target: str
) -> None:
    reply = practice.client.request(method, target)
    assert (reply.status, reply.json()) == (400, {"error": "bad_request"})
    # and the known ones still work
    assert practice.client.request("GET", "/v1/changes?after=0").status == 200


def test_unknown_paths_and_methods(practice: Practice) -> None:
    missing = practice.client.request("GET", "/v2/nothing")
    assert (missing.status, missing.json()) == (404, {"error": "not_found"})
    wrong = practice.client.request("DELETE", "/v1/changes")
    assert (wrong.status, wrong.json()) == (405, {"error": "method_not_allowed"})
    put = practice.client.request("PUT", "/v1/changes", raw=b"x")
    assert put.status == 405 and put.headers["allow"] == "POST, GET"


@pytest.mark.parametrize(
    "request_bytes",
    [
        b"GARBAGE\r\n\r\n",
        b"GET /v1/health HTTP/9.9\r\n\r\n",
        b"GET /v1/health HTTP/1.1\r\nX-Long: " + b"a" * 70_000 + b"\r\n\r\n",
        b"GET /v1/health HTTP/1.1\r\n" + b"X: y\r\n" * 200 + b"\r\n",
        b"GET /" + b"a" * 70_000 + b" HTTP/1.1\r\n\r\n",
        b"POST /v1/practices HTTP/1.1\r\nContent-Length: -5\r\n\r\n",
        b"POST /v1/practices HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    ],
)
def test_broken_http_gets_a_json_error(
    server: RunningServer, tls: TLSFiles, connect: Connect, request_bytes: bytes
) -> None:
    answer = raw_exchange(server.port, tls, request_bytes)
    status, body = status_and_body(answer)
    assert 400 <= status <= 505 and status != 500 and "error" in body
    assert connect(None).request("GET", "/v1/health").status == 200


def test_a_stalled_client_is_dropped_and_others_are_served(
    start_server: Callable[..., RunningServer], connector: Connector, tls: TLSFiles
) -> None:
    running = start_server(ServerConfig(socket_timeout=0.5))
    started = time.monotonic()
    # headers never finished: the server's socket timeout ends the connection
    answer = raw_exchange(running.port, tls, b"GET /v1/health HTTP/1.1\r\n", 10)
    assert time.monotonic() - started < 5
    assert not answer.startswith(b"HTTP/1.1 200")
    # a silent TCP client (no TLS handshake) does not block the accept loop
    with socket.create_connection((HOST, running.port)):
        assert connector(running)(None).request("GET", "/v1/health").status == 200


def test_access_log_is_json_without_bodies_or_tokens(
    practice: Practice, caplog: pytest.LogCaptureFixture
) -> None:
    secret_payload = b64(b"sealed-secret-bytes")
    with caplog.at_level(logging.INFO, logger="desktop_crm.sync.server.access"):
        practice.client.request(
            "POST",
            "/v1/changes",
            {"records": [{"seq": 1, "ciphertext": secret_payload}]},
        )
        practice.client.request("GET", "/v1/blobs/" + "ef" * 32)

        # The line of a request is written after its answer is sent: the
        # fixture's registration may still be logged in this window.
        def ours() -> list[dict]:
            found = [json.loads(r.getMessage()) for r in caplog.records]
            return [x for x in found if x["path"] != "/v1/practices"]

        _wait_for(lambda: len(ours()) >= 2)
    lines = ours()
    assert {tuple(sorted(line)) for line in lines} == {
        ("bytes", "duration_ms", "method", "path", "status", "time", "workstation")
    }
    assert [(x["method"], x["path"], x["status"]) for x in lines] == [
        ("POST", "/v1/changes", 200),
        ("GET", "/v1/blobs/{id}", 404),
    ]
    assert all(x["workstation"] == practice.workstation_id for x in lines)
    text = caplog.text
    assert secret_payload not in text and practice.token not in text
    assert "ef" * 32 not in text


def _wait_for(condition: Callable[[], bool], seconds: float = 5) -> None:
    deadline = time.monotonic() + seconds
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.01)


def test_concurrent_pushes_never_hide_records_from_a_puller(
    practice: Practice, connect: Connect
) -> None:
    """Two workstations push while a third pulls: every record is seen once,
    in increasing cursor order (PostgreSQL: the per-practice advisory lock)."""
    other = new_practice(connect)  # noise in another practice
    batches, per_batch = 15, 10
    errors: list[BaseException] = []
    pushers_done = threading.Event()

    def pusher(token: str) -> None:
        client = connect(token)
        try:
            for b in range(batches):
                seqs = range(b * per_batch + 1, (b + 1) * per_batch + 1)
                records = [{"seq": s, "ciphertext": b64(b"r%d" % s)} for s in seqs]
                reply = client.request("POST", "/v1/changes", {"records": records})
                assert reply.status == 200, reply.body
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)

    second = _join_second(practice, connect)
    threads = [
        threading.Thread(target=pusher, args=(t,))
        for t in (practice.token, second, other.token)
    ]
    for thread in threads:
        thread.start()
    threading.Thread(
        target=lambda: ([t.join(60) for t in threads], pushers_done.set())
    ).start()
    seen, after = [], 0
    reader = connect(practice.token)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        finished = pushers_done.is_set()
        page = reader.request("GET", f"/v1/changes?after={after}&limit=37").json()
        seen += page["records"]
        after = page["next"]
        if finished and not page["more"]:
            break
    assert not errors, errors
    cursors = [r["cursor"] for r in seen]
    assert cursors == sorted(set(cursors))
    keys = {(r["workstation_id"], r["seq"]) for r in seen}
    assert len(keys) == len(seen) == 2 * batches * per_batch


def _join_second(practice: Practice, connect: Connect) -> str:
    import hashlib
    import secrets

    enrolment = secrets.token_bytes(32)
    expires = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 300))
    body = {"token_hash": hashlib.sha256(enrolment).hexdigest(), "expires_at": expires}
    assert practice.client.request("POST", "/v1/pairings", body).status == 201
    joined = connect(None).request(
        "POST",
        "/v1/join",
        {
            "practice_id": practice.practice_id,
            "enrolment_token": b64(enrolment),
            "label": "Laptop",
        },
    )
    return str(joined.json()["token"])
