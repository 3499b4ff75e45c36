"""`desktop-crm audit export` (issue #6); `audit verify` lives in commands.py.

``audit export --from DATE --to DATE [--by-user NAME] [--patient ID]
[--action ACTION] --format csv|pdf > FILE`` writes the matching entries to
standard output.  Dates are ``YYYY-MM-DD`` days in the practice's time zone,
both inclusive.  The user filter is ``--by-user`` because ``--user`` already
names the user who unlocks.  A bad date exits 2 naming the option; a missing
``audit.export`` permission exits 6.
"""

from __future__ import annotations

import argparse
import io
import sys
from collections.abc import Callable
from datetime import date

from desktop_crm.cli.commands import _run_unlocked
from desktop_crm.cli.patient_commands import _refuse_terminal, _stdout_bytes
from desktop_crm.errors import UsageError
from desktop_crm.services import audit_log
from desktop_crm.services.audit_log import AuditQuery
from desktop_crm.services.session import Session
from desktop_crm.services.vault import VaultService


def _day(option: str, text: str) -> date:
    try:
        if len(text) != 10:
            raise ValueError(text)
        return date.fromisoformat(text)
    except ValueError:
        raise UsageError(f"{option}: '{text}' is not a date (YYYY-MM-DD)") from None


def cmd_export(args: argparse.Namespace) -> int:
    start, end = _day("--from", args.date_from), _day("--to", args.date_to)
    if end < start:
        raise UsageError("--to: the end date is before the --from date")
    if args.format == "pdf":
        _refuse_terminal("the PDF")
    query = AuditQuery(
        user=args.by_user,
        patient_id=args.patient,
        action=args.action,
        date_from=start,
        date_to=end,
    )

    def run(vault: VaultService, session: Session) -> None:
        out = _stdout_bytes()
        if args.format == "pdf":
            out.write(audit_log.export_pdf(session, query))
            out.flush()
            return
        text = io.TextIOWrapper(out, encoding="utf-8-sig", newline="")
        try:
            count = audit_log.write_csv(session, query, text)
            text.flush()
        finally:
            text.detach()
        print(f"audit: {count} entries exported", file=sys.stderr)

    return _run_unlocked(args, run)


def register(
    sub: argparse._SubParsersAction,  # type: ignore[type-arg]
    command: Callable[..., argparse.ArgumentParser],
    group: argparse._SubParsersAction,  # type: ignore[type-arg]
) -> None:
    """Add this module's subcommands; group is the `audit` group."""
    export = command(
        group,
        "export",
        cmd_export,
        "write audit entries of a date range to standard output as CSV or PDF",
    )
    export.add_argument(
        "--from", dest="date_from", required=True, metavar="DATE",
        help="first day, YYYY-MM-DD, in the practice's time zone",
    )  # fmt: skip
    export.add_argument(
        "--to", dest="date_to", required=True, metavar="DATE",
        help="last day (included), YYYY-MM-DD",
    )  # fmt: skip
    export.add_argument("--by-user", metavar="NAME", help="only entries by this user")
    export.add_argument(
        "--patient", metavar="ID", help="only entries about this patient's record"
    )
    export.add_argument(
        "--action", help="only this action (a trailing * matches a prefix)"
    )
    export.add_argument("--format", choices=("csv", "pdf"), required=True)
