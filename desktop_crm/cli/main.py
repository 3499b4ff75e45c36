"""`desktop-crm`: starts the GUI with no arguments; admin commands otherwise.

Exit codes: 0 ok; 1 other error; 2 usage; 3 authentication failed; 4 locked
out; 5 keyring unavailable or locked; 6 not permitted.  Errors are one line
on stderr and never carry patient data.  Qt is imported only when the GUI
starts.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Callable, Sequence

from desktop_crm.errors import CRMError, UsageError
from desktop_crm.platform.atomic import is_disk_full

log = logging.getLogger(__name__)

PROG = "desktop-crm"
EXIT_CODES = """exit codes:
  0 ok      1 other error        2 wrong usage          3 authentication failed
  4 locked out (the message says for how long)         5 keyring unavailable or locked
  6 not permitted for this user's role

Commands that read the vault unlock first: --user NAME --pin-file FILE --otp CODE
(within the quick re-unlock period --otp may be left out)."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        raise UsageError(message)


def _common(parser: argparse.ArgumentParser, *, unlock: bool) -> None:
    parser.add_argument(
        "--data-dir", default=argparse.SUPPRESS, help="the vault folder"
    )
    if unlock:
        parser.add_argument(
            "--user", help="the user who unlocks (required unless --unattended)"
        )
        parser.add_argument("--pin-file", help="file holding the PIN")
        parser.add_argument("--otp", help="the current TOTP code")
        parser.add_argument(
            "--unattended",
            action="store_true",
            help="open with the unattended-task slot (if an admin enabled it)",
        )


def _command(
    sub: argparse._SubParsersAction,  # type: ignore[type-arg]
    name: str,
    handler: Callable[[argparse.Namespace], int],
    help_text: str,
    *,
    unlock: bool = True,
) -> argparse.ArgumentParser:
    parser = sub.add_parser(name, help=help_text, description=help_text)
    _common(parser, unlock=unlock)
    parser.set_defaults(handler=handler, needs_unlock=unlock)
    return parser


def _global_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--version", action="store_true", help="print versions and exit"
    )
    parser.add_argument(
        "--data-dir", help="the vault folder (default: user data folder)"
    )
    parser.add_argument(
        "--self-test",
        action="store_true",
        help="start the GUI, wait for its first paint and exit",
    )
    parser.add_argument(
        "--debug", action="store_true", help="log debug detail to stderr"
    )


def _starts_gui(argv: Sequence[str]) -> bool:
    """True when no subcommand is named: only global options (or none)."""
    skip_value = False
    for arg in argv:
        if skip_value:
            skip_value = False
        elif arg == "--data-dir":
            skip_value = True
        elif not (arg.startswith("--data-dir=") or arg in ("--self-test", "--debug")):
            return False
    return True


