"""TEST DOUBLE of the sync server: an in-memory twin of docs/sync-protocol.md.

Not the real server (that is desktop_crm/sync/server/).  It keeps what the
protocol says a server keeps, per practice: workstations (token hash,
revoked), pairings (enrolment token hash, expiry, used, wrapped key),
records (cursor, workstation, seq, ciphertext) and blobs, and answers with
the protocol's semantics: duplicates by (workstation, seq) are counted and
not stored again; a pull returns every workstation's records after a
cursor, oldest first, at most ``limit``; every authentication failure is the
same refusal; a pairing is single use and expires.  ``DoubleTransport`` is a
``desktop_crm.sync.transport.Transport`` over it, so the engine and services
are tested without a network.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from desktop_crm.crypto.sync_keys import b64, unb64
from desktop_crm.sync.transport import (
    Joined,
    NotAuthorized,
    Page,
    PushResult,
    Registration,
    RemoteRecord,
    ServerUnreachable,
    SyncError,
)

MAX_RECORDS = 500
PAIRING_TTL = 600


def _hash(raw: bytes) -> str:
    return hashlib.sha256(raw).hexdigest()


@dataclass
class _Workstation:
    id: str
    practice_id: str
    label: str
    token_hash: str
    revoked: bool = False


@dataclass
class _Pairing:
    practice_id: str
    token_hash: str
    expires_at: float
    wrapped_key: bytes | None
    used: bool = False


@dataclass
class SyncServerDouble:
    """The server's state and operations, in memory."""

    clock: Callable[[], float]
    workstations: dict[str, _Workstation] = field(default_factory=dict)
    pairings: list[_Pairing] = field(default_factory=list)
    records: list[tuple[int, str, str, int, bytes]] = field(default_factory=list)
    blobs: dict[tuple[str, str], bytes] = field(default_factory=dict)
    online: bool = True
    #: Deliver every pulled record twice (a retry after a lost answer).
    repeat_pulls: bool = False
    #: When set, a new practice needs this operator registration code.
    registration_code: str | None = None
    calls: list[str] = field(default_factory=list)

    # -- helpers -----------------------------------------------------------
    def _check_online(self) -> None:
        if not self.online:
            raise ServerUnreachable("cannot reach the sync server (test double: down)")

    def _caller(self, token: str | None) -> _Workstation:
        self._check_online()
        try:
            digest = _hash(unb64(token or ""))
        except ValueError:
            raise NotAuthorized() from None
        for ws in self.workstations.values():
            if secrets.compare_digest(ws.token_hash, digest) and not ws.revoked:
                return ws
        raise NotAuthorized()

    def _new_workstation(
        self, practice_id: str, label: str
    ) -> tuple[_Workstation, str]:
        token = secrets.token_bytes(32)
        ws = _Workstation(secrets.token_hex(16), practice_id, label, _hash(token))
        self.workstations[ws.id] = ws
        return ws, b64(token)

    def stored_bytes(self) -> bytes:
        """Everything the server holds, for a canary scan."""
        parts: list[bytes] = []
        for ws in self.workstations.values():
            parts += [ws.id.encode(), ws.label.encode(), ws.token_hash.encode()]
        for p in self.pairings:
            parts += [p.token_hash.encode(), p.wrapped_key or b""]
        for cursor, practice, ws_id, _seq, ct in self.records:
            parts += [str(cursor).encode(), practice.encode(), ws_id.encode(), ct]
        parts += list(self.blobs.values())
        return b"\n".join(parts)

    # -- operations -----------------------------------------------------------
    def create_practice(
        self, label: str, registration_code: str | None = None
    ) -> Registration:
        self._check_online()
        if self.registration_code is not None and (
            registration_code != self.registration_code
        ):
            raise NotAuthorized(
                "the sync server takes new practices only with its operator's "
                "registration code: the code is missing or wrong"
            )
        ws, token = self._new_workstation(secrets.token_hex(16), label)
        return Registration(ws.practice_id, ws.id, token)

    def create_pairing(
        self, token: str | None, token_hash: str, expires_at: str, wrapped: bytes
    ) -> str:
        ws = self._caller(token)
        expiry = datetime.fromisoformat(expires_at).astimezone(UTC).timestamp()
        now = self.clock()
        if not now < expiry <= now + PAIRING_TTL + 60:
            raise SyncError("bad_request")
        self.pairings.append(_Pairing(ws.practice_id, token_hash, expiry, wrapped))
        return secrets.token_hex(16)

    def join(self, practice_id: str, enrolment_token: str, label: str) -> Joined:
        self._check_online()
        try:
            digest = _hash(unb64(enrolment_token))
        except ValueError:
            raise NotAuthorized() from None
        for pairing in self.pairings:
            if (
                pairing.practice_id == practice_id
                and secrets.compare_digest(pairing.token_hash, digest)
                and not pairing.used
                and self.clock() < pairing.expires_at
            ):
                pairing.used = True
                ws, token = self._new_workstation(practice_id, label)
                return Joined(ws.id, token, pairing.wrapped_key)
        raise NotAuthorized("the pairing code was refused")

    def push(
        self, token: str | None, records: Sequence[tuple[int, bytes]]
    ) -> PushResult:
        ws = self._caller(token)
        if len(records) > MAX_RECORDS:
            raise SyncError("bad_request")
        held = {(r[2], r[3]) for r in self.records}
        accepted = duplicates = 0
        for seq, ciphertext in records:
            if seq < 1 or not ciphertext:
                raise SyncError("bad_request")
            if (ws.id, seq) in held:
                duplicates += 1
                continue
            held.add((ws.id, seq))
            self.records.append(
                (len(self.records) + 1, ws.practice_id, ws.id, seq, ciphertext)
            )
            accepted += 1
        self.calls.append("push")
        return PushResult(accepted, duplicates)

    def pull(self, token: str | None, after: int, limit: int) -> Page:
        ws = self._caller(token)
        limit = max(1, min(limit, MAX_RECORDS))
        mine = [r for r in self.records if r[1] == ws.practice_id and r[0] > after]
        page = mine[:limit]
        records = [RemoteRecord(c, w, s, ct, "") for c, _, w, s, ct in page]
        if self.repeat_pulls:
            records = [r for record in records for r in (record, record)]
        self.calls.append("pull")
        return Page(records, page[-1][0] if page else after, len(mine) > limit)

    def put_blob(self, token: str | None, blob_id: str, data: bytes) -> None:
        ws = self._caller(token)
        key = (ws.practice_id, blob_id)
        if key in self.blobs and self.blobs[key] != data:
            return  # 409 conflict: the real transport treats it as "there already"
        self.blobs[key] = data

    def get_blob(self, token: str | None, blob_id: str) -> bytes | None:
        ws = self._caller(token)
        return self.blobs.get((ws.practice_id, blob_id))

    def list_workstations(self, token: str | None) -> list[dict[str, Any]]:
        ws = self._caller(token)
        return [
            {"id": w.id, "label": w.label, "revoked": w.revoked}
            for w in self.workstations.values()
            if w.practice_id == ws.practice_id
        ]

    def revoke(self, token: str | None, workstation_id: str) -> None:
        ws = self._caller(token)
        target = self.workstations.get(workstation_id)
        if target is None or target.practice_id != ws.practice_id:
            raise SyncError("the sync server does not know that item (not found)")
        target.revoked = True

    def transport(self, url: str = "", fingerprint: str = "", token: str | None = None):
        """A ``TransportFactory``: ``server.transport`` is passed to services."""
        return DoubleTransport(self, token)


