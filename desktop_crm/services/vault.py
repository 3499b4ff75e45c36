"""Vault use cases: create, unlock (full or quick), recover, and key access.

This module turns PINs, codes and keys into an unlocked ``Session``.  The
user administration and key rotation that need a session live in
``services.users`` and ``services.keys``.
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path

from desktop_crm.crypto import header as header_format
from desktop_crm.crypto import pin as pin_policy
from desktop_crm.crypto import primitives, recovery_key, slots, totp
from desktop_crm.crypto.header import VaultHeader
from desktop_crm.crypto.primitives import DecryptionFailed
from desktop_crm.crypto.slots import SealedKey, UserSlot
from desktop_crm.errors import (
    AuthenticationFailed,
    CRMError,
    DeviceSecretMissing,
    InvalidInput,
    TOTPRequired,
    VaultError,
)
from desktop_crm.platform.filelock import FileLock
from desktop_crm.platform.secret_store import SecretStore
from desktop_crm.services import settings_keys as keys
from desktop_crm.services import shared_totp
from desktop_crm.services.attempts import AttemptLog
from desktop_crm.services.clock import Clock, SystemClock, from_iso, iso
from desktop_crm.services.roles import allows
from desktop_crm.services.session import Session
from desktop_crm.services.vault_files import VaultFiles
from desktop_crm.storage import break_glass_queries, migrations, queries
from desktop_crm.storage.database import Database, WrongDatabaseKey, open_database
from desktop_crm.storage.hlc import HybridLogicalClock
from desktop_crm.storage.writepath import Actor, AuditEvent, ChainHead, Mutation

log = logging.getLogger(__name__)

DEVICE_SECRET = "device-secret"
ISSUER = "Desktop CRM"


class Stopwatch:
    """Named laps of ``time.perf_counter``, for the unlock benchmark."""

    def __init__(self, laps: dict[str, float] | None = None) -> None:
        self.laps = laps if laps is not None else {}
        self._last = time.perf_counter()

    def lap(self, name: str) -> None:
        now = time.perf_counter()
        self.laps[name] = now - self._last
        self._last = now


HEAD_NOTICES = {
    "missing": "The audit log's outside marker (audit.head) was missing: entries "
    "cut off the end of the log could not be ruled out at this unlock.",
    "damaged": "The audit log's outside marker (audit.head) was damaged: entries "
    "cut off the end of the log could not be ruled out at this unlock.",
    "cut off": "The newest audit log entries are missing: the log was cut off.",
    "differs": "The audit log does not match its outside marker: an entry was changed.",
}


class VaultChanged(VaultError):
    """Another window or command changed the vault's keys since this unlock."""

    def __init__(self) -> None:
        super().__init__(
            "the vault's keys were changed by another window or command since you "
            "unlocked: lock and unlock again, then retry"
        )


class _HeaderMoved(Exception):
    """The header changed between reading it and opening the database."""


class TOTPEnrolmentRequired(CRMError):
    """An admin reset this user's authenticator: a new entry must be set up.

    The unlock that raises this checked the PIN and put a new TOTP secret in
    the user's slot; ``enrolment`` holds it, to show once.  The next unlock
    needs a code from the new entry.
    """

    exit_code = 3

    def __init__(self, enrolment: Enrolment) -> None:
        super().__init__(
            "your authenticator was reset by an admin: add the new entry to your "
            "authenticator app, then unlock with a code from it (on the command "
            "line: desktop-crm user enrol)"
        )
        self.enrolment = enrolment


#: The reset mark's value once a new secret was issued (before: "1").
ISSUED = "issued"


def totp_reset_key(user_id: str) -> str:
    """The setting that marks a user whose authenticator an admin reset."""
    return f"user.totp_reset.{user_id}"


class AccessNeedsReset(AuthenticationFailed):
    """The user's access was suspended until an admin resets it."""

    def __init__(self) -> None:
        super().__init__("your access must be reset by an admin before you can unlock")


