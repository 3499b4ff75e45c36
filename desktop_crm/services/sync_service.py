"""Sync use cases: connect, pairing codes, join, sync now, status, revoke, conflicts.

Connecting, pairing and revoking need ``keys.manage`` (the practice sync key
is a key of the practice).  The workstation's server token lives in the OS
keyring, never in the database; the practice sync key lives in the vault
(the encrypted database).  The wire protocol is docs/sync-protocol.md; the
merge is ``desktop_crm.sync.engine``.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from desktop_crm.crypto import header as header_format
from desktop_crm.crypto import pin as pin_policy
from desktop_crm.crypto import primitives, recovery_key, slots, sync_keys, totp
from desktop_crm.crypto.header import VaultHeader
from desktop_crm.crypto.slots import SealedKey
from desktop_crm.crypto.sync_keys import DecryptionFailed, PairingCode
from desktop_crm.errors import InvalidInput, NotPermitted, VaultError
from desktop_crm.platform.secret_store import SecretStore
from desktop_crm.services import settings_keys as keys
from desktop_crm.services import shared_totp
from desktop_crm.services.clock import Clock, SystemClock, iso
from desktop_crm.services.session import Session
from desktop_crm.services.vault import (
    Enrolment,
    VaultService,
    enrolment_for,
    slot_private,
)
from desktop_crm.storage import migrations, queries, sync_queries
from desktop_crm.storage.database import Database, open_database
from desktop_crm.storage.writepath import AuditEvent, Mutation, commit
from desktop_crm.sync import engine as sync_engine
from desktop_crm.sync.engine import SyncEngine, SyncResult, state_mutations
from desktop_crm.sync.transport import (
    SyncError,
    Transport,
    TransportFactory,
    check_url,
    close_transport,
    https_transport,
)

log = logging.getLogger(__name__)

PAIRING_SECONDS = 600
MANAGE = "keys.manage"

__all__ = [
    "Connected",
    "JoinedVault",
    "PairingResult",
    "SyncResult",
    "SyncStatus",
    "connect",
    "join",
    "pair_code",
    "rejoin",
    "resolve_conflict",
    "revoke",
    "status",
    "sync_now",
]


def token_name(vault_id: str) -> str:
    """The keyring entry holding this vault's workstation token."""
    return f"sync-token.{vault_id}"


@dataclass(frozen=True)
class Connected:
    practice_id: str
    workstation_id: str


@dataclass(frozen=True)
class PairingResult:
    code: str
    expires_at: str


@dataclass
class JoinedVault:
    """A workstation that joined: the admin's session, TOTP entry, recovery key."""

    session: Session
    enrolment: Enrolment
    recovery_key: str
    pulled: int


@dataclass(frozen=True)
class SyncStatus:
    connected: bool
    url: str
    fingerprint: str
    practice_id: str
    workstation_id: str
    last_sync_at: str
    last_error: str
    pending_changes: int
    open_conflicts: int


def _rfc3339(timestamp: float) -> str:
    return iso(timestamp).replace("+00:00", "Z")


def _state(session: Session) -> dict[str, str]:
    return sync_queries.state(session.database())


def _token(vault: VaultService, session: Session) -> str:
    token = vault.secrets.get(token_name(session.vault_id))
    if not token:
        raise SyncError(
            "this workstation's sync token is missing from the OS keyring (a "
            "restored or moved vault, or another OS account): an admin rejoins "
            "it with a pairing code (sync rejoin)"
        )
    return token


def _transport(
    vault: VaultService, session: Session, factory: TransportFactory
) -> Transport:
    state = _state(session)
    if sync_engine.PRACTICE_ID not in state:
        raise SyncError("this vault is not connected to a sync server")
    return factory(
        state[sync_engine.URL], state[sync_engine.FINGERPRINT], _token(vault, session)
    )


def engine_for(
    vault: VaultService,
    session: Session,
    factory: TransportFactory = https_transport,
) -> SyncEngine:
    """A sync engine for this unlocked session (background sync uses it too)."""
    return SyncEngine(session, _transport(vault, session, factory))


