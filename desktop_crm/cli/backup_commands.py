"""`desktop-crm backup ...`: create, verify, restore, set-passphrase, schedule.

Exit codes as everywhere: 0 ok, 1 a problem the message names (not a
backup, truncated, tampered at chunk N, unsupported version, destination),
2 usage, 3 wrong passphrase or recovery key, 6 not permitted.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from desktop_crm.cli.commands import _run_unlocked, _vault, read_secret_file, unlock
from desktop_crm.errors import UsageError
from desktop_crm.platform import paths

if TYPE_CHECKING:
    from desktop_crm.services.session import Session
    from desktop_crm.services.vault import VaultService


def _key_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_mutually_exclusive_group(required=True)
    group.add_argument("--passphrase-file", help="file holding the backup passphrase")
    group.add_argument("--recovery-key-file", help="file holding the recovery key")


def _keys(args: argparse.Namespace) -> dict[str, str | None]:
    if args.passphrase_file:
        text = read_secret_file(args.passphrase_file, "--passphrase-file")
        return {"passphrase": text, "recovery_key_text": None}
    text = read_secret_file(args.recovery_key_file, "--recovery-key-file")
    return {"passphrase": None, "recovery_key_text": text}


def cmd_create(args: argparse.Namespace) -> int:
    from desktop_crm.services import backup

    if not args.out.strip():
        raise UsageError("--out: give the name of the backup file to write")

    def create(_vault: VaultService, session: Session) -> None:
        result = backup.create_backup(session, Path(args.out))
        print(f"backup: {result.path}, {result.size} bytes, sha256 {result.sha256}")

    return _run_unlocked(args, create)


def cmd_verify(args: argparse.Namespace) -> int:
    from desktop_crm.services import backup

    result = backup.verify_backup(Path(args.file), **_keys(args))
    rows = sum(result.counts.values())
    print(
        f"backup ok: {result.path}, {result.size} bytes, sha256 {result.sha256}, "
        f"made {result.created_at}, schema {result.schema_version}, "
        f"{result.chunks} chunks, {len(result.counts)} tables, {rows} rows, "
        "integrity ok"
    )
    return 0


def cmd_restore(args: argparse.Namespace) -> int:
    from desktop_crm.platform.secret_store import KeyringSecretStore
    from desktop_crm.services import backup

    keys = _keys(args)
    pin = read_secret_file(args.new_pin_file, "--new-pin-file")
    root = paths.data_dir(getattr(args, "data_dir", None))
    replacing = None
    if args.replace and _vault(args).exists():
        if not args.user and not args.unattended:
            raise UsageError(
                "--replace needs an admin of the existing vault: give --user, "
                "--pin-file and --otp"
            )
        replacing = unlock(args, _vault(args))
    try:
        session, enrolment = backup.restore_backup(
            Path(args.file),
            root,
            admin_name=args.admin,
            new_pin=pin,
            secrets_store=KeyringSecretStore(),
            replace=args.replace,
            replacing=replacing,
            **keys,
        )
    finally:
        if replacing is not None:
            replacing.lock("command-finished")
    session.lock("restore-finished")
    print(f"restored: {root}, vault id {session.vault_id}")
    print(f"totp-uri: {enrolment.uri}")
    return 0


def cmd_set_passphrase(args: argparse.Namespace) -> int:
    from desktop_crm.services import backup

    passphrase = read_secret_file(args.passphrase_file, "--passphrase-file")

    def set_phrase(_vault: VaultService, session: Session) -> None:
        backup.set_backup_passphrase(session, passphrase)
        print("backup passphrase: set (backups made before keep the old one)")

    return _run_unlocked(args, set_phrase)


def cmd_confirm_user(args: argparse.Namespace) -> int:
    from desktop_crm.services import backup

    def confirm(_vault: VaultService, session: Session) -> None:
        backup.confirm_user(session, args.name)
        print(
            f"confirmed: {args.name} (reset their PIN next: desktop-crm user reset "
            f"'{args.name}' --new-pin-file FILE)"
        )

    return _run_unlocked(args, confirm)


def cmd_schedule(args: argparse.Namespace) -> int:
    from desktop_crm.services import backup_schedule as sched
    from desktop_crm.services.clock import SystemClock

    keep = sched.Retention(args.keep_daily, args.keep_weekly, args.keep_monthly)
    wanted = sched.Schedule(args.at, Path(args.dest).expanduser().absolute(), keep)

    def set_schedule(_vault: VaultService, session: Session) -> None:
        sched.set_schedule(session, wanted, SystemClock().now())
        print(
            f"backup schedule: daily at {wanted.at} into {wanted.destination}, "
            f"keep {keep.daily} daily, {keep.weekly} weekly, {keep.monthly} monthly"
        )
        if not wanted.destination.is_dir():
            # Kept on purpose (a drive may be unplugged now), but say so.
            print(
                f"warning: {wanted.destination} is not a folder that exists now: "
                "scheduled backups fail until it does",
                file=sys.stderr,
            )

    return _run_unlocked(args, set_schedule)


def cmd_run_scheduled(args: argparse.Namespace) -> int:
    from desktop_crm.services import backup_schedule as sched
    from desktop_crm.services.clock import SystemClock

    def run(_vault: VaultService, session: Session) -> int:
        outcome = sched.run_scheduled(session, SystemClock().now())
        for line in sched.describe(outcome):
            print(line)
        return 0 if outcome.ok else 1

    return _run_unlocked(args, run)


def cmd_status(args: argparse.Namespace) -> int:
    from desktop_crm.services import backup_schedule as sched
    from desktop_crm.services.clock import SystemClock

    def status(_vault: VaultService, session: Session) -> None:
        print(sched.backup_health(session, SystemClock().now()).message)

    return _run_unlocked(args, status)


def register(
    sub: argparse._SubParsersAction,  # type: ignore[type-arg]
    command: Callable[..., argparse.ArgumentParser],
) -> None:
    """Add this module's subcommands; ``command`` is main._command."""
    from desktop_crm.cli.main import _Parser

    group = sub.add_parser("backup", help="encrypted backups").add_subparsers(
        dest="backup_command", parser_class=_Parser, required=True
    )
    create = command(group, "create", cmd_create, "write an encrypted backup")
    create.add_argument("--out", required=True, help="the backup file to write")

    verify = command(
        group, "verify", cmd_verify, "decrypt and check a backup", unlock=False
    )
    verify.add_argument("file")
    _key_options(verify)

    restore = command(group, "restore", cmd_restore, "restore a backup as a new vault")
    restore.add_argument("file")
    _key_options(restore)
    restore.add_argument("--admin", required=True, help="the admin who restores")
    restore.add_argument("--new-pin-file", required=True)
    restore.add_argument(
        "--replace",
        action="store_true",
        help="replace the vault in the folder (kept as a dated copy beside it)",
    )

    phrase = command(
        group, "set-passphrase", cmd_set_passphrase, "set the backup passphrase"
    )
    phrase.add_argument("--passphrase-file", required=True)

    confirm = command(
        group, "confirm-user", cmd_confirm_user, "re-activate a restored user"
    )
    confirm.add_argument("name")

    schedule = command(
        group, "schedule", cmd_schedule, "set the backup schedule (admin)"
    )
    schedule.add_argument("--at", required=True, help="time of day, HH:MM")
    schedule.add_argument("--dest", required=True, help="the destination folder")
    for period, default in (("daily", 7), ("weekly", 4), ("monthly", 12)):
        schedule.add_argument(
            f"--keep-{period}",
            type=int,
            default=default,
            metavar="N",
            help=f"{period} copies to keep (default {default})",
        )
    command(
        group,
        "run-scheduled",
        cmd_run_scheduled,
        "make the scheduled backup if one is due (for cron or a systemd timer)",
    )
    command(group, "status", cmd_status, "print the backup status line")
