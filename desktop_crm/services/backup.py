"""Encrypted backups: the backup passphrase, create, verify, restore, confirm.

Making a backup needs only public keys (the practice's backup key and the
recovery key), so an unattended workstation can make backups it cannot read.
Reading one needs the backup passphrase or the recovery key.  The container
format lives in ``crypto.backup_format``; the consistent copy of the database
file in ``storage.snapshot``.  Restoring never touches the live vault until
the whole backup has been decrypted, checked and prepared beside it.
"""

from __future__ import annotations

import base64
import contextlib
import errno
import json
import logging
import os
import secrets
import shutil
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from desktop_crm.crypto import backup_format as fmt
from desktop_crm.crypto import header as header_format
from desktop_crm.crypto import pin as pin_policy
from desktop_crm.crypto import primitives, recovery_key, slots, totp
from desktop_crm.crypto.header import VaultHeader
from desktop_crm.crypto.slots import SealedKey
from desktop_crm.errors import CRMError, InvalidInput, NotPermitted, VaultError
from desktop_crm.platform.atomic import (
    PRIVATE_FILE,
    ensure_private_dir,
    fsync_dir,
    is_disk_full,
)
from desktop_crm.platform.secret_store import SecretStore
from desktop_crm.services import settings_keys as keys
from desktop_crm.services import shared_totp
from desktop_crm.services.backup_io import FLUSH_EVERY as BACKGROUND_FLUSH
from desktop_crm.services.backup_io import BackgroundFileSink
from desktop_crm.services.clock import Clock, SystemClock, iso
from desktop_crm.services.session import Session
from desktop_crm.services.vault import (
    Enrolment,
    VaultService,
    enrolment_for,
    slot_private,
)
from desktop_crm.services.vault_files import VaultFiles
from desktop_crm.storage import migrations, queries
from desktop_crm.storage.database import DiskFull, open_database
from desktop_crm.storage.snapshot import check_copy, consistent_snapshot
from desktop_crm.storage.writepath import AuditEvent, Mutation, commit

log = logging.getLogger(__name__)

PUBLIC_KEY = "backup.public_key"
WRAPPED_PRIVATE = "backup.wrapped_private"
LAST_AT = "backup.last_at"
LAST_RESULT = "backup.last_result"
LAST_FILE = "backup.last_file"
LAST_OK_AT = "backup.last_ok_at"
PENDING_USERS = "restore.pending_users"

#: Files of a vault folder that a replacing restore moves to the dated copy.
_VAULT_NAMES = (
    "vault.header",
    "vault.db",
    "vault.db-wal",
    "vault.db-shm",
    "audit.head",
    "unlock-attempts",
    "snapshots",
)

Progress = Callable[[int, int], None]
Cancel = Callable[[], bool]


class BackupCancelled(CRMError):
    """The user cancelled; nothing that looks like a finished file was left."""

    def __init__(self) -> None:
        super().__init__("cancelled: no backup file was written")


class DestinationError(CRMError):
    """The destination folder is missing, not writable or full."""


class NoBackupKey(CRMError):
    """No backup passphrase has been set for this vault."""

    def __init__(self) -> None:
        super().__init__(
            "no backup passphrase is set: an admin must set one first "
            "(desktop-crm backup set-passphrase --passphrase-file FILE)"
        )


class BackupDamaged(VaultError):
    """The backup decrypted, but the database inside fails a check."""


@dataclass(frozen=True)
class BackupResult:
    """A finished backup file."""

    path: Path
    size: int
    sha256: str
    counts: dict[str, int]
    file_id: str = ""
    #: Only with ``create_backup(keep_content_key=True)``: the file's content
    #: key, held in memory for the restore drill, which wipes it.  Never
    #: written anywhere.
    content_key: bytearray | None = field(default=None, repr=False, compare=False)