def _label(vault: VaultService, session: Session) -> str:
    return session.workstation[:100]


def _connection_state(
    url: str, fingerprint: str, practice_id: str, workstation_id: str
) -> dict[str, str]:
    return {
        sync_engine.URL: url,
        sync_engine.FINGERPRINT: fingerprint,
        sync_engine.PRACTICE_ID: practice_id,
        sync_engine.WORKSTATION_ID: workstation_id,
        sync_engine.PUSHED_CHANGE: "0",
        sync_engine.PUSH_SEQ: "0",
        sync_engine.PULL_CURSOR: "0",
        sync_engine.LAST_ERROR: "",
    }


# -- connect -------------------------------------------------------------------


def connect(
    vault: VaultService,
    session: Session,
    url: str,
    fingerprint: str,
    *,
    registration_code: str | None = None,
    transport_factory: TransportFactory = https_transport,
) -> Connected:
    """Register the practice on a server and make its sync key (admin).

    ``registration_code`` is the server operator's, when the server asks for
    one (``server run --registration-code-file``).
    """
    session.require(MANAGE)
    fingerprint = sync_keys.parse_fingerprint(fingerprint)
    url = url.strip().rstrip("/")
    check_url(url)
    if sync_engine.PRACTICE_ID in _state(session):
        raise InvalidInput("server URL", "this vault is connected to a server already")
    transport = transport_factory(url, fingerprint, None)
    try:
        registration = transport.create_practice(
            _label(vault, session), registration_code or None
        )
    finally:
        close_transport(transport)
    vault.secrets.set(token_name(session.vault_id), registration.token)
    sync_key = sync_keys.new_sync_key()
    session.write(
        AuditEvent("sync.connect", "vault", session.vault_id),
        [
            Mutation("sync_key", "practice", "insert", {"key": sync_key.hex()}),
            *state_mutations(
                _connection_state(
                    url,
                    fingerprint,
                    registration.practice_id,
                    registration.workstation_id,
                )
            ),
        ],
    )
    if session.user_id is not None and session.totp_secret:
        # The admin's authenticator entry is the one for every workstation.
        shared_totp.publish(session, session.user_id, session.totp_secret)
    log.info("connected to a sync server as a new practice")
    return Connected(registration.practice_id, registration.workstation_id)


# -- pairing -------------------------------------------------------------------------


def pair_code(
    vault: VaultService,
    session: Session,
    *,
    transport_factory: TransportFactory = https_transport,
) -> PairingResult:
    """A single-use pairing code for a new workstation, valid 10 minutes (admin)."""
    session.require(MANAGE)
    state = _state(session)
    transport = _transport(vault, session, transport_factory)
    key_hex = sync_queries.sync_key_hex(session.database())
    assert key_hex is not None
    practice_id = state[sync_engine.PRACTICE_ID]
    enrolment, one_use = sync_keys.new_token(), sync_keys.new_token()
    wrapped = sync_keys.wrap_sync_key(bytes.fromhex(key_hex), one_use, practice_id)
    expires = _rfc3339(session.clock.now() + PAIRING_SECONDS)
    try:
        # Send what is pending first: the new workstation pulls the practice.
        SyncEngine(session, transport).push()
        transport.create_pairing(
            hashlib.sha256(enrolment).hexdigest(), expires, wrapped
        )
    finally:
        close_transport(transport)
    code = PairingCode(
        state[sync_engine.URL],
        state[sync_engine.FINGERPRINT],
        practice_id,
        enrolment,
        one_use,
    ).encode()
    session.write(AuditEvent("sync.pair_code", "vault", session.vault_id))
    return PairingResult(code, expires)


# -- join ---------------------------------------------------------------------------


