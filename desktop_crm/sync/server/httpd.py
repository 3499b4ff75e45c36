"""The sync server's HTTPS front: TLS, routing, limits, access log.

TLS is negotiated in the connection's own thread (a slow or silent client
cannot stall the accept loop); a plain-HTTP client fails the handshake and is
closed without an HTTP answer.  Bodies are size-checked from Content-Length
before a byte is read.  Every failure is a JSON `{"error": code}`; no request
or answer body is ever logged.
"""

from __future__ import annotations

import json
import logging
import re
import socket
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from desktop_crm.sync.server import openapi
from desktop_crm.sync.server.api import (
    Answer,
    Api,
    ApiError,
    ServerConfig,
    bad_request,
    bearer_hash,
    unauthorized,
)
from desktop_crm.sync.server.ratelimit import RateLimiter
from desktop_crm.sync.server.store import (
    LAST_SEEN_EVERY,
    Store,
    StoreUnavailable,
    Workstation,
    same_hash,
)

log = logging.getLogger(__name__)
access_log = logging.getLogger("desktop_crm.sync.server.access")

CHUNK = 256 * 1024
DRAIN_LIMIT = 64 * 1024  # unread bodies up to this size are read and dropped

#: The query parameters each route takes; any other name is refused with 400.
_QUERY_NAMES: dict[str, set[str]] = {"/v1/changes": {"after", "limit"}}

# status -> error code for answers the stdlib parser sends itself
_PARSER_CODES = {
    400: "bad_request",
    404: "not_found",
    405: "method_not_allowed",
    408: "bad_request",
    413: "too_large",
    414: "too_large",
    431: "too_large",
    505: "bad_request",
}


@dataclass(frozen=True)
class Route:
    method: str
    pattern: re.Pattern[str]
    template: str
    auth: bool
    body: str | None  # None, "json" or "raw"
    call: Callable[..., Answer]


def _routes(api: Api) -> list[Route]:
    def r(
        method: str,
        template: str,
        auth: bool,
        body: str | None,
        call: Callable[..., Answer],
    ) -> Route:
        regex = re.escape(template).replace(re.escape("{id}"), "([^/]+)")
        return Route(method, re.compile(regex), template, auth, body, call)

    return [
        r("GET", "/v1/health", False, None, lambda: api.health()),
        r("GET", "/openapi.json", False, None, lambda: (200, openapi.DOCUMENT)),
        r("POST", "/v1/practices", False, "json", api.create_practice),
        r("POST", "/v1/pairings", True, "json", api.add_pairing),
        r("POST", "/v1/join", False, "json", api.join),
        r("POST", "/v1/changes", True, "json", api.push),
        r("GET", "/v1/changes", True, None, api.pull),
        r("PUT", "/v1/blobs/{id}", True, "raw", api.put_blob),
        r("GET", "/v1/blobs/{id}", True, None, api.get_blob),
        r("GET", "/v1/workstations", True, None, api.workstations),
        r("POST", "/v1/workstations/{id}/revoke", True, None, api.revoke),
    ]


