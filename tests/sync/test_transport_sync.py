"""The HTTPS transport against the real sync server on loopback TLS.

Uses tests/support/sync_server.py (the server engineer's helper: trustme
certificates, the server in a thread).  Checks the pin, dates and host name
are enforced by the workstation, plain http is refused before connecting,
and two vaults sync through the real server: convergence, both values of a
conflict visible, delete against edit flagged, a record delivered twice
changing nothing, and no patient value anywhere in the server's storage.
"""

from __future__ import annotations

import hashlib
import ssl
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import trustme
from support.sync_server import HOST, TLSFiles, make_tls, serve_in_thread
from support.vault_fixtures import ADMIN, make_vault

from desktop_crm.errors import InvalidInput
from desktop_crm.platform.secret_store import MemorySecretStore
from desktop_crm.services import patients, sync_service
from desktop_crm.services.clock import ManualClock
from desktop_crm.services.patient_model import Patient
from desktop_crm.storage import sync_queries
from desktop_crm.storage.writepath import AuditEvent, Mutation
from desktop_crm.sync.server import SQLiteStore
from desktop_crm.sync.transport import (
    CertificateRefused,
    HttpsTransport,
    ServerUnreachable,
    verify_certificate,
)

CANARIES = ("Zyxwquartz", "canary-note-Qv7Lm2", "Quixotica", "1983-07-19")


def _no_sleep(_: float) -> None:
    return None


_OPEN: list[HttpsTransport] = []


def transport(url: str, fingerprint: str, token: str | None = None) -> HttpsTransport:
    made = HttpsTransport(url, fingerprint, token, timeout=10, sleep=_no_sleep)
    _OPEN.append(made)
    return made


@pytest.fixture(autouse=True)
def _close_transports():
    yield
    while _OPEN:
        _OPEN.pop().close()


@pytest.fixture
def tls(tmp_path: Path) -> TLSFiles:
    return make_tls(tmp_path / "tls")


@pytest.fixture
def running(tmp_path: Path, tls: TLSFiles):
    store = SQLiteStore(tmp_path / "server" / "sync.sqlite3")
    with serve_in_thread(store, tls) as server:
        yield server
    store.close()


def _cert_files(folder: Path, leaf: trustme.LeafCert) -> TLSFiles:
    folder.mkdir(parents=True, exist_ok=True)
    cert, key = folder / "server.pem", folder / "server.key"
    leaf.private_key_pem.write_to_path(str(key))
    cert.write_bytes(b"".join(blob.bytes() for blob in leaf.cert_chain_pems))
    der = ssl.PEM_cert_to_DER_cert(leaf.cert_chain_pems[0].bytes().decode("ascii"))
    return TLSFiles(
        trustme.CA(), cert, key, folder / "ca.pem", hashlib.sha256(der).hexdigest()
    )


# -- TLS checks ------------------------------------------------------------------


def test_pinned_server_answers(running, tls: TLSFiles):
    answer = transport(running.url, tls.fingerprint).health()

    assert answer == {"status": "ok", "protocol": 1}


def test_wrong_fingerprint_is_refused(running):
    with pytest.raises(CertificateRefused, match="pinned fingerprint"):
        transport(running.url, "00" * 32).health()


def test_certificate_for_another_host_is_refused(tmp_path: Path):
    leaf = trustme.CA().issue_cert("sync.other.example")
    files = _cert_files(tmp_path / "other", leaf)
    store = SQLiteStore(tmp_path / "s.sqlite3")
    with serve_in_thread(store, files) as server:
        with pytest.raises(CertificateRefused, match=f"does not name {HOST}"):
            transport(server.url, files.fingerprint).health()
    store.close()


def test_expired_certificate_is_refused(tmp_path: Path):
    now = datetime.now(UTC)
    leaf = trustme.CA().issue_cert(
        HOST, not_before=now - timedelta(days=30), not_after=now - timedelta(days=1)
    )
    files = _cert_files(tmp_path / "expired", leaf)
    store = SQLiteStore(tmp_path / "s.sqlite3")
    with serve_in_thread(store, files) as server:
        with pytest.raises(CertificateRefused, match="expired"):
            transport(server.url, files.fingerprint).health()
    store.close()


def test_certificate_not_yet_valid_is_refused(tls: TLSFiles):
    der = ssl.PEM_cert_to_DER_cert(
        tls.cert_file.read_text().split("-----END")[0] + "-----END CERTIFICATE-----\n"
    )
    fingerprint = hashlib.sha256(der).hexdigest()
    verify_certificate(der, fingerprint, HOST)

    with pytest.raises(CertificateRefused, match="not yet valid"):
        verify_certificate(der, fingerprint, HOST, datetime(1990, 1, 1, tzinfo=UTC))


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:1", "HTTP://localhost", "127.0.0.1:8443", "https://"]
)
def test_plain_or_malformed_url_is_refused_before_connecting(url):
    with pytest.raises(InvalidInput) as caught:
        HttpsTransport(url, "ab" * 32)

    assert caught.value.field == "server URL"


@pytest.mark.parametrize("port", ["99999", "0", "x1"])
def test_a_port_out_of_range_is_named(port):
    with pytest.raises(InvalidInput, match="port must be a number from 1 to 65535"):
        HttpsTransport(f"https://127.0.0.1:{port}", "ab" * 32)


def test_an_unknown_host_name_is_named_at_once(tls: TLSFiles):
    slept: list[float] = []
    client = HttpsTransport(
        "https://nonexistent.invalid:8443", tls.fingerprint, sleep=slept.append
    )

    with pytest.raises(ServerUnreachable, match="host name nonexistent.invalid is not"):
        client.health()
    assert slept == []  # a name that does not resolve is not retried