class DoubleTransport:
    """A ``Transport`` acting for one workstation token on the double."""

    def __init__(self, server: SyncServerDouble, token: str | None) -> None:
        self.server = server
        self.token = token

    def create_practice(
        self, label: str, registration_code: str | None = None
    ) -> Registration:
        return self.server.create_practice(label, registration_code)

    def create_pairing(self, token_hash: str, expires_at: str, wrapped: bytes) -> str:
        return self.server.create_pairing(self.token, token_hash, expires_at, wrapped)

    def join(self, practice_id: str, enrolment_token: str, label: str) -> Joined:
        return self.server.join(practice_id, enrolment_token, label)

    def push(self, records: Sequence[tuple[int, bytes]]) -> PushResult:
        return self.server.push(self.token, records)

    def pull(self, after: int, limit: int) -> Page:
        return self.server.pull(self.token, after, limit)

    def put_blob(self, blob_id: str, data: bytes) -> None:
        self.server.put_blob(self.token, blob_id, data)

    def get_blob(self, blob_id: str) -> bytes | None:
        return self.server.get_blob(self.token, blob_id)

    def workstations(self) -> list[dict[str, Any]]:
        return self.server.list_workstations(self.token)

    def revoke(self, workstation_id: str) -> None:
        self.server.revoke(self.token, workstation_id)
