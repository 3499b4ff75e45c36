"""TLS of the sync server: 1.2+ only, nothing in the clear; the CLI runs it."""

from __future__ import annotations

import os
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from support.sync_server import HOST, Client, RunningServer, TLSFiles

from desktop_crm.sync.server import SQLiteStore, SyncServer, tls_context

REPO = Path(__file__).resolve().parents[2]


def test_tls13_is_preferred_without_compression(
    server: RunningServer, tls: TLSFiles
) -> None:
    with socket.create_connection((HOST, server.port), timeout=10) as sock:
        with tls.client_context().wrap_socket(sock, server_hostname=HOST) as conn:
            assert conn.version() == "TLSv1.3"
            assert conn.compression() is None


def test_tls12_is_accepted(server: RunningServer, tls: TLSFiles) -> None:
    context = tls.client_context()
    context.maximum_version = ssl.TLSVersion.TLSv1_2
    client = Client(server.port, context)
    try:
        assert client.request("GET", "/v1/health").status == 200
    finally:
        client.close()


@pytest.mark.filterwarnings("ignore:ssl.TLSVersion.TLSv1:DeprecationWarning")
@pytest.mark.parametrize("version", [ssl.TLSVersion.TLSv1, ssl.TLSVersion.TLSv1_1])
def test_old_tls_is_refused(
    server: RunningServer, tls: TLSFiles, version: ssl.TLSVersion
) -> None:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.load_verify_locations(str(tls.ca_file))
    context.set_ciphers("@SECLEVEL=0:ALL")
    try:
        context.minimum_version = version
        context.maximum_version = version
    except (ValueError, ssl.SSLError):
        pytest.skip(f"this OpenSSL cannot even offer {version.name}")
    with socket.create_connection((HOST, server.port), timeout=10) as sock:
        # the server's alert, not a client that could not offer the version
        refused = "ALERT_PROTOCOL_VERSION|UNSUPPORTED_PROTOCOL|WRONG_VERSION"
        with pytest.raises(ssl.SSLError, match=refused):
            with context.wrap_socket(sock, server_hostname=HOST):
                pass


def test_plain_http_gets_no_http_answer(server: RunningServer) -> None:
    with socket.create_connection((HOST, server.port), timeout=10) as sock:
        sock.sendall(b"GET /v1/health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        received = b""
        try:
            while chunk := sock.recv(4096):
                received += chunk
        except (ConnectionResetError, TimeoutError):
            pass
    assert b"HTTP/" not in received
    assert b"health" not in received and b"ok" not in received


def test_cli_server_run_listens_and_stops_on_sigterm(
    tls: TLSFiles, tmp_path: Path
) -> None:
    env = dict(os.environ, PYTHONPATH=str(REPO))
    process = subprocess.Popen(
        [sys.executable, "-m", "desktop_crm", "server", "run",
         "--listen", f"{HOST}:0", "--cert", str(tls.cert_file),
         "--key", str(tls.key_file), "--data-dir", str(tmp_path / "srv")],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=REPO,
    )  # fmt: skip
    try:
        assert process.stdout is not None
        line = process.stdout.readline().strip()
        assert line.startswith(f"listening on https://{HOST}:"), line
        port = int(line.rsplit(":", 1)[1])
        client = Client(port, tls.client_context())
        try:
            assert client.request("POST", "/v1/practices", {"label": "A"}).status == 201
        finally:
            client.close()
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=20)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 0, err
    assert (tmp_path / "srv" / "sync-server.sqlite3").exists()
    assert '"path":"/v1/practices","status":201' in err


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--listen", "nonsense"], "--listen"),
        (["--listen", f"{HOST}:1", "--database", "mysql://x"], "--database"),
        (["--listen", f"{HOST}:1", "--database", "postgresql://nobody@127.0.0.1:1/x"],
         "cannot be reached"),
    ],
)  # fmt: skip
def test_cli_server_run_reports_bad_options(
    tls: TLSFiles, tmp_path: Path, extra: list[str], message: str
) -> None:
    args = ["--cert", str(tls.cert_file), "--key", str(tls.key_file)]
    args += ["--data-dir", str(tmp_path)]
    result = subprocess.run(
        [sys.executable, "-m", "desktop_crm", "server", "run", *args, *extra],
        capture_output=True, text=True, timeout=60, cwd=REPO,
        env=dict(os.environ, PYTHONPATH=str(REPO)),
    )  # fmt: skip
    assert result.returncode in (1, 2)
    assert message in result.stderr and "Traceback" not in result.stderr


def test_cli_refuses_a_missing_key(tmp_path: Path, tls: TLSFiles) -> None:
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-m", "desktop_crm", "server", "run", "--listen",
         f"{HOST}:0", "--cert", str(tls.cert_file), "--key", str(tmp_path / "no.key")],
        capture_output=True, text=True, timeout=60, cwd=REPO,
        env=dict(os.environ, PYTHONPATH=str(REPO)),
    )  # fmt: skip
    assert result.returncode == 1
    assert "--key: cannot read" in result.stderr and "no.key" in result.stderr
    assert time.monotonic() - started < 60


def _server_run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "desktop_crm", "server", "run", *args],
        capture_output=True, text=True, timeout=60, cwd=REPO,
        env=dict(os.environ, PYTHONPATH=str(REPO)),
    )  # fmt: skip


def test_cli_names_a_certificate_and_key_that_do_not_match(tls: TLSFiles) -> None:
    result = _server_run("--listen", f"{HOST}:0", "--cert", str(tls.key_file),
                         "--key", str(tls.cert_file))  # fmt: skip
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert "not a PEM certificate chain and its matching private key" in (result.stderr)


def test_cli_names_a_data_folder_it_cannot_use(tls: TLSFiles, tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder", encoding="utf-8")
    result = _server_run("--listen", f"{HOST}:0", "--cert", str(tls.cert_file),
                         "--key", str(tls.key_file),
                         "--data-dir", str(blocker / "srv"))  # fmt: skip
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert "--data-dir: cannot keep the server's data in" in result.stderr
    assert "internal error" not in result.stderr


def _ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6) as probe:
            probe.bind(("::1", 0))
    except OSError:
        return False
    return True


@pytest.mark.skipif(not _ipv6_loopback(), reason="no IPv6 loopback here")
def test_server_listens_on_an_ipv6_address(tls: TLSFiles, tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "sync.sqlite3")
    server = SyncServer(("::1", 0), tls_context(tls.cert_file, tls.key_file), store)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        context = tls.client_context()
        context.check_hostname = False
        with socket.create_connection(("::1", server.port), timeout=10) as raw:
            with context.wrap_socket(raw) as conn:
                conn.sendall(
                    b"GET /v1/health HTTP/1.1\r\nHost: localhost\r\n"
                    b"Connection: close\r\n\r\n"
                )
                answer = b""
                while chunk := conn.recv(4096):
                    answer += chunk
        assert answer.startswith(b"HTTP/1.1 200")
    finally:
        server.shutdown()
        server.server_close()
        store.close()
