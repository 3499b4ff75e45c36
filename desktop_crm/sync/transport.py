"""How a workstation talks to the sync server (docs/sync-protocol.md).

``Transport`` is the small interface the sync engine and services use;
``HttpsTransport`` is the real one: HTTPS only (TLS 1.2 or newer), the server
certificate pinned by its SHA-256 fingerprint and checked for its validity
dates and host name right after the handshake, before any request is sent.
The server's CA is the practice's own, not in the system store, so default
verification is off and these checks are ours.
"""

from __future__ import annotations

import hashlib
import hmac
import http.client
import ipaddress
import json
import logging
import socket
import ssl
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol
from urllib.parse import urlsplit

from desktop_crm.crypto.sync_keys import b64, parse_fingerprint, unb64
from desktop_crm.errors import CRMError, InvalidInput

log = logging.getLogger(__name__)

MAX_PAGE = 500


class SyncError(CRMError):
    """Sync could not complete; the message names what to do, never data."""


class ServerUnreachable(SyncError):
    """No connection to the server (down, wrong address, or cut off)."""


class NotAuthorized(SyncError):
    """The server refused this workstation's credentials (or the pairing)."""

    def __init__(self, message: str = "") -> None:
        super().__init__(
            message
            or "the sync server refused this workstation: it may have been "
            "revoked; ask an admin to pair it again"
        )


class CertificateRefused(SyncError):
    """The server's certificate is not the pinned one, expired, or another host's."""


@dataclass(frozen=True)
class Registration:
    """A new practice on the server, with this workstation as its first."""

    practice_id: str
    workstation_id: str
    token: str


@dataclass(frozen=True)
class Joined:
    """A workstation admitted with a pairing."""

    workstation_id: str
    token: str
    wrapped_key: bytes | None


@dataclass(frozen=True)
class RemoteRecord:
    """One sealed record as the server keeps it."""

    cursor: int
    workstation_id: str
    seq: int
    ciphertext: bytes
    received_at: str


@dataclass(frozen=True)
class Page:
    records: list[RemoteRecord]
    next: int
    more: bool


@dataclass(frozen=True)
class PushResult:
    accepted: int
    duplicates: int


class Transport(Protocol):
    """The server's operations; a token-bearing transport acts for one workstation."""

    def create_practice(
        self, label: str, registration_code: str | None = None
    ) -> Registration: ...

    def create_pairing(
        self, token_hash: str, expires_at: str, wrapped_key: bytes
    ) -> str: ...

    def join(self, practice_id: str, enrolment_token: str, label: str) -> Joined: ...

    def push(self, records: Sequence[tuple[int, bytes]]) -> PushResult: ...

    def pull(self, after: int, limit: int) -> Page: ...

    def put_blob(self, blob_id: str, data: bytes) -> None: ...

    def get_blob(self, blob_id: str) -> bytes | None: ...

    def workstations(self) -> list[dict[str, Any]]: ...

    def revoke(self, workstation_id: str) -> None: ...


#: Makes a transport for (server URL, pinned fingerprint, token or None).
TransportFactory = Callable[[str, str, str | None], Transport]


# -- answers as data ---------------------------------------------------------


def _field(answer: dict[str, Any], name: str, kind: type) -> Any:
    value = answer.get(name)
    if not isinstance(value, kind) or isinstance(value, bool) and kind is int:
        raise SyncError(f"the sync server's answer is malformed ({name})")
    return value


def _bytes(text: Any, name: str) -> bytes:
    try:
        return unb64(text)
    except (ValueError, TypeError, AttributeError):
        raise SyncError(f"the sync server's answer is malformed ({name})") from None


def page_from_json(answer: dict[str, Any]) -> Page:
    records = []
    for item in _field(answer, "records", list):
        if not isinstance(item, dict):
            raise SyncError("the sync server's answer is malformed (records)")
        records.append(
            RemoteRecord(
                _field(item, "cursor", int),
                _field(item, "workstation_id", str),
                _field(item, "seq", int),
                _bytes(item.get("ciphertext"), "ciphertext"),
                str(item.get("received_at", "")),
            )
        )
    return Page(records, _field(answer, "next", int), bool(answer.get("more")))