def build_parser() -> argparse.ArgumentParser:
    # The command modules load only when a subcommand is parsed: starting the
    # GUI needs none of them (see _starts_gui).
    from desktop_crm.cli import (
        access_commands,
        audit_commands,
        backup_commands,
        commands,
        import_commands,
        patient_commands,
        report_commands,
        scheduling_commands,
        server_commands,
        sync_commands,
    )

    parser = _Parser(
        prog=PROG,
        description="Desktop CRM for telehealth practices. With no command it "
        "starts the application.",
        epilog=EXIT_CODES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _global_options(parser)
    sub = parser.add_subparsers(dest="command", parser_class=_Parser)

    init = _command(sub, "init", commands.cmd_init, "create a new vault", unlock=False)
    init.add_argument("--practice", required=True, help="the practice's name")
    init.add_argument("--admin", required=True, help="the first user's display name")
    init.add_argument(
        "--pin-file", required=True, help="file holding the admin's PIN (6-12 digits)"
    )
    init.add_argument("--tz", help="IANA time zone (default: the system's)")

    _command(sub, "status", commands.cmd_status, "show facts about the vault")
    _command(
        sub, "check", commands.cmd_check, "check every encrypted page and the structure"
    )

    user = sub.add_parser("user", help="manage users").add_subparsers(
        dest="user_command", parser_class=_Parser, required=True
    )
    add = _command(user, "add", commands.cmd_user_add, "add a user (admin)")
    add.add_argument("--name", required=True, help="the user's display name")
    add.add_argument(
        "--role",
        required=True,
        help="ROLE[,ROLE] from admin, provider, front-desk, biller, auditor",
    )
    add.add_argument("--new-pin-file", required=True, help="file holding their PIN")
    change = _command(user, "change-pin", commands.cmd_change_pin, "change your PIN")
    change.add_argument("--new-pin-file", required=True)
    reset = _command(user, "reset", commands.cmd_user_reset, "reset a user (admin)")
    reset.add_argument("name")
    reset.add_argument("--new-pin-file", required=True)
    confirm = _command(
        user,
        "confirm",
        backup_commands.cmd_confirm_user,
        "re-activate a user after a restore (admin)",
    )
    confirm.add_argument("name")

    recover = _command(
        sub,
        "recover",
        commands.cmd_recover,
        "regain access with the recovery key",
        unlock=False,
    )
    recover.add_argument("--user", required=True)
    recover.add_argument("--recovery-key-file", required=True)
    recover.add_argument("--new-pin-file", required=True)

    _command(sub, "rekey", commands.cmd_rekey, "rotate the database key (admin)")
    recovery = sub.add_parser("recovery-key", help="the recovery key").add_subparsers(
        dest="recovery_command", parser_class=_Parser, required=True
    )
    _command(recovery, "new", commands.cmd_recovery_new, "issue a new recovery key")

    unattended = sub.add_parser(
        "unattended", help="the unattended-task slot"
    ).add_subparsers(dest="unattended_command", parser_class=_Parser, required=True)
    _command(unattended, "enable", commands.cmd_unattended_enable, "enable (admin)")
    _command(unattended, "disable", commands.cmd_unattended_disable, "disable (admin)")

    audit = sub.add_parser("audit", help="the audit log").add_subparsers(
        dest="audit_command", parser_class=_Parser, required=True
    )
    _command(audit, "verify", commands.cmd_audit_verify, "check the audit chain")
    access_commands.register(sub, _command, user)
    audit_commands.register(sub, _command, audit)

    import_commands.register(sub, _command)
    patient_commands.register(sub, _command)
    backup_commands.register(sub, _command)
    scheduling_commands.register(sub, _command)
    report_commands.register(sub, _command)
    server_commands.register(sub, _command)
    sync_commands.register(sub, _command)
    return parser


def _configure_logging(debug: bool) -> None:
    # Errors reach the user as one line each; log records only with --debug.
    logging.basicConfig(
        level=logging.DEBUG if debug else logging.CRITICAL,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )


def _start_gui(argv: Sequence[str]) -> int:
    parser = _Parser(prog=PROG)
    _global_options(parser)
    args = parser.parse_args(argv)
    _configure_logging(args.debug)
    if args.data_dir == "":
        raise UsageError("--data-dir must not be empty")
    from desktop_crm.cli import commands

    return commands.start_gui(args)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `desktop-crm` command."""
    args_list = list(sys.argv[1:] if argv is None else argv)
    try:
        if _starts_gui(args_list):
            return _start_gui(args_list)
        args = build_parser().parse_args(args_list)
        _configure_logging(args.debug)
        if getattr(args, "data_dir", None) == "":
            raise UsageError("--data-dir must not be empty")
        from desktop_crm.cli import commands

        if args.version:
            print(commands.version_text())
            return 0
        if args.command is None:
            return commands.start_gui(args)
        return int(args.handler(args))
    except CRMError as exc:
        print(f"{PROG}: {exc.message}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader went away (`desktop-crm ... | head`): nothing to report.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except Exception as exc:  # the crash path: one line, details only on --debug
        if "--debug" in args_list:
            raise
        if is_disk_full(exc):
            # Whichever file it was (its name may carry a patient's), the
            # disk is what the user must act on.
            print(
                f"{PROG}: a disk this command writes to is full ({exc.strerror}): "
                "free some space and run it again",
                file=sys.stderr,
            )
            return 1
        log.error("unexpected %s", type(exc).__name__, exc_info=False)
        print(
            f"{PROG}: internal error ({type(exc).__name__}); run again with --debug "
            "for the details (they may include file names, never patient data)",
            file=sys.stderr,
        )
        return 1


if __name__ == "__main__":
    raise SystemExit(main())