def test_no_server_gives_one_clear_message_after_retries(tls: TLSFiles):
    import socket

    with socket.socket() as probe:
        probe.bind((HOST, 0))
        port = probe.getsockname()[1]
    slept: list[float] = []
    client = HttpsTransport(
        f"https://{HOST}:{port}", tls.fingerprint, attempts=3, sleep=slept.append
    )

    with pytest.raises(ServerUnreachable, match="cannot reach the sync server"):
        client.health()
    assert slept == [0.5, 1.0]


def test_revoked_token_and_bad_token_get_the_same_refusal(running, tls: TLSFiles):
    from desktop_crm.sync.transport import NotAuthorized

    first = transport(running.url, tls.fingerprint).create_practice("front desk")
    with pytest.raises(NotAuthorized):
        transport(running.url, tls.fingerprint, "A" * 43).pull(0, 10)
    assert (
        transport(running.url, tls.fingerprint, first.token).pull(0, 10).records == []
    )


# -- two vaults through the real server ------------------------------------------------


def _new_patient(session, family: str, **extra: str) -> str:
    return patients.create_patient(
        session,
        Patient(family=family, given="Ana", birth_date="1983-07-19", **extra),
        allow_duplicates=True,
    )


def _edit(session, patient_id: str, **changes: str) -> None:
    before = patients.load_patient(session, patient_id)
    patients.update_patient(session, patient_id, replace(before, **changes))


def _server_bytes(folder: Path) -> bytes:
    return b"".join(p.read_bytes() for p in sorted(folder.glob("*")) if p.is_file())


@pytest.mark.slow
def test_two_vaults_sync_over_loopback_tls(
    tmp_path: Path, tls: TLSFiles, backend: str, open_store, request
):
    """The issue's whole story on the real server, once on each store; then a
    canary scan of all the server holds (its SQLite files, or a pg_dump)."""
    store = open_store()
    # The vaults' clock must agree with the server's (pairing expiry).
    clock = ManualClock(time.time())
    with serve_in_thread(store, tls) as server:
        a = make_vault(tmp_path / "a", MemorySecretStore(), clock)
        sa = a.created.session
        sync_service.connect(
            a.service, sa, server.url, tls.fingerprint, transport_factory=transport
        )
        pid = _new_patient(sa, CANARIES[0], notes=CANARIES[1])
        code = sync_service.pair_code(a.service, sa, transport_factory=transport)
        b_store = MemorySecretStore()
        joined = sync_service.join(
            tmp_path / "b",
            b_store,
            code.code,
            ADMIN,
            "246813",
            transport_factory=transport,
            clock=clock,
        )
        sb = joined.session
        b_service = sync_service.VaultService(tmp_path / "b", b_store, clock)

        def sync_a():
            return sync_service.sync_now(a.service, sa, transport_factory=transport)

        def sync_b():
            return sync_service.sync_now(b_service, sb, transport_factory=transport)

        assert sync_queries.row(sb.database(), "patients", pid)["family"] == CANARIES[0]

        # Edits on each side converge.
        _edit(sb, pid, pronouns="she/her")
        sync_b()
        sync_a()
        _edit(sa, pid, given=CANARIES[2])
        sync_a()
        sync_b()
        row_a = sync_queries.row(sa.database(), "patients", pid)
        assert row_a == sync_queries.row(sb.database(), "patients", pid)
        assert row_a["pronouns"] == "she/her" and row_a["given"] == CANARIES[2]

        # The same field on both sides: both values visible.
        _edit(sa, pid, preferred_name="Annie")
        _edit(sb, pid, preferred_name="Nan")
        sync_a()
        sync_b()
        sync_a()
        for side in (sa, sb):
            found = [
                c
                for c in sync_queries.conflicts(side.database())
                if c.field == "preferred_name"
            ]
            assert len(found) == 1
            assert {found[0].kept_value, found[0].lost_value} == {"Annie", "Nan"}
        assert sync_queries.row(sa.database(), "patients", pid) == sync_queries.row(
            sb.database(), "patients", pid
        )

        # A delete against an edit is flagged and the record kept.
        ident = sa.database().scalar(
            "SELECT id FROM patient_identifiers WHERE patient_id = ?", (pid,)
        )
        sa.write(
            AuditEvent("test.delete"),
            [Mutation("patient_identifiers", ident, "delete")],
        )
        sb.write(
            AuditEvent("test.edit"),
            [Mutation("patient_identifiers", ident, "update", {"label": "Chart"})],
        )
        for _ in range(2):
            sync_a()
            sync_b()
        sync_a()
        kept_a = sync_queries.row(sa.database(), "patient_identifiers", ident)
        assert kept_a is not None
        assert kept_a == sync_queries.row(sb.database(), "patient_identifiers", ident)
        assert any(
            c.field == "__deleted__" for c in sync_queries.conflicts(sa.database())
        )

        # Every record delivered again changes nothing.
        before = sync_queries.row(sb.database(), "patients", pid)
        sb.write(
            AuditEvent("test.rewind"),
            [Mutation("sync_state", "pull_cursor", "upsert", {"value": "0"})],
        )
        again = sync_b()
        assert again.pulled == 0 and again.conflicts == 0
        assert sync_queries.row(sb.database(), "patients", pid) == before

        sa.lock()
        sb.lock()
    store.close()

    if backend == "postgres":
        stored = request.getfixturevalue("pg_cluster").dump(store._url)
    else:
        stored = _server_bytes(tmp_path / "server")
    assert len(stored) > 10_000  # the records are in there, sealed
    for canary in (*CANARIES, ADMIN, "Annie", "Nan", "Chart"):
        assert canary.encode() not in stored, canary