@dataclass
class Enrolment:
    """A TOTP secret to show once: as a QR code URI and for manual entry."""

    secret: str
    uri: str


@dataclass
class CreatedVault:
    """The result of setup: the admin's session, enrolment and recovery key."""

    session: Session
    enrolment: Enrolment
    recovery_key: str


def enrolment_for(secret: str, user_name: str, practice: str) -> Enrolment:
    account = f"{user_name} ({practice})" if practice else user_name
    return Enrolment(secret, totp.provisioning_uri(secret, account, ISSUER))


class VaultService:
    """Opens the vault in one folder for one OS account."""

    def __init__(
        self,
        root: Path,
        secrets: SecretStore | Callable[[], SecretStore],
        clock: Clock | None = None,
    ) -> None:
        self.files = VaultFiles(root)
        self._secrets_factory = secrets if callable(secrets) else None
        self._secrets: SecretStore | None = None if callable(secrets) else secrets
        self.clock = clock or SystemClock()
        self.attempts = AttemptLog(self.files.attempts)
        #: Serialises every change to the key files across processes.
        self.key_lock = FileLock(self.files.root / "vault.lock")
        self._head_at_open: tuple[ChainHead | None, str | None] = (None, None)
        self._device_secret: bytes | None = None
        #: Seconds spent in each step of the last unlock (for benchmarks).
        self.timings: dict[str, float] = {}

    # -- the OS keyring ---------------------------------------------------
    @property
    def secrets(self) -> SecretStore:
        if self._secrets is None:
            assert self._secrets_factory is not None
            self._secrets = self._secrets_factory()
        return self._secrets

    def device_secret(self, *, create: bool = False) -> bytes:
        """The device secret from the keyring, made only when none exists."""
        if self._device_secret is not None:
            return self._device_secret
        stored = self.secrets.get(DEVICE_SECRET)
        if stored is None:
            if not create:
                raise DeviceSecretMissing
            stored = primitives.random_bytes(slots.DEVICE_SECRET_BYTES).hex()
            self.secrets.set(DEVICE_SECRET, stored)
            log.info("created a new device secret in the OS keyring")
        try:
            secret = bytes.fromhex(stored)
        except ValueError as exc:
            raise VaultError("the device secret in the OS keyring is damaged") from exc
        if len(secret) != slots.DEVICE_SECRET_BYTES:
            raise VaultError("the device secret in the OS keyring is damaged")
        self._device_secret = secret
        return secret

    def prefetch(self) -> None:
        """Read the keyring early (while the user is typing)."""
        self.device_secret()

    def exclusive(self) -> contextlib.AbstractContextManager[None]:
        """Hold the vault's key lock (reentrant within this service)."""
        return self.key_lock.held()

    def check_current(self, session: Session) -> None:
        """Refuse to change keys from a session whose header is out of date."""
        disk = self.files.load_header()
        if (
            disk.generation != session.header.generation
            or disk.mac != session.header.mac
        ):
            raise VaultChanged

    def workstation_id(self, vault_id: str) -> str:
        digest = primitives.hkdf(
            self.device_secret(), salt=vault_id.encode(), purpose="workstation-id"
        )
        return f"{_host_name()[:32]}-{digest[:4].hex()}"

    # -- facts before unlock ------------------------------------------------
    def exists(self) -> bool:
        return self.files.exists()

    def user_names(self) -> list[str]:
        header = self.files.load_header()
        return sorted((s.name for s in header.slots.values()), key=str.casefold)

    # -- setup ----------------------------------------------------------------
    def create(
        self, practice: str, admin_name: str, pin: str, timezone: str
    ) -> CreatedVault:
        """Make a new vault with its first user, ``admin,provider``."""
        practice, admin_name = practice.strip(), admin_name.strip()
        _check_name("practice name", practice)
        _check_name("admin name", admin_name)
        pin_policy.check_pin(pin)
        _check_zone(timezone)
        if self.files.exists() or self.files.database.exists():
            raise VaultError(f"a vault already exists in {self.files.root}")
        # The keyring first: without one, nothing at all is created on disk.
        device = self.device_secret(create=True)
        made_root = not self.files.root.exists()
        self.files.prepare()
        try:
            with self.exclusive():
                return self._create_files(practice, admin_name, pin, timezone, device)
        except BaseException:
            # Interrupted or failed setup leaves no half-made vault behind.
            self.files.remove_vault_files()
            if made_root:
                with contextlib.suppress(OSError):
                    self.files.root.rmdir()
            raise

    def _create_files(
        self, practice: str, admin_name: str, pin: str, timezone: str, device: bytes
    ) -> CreatedVault:
        vault_id = str(uuid.uuid4())
        dek = bytearray(primitives.random_bytes(slots.DEK_BYTES))
        rec_private, rec_public = primitives.new_keypair()
        user_id = str(uuid.uuid4())
        secret = totp.new_secret()
        slot = slots.new_user_slot(
            vault_id=vault_id,
            user_id=user_id,
            name=admin_name,
            pin=pin,
            device_secret=device,
            totp_secret=secret,
            dek=bytes(dek),
            dek_generation=1,
        )
        recovery = SealedKey(
            rec_public,
            slots.seal_dek(bytes(dek), rec_public, vault_id, "recovery", "recovery", 1),
        )
        header = header_format.sign(
            VaultHeader(vault_id, 1, 1, recovery, {user_id: slot}), dek
        )
        db = open_database(self.files.database, dek, create=True)
        try:
            migrations.migrate(db)
            session = self.session_for(
                header, db, dek, user_id, admin_name, ("admin", "provider"), "setup"
            )
            db.after_commit.append(self.files.write_head)
            now = iso(self.clock.now())
            session.write(
                AuditEvent("vault.create", "vault", vault_id),
                [
                    Mutation(
                        "users",
                        user_id,
                        "insert",
                        {
                            "name": admin_name,
                            "roles": "admin,provider",
                            "active": 1,
                            "created_at": now,
                        },
                    ),
                    *_settings(
                        {
                            keys.VAULT_ID: vault_id,
                            keys.PRACTICE_NAME: practice,
                            keys.PRACTICE_TZ: timezone,
                            keys.HEADER_GENERATION: "1",
                        }
                    ),
                ],
            )
            # The header goes last: until it exists there is no vault.
            self.files.save_header(header)
            from desktop_crm.services import providers  # it imports this module's peers

            providers.ensure_user_providers(session)
        except BaseException:
            db.close()
            raise
        session.private_key = slot_private(slot, vault_id, pin, device)
        session.totp_secret = secret
        return CreatedVault(
            session,
            enrolment_for(secret, admin_name, practice),
            recovery_key.encode(rec_private),
        )

    def confirm_enrolment(self, session: Session, code: str) -> None:
        """Finish TOTP enrolment once one valid code has come back."""
        user = queries.user_by_id(session.database(), session.user_id or "")
        if user is None:
            raise VaultError("the user record is missing")
        step = totp.verify(
            session.totp_secret, code, self.clock.now(), user.last_totp_step
        )
        session.write(
            AuditEvent("user.totp_enrolled", "user", user.id),
            [
                Mutation(
                    "users",
                    user.id,
                    "update",
                    {"totp_enrolled": 1, "last_totp_step": step},
                )
            ],
        )

    # -- unlock -------------------------------------------------------------------
    def unlock(self, name: str, pin: str, code: str | None = None) -> Session:
        """Full unlock with a code, or quick re-unlock with the PIN alone.

        Raises:
            AuthenticationFailed: wrong PIN, wrong or replayed code, unknown or
                deactivated user (one message for all).
            TOTPRequired: no code given and no quick re-unlock grant holds.
            LockedOut: too many failures; the message says how long to wait.
        """
        try:
            return self._unlock_once(name, pin, code)
        except _HeaderMoved:
            # Another process changed the keys while we stretched the PIN.
            return self._unlock_once(name, pin, code)

    def _unlock_once(self, name: str, pin: str, code: str | None) -> Session:
        header = self.files.load_header()
        slot = header.slot_by_name(name.strip())
        if slot is None:
            log.info("unlock refused: unknown user name")
            raise AuthenticationFailed
        now = self.clock.now()
        self.attempts.check(slot.user_id, now)
        watch = Stopwatch()
        # The keyring answers over D-Bus while Argon2id (which releases the
        # GIL) runs, so the read costs nothing on the unlock's critical path.
        with ThreadPoolExecutor(max_workers=1) as pool:
            pending = pool.submit(self.device_secret)
            stretched = slots.stretch_pin(pin, slot.salt, slot.kdf)
            watch.lap("argon2id")
            device = pending.result()
            watch.lap("keyring_wait")
        try:
            opened = slots.open_stretched(slot, header.vault_id, stretched, device)
        except DecryptionFailed:
            self._fail(slot.user_id, now, "credentials")
            raise AuthenticationFailed from None
        self.timings = watch.laps
        dek, db, header = self._open_with(
            header,
            lambda sealed, gen: slots.unseal_dek(
                sealed, opened.private_key, header.vault_id, slot.user_id, "user", gen
            ),
            owner=slot.user_id,
        )
        try:
            return self._finish_unlock(header, db, dek, slot, opened, (pin, code), now)
        except BaseException:
            db.close()
            primitives.wipe(dek)
            opened.wipe()
            raise

    def _finish_unlock(
        self,
        header: VaultHeader,
        db: Database,
        dek: bytearray,
        slot: UserSlot,
        opened: slots.OpenedSlot,
        credentials: tuple[str, str | None],
        now: float,
    ) -> Session:
        pin, code = credentials
        user = queries.user_by_id(db, slot.user_id)
        if user is None or not user.active:
            # A deactivated user's slot is removed; an old header copy that
            # still holds it opens the database but stops here.
            self._fail(slot.user_id, now, "inactive")
            raise AuthenticationFailed
        if user.needs_reset:
            raise AccessNeedsReset
        reset = queries.setting(db, totp_reset_key(user.id))
        if reset is not None and (reset != ISSUED or not (code and code.strip())):
            # A fresh reset, or no code for the entry issued: issue one now.
            self._reenrol(header, db, dek, (slot, opened), pin, user)
        workstation = self.workstation_id(header.vault_id)
        step = None
        secret = opened.totp_secret
        shared: object = shared_totp.NOT_READ
        if code is not None and code.strip():
            if reset is None and (not user.must_change_pin or user.keeps_totp):
                # A secret enrolled on another workstation of the practice
                # replaces the one in this slot (services.shared_totp).
                shared = shared_totp.shared_secret(db, user.id)
                secret = shared or secret
            try:
                step = totp.verify(secret, code, now, user.last_totp_step)
            except AuthenticationFailed:
                skew = totp.skew_steps(secret, code, now)
                state = self._fail(slot.user_id, now, "credentials", skew)
                raise AuthenticationFailed(_skew_hint(state.skews)) from None
        else:
            if not self._grant_holds(db, user.id, workstation, now):
                raise TOTPRequired
        session = self.session_for(
            header,
            db,
            dek,
            user.id,
            user.name,
            user.roles,
            "full" if step is not None else "quick",
        )
        session.private_key, session.totp_secret = (
            opened.private_key,
            opened.totp_secret,
        )
        session.must_change_pin = user.must_change_pin
        self._record_unlock(session, user.id, step, now)
        if reset is not None:
            session.write(
                AuditEvent("user.totp_enrolled", "user", user.id),
                [Mutation("settings", totp_reset_key(user.id), "delete")],
            )
        if step is not None:
            self._share_secret(session, slot, secret, pin, shared)
        return session

    def _share_secret(
        self, session: Session, slot: UserSlot, secret: str, pin: str, shared: object
    ) -> None:
        """Keep the slot and the practice's shared copy of the TOTP secret alike.

        After a full unlock with a code from ``secret``: a secret adopted from
        another workstation is wrapped into this slot; a secret only this slot
        holds is published (on a vault connected to a sync server).
        """
        if session.user_id is None:
            return
        if secret != session.totp_secret:
            new_slot = slots.rewrap_user_slot(
                slot,
                session.vault_id,
                session.private_key,
                secret,
                pin,
                self.device_secret(),
            )
            self.save_header(session, session.header.with_slot(new_slot))
            session.write(AuditEvent("user.totp_adopted", "user", session.user_id))
            session.totp_secret = secret
        elif not session.must_change_pin:
            # After an admin's reset the secret is replaced at the PIN change.
            shared_totp.publish(session, session.user_id, secret, current=shared)

    def _reenrol(
        self,
        header: VaultHeader,
        db: Database,
        dek: bytearray,
        slot_opened: tuple[UserSlot, slots.OpenedSlot],
        pin: str,
        user: queries.UserRow,
    ) -> None:
        """Put a new TOTP secret in the user's slot and raise its enrolment.

        Reached with a correct PIN after an admin's ``reset_totp`` (and again,
        with a newer secret, for each PIN-only try until a code from the
        latest entry comes back); no session is handed out until then.
        """
        slot, opened = slot_opened
        secret = totp.new_secret()
        session = self.session_for(
            header, db, dek, user.id, user.name, user.roles, "reenrol"
        )
        new_slot = slots.rewrap_user_slot(
            slot, header.vault_id, opened.private_key, secret, pin, self.device_secret()
        )
        self.save_header(session, header.with_slot(new_slot))
        session.write(
            AuditEvent("user.totp_reenrol", "user", user.id),
            [
                Mutation(
                    "settings", totp_reset_key(user.id), "upsert", {"value": ISSUED}
                ),
                # No PIN-only quick unlock until a code from the new entry.
                Mutation("unlock_grants", f"{user.id}:{session.workstation}", "delete"),
                Mutation(
                    "users",
                    user.id,
                    "update",
                    {"totp_enrolled": 0, "last_totp_step": 0},
                ),
            ],
        )
        practice = session.setting(keys.PRACTICE_NAME, "")
        raise TOTPEnrolmentRequired(enrolment_for(secret, user.name, practice))

    def _grant_holds(
        self, db: Database, user_id: str, workstation: str, now: float
    ) -> bool:
        """Whether a quick re-unlock grant holds under the current setting.

        The period is read now, not when the grant was made, so an admin who
        shortens it or sets 0 ends grants already given.
        """
        grant = queries.grant(db, user_id, workstation)
        if grant is None:
            return False
        hours = float(
            queries.setting(db, keys.QUICK_UNLOCK_HOURS)
            or keys.DEFAULT_QUICK_UNLOCK_HOURS
        )
        granted_at, expires_at = grant
        return hours > 0 and now < min(
            from_iso(expires_at), from_iso(granted_at) + hours * 3600
        )

    def _record_unlock(
        self, session: Session, user_id: str, step: int | None, now: float
    ) -> None:
        changes: dict[str, object] = {"last_unlock_at": iso(now)}
        mutations = []
        if step is not None:
            changes.update(last_totp_step=step, totp_enrolled=1)
            hours = float(
                session.setting(
                    keys.QUICK_UNLOCK_HOURS, keys.DEFAULT_QUICK_UNLOCK_HOURS
                )
            )
            grant_id = f"{user_id}:{session.workstation}"
            if hours > 0:
                mutations.append(
                    Mutation(
                        "unlock_grants",
                        grant_id,
                        "upsert",
                        {
                            "user_id": user_id,
                            "workstation": session.workstation,
                            "granted_at": iso(now),
                            "expires_at": iso(now + hours * 3600),
                        },
                    )
                )
            else:
                mutations.append(Mutation("unlock_grants", grant_id, "delete"))
        mutations.insert(0, Mutation("users", user_id, "update", changes))
        queued = self.attempts.take_queued()
        earlier = [
            AuditEvent(
                "session.unlock",
                "user",
                q.get("user_id") or None,
                outcome=f"failed:{q.get('reason', '')}",
            )
            for q in queued
        ]
        if session.head_problem:
            earlier.append(
                AuditEvent(
                    "audit.head_check",
                    "vault",
                    session.vault_id,
                    outcome=session.head_problem,
                )
            )
        session.write(
            AuditEvent("session.unlock", "user", user_id, outcome=session.method),
            mutations,
            earlier,
        )
        self.attempts.clear_queued()
        self.attempts.succeed(user_id)

    def _fail(self, user_id: str, now: float, reason: str, skew: int | None = None):  # type: ignore[no-untyped-def]
        log.info("unlock failed for user %s (%s)", user_id, reason)
        return self.attempts.fail(user_id, now, reason, skew)

    # -- opening the database --------------------------------------------------------
    def _open_with(
        self,
        header: VaultHeader,
        unseal: Callable[[bytes, int], bytearray],
        owner: str,
    ) -> tuple[bytearray, Database, VaultHeader]:
        """Unseal the DEK, check the header, open and migrate the database.

        Handles a key rotation that stopped halfway: the header then holds the
        next DEK as "pending" beside the current one.
        """
        with self.exclusive():
            disk = self.files.load_header()
            if disk.generation != header.generation or disk.mac != header.mac:
                raise _HeaderMoved
            dek, db, header = self._open_locked(header, unseal, owner)
        return dek, db, header

    def _open_locked(
        self,
        header: VaultHeader,
        unseal: Callable[[bytes, int], bytearray],
        owner: str,
    ) -> tuple[bytearray, Database, VaultHeader]:
        watch = Stopwatch(self.timings)
        current, pending = _sealed_pair(header, owner)
        try:
            dek = unseal(current, header.dek_generation)
        except DecryptionFailed:
            raise AuthenticationFailed from None
        header_format.verify(header, dek)
        watch.lap("unwrap_unseal")
        try:
            db = open_database(self.files.database, dek)
        except WrongDatabaseKey:
            if pending is None:
                raise
            next_dek = unseal(pending, header.dek_generation + 1)
            db = open_database(self.files.database, next_dek)
            primitives.wipe(dek)
            dek = next_dek
            header = finish_rotation(header, dek)
            self.files.save_header(header)
            log.info("completed an interrupted key rotation")
        else:
            if pending is not None:
                header = header_format.sign(drop_pending(header), dek)
                self.files.save_header(header)
        watch.lap("database_open")
        migrations.migrate(db, snapshot=lambda v: self._snapshot(db, dek, v))
        kept = queries.setting(db, keys.HEADER_GENERATION)
        watch.lap("first_query")
        if kept is not None and int(kept) > header.generation:
            db.close()
            raise VaultError(
                "the vault header is older than the database: an old copy "
                "was put back; restore the current header or use recovery"
            )
        self._head_at_open = self._check_head(db)
        db.after_commit.append(self.files.write_head)
        return dek, db, header

    def _check_head(self, db: Database) -> tuple[ChainHead | None, str | None]:
        """Compare the audit head kept outside the database with the log.

        Done before this session writes anything, because every commit
        rewrites the kept head.
        """
        try:
            kept = self.files.read_head()
        except VaultError:
            return None, "damaged"
        newest = queries.audit_head(db)
        if kept is None:
            return None, "missing" if newest is not None else None
        if newest is None or kept.seq > newest[0]:
            return kept, "cut off"
        if queries.audit_hash(db, kept.seq) != kept.hash:
            return kept, "differs"
        return kept, None

    def _snapshot(self, db: Database, dek: bytearray, version: int) -> Path:
        target = self.files.snapshot_path(f"pre-migration-schema{version}")
        db.export_copy(target, dek)
        return target

    def session_for(
        self,
        header: VaultHeader,
        db: Database,
        dek: bytearray,
        user_id: str | None,
        name: str,
        roles: tuple[str, ...],
        method: str,
    ) -> Session:
        workstation = self.workstation_id(header.vault_id)
        clock = HybridLogicalClock(
            workstation, lambda: int(self.clock.now() * 1000), queries.last_hlc(db)
        )
        actor = Actor(user_id, workstation, clock)
        session = Session(
            self.files, header, db, dek, user_id, name, roles, actor, method
        )
        session.kept_head, session.head_problem = self._head_at_open
        session.clock = self.clock
        self._head_at_open = (None, None)
        if session.head_problem:
            session.notices.append(HEAD_NOTICES[session.head_problem])
        if allows(roles, "break_glass.review"):
            waiting = break_glass_queries.unreviewed_count(db)
            if waiting:
                session.notices.append(
                    f"{waiting} break-glass access{'es' if waiting > 1 else ''} "
                    "await your review (Admin › Break-glass, or: desktop-crm "
                    "break-glass list)."
                )
        return session

    # -- recovery --------------------------------------------------------
    def recover(
        self, name: str, recovery_text: str, new_pin: str
    ) -> tuple[Session, Enrolment]:
        """Regain access with the recovery key: new slot, new TOTP for one user.

        A device secret is created if the keyring has none.  Every other user
        is marked for an admin reset.
        """
        pin_policy.check_pin(new_pin, "new PIN")
        private = recovery_key.decode(recovery_text)
        header = self.files.load_header()
        if primitives.public_from_private(private) != header.recovery.public_key:
            raise AuthenticationFailed("this recovery key does not open this vault")
        dek, db, header = self._open_with(
            header,
            lambda sealed, gen: slots.unseal_dek(
                sealed, private, header.vault_id, "recovery", "recovery", gen
            ),
            owner="recovery",
        )
        user = queries.user_by_name(db, name.strip())
        if user is None or not user.active:
            db.close()
            raise InvalidInput("user", "no active user by that name")
        device = self.device_secret(create=True)
        secret = totp.new_secret()
        slot = slots.new_user_slot(
            vault_id=header.vault_id,
            user_id=user.id,
            name=user.name,
            pin=new_pin,
            device_secret=device,
            totp_secret=secret,
            dek=bytes(dek),
            dek_generation=header.dek_generation,
        )
        session = self.session_for(
            header, db, dek, user.id, user.name, user.roles, "recovery"
        )
        session.header = self.save_header(session, header.with_slot(slot))
        others = [u for u in queries.all_users(db) if u.id != user.id and u.active]
        session.write(
            AuditEvent("vault.recover", "user", user.id),
            [
                Mutation(
                    "users",
                    user.id,
                    "update",
                    {
                        "totp_enrolled": 0,
                        "needs_reset": 0,
                        "must_change_pin": 0,
                        "last_totp_step": 0,
                    },
                ),
                *[
                    Mutation("users", u.id, "update", {"needs_reset": 1})
                    for u in others
                ],
            ],
        )
        self.attempts.clear_user(user.id)
        session.private_key = slot_private(slot, header.vault_id, new_pin, device)
        session.totp_secret = secret
        # The new entry replaces the practice's shared one (services.shared_totp).
        shared_totp.publish(session, user.id, secret)
        practice = session.setting(keys.PRACTICE_NAME, "")
        return session, enrolment_for(secret, user.name, practice)

    def save_header(self, session: Session, header: VaultHeader) -> VaultHeader:
        """Sign and write a changed header; record its generation in the vault.

        Raises:
            VaultChanged: another process changed the header since this
                session read it.
        """
        with self.exclusive():
            self.check_current(session)
            return self._save_header_locked(session, header)

    def _save_header_locked(self, session: Session, header: VaultHeader) -> VaultHeader:
        signed = header_format.sign(
            replace(header, generation=header.generation + 1), session.dek
        )
        self.files.save_header(signed)
        session.header = signed
        session.write(
            AuditEvent("vault.header_saved", "vault", signed.vault_id),
            _settings({keys.HEADER_GENERATION: str(signed.generation)}),
        )
        return signed