def join(
    root: Path,
    secrets_store: SecretStore,
    code_text: str,
    admin_name: str,
    new_pin: str,
    *,
    transport_factory: TransportFactory = https_transport,
    clock: Clock | None = None,
) -> JoinedVault:
    """Make a vault on this workstation from a pairing code and pull the practice.

    As in a restore, the new vault gets its own id, DEK, header and recovery
    key; the named admin gets a new PIN and TOTP secret here.  Other users
    arrive needing a reset by an admin of this workstation (their key slots
    do not travel).
    """
    pin_policy.check_pin(new_pin, "new PIN")
    code = PairingCode.decode(code_text)
    service = VaultService(Path(root), secrets_store, clock or SystemClock())
    if service.files.exists() or service.files.database.exists():
        raise VaultError(f"a vault already exists in {service.files.root}")
    device = service.device_secret(create=True)
    made_root = not service.files.root.exists()
    service.files.prepare()
    vault_id = str(uuid.uuid4())
    try:
        with service.exclusive():
            return _join_vault(
                service,
                code,
                vault_id,
                (admin_name, new_pin),
                device,
                transport_factory,
            )
    except BaseException:
        service.files.remove_vault_files()
        with contextlib.suppress(Exception):
            secrets_store.delete(token_name(vault_id))
        if made_root:
            with contextlib.suppress(OSError):
                service.files.root.rmdir()
        raise


def _open_key(code: PairingCode, wrapped: bytes | None) -> bytes:
    if wrapped is None:
        raise SyncError("the server sent no practice key with the pairing")
    try:
        return sync_keys.unwrap_sync_key(wrapped, code.one_use_key, code.practice_id)
    except DecryptionFailed:
        raise InvalidInput(
            "pairing code", "does not open the practice key: ask for a new code"
        ) from None


def _join_vault(
    service: VaultService,
    code: PairingCode,
    vault_id: str,
    admin: tuple[str, str],
    device: bytes,
    factory: TransportFactory,
) -> JoinedVault:
    admin_name, new_pin = admin
    label = service.workstation_id(vault_id)[:100]
    transport = factory(code.url, code.fingerprint, None)
    try:
        joined = transport.join(
            code.practice_id, sync_keys.b64(code.enrolment_token), label
        )
    finally:
        close_transport(transport)
    sync_key = _open_key(code, joined.wrapped_key)
    service.secrets.set(token_name(vault_id), joined.token)
    dek = bytearray(primitives.random_bytes(slots.DEK_BYTES))
    rec_private, rec_public = primitives.new_keypair()
    recovery = SealedKey(
        rec_public,
        slots.seal_dek(bytes(dek), rec_public, vault_id, "recovery", "recovery", 1),
    )
    provisional = header_format.sign(VaultHeader(vault_id, 1, 1, recovery, {}), dek)
    db = open_database(service.files.database, dek, create=True)
    try:
        migrations.migrate(db)
        db.after_commit.append(service.files.write_head)
        puller = service.session_for(
            provisional, db, dek, None, "sync join", ("admin",), "join"
        )
        commit(
            db,
            puller.actor,
            AuditEvent("sync.join", "vault", vault_id),
            [
                Mutation("sync_key", "practice", "insert", {"key": sync_key.hex()}),
                *state_mutations(
                    _connection_state(
                        code.url,
                        code.fingerprint,
                        code.practice_id,
                        joined.workstation_id,
                    )
                ),
                *_settings({keys.VAULT_ID: vault_id, keys.HEADER_GENERATION: "1"}),
            ],
        )
        transport = factory(code.url, code.fingerprint, joined.token)
        try:
            pulled, _ = SyncEngine(puller, transport).pull()
        finally:
            close_transport(transport)
        return _admin_slot(
            service,
            db,
            dek,
            (provisional, rec_private, device),
            admin_name,
            new_pin,
            pulled,
        )
    except BaseException:
        db.close()
        raise