# -- the real transport -------------------------------------------------------


def check_url(url: str) -> tuple[str, int]:
    """Host and port of an ``https://`` URL; anything else is refused."""
    parts = urlsplit(url.strip())
    if parts.scheme.lower() != "https":
        raise InvalidInput(
            "server URL", "must start with https:// (sync never runs in the clear)"
        )
    if not parts.hostname or (parts.path not in ("", "/")) or parts.query:
        raise InvalidInput("server URL", "give https://HOST[:PORT] only")
    try:
        port = 443 if parts.port is None else parts.port
    except ValueError:
        raise InvalidInput(
            "server URL", "the port must be a number from 1 to 65535"
        ) from None
    if not 1 <= port <= 65535:
        raise InvalidInput("server URL", "the port must be a number from 1 to 65535")
    return parts.hostname, port


def _tls_context() -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    # The practice's CA is not in the system store: the pin, dates and host
    # name are checked by ``verify_certificate`` right after the handshake.
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


def _names_host(cert: Any, host: str) -> bool:
    from cryptography import x509

    try:
        names = cert.extensions.get_extension_for_class(
            x509.SubjectAlternativeName
        ).value
    except x509.ExtensionNotFound:
        return False
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        wanted = host.lower().rstrip(".")
        return any(
            _dns_match(name, wanted) for name in names.get_values_for_type(x509.DNSName)
        )
    return address in names.get_values_for_type(x509.IPAddress)


def _dns_match(pattern: str, host: str) -> bool:
    pattern = pattern.lower().rstrip(".")
    if pattern.startswith("*."):
        head, _, rest = host.partition(".")
        return bool(head) and rest == pattern[2:]
    return pattern == host


def verify_certificate(
    der: bytes | None, fingerprint: str, host: str, now: datetime | None = None
) -> None:
    """The leaf certificate must be the pinned one, current, and name ``host``."""
    from cryptography import x509

    if not der:
        raise CertificateRefused("the sync server sent no certificate")
    actual = hashlib.sha256(der).hexdigest()
    if not hmac.compare_digest(actual, fingerprint):
        raise CertificateRefused(
            "the sync server's certificate does not match the pinned fingerprint: "
            "connection refused (check the fingerprint with the server's operator)"
        )
    cert = x509.load_der_x509_certificate(der)
    moment = now or datetime.now(UTC)
    if not cert.not_valid_before_utc <= moment <= cert.not_valid_after_utc:
        raise CertificateRefused(
            "the sync server's certificate is expired or not yet valid: "
            "connection refused"
        )
    if not _names_host(cert, host):
        raise CertificateRefused(
            f"the sync server's certificate does not name {host}: connection refused"
        )


class _PinnedConnection(http.client.HTTPSConnection):
    """An HTTPS connection that checks the pinned certificate after the handshake."""

    def __init__(self, host: str, port: int, fingerprint: str, timeout: float) -> None:
        super().__init__(host, port, timeout=timeout, context=_tls_context())
        self._pin = fingerprint

    def connect(self) -> None:
        super().connect()
        assert isinstance(self.sock, ssl.SSLSocket)
        try:
            verify_certificate(
                self.sock.getpeercert(binary_form=True), self._pin, self.host
            )
        except CertificateRefused:
            self.close()
            raise


_ERRORS: dict[int, Callable[[], SyncError]] = {
    401: lambda: NotAuthorized(),
    404: lambda: SyncError("the sync server does not know that item (not found)"),
    413: lambda: SyncError("the sync server refused a request as too large"),
    429: lambda: SyncError("the sync server is busy (rate limit): try again soon"),
    507: lambda: SyncError(
        "the sync server's storage quota for this practice is full: ask its "
        "operator to raise it (changes stay here, pending, until then)"
    ),
}


