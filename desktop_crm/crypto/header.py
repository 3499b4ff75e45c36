"""The vault header file: key slots beside the database, no patient data.

Layout: the line ``DESKTOP-CRM-VAULT-HEADER 1`` and then one JSON object.
Binary values are base64.  The ``mac`` member is an HMAC-SHA256, under a key
derived from the DEK, over the magic line and the canonical JSON of every
other member, so any change to the header is caught once the DEK is known.
Slots themselves are also bound by their own associated data.
"""

from __future__ import annotations

import base64
import hmac
import json
from dataclasses import dataclass, field, replace
from hashlib import sha256
from typing import Any

from desktop_crm.crypto import primitives as p
from desktop_crm.crypto.kdf import KDFParams
from desktop_crm.crypto.slots import SealedKey, UserSlot, WrappedKey
from desktop_crm.errors import VaultError

MAGIC = b"DESKTOP-CRM-VAULT-HEADER 1\n"
MAX_HEADER_BYTES = 1024 * 1024
MAX_SLOTS = 500


@dataclass(frozen=True)
class VaultHeader:
    """Everything needed to turn a PIN (or the recovery key) into the DEK."""

    vault_id: str
    generation: int
    dek_generation: int
    recovery: SealedKey
    slots: dict[str, UserSlot] = field(default_factory=dict)
    unattended: WrappedKey | None = None
    mac: bytes = b""

    def slot_by_name(self, name: str) -> UserSlot | None:
        folded = name.casefold()
        for slot in self.slots.values():
            if slot.name.casefold() == folded:
                return slot
        return None

    def with_slot(self, slot: UserSlot) -> VaultHeader:
        slots = dict(self.slots)
        slots[slot.user_id] = slot
        return replace(self, slots=slots)

    def without_slot(self, user_id: str) -> VaultHeader:
        slots = {k: v for k, v in self.slots.items() if k != user_id}
        return replace(self, slots=slots)


def _b64(data: bytes | None) -> str | None:
    return None if data is None else base64.b64encode(data).decode("ascii")


def _unb64(raw: Any, where: str, *, optional: bool = False) -> bytes:
    if raw is None and optional:
        return b""
    if not isinstance(raw, str):
        raise VaultError(f"vault header: {where} is missing or malformed")
    try:
        return base64.b64decode(raw, validate=True)
    except ValueError as exc:
        raise VaultError(f"vault header: {where} is not valid base64") from exc


def _body(header: VaultHeader) -> dict[str, Any]:
    slots = [
        {
            "user_id": s.user_id,
            "name": s.name,
            "public_key": _b64(s.public_key),
            "kdf": s.kdf.to_dict(),
            "salt": _b64(s.salt),
            "nonce": _b64(s.nonce),
            "wrapped": _b64(s.wrapped),
            "sealed_dek": _b64(s.sealed_dek),
            "pending_sealed_dek": _b64(s.pending_sealed_dek),
        }
        for s in sorted(header.slots.values(), key=lambda s: s.user_id)
    ]
    unattended = None
    if header.unattended is not None:
        u = header.unattended
        unattended = {
            "nonce": _b64(u.nonce),
            "wrapped": _b64(u.wrapped),
            "pending_nonce": _b64(u.pending_nonce),
            "pending_wrapped": _b64(u.pending_wrapped),
        }
    return {
        "vault_id": header.vault_id,
        "generation": header.generation,
        "dek_generation": header.dek_generation,
        "recovery": {
            "public_key": _b64(header.recovery.public_key),
            "sealed_dek": _b64(header.recovery.sealed_dek),
            "pending_sealed_dek": _b64(header.recovery.pending_sealed_dek),
        },
        "slots": slots,
        "unattended": unattended,
    }


def _canonical(body: dict[str, Any]) -> bytes:
    return MAGIC + json.dumps(body, sort_keys=True, separators=(",", ":")).encode()


def mac_key(dek: bytes | bytearray) -> bytes:
    return p.hkdf(bytes(dek), salt=None, purpose="header-mac")


def sign(header: VaultHeader, dek: bytes | bytearray) -> VaultHeader:
    """Return the header with a MAC computed under ``dek``."""
    digest = hmac.new(mac_key(dek), _canonical(_body(header)), sha256).digest()
    return replace(header, mac=digest)