@dataclass(frozen=True)
class VerifyResult:
    """A backup that decrypted in full and whose database passed every check."""

    path: Path
    size: int
    sha256: str
    created_at: str
    source_vault_id: str
    schema_version: int
    counts: dict[str, int]
    chunks: int


def _require(session: Session, permission: str) -> None:
    session.require(permission)


def _settings(values: dict[str, str]) -> list[Mutation]:
    return [Mutation("settings", k, "upsert", {"value": v}) for k, v in values.items()]


# -- the backup passphrase ----------------------------------------------------
def set_backup_passphrase(session: Session, passphrase: str) -> None:
    """Create a new backup key pair wrapped under ``passphrase`` (admin).

    Backups made earlier keep the key (and passphrase) they were made with.
    """
    _require(session, "backup.manage")
    wrapped = fmt.new_backup_key(passphrase)
    session.write(
        AuditEvent("backup.set_passphrase", "backup_key", wrapped.key_id),
        _settings(
            {
                PUBLIC_KEY: base64.b64encode(wrapped.public_key).decode("ascii"),
                WRAPPED_PRIVATE: json.dumps(wrapped.to_dict(), sort_keys=True),
            }
        ),
    )
    log.info("backup key %s set", wrapped.key_id)


def backup_key(session: Session) -> fmt.WrappedBackupKey:
    """The vault's current wrapped backup key; ``NoBackupKey`` if none is set."""
    raw = queries.setting(session.database(), WRAPPED_PRIVATE)
    if raw is None:
        raise NoBackupKey
    try:
        return fmt.WrappedBackupKey.from_dict(json.loads(raw))
    except (ValueError, fmt.BackupFormatError) as exc:
        raise VaultError(
            "the stored backup key is damaged: set the passphrase again"
        ) from exc


# -- create -------------------------------------------------------------------
def _check_destination(out: Path) -> None:
    folder = out.parent
    if not folder.exists():
        raise DestinationError(f"backup destination {folder} does not exist")
    if not folder.is_dir():
        raise DestinationError(f"backup destination {folder} is not a folder")
    if out.exists():
        raise DestinationError(f"{out} already exists: choose another file name")


def _destination_failed(out: Path, exc: OSError) -> DestinationError:
    reason = exc.strerror or type(exc).__name__
    return DestinationError(f"cannot write the backup to {out.parent}: {reason}")


def _clear_stale_partials(out: Path) -> None:
    """Remove temporary files a killed run left for this same file name."""
    for stale in out.parent.glob(f".{out.name}.*.partial"):
        with contextlib.suppress(OSError):
            stale.unlink()


def _open_temp(out: Path) -> tuple[Path, int]:
    temp = out.with_name(f".{out.name}.{secrets.token_hex(6)}.partial")
    try:
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE)
    except OSError as exc:
        raise _destination_failed(out, exc) from exc
    return temp, fd


def _new_header(
    session: Session, wrapped: fmt.WrappedBackupKey, content_key: bytes, **facts: object
) -> fmt.BackupHeader:
    file_id = str(uuid.uuid4())
    recipients = (
        fmt.seal_content_key(content_key, "backup", wrapped.public_key, file_id),
        fmt.seal_content_key(
            content_key, "recovery", session.header.recovery.public_key, file_id
        ),
    )
    return fmt.BackupHeader(
        file_id=file_id,
        source_vault_id=session.vault_id,
        backup_key=wrapped,
        recipients=recipients,
        **facts,  # type: ignore[arg-type]
    )


def _tick(
    progress: Progress | None, cancel: Cancel | None, done: int, total: int
) -> None:
    if cancel is not None and cancel():
        raise BackupCancelled
    if progress is not None:
        progress(done, total)