@dataclass(frozen=True)
class _Reply:
    status: int
    body: bytes
    retry_after: float | None = None


class HttpsTransport:
    """The protocol over HTTPS with a pinned certificate."""

    def __init__(
        self,
        url: str,
        fingerprint: str,
        token: str | None = None,
        *,
        timeout: float = 30.0,
        attempts: int = 4,
        backoff: float = 0.5,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.host, self.port = check_url(url)
        self.fingerprint = parse_fingerprint(fingerprint)
        self.token = token
        self.timeout = timeout
        self.attempts = max(1, attempts)
        self.backoff = backoff
        self._sleep = sleep
        self._conn: _PinnedConnection | None = None

    # -- plumbing ---------------------------------------------------------
    def __enter__(self) -> HttpsTransport:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def _connection(self) -> _PinnedConnection:
        if self._conn is None:
            self._conn = _PinnedConnection(
                self.host, self.port, self.fingerprint, self.timeout
            )
        return self._conn

    def _once(
        self, method: str, path: str, body: bytes | None, headers: dict[str, str]
    ) -> _Reply:
        conn = self._connection()
        conn.request(method, path, body=body, headers=headers)
        response = conn.getresponse()
        data = response.read()
        if response.getheader("Connection", "").lower() == "close":
            self.close()
        retry = response.getheader("Retry-After")
        return _Reply(
            response.status, data, float(retry) if retry and retry.isdigit() else None
        )

    def _send(
        self,
        method: str,
        path: str,
        body: bytes | None = None,
        content_type: str = "application/json",
        auth: bool = True,
        retry: bool = True,
    ) -> _Reply:
        headers = {"Content-Type": content_type} if body is not None else {}
        if auth:
            if not self.token:
                raise NotAuthorized(
                    "this workstation is not connected to a sync server"
                )
            headers["Authorization"] = f"Bearer {self.token}"
        delay = self.backoff
        attempts = self.attempts if retry else 1
        for attempt in range(1, attempts + 1):
            try:
                reply = self._once(method, path, body, headers)
            except CertificateRefused:
                raise
            except (OSError, http.client.HTTPException) as exc:
                self.close()
                log.info(
                    "sync request failed (%s), attempt %d", type(exc).__name__, attempt
                )
                if isinstance(exc, socket.gaierror):
                    raise ServerUnreachable(
                        f"the sync server's host name {self.host} is not known "
                        "(DNS): check the URL and the network"
                    ) from None
                if attempt == attempts:
                    raise ServerUnreachable(
                        f"cannot reach the sync server at {self.host}:{self.port} "
                        f"({type(exc).__name__}): check the network and that the "
                        "server runs, then try again"
                    ) from None
            else:
                if reply.status == 429 and attempt < attempts:
                    delay = max(delay, reply.retry_after or 0)
                elif reply.status >= 500 and reply.status != 507 and attempt < attempts:
                    # (507: a full quota stays full, asking again cannot help)
                    log.info(
                        "sync server answered %d, attempt %d", reply.status, attempt
                    )
                else:
                    return reply
            self._sleep(delay)
            delay *= 2
        raise ServerUnreachable("the sync server did not answer")  # pragma: no cover

    def _json(
        self,
        method: str,
        path: str,
        payload: Any = None,
        *,
        auth: bool = True,
        retry: bool = True,
    ) -> dict[str, Any]:
        body = None if payload is None else json.dumps(payload).encode()
        reply = self._send(method, path, body, auth=auth, retry=retry)
        self._check(reply)
        try:
            answer = json.loads(reply.body or b"{}")
        except ValueError:
            raise SyncError("the sync server's answer is not JSON") from None
        if not isinstance(answer, dict):
            raise SyncError("the sync server's answer is malformed")
        return answer

    @staticmethod
    def _check(reply: _Reply) -> None:
        if 200 <= reply.status < 300:
            return
        make = _ERRORS.get(reply.status)
        if make is not None:
            raise make()
        raise SyncError(f"the sync server answered with an error (HTTP {reply.status})")

    # -- the operations ----------------------------------------------------
    def health(self) -> dict[str, Any]:
        return self._json("GET", "/v1/health", auth=False)

    def create_practice(
        self, label: str, registration_code: str | None = None
    ) -> Registration:
        payload = {"label": label}
        if registration_code:
            payload["registration_code"] = registration_code
        try:
            answer = self._json(
                "POST", "/v1/practices", payload, auth=False, retry=False
            )
        except NotAuthorized:
            raise NotAuthorized(
                "the sync server takes new practices only with its operator's "
                "registration code: the code is missing or wrong"
            ) from None
        return Registration(
            _field(answer, "practice_id", str),
            _field(answer, "workstation_id", str),
            _field(answer, "token", str),
        )

    def create_pairing(
        self, token_hash: str, expires_at: str, wrapped_key: bytes
    ) -> str:
        payload = {
            "token_hash": token_hash,
            "expires_at": expires_at,
            "wrapped_key": b64(wrapped_key),
        }
        return str(
            _field(self._json("POST", "/v1/pairings", payload), "pairing_id", str)
        )

    def join(self, practice_id: str, enrolment_token: str, label: str) -> Joined:
        payload = {
            "practice_id": practice_id,
            "enrolment_token": enrolment_token,
            "label": label,
        }
        try:
            answer = self._json("POST", "/v1/join", payload, auth=False, retry=False)
        except NotAuthorized:
            raise NotAuthorized(
                "the pairing code was refused: it is used up, expired or not for "
                "this server; ask an admin for a new one"
            ) from None
        wrapped = answer.get("wrapped_key")
        return Joined(
            _field(answer, "workstation_id", str),
            _field(answer, "token", str),
            None if wrapped is None else _bytes(wrapped, "wrapped_key"),
        )

    def push(self, records: Sequence[tuple[int, bytes]]) -> PushResult:
        payload = {"records": [{"seq": s, "ciphertext": b64(c)} for s, c in records]}
        answer = self._json("POST", "/v1/changes", payload)
        return PushResult(
            _field(answer, "accepted", int), _field(answer, "duplicates", int)
        )

    def pull(self, after: int, limit: int) -> Page:
        limit = max(1, min(limit, MAX_PAGE))
        answer = self._json("GET", f"/v1/changes?after={int(after)}&limit={limit}")
        return page_from_json(answer)

    def put_blob(self, blob_id: str, data: bytes) -> None:
        reply = self._send(
            "PUT", f"/v1/blobs/{blob_id}", data, content_type="application/octet-stream"
        )
        if reply.status == 409:
            # Another sealing of the same content is there already (the id
            # names the content; each sealing has its own random nonce).
            return
        self._check(reply)

    def get_blob(self, blob_id: str) -> bytes | None:
        reply = self._send("GET", f"/v1/blobs/{blob_id}")
        if reply.status == 404:
            return None
        self._check(reply)
        return reply.body

    def workstations(self) -> list[dict[str, Any]]:
        listed = _field(self._json("GET", "/v1/workstations"), "workstations", list)
        return [w for w in listed if isinstance(w, dict)]

    def revoke(self, workstation_id: str) -> None:
        self._json("POST", f"/v1/workstations/{workstation_id}/revoke")


def close_transport(transport: object) -> None:
    """Close a transport's connection if it keeps one (the HTTPS one does)."""
    close = getattr(transport, "close", None)
    if callable(close):
        close()


def https_transport(url: str, fingerprint: str, token: str | None) -> Transport:
    """The default ``TransportFactory``."""
    return HttpsTransport(url, fingerprint, token)


__all__ = [
    "CertificateRefused",
    "HttpsTransport",
    "NotAuthorized",
    "Page",
    "RemoteRecord",
    "ServerUnreachable",
    "SyncError",
    "Transport",
]
