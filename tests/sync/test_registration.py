"""Operator controls of a hosted sync server: a registration code for new
practices, and a storage quota per practice."""

from __future__ import annotations

import base64
import hashlib
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from support.sync_server import (
    Client,
    RunningServer,
    TLSFiles,
    new_practice,
    serve_in_thread,
)
from support.vault_fixtures import make_vault

from desktop_crm.cli.server_commands import server_config
from desktop_crm.errors import UsageError
from desktop_crm.platform.secret_store import MemorySecretStore
from desktop_crm.services import patients, sync_service
from desktop_crm.services.clock import ManualClock
from desktop_crm.services.patient_model import Patient
from desktop_crm.sync.server import ServerConfig, SQLiteStore
from desktop_crm.sync.server.api import registration_hash
from desktop_crm.sync.transport import NotAuthorized, SyncError

CODE = "operator-code-7Qm2xk"
REFUSED = (401, {"error": "unauthorized"})


@pytest.fixture
def closed(
    start_server: Callable[..., RunningServer],
    connector: Callable[[RunningServer], Callable[[str | None], Client]],
) -> Callable[[str | None], Client]:
    running = start_server(ServerConfig(registration=registration_hash(CODE)))
    return connector(running)


@pytest.mark.parametrize("body_code", [None, "", "operator-code-7Qm2xK", CODE + "x"])
def test_missing_or_wrong_code_is_refused(closed, body_code) -> None:
    body = {"label": "Front desk"}
    if body_code is not None:
        body["registration_code"] = body_code
    reply = closed(None).request("POST", "/v1/practices", body)
    assert (reply.status, reply.json()) == REFUSED


def test_the_operators_code_creates_the_practice(closed) -> None:
    body = {"label": "Front desk", "registration_code": f"  {CODE}\n"}
    reply = closed(None).request("POST", "/v1/practices", body)
    assert reply.status == 201
    assert set(reply.json()) == {"practice_id", "workstation_id", "token"}


@pytest.mark.parametrize("bad", [12, ["x"], "x" * 201])
def test_a_malformed_code_is_400(closed, bad) -> None:
    body = {"label": "Front desk", "registration_code": bad}
    reply = closed(None).request("POST", "/v1/practices", body)
    assert (reply.status, reply.json()) == (400, {"error": "bad_request"})


def test_an_open_server_ignores_a_code(connect) -> None:
    body = {"label": "Front desk", "registration_code": "anything"}
    assert connect(None).request("POST", "/v1/practices", body).status == 201


def test_connect_names_the_missing_code_and_changes_nothing(
    tmp_path: Path, tls: TLSFiles
) -> None:
    store = SQLiteStore(tmp_path / "server" / "sync.sqlite3")
    config = ServerConfig(registration=registration_hash(CODE))
    secrets_store = MemorySecretStore()
    vault = make_vault(tmp_path / "a", secrets_store, ManualClock(time.time()))
    session = vault.created.session
    token = sync_service.token_name(session.vault_id)
    try:
        with serve_in_thread(store, tls, config) as server:
            for wrong in (None, "not-the-code-at-all"):
                with pytest.raises(NotAuthorized) as refused:
                    sync_service.connect(
                        vault.service,
                        session,
                        server.url,
                        tls.fingerprint,
                        registration_code=wrong,
                    )
                assert "registration code" in refused.value.message
                assert not sync_service.status(session).connected
                assert secrets_store.get(token) is None

            done = sync_service.connect(
                vault.service,
                session,
                server.url,
                tls.fingerprint,
                registration_code=CODE,
            )
            assert sync_service.status(session).connected
            assert done.practice_id
    finally:
        session.lock()
        store.close()


def test_server_run_reads_the_code_file_and_quota(tmp_path: Path) -> None:
    good = tmp_path / "code.txt"
    good.write_text(CODE + "\n", encoding="utf-8")
    assert server_config(str(good)).registration == registration_hash(CODE)
    assert server_config(None).registration is None

    short = tmp_path / "short.txt"
    short.write_text("short\n", encoding="utf-8")
    with pytest.raises(UsageError, match="at least 12 characters"):
        server_config(str(short))
    with pytest.raises(UsageError, match="cannot read"):
        server_config(str(tmp_path / "missing.txt"))
    assert server_config(None, 5).quota_bytes == 5 * 1024 * 1024
    assert server_config(None).quota_bytes is None
    for bad in (0, -1):
        with pytest.raises(UsageError, match="--quota-mb"):
            server_config(None, bad)


# -- storage quota per practice --


def _records(first: int, count: int, size: int = 100) -> dict:
    sealed = base64.urlsafe_b64encode(b"\x01" * size).decode().rstrip("=")
    return {"records": [{"seq": first + i, "ciphertext": sealed} for i in range(count)]}


def test_a_full_quota_refuses_more_and_keeps_what_is_held(
    start_server: Callable[..., RunningServer],
    connector: Callable[[RunningServer], Callable[[str | None], Client]],
) -> None:
    running = start_server(ServerConfig(quota_bytes=450))
    practice = new_practice(connector(running))
    other = new_practice(connector(running))
    client = practice.client

    assert client.request("POST", "/v1/changes", _records(1, 2)).status == 200
    blob = hashlib.sha256(b"doc").hexdigest()
    assert client.request("PUT", f"/v1/blobs/{blob}", raw=b"y" * 150).status == 201
    # 350 bytes held: 200 more would pass the 450-byte quota
    over = client.request("POST", "/v1/changes", _records(3, 2))
    assert (over.status, over.json()) == (507, {"error": "quota_exceeded"})
    big = hashlib.sha256(b"big").hexdigest()
    full = client.request("PUT", f"/v1/blobs/{big}", raw=b"z" * 101)
    assert (full.status, full.json()) == (507, {"error": "quota_exceeded"})

    page = client.request("GET", "/v1/changes").json()
    assert [r["seq"] for r in page["records"]] == [1, 2]
    assert client.request("GET", f"/v1/blobs/{big}").status == 404
    # what still fits is taken; another practice has its own quota
    assert client.request("POST", "/v1/changes", _records(3, 1)).status == 200
    assert other.client.request("POST", "/v1/changes", _records(1, 4)).status == 200


def test_the_workstation_is_told_the_quota_is_full(tmp_path: Path, tls: TLSFiles):
    store = SQLiteStore(tmp_path / "server" / "sync.sqlite3")
    vault = make_vault(tmp_path / "a", MemorySecretStore(), ManualClock(time.time()))
    session = vault.created.session
    try:
        with serve_in_thread(store, tls, ServerConfig(quota_bytes=2000)) as server:
            sync_service.connect(vault.service, session, server.url, tls.fingerprint)
            for n in range(5):
                patients.create_patient(
                    session, Patient(family=f"Quota{n}", given="Ana", notes="x" * 400)
                )
            with pytest.raises(SyncError, match="quota for this practice is full"):
                sync_service.sync_now(vault.service, session)
            status = sync_service.status(session)
            assert "quota" in status.last_error
            assert status.pending_changes > 0
    finally:
        session.lock()
        store.close()