def _write_backup(
    session: Session,
    sink: fmt.RecordSink,
    created_at: str,
    chunk_size: int,
    progress: Progress | None,
    cancel: Cancel | None,
    content_key: bytearray,
) -> tuple[fmt.BackupWriter, fmt.BackupHeader]:
    wrapped = backup_key(session)
    with consistent_snapshot(session.database()) as snap:
        manifest = fmt.Manifest(
            vault_id=session.vault_id,
            practice_name=session.setting(keys.PRACTICE_NAME, ""),
            dek=bytearray(session.dek),
            dek_generation=session.header.dek_generation,
            schema_version=snap.schema_version,
            counts=snap.counts,
            db_bytes=snap.size,
            recovery_public_key=session.header.recovery.public_key,
            created_at=created_at,
        )
        total = fmt.payload_bytes(manifest)
        header = _new_header(
            session,
            wrapped,
            bytes(content_key),
            created_at=created_at,
            chunk_size=chunk_size,
            payload_bytes=total,
            counts=snap.counts,
        )
        inner = manifest.to_bytes()
        primitives.wipe(manifest.dek)
        writer = fmt.BackupWriter(sink, header, bytes(content_key))
        writer.write(inner)
        done = len(inner)
        for got in writer.copy_from(snap.handle, snap.size):
            done += got
            _tick(progress, cancel, done, total)
        writer.finish()
    return writer, header


def create_backup(
    session: Session,
    out: Path,
    progress: Progress | None = None,
    cancel: Cancel | None = None,
    *,
    clock: Clock | None = None,
    chunk_size: int = fmt.DEFAULT_CHUNK_BYTES,
    keep_content_key: bool = False,
) -> BackupResult:
    """Write one encrypted backup file of the vault to ``out``.

    The file is written under a temporary name in the destination folder,
    flushed to disk and only then renamed, so a cancelled, failed or killed
    run leaves nothing that looks like a finished backup.

    Raises:
        NoBackupKey: no backup passphrase has been set.
        DestinationError: the folder is missing, read-only or full.
        BackupCancelled: ``cancel()`` returned true.

    With ``keep_content_key`` the result carries the file's content key (in
    memory only) for the restore drill; otherwise it is wiped here.
    """
    _require(session, "backup.create")
    out = Path(out)
    now = iso((clock or SystemClock()).now())
    if out.is_dir():
        raise DestinationError(
            f"{out} is a folder: give the backup a file name in it, such as "
            f"{out / 'practice.dcrmbak'}"
        )
    if out.exists():
        # A mistyped name is not a failed backup: refuse without recording it.
        raise DestinationError(f"{out} already exists: choose another file name")
    content_key = bytearray(primitives.random_bytes(primitives.KEY_BYTES))
    try:
        _check_destination(out)
        _clear_stale_partials(out)
        temp, fd = _open_temp(out)
        try:
            try:
                # The sink writes (and flushes) in the background while the
                # next chunks are read and sealed; leaving the block waits.
                with BackgroundFileSink(fd) as sink:
                    writer, header = _write_backup(
                        session, sink, now, chunk_size, progress, cancel, content_key
                    )
                os.fsync(fd)
            finally:
                os.close(fd)
            os.replace(temp, out)
            fsync_dir(out.parent)
        except OSError as exc:
            raise _destination_failed(out, exc) from exc
        finally:
            with contextlib.suppress(FileNotFoundError):
                temp.unlink()
    except CRMError as exc:
        primitives.wipe(content_key)
        _record(session, now, None, f"failed: {exc.message}")
        raise
    except BaseException:
        primitives.wipe(content_key)
        raise
    kept = content_key if keep_content_key else None
    if not keep_content_key:
        primitives.wipe(content_key)
    result = BackupResult(
        out,
        writer.size,
        writer.sha256.hexdigest(),
        header.counts,
        header.file_id,
        kept,
    )
    _record(session, now, header.file_id, "ok", out)
    log.info("backup %s written (%d bytes)", header.file_id, result.size)
    return result