def verify(header: VaultHeader, dek: bytes | bytearray) -> None:
    """Raise ``VaultError`` unless the header's MAC matches under ``dek``."""
    expected = hmac.new(mac_key(dek), _canonical(_body(header)), sha256).digest()
    if not hmac.compare_digest(expected, header.mac):
        raise VaultError("vault header has been altered: refusing to open the vault")


def dump(header: VaultHeader) -> bytes:
    body = _body(header)
    body["mac"] = _b64(header.mac)
    return MAGIC + json.dumps(body, sort_keys=True, indent=1).encode() + b"\n"


def load(data: bytes) -> VaultHeader:
    """Parse a header file, checking its version and every field's shape."""
    if len(data) > MAX_HEADER_BYTES:
        raise VaultError("vault header: file is too large")
    if not data.startswith(b"DESKTOP-CRM-VAULT-HEADER "):
        raise VaultError("vault header: not a Desktop CRM vault header")
    if not data.startswith(MAGIC):
        raise VaultError("vault header: unsupported header version")
    try:
        raw = json.loads(data[len(MAGIC) :])
    except (ValueError, UnicodeDecodeError) as exc:
        raise VaultError("vault header: not valid JSON") from exc
    if not isinstance(raw, dict):
        raise VaultError("vault header: not a JSON object")
    return _parse(raw)


def _int(raw: Any, where: str) -> int:
    if not isinstance(raw, int) or isinstance(raw, bool) or raw < 0:
        raise VaultError(f"vault header: {where} is malformed")
    return raw


def _str(raw: Any, where: str) -> str:
    if not isinstance(raw, str) or not raw or len(raw) > 200:
        raise VaultError(f"vault header: {where} is malformed")
    return raw


def _parse(raw: dict[str, Any]) -> VaultHeader:
    recovery = raw.get("recovery")
    if not isinstance(recovery, dict):
        raise VaultError("vault header: recovery slot is missing")
    slots_raw = raw.get("slots")
    if not isinstance(slots_raw, list) or len(slots_raw) > MAX_SLOTS:
        raise VaultError("vault header: slots are malformed")
    slots = {}
    for index, item in enumerate(slots_raw):
        slot = _parse_slot(item, f"slot {index + 1}")
        slots[slot.user_id] = slot
    return VaultHeader(
        vault_id=_str(raw.get("vault_id"), "vault id"),
        generation=_int(raw.get("generation"), "generation"),
        dek_generation=_int(raw.get("dek_generation"), "key generation"),
        recovery=SealedKey(
            public_key=_unb64(recovery.get("public_key"), "recovery public key"),
            sealed_dek=_unb64(recovery.get("sealed_dek"), "recovery sealed key"),
            pending_sealed_dek=_unb64(
                recovery.get("pending_sealed_dek"),
                "recovery pending key",
                optional=True,
            )
            or None,
        ),
        slots=slots,
        unattended=_parse_unattended(raw.get("unattended")),
        mac=_unb64(raw.get("mac"), "mac"),
    )


def _parse_slot(item: Any, where: str) -> UserSlot:
    if not isinstance(item, dict):
        raise VaultError(f"vault header: {where} is malformed")
    return UserSlot(
        user_id=_str(item.get("user_id"), f"{where} user id"),
        name=_str(item.get("name"), f"{where} name"),
        public_key=_unb64(item.get("public_key"), f"{where} public key"),
        kdf=KDFParams.from_dict(item.get("kdf")),
        salt=_unb64(item.get("salt"), f"{where} salt"),
        nonce=_unb64(item.get("nonce"), f"{where} nonce"),
        wrapped=_unb64(item.get("wrapped"), f"{where} wrapped key"),
        sealed_dek=_unb64(item.get("sealed_dek"), f"{where} sealed key"),
        pending_sealed_dek=_unb64(
            item.get("pending_sealed_dek"), f"{where} pending key", optional=True
        )
        or None,
    )


def _parse_unattended(raw: Any) -> WrappedKey | None:
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise VaultError("vault header: unattended slot is malformed")
    return WrappedKey(
        nonce=_unb64(raw.get("nonce"), "unattended nonce"),
        wrapped=_unb64(raw.get("wrapped"), "unattended key"),
        pending_nonce=_unb64(raw.get("pending_nonce"), "unattended", optional=True)
        or None,
        pending_wrapped=_unb64(raw.get("pending_wrapped"), "unattended", optional=True)
        or None,
    )
