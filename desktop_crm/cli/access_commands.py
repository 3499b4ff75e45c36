"""Subcommands of issue #6 (access): user administration and break-glass.

``user role NAME --set ROLE[,ROLE]``, ``user deactivate NAME``,
``user reset-totp NAME``, ``user unlock NAME``, ``user enrol`` (a user whose
authenticator was reset gets the new entry), and the ``break-glass`` group:
``open PATIENT_ID --reason TEXT``, ``list [--all]``, ``review ID``.  A
refused action exits 6 naming the missing permission.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable

from desktop_crm.cli.commands import _interactive, _pin, _run_unlocked, _vault
from desktop_crm.errors import UsageError
from desktop_crm.services.clock import iso
from desktop_crm.services.session import Session
from desktop_crm.services.vault import TOTPEnrolmentRequired, VaultService

Command = Callable[..., argparse.ArgumentParser]


def cmd_user_role(args: argparse.Namespace) -> int:
    from desktop_crm.services import users

    def change(vault: VaultService, session: Session) -> None:
        held = users.change_roles(vault, session, args.name, args.set)
        print(f"roles: {args.name}: {','.join(held)} (from their next unlock)")

    return _run_unlocked(args, change)


def cmd_user_deactivate(args: argparse.Namespace) -> int:
    from desktop_crm.services import users

    def deactivate(vault: VaultService, session: Session) -> None:
        advised = users.deactivate_user(vault, session, args.name)
        print(f"deactivated: {args.name} (their key slot is removed)")
        if advised:
            print(
                "hint: rotate the database key now, so a copy of the old key "
                "opens nothing: desktop-crm rekey",
                file=sys.stderr,
            )

    return _run_unlocked(args, deactivate)


def cmd_user_reset_totp(args: argparse.Namespace) -> int:
    from desktop_crm.services import users

    def reset(vault: VaultService, session: Session) -> None:
        users.reset_totp(vault, session, args.name)
        print(
            f"authenticator reset: {args.name} sets up a new entry at their next "
            "unlock (desktop-crm user enrol)"
        )

    return _run_unlocked(args, reset)


def cmd_user_unlock(args: argparse.Namespace) -> int:
    from desktop_crm.services import users

    def clear(vault: VaultService, session: Session) -> None:
        was = users.unlock_user(vault, session, args.name)
        state = "was locked out" if was else "was not locked out"
        print(f"unlocked: {args.name} ({state}; failed attempts cleared)")

    return _run_unlocked(args, clear)


def cmd_user_enrol(args: argparse.Namespace) -> int:
    """Collect the new authenticator entry after an admin's reset."""
    if not args.user:
        raise UsageError("--user is required")
    vault = _vault(args)
    pin = _pin(args)
    try:
        session = vault.unlock(args.user, pin, args.otp)
    except TOTPEnrolmentRequired as needed:
        print(f"totp-uri: {needed.enrolment.uri}")
        if not _interactive():
            print(
                "add this entry to your authenticator app, then unlock with "
                "--otp CODE from it",
                file=sys.stderr,
            )
            return 0
        code = input("TOTP code from the new entry: ")
        session = vault.unlock(args.user, pin, code)
        print("enrolled: the new authenticator entry works")
    else:
        print("enrolled: nothing to do (your authenticator was not reset)")
    session.lock("command-finished")
    return 0


def _when(timestamp: float) -> str:
    return iso(timestamp).replace("+00:00", "Z")


def cmd_break_glass_open(args: argparse.Namespace) -> int:
    from desktop_crm.services import break_glass

    def open_(_vault: VaultService, session: Session) -> None:
        grant = break_glass.open_grant(session, args.patient_id, args.reason)
        print(f"break-glass: {grant.id}")
        print(f"patient: {grant.patient_id}")
        print(f"until: {_when(grant.expires_at)}")

    return _run_unlocked(args, open_)


def cmd_break_glass_list(args: argparse.Namespace) -> int:
    from desktop_crm.services import break_glass

    def show(_vault: VaultService, session: Session) -> None:
        grants = break_glass.review_queue(session, include_reviewed=args.all)
        for g in grants:
            state = (
                f"reviewed by {g.reviewed_by}"
                if g.reviewed_at
                else "waiting for review"
            )
            print(
                "\t".join(
                    (
                        g.id,
                        _when(g.opened_at),
                        g.user_name,
                        g.patient_id,
                        state,
                        " ".join(g.reason.split()),
                    )
                )
            )
        print(f"break-glass: {len(grants)} listed", file=sys.stderr)

    return _run_unlocked(args, show)


def cmd_break_glass_review(args: argparse.Namespace) -> int:
    from desktop_crm.services import break_glass

    def review(_vault: VaultService, session: Session) -> None:
        break_glass.mark_reviewed(session, args.id)
        print(f"reviewed: {args.id}")

    return _run_unlocked(args, review)


def register(
    sub: argparse._SubParsersAction,  # type: ignore[type-arg]
    command: Command,
    group: argparse._SubParsersAction,  # type: ignore[type-arg]
) -> None:
    """Add this module's subcommands; group is the `user` group."""
    role = command(group, "role", cmd_user_role, "change a user's roles (admin)")
    role.add_argument("name")
    role.add_argument(
        "--set",
        required=True,
        metavar="ROLE[,ROLE]",
        help="from admin, provider, front-desk, biller, auditor",
    )
    for name, handler, text in (
        ("deactivate", cmd_user_deactivate, "deactivate a user (admin)"),
        ("reset-totp", cmd_user_reset_totp, "make a user set up a new authenticator"),
        ("unlock", cmd_user_unlock, "clear a user's lockout (admin)"),
    ):
        command(group, name, handler, text).add_argument("name")
    command(group, "enrol", cmd_user_enrol, "set up your new authenticator entry")

    glass = sub.add_parser(
        "break-glass", help="emergency access to one patient record"
    ).add_subparsers(dest="break_glass_command", required=True)
    opened = command(
        glass, "open", cmd_break_glass_open, "open one record, with a reason"
    )
    opened.add_argument("patient_id")
    opened.add_argument("--reason", required=True, help="why (at least 10 characters)")
    listed = command(glass, "list", cmd_break_glass_list, "the review queue (admin)")
    listed.add_argument("--all", action="store_true", help="include reviewed ones")
    reviewed = command(glass, "review", cmd_break_glass_review, "mark one reviewed")
    reviewed.add_argument("id")