def _record(
    session: Session,
    now: str,
    file_id: str | None,
    outcome: str,
    out: Path | None = None,
) -> None:
    values = {LAST_AT: now, LAST_RESULT: outcome}
    if out is not None:
        values[LAST_FILE] = str(out)
    if file_id is not None:
        values[LAST_OK_AT] = now
    event = AuditEvent(
        "backup.create", "backup", file_id, outcome="ok" if file_id else "failed"
    )
    try:
        session.write(event, _settings(values))
    except CRMError:
        log.warning("could not record the backup outcome in the vault")


# -- reading a backup ---------------------------------------------------------
@dataclass
class _Extracted:
    header: fmt.BackupHeader
    manifest: fmt.Manifest
    size: int
    sha256: str


def _content_key(
    reader: fmt.BackupReader,
    passphrase: str | None,
    recovery_text: str | None,
    content_key: bytes | bytearray | None = None,
) -> bytearray:
    if content_key is not None:
        return bytearray(content_key)
    if (passphrase is None) == (recovery_text is None):
        raise InvalidInput("key", "give the backup passphrase or the recovery key")
    if passphrase is not None:
        return reader.open_with_passphrase(passphrase)
    assert recovery_text is not None
    return reader.open_with_recovery(recovery_key.decode(recovery_text))


def _open_backup(
    source: Path | BinaryIO,
) -> contextlib.AbstractContextManager[BinaryIO]:
    if not isinstance(source, str | os.PathLike):
        return contextlib.nullcontext(source)
    try:
        return open(source, "rb")
    except OSError as exc:
        raise VaultError(f"cannot read {source}: {exc.strerror}") from exc


def _extract(
    path: Path | BinaryIO,
    database_out: Path,
    passphrase: str | None,
    recovery_text: str | None,
    progress: Progress | None,
    cancel: Cancel | None,
    *,
    durable: bool = False,
    content_key: bytes | bytearray | None = None,
) -> _Extracted:
    """Decrypt every chunk, writing the (still encrypted) database file out."""
    with _open_backup(path) as source:
        reader = fmt.BackupReader(source)
        key = _content_key(reader, passphrase, recovery_text, content_key)
        try:
            total = reader.header.payload_bytes
            chunks = reader.payload(key)
            manifest, database = fmt.split_payload(chunks, total)
            done = total - manifest.db_bytes
            fd = os.open(
                database_out, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE
            )
            try:
                # Written in the background while the next chunks decrypt.
                flush = BACKGROUND_FLUSH if durable else None
                with BackgroundFileSink(fd, flush_every=flush, digest=False) as sink:
                    for piece in database:
                        sink.put_bytes(piece)
                        done += len(piece)
                        _tick(progress, cancel, done, total)
                if durable:
                    os.fsync(fd)
            finally:
                os.close(fd)
        finally:
            primitives.wipe(key)
    return _Extracted(
        reader.header, manifest, reader.file_size, reader.sha256.hexdigest()
    )


def _check_extracted(extracted: _Extracted, database: Path) -> int:
    """Integrity checks and row counts of the extracted database; its schema."""
    manifest, header = extracted.manifest, extracted.header
    if manifest.counts != header.counts:
        raise BackupDamaged("the backup's header and manifest disagree on row counts")
    report = check_copy(database, manifest.dek)
    if report.problems:
        raise BackupDamaged(
            "the database inside the backup fails its integrity check: "
            + "; ".join(report.problems[:3])
        )
    for table, expected in manifest.counts.items():
        found = report.counts.get(table)
        if found != expected:
            raise BackupDamaged(
                f"table {table} holds {found} rows, the backup recorded {expected}"
            )
    if report.schema_version != manifest.schema_version:
        raise BackupDamaged("the database's schema version differs from the manifest")
    return report.schema_version