def _admin_slot(
    service: VaultService,
    db: Database,
    dek: bytearray,
    made: tuple[VaultHeader, bytes, bytes],
    admin_name: str,
    new_pin: str,
    pulled: int,
) -> JoinedVault:
    provisional, rec_private, device = made
    vault_id = provisional.vault_id
    user = queries.user_by_name(db, admin_name.strip())
    if user is None or not user.active or "admin" not in user.roles:
        raise InvalidInput("admin", "no active admin by that name in the practice")
    # The admin's authenticator entry from the practice, if they have one.
    shared = shared_totp.shared_secret(db, user.id)
    secret = shared or totp.new_secret()
    slot = slots.new_user_slot(
        vault_id=vault_id,
        user_id=user.id,
        name=user.name,
        pin=new_pin,
        device_secret=device,
        totp_secret=secret,
        dek=bytes(dek),
        dek_generation=1,
    )
    header = header_format.sign(provisional.with_slot(slot), dek)
    session = service.session_for(
        header, db, dek, user.id, user.name, user.roles, "join"
    )
    session.write(
        AuditEvent("vault.joined", "user", user.id),
        [
            Mutation(
                "users",
                user.id,
                "update",
                {
                    "needs_reset": 0,
                    "must_change_pin": 0,
                    "totp_enrolled": 1 if shared else 0,
                    "last_totp_step": 0,
                },
            )
        ],
    )
    # The header goes last: until it exists there is no vault.
    service.files.save_header(header)
    session.private_key = slot_private(slot, vault_id, new_pin, device)
    session.totp_secret = secret
    if shared is None:
        shared_totp.publish(session, user.id, secret)
    practice = session.setting(keys.PRACTICE_NAME, "")
    return JoinedVault(
        session,
        enrolment_for(secret, user.name, practice),
        recovery_key.encode(rec_private),
        pulled,
    )


def rejoin(
    vault: VaultService,
    session: Session,
    code_text: str,
    *,
    transport_factory: TransportFactory = https_transport,
) -> SyncResult:
    """Make a restored (or moved) vault a new workstation of its practice (admin).

    A restored vault has a new vault id, so the old workstation's token is
    not in this keyring, and the old workstation may still be running: the
    vault joins again with a pairing code as a new workstation, keeps what
    it holds (changes it never sent are sent now under the new workstation
    id; sending one twice changes nothing, as a per-field merge of equal
    stamps is a no-op) and pulls what the practice did since.
    """
    session.require(MANAGE)
    code = PairingCode.decode(code_text)
    state = _state(session)
    practice = state.get(sync_engine.PRACTICE_ID)
    if practice is None:
        raise InvalidInput(
            "pairing code",
            "this vault was never connected to a sync server: connect it "
            "(sync connect), or join the practice into a new data folder "
            "(sync join)",
        )
    if practice != code.practice_id:
        raise InvalidInput("pairing code", "is for another practice than this vault's")
    key_hex = sync_queries.sync_key_hex(session.database())
    transport = transport_factory(code.url, code.fingerprint, None)
    try:
        joined = transport.join(
            code.practice_id,
            sync_keys.b64(code.enrolment_token),
            _label(vault, session),
        )
    finally:
        close_transport(transport)
    if key_hex is None or _open_key(code, joined.wrapped_key) != bytes.fromhex(key_hex):
        raise InvalidInput("pairing code", "does not open this vault's practice key")
    vault.secrets.set(token_name(session.vault_id), joined.token)
    session.write(
        AuditEvent("sync.rejoin", "vault", session.vault_id),
        state_mutations(
            {
                sync_engine.URL: code.url,
                sync_engine.FINGERPRINT: code.fingerprint,
                sync_engine.WORKSTATION_ID: joined.workstation_id,
                sync_engine.PUSH_SEQ: "0",
                sync_engine.LAST_ERROR: "",
            }
        ),
    )
    log.info("rejoined the practice as a new workstation")
    return sync_now(vault, session, transport_factory=transport_factory)


def _settings(values: dict[str, str]) -> list[Mutation]:
    return [Mutation("settings", k, "upsert", {"value": v}) for k, v in values.items()]


# -- the rest -------------------------------------------------------------------------


def sync_now(
    vault: VaultService,
    session: Session,
    *,
    transport_factory: TransportFactory = https_transport,
) -> SyncResult:
    """Push and pull now; any unlocked user may (it only moves the practice's data)."""
    session.require("vault.status")
    engine = engine_for(vault, session, transport_factory)
    try:
        return engine.sync_now()
    finally:
        close_transport(engine.transport)


