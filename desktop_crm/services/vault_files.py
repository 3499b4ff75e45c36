"""The files of one vault folder and how each is read and written."""

from __future__ import annotations

import contextlib
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path

from desktop_crm.crypto import header as header_format
from desktop_crm.crypto.header import VaultHeader
from desktop_crm.errors import VaultError
from desktop_crm.platform.atomic import atomic_write, ensure_private_dir, is_disk_full
from desktop_crm.storage.writepath import ChainHead

HEAD_MAGIC = b"DESKTOP-CRM-AUDIT-HEAD 1\n"


@dataclass(frozen=True)
class VaultFiles:
    """Paths inside a vault folder."""

    root: Path

    @property
    def database(self) -> Path:
        return self.root / "vault.db"

    @property
    def header(self) -> Path:
        return self.root / "vault.header"

    @property
    def attempts(self) -> Path:
        return self.root / "unlock-attempts"

    @property
    def audit_head(self) -> Path:
        return self.root / "audit.head"

    @property
    def snapshots(self) -> Path:
        return self.root / "snapshots"

    def exists(self) -> bool:
        return self.header.exists()

    def prepare(self) -> None:
        """Create the vault folder, owner-only, or say why it cannot be."""
        if self.root.exists() and not self.root.is_dir():
            raise VaultError(f"the vault folder {self.root} is a file, not a folder")
        try:
            ensure_private_dir(self.root)
        except OSError as exc:
            raise VaultError(
                f"cannot create the vault folder {self.root}: {exc.strerror}"
            ) from exc
        if not os.access(self.root, os.W_OK):
            raise VaultError(f"the vault folder {self.root} is not writable")

    def remove_vault_files(self) -> None:
        """Delete what a failed setup wrote (never called on a working vault)."""
        names = (
            "vault.db",
            "vault.db-wal",
            "vault.db-shm",
            "vault.header",
            "audit.head",
            "unlock-attempts",
            "vault.lock",
        )
        for name in names:
            with contextlib.suppress(OSError):
                (self.root / name).unlink()

    def load_header(self) -> VaultHeader:
        try:
            data = self.header.read_bytes()
        except FileNotFoundError as exc:
            if self.database.exists():
                raise VaultError(
                    f"the vault's key file vault.header is missing from {self.root}: "
                    "the database cannot be opened without it; put it back from a "
                    "copy of the folder or restore a backup"
                ) from exc
            raise VaultError(
                f"no vault in {self.root}: run the setup (desktop-crm init) first"
            ) from exc
        except OSError as exc:
            raise VaultError(
                f"cannot read the vault in {self.root}: {exc.strerror}"
            ) from exc
        return header_format.load(data)

    def save_header(self, header: VaultHeader) -> None:
        atomic_write(self.header, header_format.dump(header))

    def snapshot_path(self, label: str) -> Path:
        ensure_private_dir(self.snapshots)
        stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime())
        return self.snapshots / f"{label}-{stamp}.db"

    def read_head(self) -> ChainHead | None:
        try:
            data = self.audit_head.read_bytes()
        except FileNotFoundError:
            return None
        if not data.startswith(HEAD_MAGIC):
            raise VaultError("audit head file is damaged")
        try:
            raw = json.loads(data[len(HEAD_MAGIC) :])
            return ChainHead(int(raw["seq"]), str(raw["hash"]))
        except (ValueError, KeyError, TypeError) as exc:
            raise VaultError("audit head file is damaged") from exc

    def write_head(self, head: ChainHead) -> None:
        body = json.dumps({"seq": head.seq, "hash": head.hash}).encode()
        try:
            atomic_write(self.audit_head, HEAD_MAGIC + body)
        except OSError as exc:
            if not is_disk_full(exc):
                raise
            # The change itself is in the database; the next write that finds
            # space brings the head up to date.
            raise VaultError(
                "the disk holding the vault is full: free some space and try again"
            ) from exc