@contextlib.contextmanager
def _scratch(parent: Path | None) -> Iterator[Path]:
    folder = Path(tempfile.mkdtemp(prefix="desktop-crm-verify-", dir=parent))
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def verify_backup(
    path: Path | BinaryIO,
    passphrase: str | None = None,
    recovery_key_text: str | None = None,
    progress: Progress | None = None,
    cancel: Cancel | None = None,
    *,
    scratch_dir: Path | None = None,
    content_key: bytes | bytearray | None = None,
    on_extracted: Callable[[Path], None] | None = None,
) -> VerifyResult:
    """Decrypt a backup in full and check the database inside it.

    The database is written, still encrypted under its own key, to a private
    temporary folder, opened there, checked with ``integrity_check`` and
    ``cipher_integrity_check``, counted, and deleted.  The restore drill
    passes the ``content_key`` it still holds instead of a passphrase;
    ``on_extracted`` sees the extracted (encrypted) database file first.

    Raises:
        BackupFormatError: not a backup, unsupported version, truncated or
            tampered (the message names the chunk).
        BackupKeyRejected: wrong passphrase or recovery key (exit code 3).
        BackupDamaged: the database inside fails a check.
    """
    with _scratch(scratch_dir) as folder:
        database = folder / "vault.db"
        extracted = _extract(
            path,
            database,
            passphrase,
            recovery_key_text,
            progress,
            cancel,
            content_key=content_key,
        )
        try:
            if on_extracted is not None:
                on_extracted(database)
            schema = _check_extracted(extracted, database)
        finally:
            primitives.wipe(extracted.manifest.dek)
    h = extracted.header
    log.info("backup %s verified", h.file_id)
    return VerifyResult(
        Path(path) if isinstance(path, str | os.PathLike) else Path("<stream>"),
        extracted.size,
        extracted.sha256,
        h.created_at,
        h.source_vault_id,
        schema,
        dict(h.counts),
        h.chunk_count,
    )


# -- restore ------------------------------------------------------------------
def _check_target(files: VaultFiles, replace: bool, replacing: Session | None) -> bool:
    """Whether a vault is there to be replaced; refuses what is not allowed."""
    present = files.exists() or files.database.exists()
    if not present:
        return False
    if not replace:
        raise VaultError(
            f"a vault already exists in {files.root}: restoring over it needs "
            "--replace and an admin session of that vault"
        )
    if (
        replacing is None
        or replacing.locked
        or replacing.files.root.resolve() != files.root.resolve()
    ):
        raise NotPermitted("keys.manage")
    replacing.require("keys.manage")
    return True


def _clear_stale_staging(root: Path) -> None:
    for stale in root.glob(".restore-*"):
        if stale.is_dir():
            shutil.rmtree(stale, ignore_errors=True)


@dataclass
class _Staged:
    header: VaultHeader
    dek: bytearray
    admin_id: str
    admin_name: str
    admin_roles: tuple[str, ...]
    secret: str
    practice: str
    private_key: bytearray


