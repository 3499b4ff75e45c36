"""The restore drill: prove that the backup just made can be restored.

Right after a scheduled backup the content key of the new file is still in
memory (``create_backup(keep_content_key=True)``).  The drill decrypts the
whole file with it into a scratch copy of the database (still encrypted
under its own key, in a private temporary folder removed afterwards), runs
SQLite's ``integrity_check`` and SQLCipher's ``cipher_integrity_check``,
compares the row counts with what the backup recorded, and records the
outcome in the audit log (``backup.drill``) and in the settings the status
line and the compliance report read.  The content key never touches disk
and is wiped by the caller when the drill returns.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from desktop_crm.errors import CRMError
from desktop_crm.services import backup
from desktop_crm.services.clock import iso
from desktop_crm.services.session import Session
from desktop_crm.storage.writepath import AuditEvent, Mutation

log = logging.getLogger(__name__)

DRILL_AT = "backup.last_drill_at"
DRILL_RESULT = "backup.last_drill_result"
DRILL_FILE = "backup.last_drill_file"

#: Test hook: called with the scratch database file once it is extracted
#: (tests corrupt it to prove a failed drill is recorded as failed).
scratch_hook: Callable[[Path], None] | None = None
#: Where scratch folders are made (``None``: the system's temporary folder).
scratch_parent: Path | None = None

_MAX_REASON = 200


@dataclass(frozen=True)
class DrillResult:
    """What one drill found."""

    path: Path
    ok: bool
    reason: str
    at: str
    counts: dict[str, int]

    @property
    def outcome(self) -> str:
        return "ok" if self.ok else f"failed:{self.reason}"


def _on_extracted(database: Path) -> None:
    if scratch_hook is not None:
        scratch_hook(database)


def drill_file(
    path: Path,
    content_key: bytes | bytearray,
    *,
    scratch_dir: Path | None = None,
) -> tuple[bool, str, dict[str, int]]:
    """Decrypt ``path`` with ``content_key`` into scratch and check it."""
    try:
        checked = backup.verify_backup(
            path,
            content_key=content_key,
            scratch_dir=scratch_dir or scratch_parent,
            on_extracted=_on_extracted,
        )
    except CRMError as exc:
        return False, exc.message[:_MAX_REASON], {}
    except Exception as exc:  # the driver's own errors for an unreadable copy
        name = type(exc).__name__
        log.warning("drill failed with %s", name)
        return False, f"the scratch copy fails its integrity check ({name})", {}
    return True, "", checked.counts


def run_drill(session: Session, made: backup.BackupResult, now: float) -> DrillResult:
    """Drill the backup ``made`` just now and record the outcome.

    Raises:
        ValueError: ``made`` carries no content key (it was created without
            ``keep_content_key``).
    """
    session.require("backup.create")
    if made.content_key is None:
        raise ValueError("the drill needs the content key kept by create_backup")
    ok, reason, counts = drill_file(made.path, made.content_key)
    if ok and counts != made.counts:
        ok, reason = False, "row counts differ from what the backup recorded"
    result = DrillResult(made.path, ok, reason, iso(now), counts)
    _record(session, result, made.file_id)
    log.info("restore drill of %s: %s", made.file_id, result.outcome)
    return result


def _record(session: Session, result: DrillResult, file_id: str) -> None:
    values = {
        DRILL_AT: result.at,
        DRILL_RESULT: result.outcome,
        DRILL_FILE: str(result.path),
    }
    try:
        session.write(
            AuditEvent("backup.drill", "backup", file_id or None, result.outcome),
            [
                Mutation("settings", k, "upsert", {"value": v})
                for k, v in values.items()
            ],
        )
    except CRMError as exc:
        log.warning("could not record the drill outcome: %s", exc.message)