def status(session: Session) -> SyncStatus:
    session.require("vault.status")
    db = session.database()
    state = sync_queries.state(db)
    pushed = int(state.get(sync_engine.PUSHED_CHANGE, "0"))
    connected = sync_engine.PRACTICE_ID in state
    return SyncStatus(
        connected,
        state.get(sync_engine.URL, ""),
        state.get(sync_engine.FINGERPRINT, ""),
        state.get(sync_engine.PRACTICE_ID, ""),
        state.get(sync_engine.WORKSTATION_ID, ""),
        state.get(sync_engine.LAST_SYNC_AT, ""),
        state.get(sync_engine.LAST_ERROR, ""),
        sync_queries.pending_changes(db, pushed) if connected else 0,
        sync_queries.open_conflict_count(db),
    )


def workstations(
    vault: VaultService,
    session: Session,
    *,
    transport_factory: TransportFactory = https_transport,
) -> list[dict[str, object]]:
    session.require(MANAGE)
    transport = _transport(vault, session, transport_factory)
    try:
        return transport.workstations()
    finally:
        close_transport(transport)


def revoke(
    vault: VaultService,
    session: Session,
    workstation_id: str,
    *,
    transport_factory: TransportFactory = https_transport,
) -> None:
    """Have the server refuse a workstation from now on (admin)."""
    session.require(MANAGE)
    target = workstation_id.strip()
    if not target or len(target) > 100 or not target.isprintable():
        raise InvalidInput("workstation", "give the workstation id to revoke")
    transport = _transport(vault, session, transport_factory)
    try:
        transport.revoke(target)
    finally:
        close_transport(transport)
    session.write(AuditEvent("sync.revoke", "workstation", target))


#: Who may settle a conflict on a record type (default: patients.write).
_RESOLVE_PERMISSION = {
    "users": "users.manage",
    "settings": "settings.manage",
    "appointments": "appointments.write",
    "appointment_series": "appointments.write",
    "provider_hours": "appointments.write",
    "provider_days_off": "appointments.write",
    "communications": "communications.write",
    "user_totp": "users.manage",
}


def resolve_conflict(session: Session, conflict_id: str, keep: str) -> None:
    """Settle a conflict: keep the value in the record, or put the lost one back.

    ``keep`` is ``kept`` or ``lost``.  Putting the lost value back (or, for a
    delete against an edit, deleting after all) is an ordinary change that
    syncs to every workstation.
    """
    if keep not in ("kept", "lost"):
        raise InvalidInput("keep", "choose 'kept' or 'lost'")
    db = session.database()
    found = sync_queries.conflict(db, conflict_id.strip())
    if found is None:
        raise InvalidInput("conflict", "no conflict with that id")
    if found.resolved_at is not None:
        raise InvalidInput("conflict", "was resolved already")
    permission = _RESOLVE_PERMISSION.get(found.record_type, "patients.write")
    if not session.allows(permission):
        raise NotPermitted(permission)
    mutations = [
        Mutation(
            "sync_conflicts",
            found.id,
            "update",
            {"resolved_at": iso(session.clock.now()), "resolved_by": session.user_id},
        )
    ]
    if keep == "lost":
        mutations.insert(0, _restore_lost(db, found))
    session.write(
        AuditEvent(
            "sync.resolve",
            found.record_type,
            found.record_id,
            outcome=keep,
            fields=(found.field,),
        ),
        mutations,
    )


def _restore_lost(db: Database, found: sync_queries.ConflictRow) -> Mutation:
    if found.field == sync_queries.DELETED:
        if found.lost_value == "deleted":
            return Mutation(found.record_type, found.record_id, "delete")
        values = found.lost_value if isinstance(found.lost_value, dict) else {}
        return Mutation(found.record_type, found.record_id, "upsert", values)
    if sync_queries.row(db, found.record_type, found.record_id) is None:
        raise InvalidInput("conflict", "the record is gone: nothing to put back")
    if found.record_type == "documents":
        raise InvalidInput("conflict", "a document's content cannot be put back")
    value = found.lost_value
    if isinstance(value, dict | list):
        value = json.dumps(value)
    return Mutation(found.record_type, found.record_id, "update", {found.field: value})


# -- conflicts ---------------------------------------------------------------