def _prepare(
    staging: Path,
    extracted: _Extracted,
    admin_name: str,
    new_pin: str,
    service: VaultService,
) -> _Staged:
    """Rekey the staged database and give it a new identity and admin slot."""
    manifest = extracted.manifest
    db = open_database(staging / "vault.db", manifest.dek)
    try:
        admin = queries.user_by_name(db, admin_name.strip())
        if admin is None or not admin.active or "admin" not in admin.roles:
            raise InvalidInput("admin", "no active admin by that name in the backup")
        new_dek = bytearray(primitives.random_bytes(slots.DEK_BYTES))
        db.rekey(new_dek)
        migrations.migrate(db)
        vault_id = str(uuid.uuid4())
        # On a synced practice the admin keeps their authenticator entry.
        secret = shared_totp.shared_secret(db, admin.id) or totp.new_secret()
        device = service.device_secret(create=True)
        slot = slots.new_user_slot(
            vault_id=vault_id,
            user_id=admin.id,
            name=admin.name,
            pin=new_pin,
            device_secret=device,
            totp_secret=secret,
            dek=bytes(new_dek),
            dek_generation=1,
        )
        rec = manifest.recovery_public_key
        recovery = SealedKey(
            rec, slots.seal_dek(new_dek, rec, vault_id, "recovery", "recovery", 1)
        )
        header = header_format.sign(
            VaultHeader(vault_id, 1, 1, recovery, {admin.id: slot}), new_dek
        )
        service.files.save_header(header)
        session = service.session_for(
            header, db, new_dek, admin.id, admin.name, admin.roles, "restore"
        )
        db.after_commit.append(service.files.write_head)
        others = [u.id for u in queries.all_users(db) if u.id != admin.id and u.active]
        # This copy's own bookkeeping: never sent to a sync server (on a
        # synced practice, other users stay active on other workstations).
        commit(
            db,
            session.actor,
            AuditEvent("vault.restored", "vault", vault_id, outcome="ok"),
            [
                *_settings(
                    {
                        keys.VAULT_ID: vault_id,
                        keys.HEADER_GENERATION: "1",
                        keys.UNATTENDED: "0",
                        PENDING_USERS: json.dumps(sorted(others)),
                        "restore.source_vault_id": manifest.vault_id,
                        "restore.backup_file_id": extracted.header.file_id,
                        # The source's own backup history does not carry over:
                        # the backup just restored (and fully verified) is
                        # this vault's last good backup.
                        LAST_AT: extracted.header.created_at,
                        LAST_OK_AT: extracted.header.created_at,
                        LAST_RESULT: "ok",
                    }
                ),
                Mutation(
                    "users",
                    admin.id,
                    "update",
                    {
                        "active": 1,
                        "needs_reset": 0,
                        "must_change_pin": 0,
                        "totp_enrolled": 0,
                        "last_totp_step": 0,
                    },
                ),
                *[Mutation("users", uid, "update", {"active": 0}) for uid in others],
            ],
            record_changes=False,
        )
        practice = session.setting(keys.PRACTICE_NAME, "")
    finally:
        db.close()
    private = slot_private(slot, vault_id, new_pin, device)
    return _Staged(
        header, new_dek, admin.id, admin.name, admin.roles, secret, practice, private
    )


def _dated_copy(root: Path) -> Path:
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    candidate = root.with_name(f"{root.name}-replaced-{stamp}")
    count = 1
    while candidate.exists():
        count += 1
        candidate = root.with_name(f"{root.name}-replaced-{stamp}-{count}")
    return ensure_private_dir(candidate)


def _move_into_place(staging: Path, root: Path, replaced: bool) -> Path | None:
    """Move the live vault aside (if any), then the staged files in.

    The header moves out first and in last: a vault is "there" when its
    header is, so a stop in between never leaves a half vault that opens.
    """
    kept = None
    if replaced:
        kept = _dated_copy(root)
        for name in _VAULT_NAMES:
            if (root / name).exists():
                os.replace(root / name, kept / name)
        fsync_dir(kept)
        fsync_dir(root)
    for name in ("audit.head", "vault.db", "vault.header"):
        if (staging / name).exists():
            os.replace(staging / name, root / name)
    fsync_dir(root)
    shutil.rmtree(staging, ignore_errors=True)
    return kept


def _stage(
    path: Path | BinaryIO,
    staging: Path,
    key: tuple[str | None, str | None],
    admin: tuple[str, str],
    service: VaultService,
    report: tuple[Progress | None, Cancel | None],
) -> _Staged:
    """Decrypt and check the backup into ``staging``, then prepare it there."""
    database = staging / "vault.db"
    extracted = _extract(path, database, *key, *report, durable=True)
    try:
        _check_extracted(extracted, database)
        return _prepare(staging, extracted, *admin, service)
    finally:
        primitives.wipe(extracted.manifest.dek)


