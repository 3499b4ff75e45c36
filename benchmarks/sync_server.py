"""Load test of the sync server: 200 workstations polling once a second.

    .venv/bin/python benchmarks/sync_server.py [--workstations 200] [--seconds 20]
                                               [--database postgresql://...]

The server runs in its own process (SQLite in a temporary folder unless
--database is given) over loopback TLS with trustme certificates. Each
simulated workstation keeps one HTTPS connection and polls
GET /v1/changes?after=<cursor> once a second (jittered start); the script
prints p50/p95/p99 latency and the error count. Goal: p99 <= 100 ms, no errors.
Bounded: setup plus --seconds plus at most 30 s of shutdown.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import http.client
import json
import os
import random
import secrets
import ssl
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PRACTICES = 10

SERVE = """
import signal, sys, threading
from pathlib import Path
from desktop_crm.sync.server import ServerConfig, SyncServer, open_store, tls_context
from desktop_crm.sync.server.ratelimit import Rate
folder = Path(sys.argv[1])
store = open_store(sys.argv[2] or None, folder)
# setup creates many workstations from one address: widen that bucket only
config = ServerConfig(address_rate=Rate(per_second=1000, burst=1000))
server = SyncServer(("127.0.0.1", 0), tls_context(folder / "cert.pem",
                    folder / "key.pem"), store, config)
print(server.port, flush=True)
threading.Thread(target=server.serve_forever, daemon=True).start()
signal.sigwait({signal.SIGTERM})
server.shutdown(); server.server_close(); store.close()
"""


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class Conn:
    def __init__(self, port: int, context: ssl.SSLContext, token: str | None = None):
        self.port, self.context, self.token = port, context, token
        self.http = http.client.HTTPSConnection(
            "127.0.0.1", port, context=context, timeout=10
        )

    def call(self, method: str, path: str, body: object = None) -> tuple[int, dict]:
        headers = {"Content-Type": "application/json"}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        data = None if body is None else json.dumps(body).encode()
        try:
            self.http.request(method, path, body=data, headers=headers)
            answer = self.http.getresponse()
            payload = answer.read()
        except (OSError, http.client.HTTPException):
            self.http.close()
            raise
        return answer.status, json.loads(payload)


def start_server(folder: Path, database: str) -> tuple[subprocess.Popen[str], int]:
    env = dict(os.environ, PYTHONPATH=str(REPO))
    process = subprocess.Popen(
        [sys.executable, "-c", SERVE, str(folder), database],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    assert process.stdout is not None
    return process, int(process.stdout.readline())


def make_workstations(port: int, context: ssl.SSLContext, count: int) -> list[str]:
    tokens: list[str] = []
    anon = Conn(port, context)
    per_practice = -(-count // PRACTICES)
    for p in range(PRACTICES):
        status, created = anon.call("POST", "/v1/practices", {"label": f"ws {p}-0"})
        assert status == 201, created
        first = Conn(port, context, created["token"])
        records = [{"seq": s, "ciphertext": b64(os.urandom(300))} for s in range(1, 51)]
        assert first.call("POST", "/v1/changes", {"records": records})[0] == 200
        tokens.append(created["token"])
        for w in range(1, per_practice):
            enrol = secrets.token_bytes(32)
            expires = time.strftime(
                "%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 300)
            )
            body = {
                "token_hash": hashlib.sha256(enrol).hexdigest(),
                "expires_at": expires,
            }
            assert first.call("POST", "/v1/pairings", body)[0] == 201
            status, joined = anon.call(
                "POST",
                "/v1/join",
                {
                    "practice_id": created["practice_id"],
                    "enrolment_token": b64(enrol),
                    "label": f"ws {p}-{w}",
                },
            )
            assert status == 201, joined
            tokens.append(joined["token"])
        first.http.close()
    anon.http.close()
    return tokens[:count]


def poller(
    port: int,
    context: ssl.SSLContext,
    token: str,
    until: float,
    latencies: list[float],
    errors: list[str],
) -> None:
    conn = Conn(port, context, token)
    after = 0
    next_at = time.monotonic() + random.random()
    while True:
        time.sleep(max(0.0, next_at - time.monotonic()))
        if time.monotonic() >= until:
            break
        started = time.perf_counter()
        try:
            status, page = conn.call("GET", f"/v1/changes?after={after}")
        except (OSError, http.client.HTTPException) as exc:
            errors.append(type(exc).__name__)
            conn = Conn(port, context, token)
        else:
            latencies.append(time.perf_counter() - started)
            if status != 200:
                errors.append(str(status))
            else:
                after = page["next"]
        next_at += 1.0
    conn.http.close()


def percentile(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=1000)[int(q * 10) - 1] if values else 0.0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workstations", type=int, default=200)
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument(
        "--database", default="", help="postgresql://... (default SQLite)"
    )
    args = parser.parse_args()
    import trustme  # a test dependency

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        ca = trustme.CA()
        issued = ca.issue_cert("127.0.0.1")
        issued.private_key_pem.write_to_path(str(folder / "key.pem"))
        issued.cert_chain_pems[0].write_to_path(str(folder / "cert.pem"))
        context = ssl.create_default_context()
        ca.configure_trust(context)
        process, port = start_server(folder, args.database)
        try:
            tokens = make_workstations(port, context, args.workstations)
            latencies: list[float] = []
            errors: list[str] = []
            until = time.monotonic() + args.seconds
            threads = [
                threading.Thread(
                    target=poller, args=(port, context, t, until, latencies, errors)
                )
                for t in tokens
            ]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(args.seconds + 30)
        finally:
            process.terminate()
            process.wait(30)
    ms = sorted(x * 1000 for x in latencies)
    print(
        f"sync server: {len(tokens)} workstations polling 1/s for {args.seconds:.0f} s "
        f"({'PostgreSQL' if args.database else 'SQLite'}), {len(ms)} requests"
    )
    print(
        f"latency ms: p50 {percentile(ms, 50):.1f}  p95 {percentile(ms, 95):.1f}  "
        f"p99 {percentile(ms, 99):.1f}  max {max(ms, default=0):.1f}"
    )
    print(f"errors: {len(errors)} {sorted(set(errors))[:5]}")
    ok = percentile(ms, 99) <= 100 and not errors
    print("goal p99 <= 100 ms, no errors:", "met" if ok else "NOT met")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
