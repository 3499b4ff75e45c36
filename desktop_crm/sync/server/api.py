"""The protocol's operations (docs/sync-protocol.md), apart from HTTP plumbing.

Each operation validates its input, calls the store and returns
`(status, answer)`: a dict to send as JSON, or bytes for a blob.
Bad input raises ApiError with one of the protocol's stable error codes.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from desktop_crm.sync.server.ratelimit import Rate
from desktop_crm.sync.server.store import Store, Workstation

PROTOCOL = 1
MIB = 1024 * 1024
MAX_INT = 2**63 - 1
PAIRING_TTL = 600  # seconds a pairing may live
CLOCK_SKEW = 60  # seconds of workstation clock error tolerated on expires_at
MAX_LABEL = 100
MAX_WRAPPED_KEY = 1024

_HEX64 = re.compile(r"[0-9a-f]{64}")
_ID = re.compile(r"[0-9a-f]{32}")
_B64URL = re.compile(r"[A-Za-z0-9_-]*")
_LABEL = re.compile(rf"[^\x00-\x1f\x7f]{{1,{MAX_LABEL}}}")  # no control characters
_DIGITS = re.compile(r"[0-9]{1,19}")

Answer = tuple[int, dict[str, Any] | bytes]


@dataclass(frozen=True)
class ServerConfig:
    """Limits of one server instance (the defaults are the protocol's)."""

    max_json: int = 8 * MIB
    max_blob: int = 40 * MIB
    max_records: int = 500
    token_rate: Rate = Rate(per_second=20, burst=120)
    address_rate: Rate = Rate(per_second=5, burst=60)
    socket_timeout: float = 30.0  # idle or stalled connection
    body_deadline: float = 300.0  # whole body, however slowly it trickles
    max_connections: int = 1024
    clock: Callable[[], float] = field(default=time.time)
    #: SHA-256 (hex) of the operator's registration code; when set, a new
    #: practice can be created only with that code (``registration_hash``).
    registration: str | None = None
    #: Ciphertext bytes (records and documents) one practice may keep here;
    #: None for no limit.  A push or document over it gets 507.
    quota_bytes: int | None = None


class ApiError(Exception):
    """An answer `{"error": code}` with an HTTP status."""

    def __init__(self, status: int, code: str, retry_after: int | None = None) -> None:
        super().__init__(code)
        self.status = status
        self.code = code
        self.retry_after = retry_after


def bad_request() -> ApiError:
    return ApiError(400, "bad_request")


UNAUTHORIZED = 401
NOT_FOUND = 404
INSUFFICIENT_STORAGE = 507


def unauthorized() -> ApiError:
    return ApiError(UNAUTHORIZED, "unauthorized")


def registration_hash(code: str) -> str:
    """What ``ServerConfig.registration`` holds for a registration code."""
    return hashlib.sha256(code.strip().encode("utf-8", "surrogatepass")).hexdigest()


# -- encodings -------------------------------------------------------------


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def from_b64url(text: object) -> bytes:
    """Strict base64url without padding; ApiError 400 otherwise."""
    if not isinstance(text, str) or not _B64URL.fullmatch(text) or len(text) % 4 == 1:
        raise bad_request()
    try:
        data = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        raise bad_request() from None
    if b64url(data) != text:  # non-canonical trailing bits
        raise bad_request()
    return data


def token_hash(raw: bytes) -> str:
    """The hash the server keeps of a token: hex SHA-256 of its raw bytes."""
    return hashlib.sha256(raw).hexdigest()


def bearer_hash(header: str | None) -> str | None:
    """Hash of the token in `Authorization: Bearer <token>`, None if malformed."""
    if not header or not header.startswith("Bearer "):
        return None
    try:
        raw = from_b64url(header[len("Bearer ") :])
    except ApiError:
        return None
    return token_hash(raw) if len(raw) == 32 else None


def rfc3339(seconds: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(seconds))


def parse_rfc3339(text: object) -> int:
    if not isinstance(text, str) or len(text) > 40 or not text[:1].isdigit():
        raise bad_request()
    try:
        moment = datetime.fromisoformat(text.replace("z", "Z"))
    except ValueError:
        raise bad_request() from None
    if moment.tzinfo is None:
        raise bad_request()
    return int(moment.astimezone(UTC).timestamp())


# -- field checks ----------------------------------------------------------


def _str(body: Mapping[str, Any], name: str) -> str:
    value = body.get(name)
    if not isinstance(value, str):
        raise bad_request()
    return value


def _label(body: Mapping[str, Any]) -> str:
    label = _str(body, "label")
    if not _LABEL.fullmatch(label):
        raise bad_request()
    try:
        label.encode("utf-8")  # JSON may smuggle in a lone surrogate
    except UnicodeEncodeError:
        raise bad_request() from None
    return label


def _int(value: object, low: int, high: int) -> int:
    """A JSON integer in [low, high]; 5.0 counts as 5, as in JSON Schema."""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise bad_request()
    if not low <= value <= high:
        raise bad_request()
    return value


def query_int(
    query: Mapping[str, list[str]], name: str, default: int, high: int
) -> int:
    values = query.get(name)
    if values is None:
        return default
    if len(values) != 1 or not _DIGITS.fullmatch(values[0]):
        raise bad_request()
    return _int(int(values[0]), 0, high)


def check_blob_id(blob_id: str) -> str:
    if not _HEX64.fullmatch(blob_id):
        raise bad_request()
    return blob_id


def _ws_json(ws: Workstation) -> dict[str, Any]:
    return {
        "id": ws.id,
        "label": ws.label,
        "created_at": rfc3339(ws.created_at),
        "last_seen": rfc3339(ws.last_seen),
        "revoked": ws.revoked,
    }


# -- operations ------------------------------------------------------------


@dataclass
class Api:
    store: Store
    config: ServerConfig

    def now(self) -> int:
        return int(self.config.clock())

    def health(self) -> Answer:
        return 200, {"status": "ok", "protocol": PROTOCOL}

    def create_practice(self, body: Mapping[str, Any]) -> Answer:
        label = _label(body)
        code = body.get("registration_code")
        if code is not None and (not isinstance(code, str) or len(code) > 200):
            raise bad_request()
        if self.config.registration is not None:
            given = registration_hash(code or "")
            if not hmac.compare_digest(given, self.config.registration):
                raise unauthorized()
        token = secrets.token_bytes(32)
        ws = self.store.create_practice(label, token_hash(token), self.now())
        answer = {
            "practice_id": ws.practice_id,
            "workstation_id": ws.id,
            "token": b64url(token),
        }
        return 201, answer

    def add_pairing(self, ws: Workstation, body: Mapping[str, Any]) -> Answer:
        enrol_hash = _str(body, "token_hash").lower()
        if not _HEX64.fullmatch(enrol_hash):
            raise bad_request()
        expires_at = parse_rfc3339(body.get("expires_at"))
        now = self.now()
        if not now < expires_at <= now + PAIRING_TTL + CLOCK_SKEW:
            raise bad_request()
        wrapped = body.get("wrapped_key")
        wrapped_key = None if wrapped is None else from_b64url(wrapped)
        if wrapped_key is not None and not 0 < len(wrapped_key) <= MAX_WRAPPED_KEY:
            raise bad_request()
        pairing_id = self.store.add_pairing(
            ws.practice_id, enrol_hash, expires_at, wrapped_key
        )
        return 201, {"pairing_id": pairing_id, "expires_at": rfc3339(expires_at)}

    def join(self, body: Mapping[str, Any]) -> Answer:
        practice_id = _str(body, "practice_id")
        enrolment = _str(body, "enrolment_token")
        label = _label(body)
        try:
            raw = from_b64url(enrolment)
        except ApiError:
            raise unauthorized() from None
        if not _ID.fullmatch(practice_id) or len(raw) != 32:
            raise unauthorized()
        token = secrets.token_bytes(32)
        joined = self.store.join(
            practice_id, token_hash(raw), label, token_hash(token), self.now()
        )
        if joined is None:
            raise unauthorized()
        ws, wrapped_key = joined
        answer = {
            "workstation_id": ws.id,
            "token": b64url(token),
            "wrapped_key": None if wrapped_key is None else b64url(wrapped_key),
        }
        return 201, answer

    def push(self, ws: Workstation, body: Mapping[str, Any]) -> Answer:
        records = body.get("records")
        if not isinstance(records, list) or len(records) > self.config.max_records:
            raise bad_request()
        parsed: list[tuple[int, bytes]] = []
        for record in records:
            if not isinstance(record, dict):
                raise bad_request()
            seq = _int(record.get("seq"), 1, MAX_INT)
            ciphertext = from_b64url(record.get("ciphertext"))
            if not ciphertext:
                raise bad_request()
            parsed.append((seq, ciphertext))
        self._check_quota(ws.practice_id, sum(len(c) for _, c in parsed))
        accepted, duplicates = self.store.push(ws, parsed, self.now())
        return 200, {"accepted": accepted, "duplicates": duplicates}

    def _check_quota(self, practice_id: str, incoming: int) -> None:
        quota = self.config.quota_bytes
        if quota is not None and self.store.usage(practice_id) + incoming > quota:
            raise ApiError(INSUFFICIENT_STORAGE, "quota_exceeded")

    def pull(self, ws: Workstation, query: Mapping[str, list[str]]) -> Answer:
        after = query_int(query, "after", 0, MAX_INT)
        limit = query_int(
            query, "limit", self.config.max_records, self.config.max_records
        )
        if limit < 1:
            raise bad_request()
        records, more = self.store.pull(ws.practice_id, after, limit)
        answer = {
            "records": [
                {
                    "cursor": r.cursor,
                    "workstation_id": r.workstation_id,
                    "seq": r.seq,
                    "ciphertext": b64url(r.ciphertext),
                    "received_at": rfc3339(r.received_at),
                }
                for r in records
            ],
            "next": records[-1].cursor if records else after,
            "more": more,
        }
        return 200, answer

    def put_blob(self, ws: Workstation, blob_id: str, data: bytes) -> Answer:
        check_blob_id(blob_id)
        self._check_quota(ws.practice_id, len(data))
        result = self.store.put_blob(ws.practice_id, blob_id, data, self.now())
        if result == "conflict":
            raise ApiError(409, "conflict")
        return (201 if result == "created" else 200), {"id": blob_id, "size": len(data)}

    def get_blob(self, ws: Workstation, blob_id: str) -> Answer:
        check_blob_id(blob_id)
        data = self.store.get_blob(ws.practice_id, blob_id)
        if data is None:
            raise ApiError(NOT_FOUND, "not_found")
        return 200, data

    def workstations(self, ws: Workstation) -> Answer:
        listed = self.store.workstations(ws.practice_id)
        return 200, {"workstations": [_ws_json(w) for w in listed]}

    def revoke(self, ws: Workstation, workstation_id: str) -> Answer:
        if not _ID.fullmatch(workstation_id) or not self.store.revoke(
            ws.practice_id, workstation_id
        ):
            raise ApiError(NOT_FOUND, "not_found")
        return 200, {"revoked": workstation_id}