def tls_context(cert: Path | str, key: Path | str) -> ssl.SSLContext:
    """TLS 1.2+ (1.3 preferred), forward-secret AEAD ciphers, no compression."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.options |= ssl.OP_NO_COMPRESSION | ssl.OP_CIPHER_SERVER_PREFERENCE
    context.options |= ssl.OP_NO_RENEGOTIATION
    context.set_ciphers("ECDHE+AESGCM:ECDHE+CHACHA20")
    context.load_cert_chain(str(cert), str(key))
    return context


class SyncServer(ThreadingHTTPServer):
    """ThreadingHTTPServer over TLS with a bounded number of connections."""

    daemon_threads = True
    request_queue_size = 512
    allow_reuse_address = True

    def __init__(
        self,
        address: tuple[str, int],
        context: ssl.SSLContext,
        store: Store,
        config: ServerConfig | None = None,
    ) -> None:
        if ":" in address[0]:
            self.address_family = socket.AF_INET6  # an IPv6 literal such as ::1
        self.config = config or ServerConfig()
        self.ssl_context = context
        self.store = store
        self.api = Api(store, self.config)
        self.routes = _routes(self.api)
        self.token_limiter = RateLimiter(self.config.token_rate)
        self.address_limiter = RateLimiter(self.config.address_rate)
        self._slots = threading.BoundedSemaphore(self.config.max_connections)
        self._open: set[socket.socket] = set()
        self._open_lock = threading.Lock()
        super().__init__(address, Handler)

    @property
    def port(self) -> int:
        return int(self.server_address[1])

    def process_request(self, request: Any, client_address: Any) -> None:
        if not self._slots.acquire(blocking=False):
            log.warning(
                "connection refused: %d connections open", self.config.max_connections
            )
            self.shutdown_request(request)
            return
        try:
            super().process_request(request, client_address)
        except BaseException:
            self._slots.release()
            raise

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._slots.release()

    def finish_request(self, request: Any, client_address: Any) -> None:
        request.settimeout(self.config.socket_timeout)
        try:
            conn = self.ssl_context.wrap_socket(request, server_side=True)
        except (ssl.SSLError, OSError) as exc:
            log.debug("TLS handshake failed: %s", type(exc).__name__)
            return
        with self._open_lock:
            self._open.add(conn)
        try:
            self.RequestHandlerClass(conn, client_address, self)  # type: ignore[arg-type]
        finally:
            with self._open_lock:
                self._open.discard(conn)
            _close(conn)

    def server_close(self) -> None:
        super().server_close()
        with self._open_lock:
            for conn in list(self._open):
                try:
                    conn.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass


def _close(conn: ssl.SSLSocket) -> None:
    try:
        conn.close()
    except OSError:
        pass


class Handler(BaseHTTPRequestHandler):
    """One connection: requests in turn (HTTP/1.1 keep-alive)."""

    server: SyncServer
    protocol_version = "HTTP/1.1"
    # Headers and body leave in separate writes: without TCP_NODELAY the body
    # waits for the client's delayed ACK (about 40 ms on every answer).
    disable_nagle_algorithm = True
    server_version = "desktop-crm-sync/1"
    sys_version = ""
    # the socket's timeout is set before the TLS handshake (finish_request)
    _started = 0.0
    _template: str | None = None
    _ws: Workstation | None = None
    _body_read = False

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        pass  # the access log below replaces the stdlib's stderr lines

    def do_GET(self) -> None:  # noqa: N802
        self._handle()

    def do_POST(self) -> None:  # noqa: N802
        self._handle()

    def do_PUT(self) -> None:  # noqa: N802
        self._handle()

    def send_error(
        self, code: int, message: str | None = None, explain: str | None = None
    ) -> None:
        """The stdlib parser's own refusals (bad request line, huge headers...)."""
        if code == 501:  # an HTTP method we do not serve
            code = 405
        if self.request_version == "HTTP/0.9":  # unparsed: answer as HTTP/1.1
            self.request_version = self.protocol_version
        self.close_connection = True
        self._started = time.monotonic()
        self._template = None
        self._ws = None
        self._respond(code, {"error": _PARSER_CODES.get(code, "bad_request")})

    # -- one request --------------------------------------------------------

    def _handle(self) -> None:
        self._started = time.monotonic()
        self._template = None
        self._ws = None
        self._body_read = False
        headers: dict[str, str] = {}
        try:
            status, answer = self._dispatch()
        except _Disconnected:
            self.close_connection = True
            self._log_access(499, 0)
            return
        except ApiError as exc:
            status, answer = exc.status, {"error": exc.code}
            if exc.retry_after is not None:
                headers["Retry-After"] = str(exc.retry_after)
            if exc.status == 405:
                headers["Allow"] = self._allowed()
        except StoreUnavailable:
            status, answer = 503, {"error": "unavailable"}
            headers["Retry-After"] = "5"
        except Exception as exc:  # a bug: answer 500, keep serving
            log.error("request failed: %s", type(exc).__name__)
            status, answer = 500, {"error": "internal"}
        if not self._body_read:
            self._drain()
        self._respond(status, answer, headers)

    def _drain(self) -> None:
        """Read and drop a small unread body so the client sees our answer
        (closing with unread data would reset the connection); close after."""
        self.close_connection = True
        try:
            length = self._content_length()
            if length <= DRAIN_LIMIT and not self.headers.get("Transfer-Encoding"):
                self._read(length)
                self.close_connection = False
        except (ApiError, _Disconnected):
            pass

    def _dispatch(self) -> Answer:
        path = urlsplit(self.path).path
        route, params = self._route(path)
        self._template = route.template
        ws = None
        if route.auth:
            ws = self._authenticate()
        else:
            self._limit_address()
        query = parse_qs(urlsplit(self.path).query, keep_blank_values=True)
        if not set(query) <= _QUERY_NAMES.get(route.template, set()):
            raise bad_request()  # an unknown parameter is a client's mistake
        body = self._body(route.body)
        args: list[Any] = [] if ws is None else [ws]
        args += params
        if route.body is not None:
            args.append(body)
        elif route.template == "/v1/changes":
            args.append(query)
        return route.call(*args)

    def _route(self, path: str) -> tuple[Route, list[str]]:
        known = False
        for route in self.server.routes:
            match = route.pattern.fullmatch(path)
            if match is None:
                continue
            known = True
            self._template = route.template
            if route.method == self.command:
                return route, list(match.groups())
        if known:
            raise ApiError(405, "method_not_allowed")
        raise ApiError(404, "not_found")

    def _allowed(self) -> str:
        path = urlsplit(self.path).path
        methods = [r.method for r in self.server.routes if r.pattern.fullmatch(path)]
        return ", ".join(methods)

    # -- authentication and rate limits --------------------------------------

    def _limit_address(self) -> None:
        wait = self.server.address_limiter.take(self.client_address[0])
        if wait:
            raise ApiError(429, "rate_limited", retry_after=wait)

    def _authenticate(self) -> Workstation:
        digest = bearer_hash(self.headers.get("Authorization"))
        ws = None
        if digest is not None:
            ws = self.server.store.workstation_for_token(digest)
        if (
            ws is None
            or digest is None
            or ws.revoked
            or not same_hash(ws.token_hash, digest)
        ):
            self._limit_address()  # failed attempts spend the address's bucket
            raise unauthorized()
        self._ws = ws
        wait = self.server.token_limiter.take(ws.id)
        if wait:
            raise ApiError(429, "rate_limited", retry_after=wait)
        now = self.server.api.now()
        if now - ws.last_seen >= LAST_SEEN_EVERY:
            self.server.store.touch(ws.id, now)
        return ws

    # -- bodies ------------------------------------------------------------

    def _body(self, kind: str | None) -> Any:
        if self.headers.get("Transfer-Encoding"):
            raise bad_request()  # only Content-Length bodies
        length = self._content_length()
        limit = (
            self.server.config.max_blob
            if kind == "raw"
            else self.server.config.max_json
        )
        if length > limit:
            raise ApiError(413, "too_large")
        data = self._read(length)
        self._body_read = True
        if kind is None or kind == "raw":
            return data
        return _json_object(data)

    def _content_length(self) -> int:
        values = self.headers.get_all("Content-Length") or []
        if not values:
            return 0
        if len(values) != 1 or not values[0].strip().isdigit():
            raise bad_request()
        return int(values[0])

    def _read(self, length: int) -> bytes:
        deadline = time.monotonic() + self.server.config.body_deadline
        parts: list[bytes] = []
        remaining = length
        while remaining:
            if time.monotonic() > deadline:
                raise ApiError(408, "bad_request")
            try:
                chunk = self.rfile.read1(min(remaining, CHUNK))
            except OSError:  # timed out or reset: nobody to answer
                raise _Disconnected() from None
            if not chunk:
                raise _Disconnected()
            parts.append(chunk)
            remaining -= len(chunk)
        return b"".join(parts)

    # -- the answer and its log line ----------------------------------------

    def _respond(
        self,
        status: int,
        answer: dict[str, Any] | bytes,
        headers: dict[str, str] | None = None,
    ) -> None:
        if isinstance(answer, bytes):
            payload, content_type = answer, "application/octet-stream"
        else:
            payload = json.dumps(answer, separators=(",", ":")).encode("utf-8")
            content_type = "application/json"
        try:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(payload)))
            self.send_header("Cache-Control", "no-store")
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            if self.close_connection:
                self.send_header("Connection", "close")
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(payload)
        except OSError:
            self.close_connection = True
        self._log_access(status, len(payload))

    def _log_access(self, status: int, size: int) -> None:
        line = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "method": getattr(self, "command", None),
            "path": self._template,
            "status": status,
            "bytes": size,
            "duration_ms": round((time.monotonic() - self._started) * 1000, 1),
            "workstation": self._ws.id if self._ws else None,
        }
        access_log.info(json.dumps(line, separators=(",", ":")))


class _Disconnected(Exception):
    """The client stopped sending mid-body."""


def _json_object(data: bytes) -> dict[str, Any]:
    try:
        value = json.loads(data.decode("utf-8"), parse_constant=_no_constant)
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise bad_request() from None
    if not isinstance(value, dict):
        raise bad_request()
    return value


def _no_constant(name: str) -> Any:
    raise ValueError(name)  # NaN, Infinity: not JSON