def restore_backup(
    path: Path | BinaryIO,
    target_dir: Path,
    *,
    passphrase: str | None = None,
    recovery_key_text: str | None = None,
    admin_name: str,
    new_pin: str,
    secrets_store: SecretStore,
    replace: bool = False,
    replacing: Session | None = None,
    progress: Progress | None = None,
    cancel: Cancel | None = None,
    clock: Clock | None = None,
) -> tuple[Session, Enrolment]:
    """Restore a backup into ``target_dir`` as a new vault with a new id.

    Everything is decrypted, checked, rekeyed under a fresh DEK and given a
    new header inside a private staging folder in ``target_dir`` first; only
    then are files moved into place.  With ``replace`` the existing vault
    (opened as ``replacing``, an admin session) is kept as a dated copy
    folder beside ``target_dir``.  Every user but ``admin_name`` stays
    inactive until an admin confirms them with :func:`confirm_user`.
    """
    pin_policy.check_pin(new_pin, "new PIN")
    root = Path(target_dir)
    service = VaultService(root, secrets_store, clock)
    replaced = _check_target(service.files, replace, replacing)
    made_root = not root.exists()
    try:
        ensure_private_dir(root)
    except OSError as exc:
        raise DestinationError(
            f"cannot create the vault folder {root}: {exc.strerror}"
        ) from exc
    _clear_stale_staging(root)
    staging = ensure_private_dir(root / f".restore-{secrets.token_hex(6)}")
    try:
        staged = _stage(
            path,
            staging,
            (passphrase, recovery_key_text),
            (admin_name, new_pin),
            VaultService(staging, secrets_store, clock),
            (progress, cancel),
        )
    except BaseException as exc:
        shutil.rmtree(staging, ignore_errors=True)
        if made_root:
            with contextlib.suppress(OSError):
                root.rmdir()  # only if nothing else appeared in it meanwhile
        # Errors writing the restored vault that are the destination's, not
        # the backup file's.
        if isinstance(exc, OSError) and (is_disk_full(exc) or exc.errno == errno.EROFS):
            raise DestinationError(
                f"cannot restore into {root}: {exc.strerror}"
            ) from exc
        if isinstance(exc, DiskFull):  # out of room while re-keying the copy
            raise DestinationError(
                f"cannot restore into {root}: No space left on device (the "
                "restored vault needs about twice the database's size free)"
            ) from exc
        raise
    if replacing is not None and replaced:
        replacing.write(
            AuditEvent("vault.replaced_by_restore", "vault", replacing.vault_id)
        )
        replacing.lock("replaced-by-restore")
    kept = _move_into_place(staging, root, replaced)
    if kept is not None:
        log.info("the replaced vault was kept in %s", kept.name)
    return _open_restored(service, staged)


def _open_restored(service: VaultService, staged: _Staged) -> tuple[Session, Enrolment]:
    db = open_database(service.files.database, staged.dek)
    session = service.session_for(
        staged.header,
        db,
        staged.dek,
        staged.admin_id,
        staged.admin_name,
        staged.admin_roles,
        "restore",
    )
    db.after_commit.append(service.files.write_head)
    session.private_key = staged.private_key
    session.totp_secret = staged.secret
    return session, enrolment_for(staged.secret, staged.admin_name, staged.practice)


def confirm_user(session: Session, name: str) -> None:
    """Re-activate a user who was active when the restored backup was made (admin).

    Their old key slot did not survive the restore (it was bound to the old
    vault id), so they also need a PIN reset before they can unlock.
    """
    _require(session, "users.manage")
    db = session.database()
    user = queries.user_by_name(db, name.strip())
    if user is None:
        raise InvalidInput("user", "no user by that name")
    pending = json.loads(queries.setting(db, PENDING_USERS) or "[]")
    if user.id not in pending:
        raise InvalidInput("user", "is not waiting for confirmation after a restore")
    pending.remove(user.id)
    session.write(
        AuditEvent("user.confirm", "user", user.id),
        [
            Mutation("users", user.id, "update", {"active": 1, "needs_reset": 1}),
            *_settings({PENDING_USERS: json.dumps(sorted(pending))}),
        ],
    )