def _host_name() -> str:
    uname = getattr(os, "uname", None)
    if uname is not None:
        return str(uname().nodename)
    import socket

    return socket.gethostname()


def slot_private(slot: UserSlot, vault_id: str, pin: str, device: bytes) -> bytearray:
    opened = slots.open_user_slot(slot, vault_id, pin, device)
    return opened.private_key


def _sealed_pair(header: VaultHeader, owner: str) -> tuple[bytes, bytes | None]:
    if owner == "unattended" and header.unattended is not None:
        u = header.unattended
        return u.wrapped, u.pending_wrapped
    if owner == "recovery":
        return header.recovery.sealed_dek, header.recovery.pending_sealed_dek
    slot = header.slots[owner]
    return slot.sealed_dek, slot.pending_sealed_dek


def drop_pending(header: VaultHeader) -> VaultHeader:
    users = {k: replace(s, pending_sealed_dek=None) for k, s in header.slots.items()}
    unattended = header.unattended
    if unattended is not None:
        unattended = replace(unattended, pending_nonce=None, pending_wrapped=None)
    return replace(
        header,
        slots=users,
        unattended=unattended,
        recovery=replace(header.recovery, pending_sealed_dek=None),
    )


def finish_rotation(header: VaultHeader, new_dek: bytearray) -> VaultHeader:
    """Promote every pending sealed DEK to current and sign under the new DEK."""
    users = {
        k: replace(
            s, sealed_dek=s.pending_sealed_dek or s.sealed_dek, pending_sealed_dek=None
        )
        for k, s in header.slots.items()
    }
    rec = header.recovery
    recovery = replace(
        rec,
        sealed_dek=rec.pending_sealed_dek or rec.sealed_dek,
        pending_sealed_dek=None,
    )
    unattended = header.unattended
    if (
        unattended is not None
        and unattended.pending_wrapped
        and unattended.pending_nonce
    ):
        unattended = replace(
            unattended,
            nonce=unattended.pending_nonce,
            wrapped=unattended.pending_wrapped,
            pending_nonce=None,
            pending_wrapped=None,
        )
    else:
        unattended = None
    moved = replace(
        header,
        slots=users,
        recovery=recovery,
        unattended=unattended,
        dek_generation=header.dek_generation + 1,
        generation=header.generation + 1,
    )
    return header_format.sign(moved, new_dek)


def _settings(values: dict[str, str]) -> list[Mutation]:
    return [Mutation("settings", k, "upsert", {"value": v}) for k, v in values.items()]


def _skew_hint(skews: list[int]) -> str:
    recent = skews[-2:]
    if len(recent) == 2 and recent[0] == recent[1] and recent[0] != 0:
        seconds = abs(recent[0]) * totp.PERIOD
        side = "ahead of" if recent[0] > 0 else "behind"
        return (
            f"{AuthenticationFailed.GENERIC}. The codes match an authenticator "
            f"clock about {seconds} s {side} this computer's: check the clock "
            "on the phone and on this computer"
        )
    return AuthenticationFailed.GENERIC


def _check_name(field: str, value: str) -> None:
    if not value:
        raise InvalidInput(field, "must not be empty")
    if len(value) > 100 or any(ord(c) < 32 for c in value):
        raise InvalidInput(field, "use at most 100 printable characters")


def _check_zone(zone: str) -> None:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise InvalidInput("time zone", f"'{zone}' is not an IANA time zone") from exc


__all__ = ["CRMError", "CreatedVault", "Enrolment", "VaultService"]
