"""A real sync server for tests: trustme certificates, a thread, PostgreSQL.

Reusable by the workstation-side tests:

    tls = make_tls(tmp_path)
    with serve_in_thread(SQLiteStore(tmp_path / "s.sqlite3"), tls) as running:
        client_context = tls.client_context()
        ... running.url  # "https://127.0.0.1:<port>"

`PostgresCluster` starts a private PostgreSQL from the system's packages
(/usr/lib/postgresql/<version>/bin) on loopback, as `nobody` when the tests
run as root (initdb refuses root).
"""

from __future__ import annotations

import hashlib
import http.client
import itertools
import json
import os
import shutil
import socket
import ssl
import subprocess
import tempfile
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import trustme

from desktop_crm.sync.server import ServerConfig, Store, SyncServer, tls_context

HOST = "127.0.0.1"

# -- certificates ----------------------------------------------------------


@dataclass
class TLSFiles:
    ca: trustme.CA
    cert_file: Path  # server certificate chain (PEM)
    key_file: Path  # server private key (PEM)
    ca_file: Path  # the CA certificate, for clients
    fingerprint: str  # SHA-256 of the DER leaf certificate, lowercase hex

    def client_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(cafile=str(self.ca_file))
        return context


def make_tls(folder: Path, *names: str) -> TLSFiles:
    """A fresh CA and a server certificate for 127.0.0.1 and localhost."""
    folder.mkdir(parents=True, exist_ok=True)
    ca = trustme.CA()
    issued = ca.issue_cert(*(names or (HOST, "localhost")))
    cert_file, key_file, ca_file = (
        folder / "server.pem",
        folder / "server.key",
        folder / "ca.pem",
    )
    issued.private_key_pem.write_to_path(str(key_file))
    cert_file.write_bytes(b"".join(blob.bytes() for blob in issued.cert_chain_pems))
    ca.cert_pem.write_to_path(str(ca_file))
    der = ssl.PEM_cert_to_DER_cert(issued.cert_chain_pems[0].bytes().decode("ascii"))
    return TLSFiles(ca, cert_file, key_file, ca_file, hashlib.sha256(der).hexdigest())


# -- the server in a thread ------------------------------------------------


@dataclass
class RunningServer:
    server: SyncServer
    url: str

    @property
    def port(self) -> int:
        return self.server.port


@contextmanager
def serve_in_thread(
    store: Store, tls: TLSFiles, config: ServerConfig | None = None
) -> Iterator[RunningServer]:
    """Serve `store` over TLS on 127.0.0.1:<free port> until the block ends.

    The store is not closed here: the caller owns it (so a test can restart a
    server on the same store or data folder).
    """
    server = SyncServer(
        (HOST, 0), tls_context(tls.cert_file, tls.key_file), store, config
    )
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    )
    thread.start()
    try:
        yield RunningServer(server, f"https://{HOST}:{server.port}")
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)


# -- a minimal client ------------------------------------------------------


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


class Client:
    """One keep-alive HTTPS connection to the server (http.client)."""

    def __init__(self, port: int, context: ssl.SSLContext, token: str | None = None):
        self.port = port
        self.context = context
        self.token = token
        self._conn: http.client.HTTPSConnection | None = None

    def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        raw: bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> Reply:
        sent = dict(headers or {})
        if self.token is not None:
            sent.setdefault("Authorization", f"Bearer {self.token}")
        payload = raw
        if body is not None:
            payload = json.dumps(body).encode()
            sent.setdefault("Content-Type", "application/json")
        elif raw is not None:
            sent.setdefault("Content-Type", "application/octet-stream")
        conn = self._connection()
        try:
            conn.request(method, path, body=payload, headers=sent)
            answer = conn.getresponse()
            data = answer.read()
        except (OSError, http.client.HTTPException):
            self.close()
            raise
        if answer.will_close:
            self.close()
        return Reply(
            answer.status, {k.lower(): v for k, v in answer.getheaders()}, data
        )

    def _connection(self) -> http.client.HTTPSConnection:
        if self._conn is None:
            self._conn = http.client.HTTPSConnection(
                HOST, self.port, context=self.context, timeout=30
            )
        return self._conn

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None


@dataclass
class Practice:
    practice_id: str
    workstation_id: str
    token: str
    client: Client  # authenticated as the first workstation


def new_practice(connect: Callable[[str | None], Client]) -> Practice:
    reply = connect(None).request("POST", "/v1/practices", {"label": "Front desk"})
    assert reply.status == 201, reply.body
    data = reply.json()
    return Practice(
        data["practice_id"],
        data["workstation_id"],
        data["token"],
        connect(data["token"]),
    )


# -- PostgreSQL ------------------------------------------------------------


def postgres_bin() -> Path | None:
    """The newest /usr/lib/postgresql/<version>/bin holding initdb."""
    root = Path("/usr/lib/postgresql")
    found = sorted(
        (p for p in root.glob("*/bin") if (p / "initdb").exists()),
        key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0,
    )
    return found[-1] if found else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def _as_user_prefix() -> list[str] | None:
    """How to run initdb/pg_ctl: directly, or as nobody when we are root."""
    if os.geteuid() != 0:
        return []
    if shutil.which("runuser"):
        return ["runuser", "-u", "nobody", "--"]
    if shutil.which("setpriv"):
        return ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", "--"]
    return None


class PostgresUnavailable(Exception):
    """Why a private PostgreSQL cannot be started here."""


class PostgresCluster:
    """A private PostgreSQL in a temporary folder, on loopback only."""

    def __init__(self) -> None:
        bindir = postgres_bin()
        if bindir is None:
            raise PostgresUnavailable(
                "PostgreSQL is not installed (scripts/bootstrap-system --test)"
            )
        prefix = _as_user_prefix()
        if prefix is None:
            raise PostgresUnavailable("running as root without runuser or setpriv")
        self.bindir, self.prefix = bindir, prefix
        self.folder = Path(tempfile.mkdtemp(prefix="crm-pg-", dir="/tmp"))
        self.folder.chmod(0o755)
        if prefix:
            shutil.chown(self.folder, "nobody", "nogroup")
        self.data = self.folder / "data"
        self.port = _free_port()
        self._names = itertools.count(1)
        self._run("initdb", "-D", str(self.data), "-A", "trust", "-U", "postgres")
        options = (
            f"-k {self.folder} -c listen_addresses={HOST} -p {self.port} "
            "-c fsync=off -c max_connections=200"
        )
        log = str(self.folder / "log")
        self._run(
            "pg_ctl", "-D", str(self.data), "-o", options, "-l", log, "-w", "start"
        )

    def _run(self, tool: str, *args: str) -> None:
        command = [*self.prefix, str(self.bindir / tool), *args]
        result = subprocess.run(
            command, capture_output=True, text=True, timeout=120, cwd=self.folder
        )
        if result.returncode != 0:
            raise PostgresUnavailable(f"{tool} failed: {result.stderr.strip()[-500:]}")

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@{HOST}:{self.port}/{database}"

    def new_database(self) -> str:
        """A fresh empty database; returns its URL."""
        import psycopg

        name = f"sync_{os.getpid()}_{next(self._names)}"
        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def dump(self, url: str) -> bytes:
        """pg_dump of one database (schema and data), for a canary scan."""
        command = [*self.prefix, str(self.bindir / "pg_dump"), "-d", url]
        result = subprocess.run(
            command, capture_output=True, timeout=120, cwd=self.folder, check=True
        )
        return result.stdout

    def stop(self) -> None:
        try:
            self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "stop")
        finally:
            shutil.rmtree(self.folder, ignore_errors=True)