#: Who may see a conflict's two values, by record type (default: keys.manage;
#: who may settle one: ``_RESOLVE_PERMISSION`` above).
_READ_PERMISSION = {
    "patients": "patients.read",
    "patient_identifiers": "patients.read",
    "patient_merges": "patients.read",
    "documents": "documents.read",
    "appointments": "appointments.read",
    "appointment_series": "appointments.read",
    "provider_hours": "appointments.read",
    "provider_days_off": "appointments.read",
    "providers": "appointments.read",
    "provider_identifiers": "appointments.read",
    "visits": "appointments.read",
    "virtual_visits": "appointments.read",
    "waitlist": "appointments.read",
    "communications": "communications.read",
    "users": "users.manage",
    "settings": "settings.manage",
}

RECORD_TYPE_LABELS = {
    "patients": "Patient",
    "patient_identifiers": "Patient identifier",
    "appointments": "Appointment",
    "appointment_series": "Appointment series",
    "documents": "Document",
    "users": "User",
    "settings": "Setting",
    "communications": "Message",
    "waitlist": "Waitlist entry",
    "virtual_visits": "Virtual visit",
    "visits": "Visit",
    "providers": "Provider",
    "provider_hours": "Provider hours",
    "provider_days_off": "Provider day off",
}


@dataclass(frozen=True)
class ConflictView:
    """One open conflict as a screen shows it (values already as text)."""

    id: str
    record_type: str
    record_id: str
    record_label: str
    field: str
    field_label: str
    kept: str
    lost: str
    lost_device: str
    created_at: str


def read_permission(record_type: str) -> str:
    return _READ_PERMISSION.get(record_type, "keys.manage")


def value_text(value: Any) -> str:
    """A stored value as one line of text (JSON for lists and mappings)."""
    if value is None or value == "":
        return "(empty)"
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False, separators=(", ", ": "))
    return str(value)


def _field_label(row: sync_queries.ConflictRow) -> str:
    if row.field == sync_queries.DELETED:
        return "deleted on one side, edited on the other"
    if row.field == sync_engine.UNAPPLIED:
        return "change could not be applied (clashes with a record here)"
    return row.field.replace("_", " ")


def _values(row: sync_queries.ConflictRow) -> tuple[str, str]:
    if row.field == sync_queries.DELETED:
        kept = "record kept" if row.kept_value == "kept" else "record deleted"
        lost = "delete it" if row.lost_value == "deleted" else "edited version"
        return kept, lost
    return value_text(row.kept_value), value_text(row.lost_value)


def _record_label(db: Database, row: sync_queries.ConflictRow) -> str:
    kind = RECORD_TYPE_LABELS.get(row.record_type, row.record_type.replace("_", " "))
    if row.record_type == "patients":
        found = sync_queries.row(db, "patients", row.record_id)
        if found is not None:
            name = ", ".join(p for p in (found["family"], found["given"]) if p)
            return f"{kind} {name} (MRN {found['mrn']})"
    if row.record_type == "users":
        found = sync_queries.row(db, "users", row.record_id)
        if found is not None:
            return f"{kind} {found['name']}"
    return f"{kind} {row.record_id[:8]}"


def open_conflicts(
    session: Session, record_type: str | None = None, record_id: str | None = None
) -> tuple[list[ConflictView], int]:
    """The open conflicts this user may see, and how many others are open.

    A conflict shows two values of a record, so it is shown only to a user
    who may read that kind of record (the others are counted, not shown).
    Like a search result list, this is not an audited opening of a record.
    """
    session.require("vault.status")
    db = session.database()
    shown: list[ConflictView] = []
    hidden = 0
    for row in sync_queries.conflicts(db):
        if record_type is not None and row.record_type != record_type:
            continue
        if record_id is not None and row.record_id != record_id:
            continue
        if not session.allows(read_permission(row.record_type), row.record_id):
            hidden += 1
            continue
        kept, lost = _values(row)
        shown.append(
            ConflictView(
                row.id,
                row.record_type,
                row.record_id,
                _record_label(db, row),
                row.field,
                _field_label(row),
                kept,
                lost,
                row.lost_device,
                row.created_at,
            )
        )
    return shown, hidden
