"""`desktop-crm report compliance > FILE.pdf` (issue #6)."""

from __future__ import annotations

import argparse
from collections.abc import Callable

from desktop_crm.cli.commands import _run_unlocked
from desktop_crm.cli.patient_commands import _refuse_terminal, _stdout_bytes
from desktop_crm.services.session import Session
from desktop_crm.services.vault import VaultService


def cmd_compliance(args: argparse.Namespace) -> int:
    _refuse_terminal("the PDF")

    def run(vault: VaultService, session: Session) -> None:
        # fpdf2 takes over a second to import: load it only when asked.
        from desktop_crm.services import compliance

        data = compliance.report(session)
        out = _stdout_bytes()
        out.write(data)
        out.flush()

    return _run_unlocked(args, run)


def register(
    sub: argparse._SubParsersAction,  # type: ignore[type-arg]
    command: Callable[..., argparse.ArgumentParser],
) -> None:
    """Add `report compliance`; ``command`` is main._command."""
    parser_class = type(sub._name_parser_map.get("init", argparse.ArgumentParser()))
    reports = sub.add_parser("report", help="reports about the vault").add_subparsers(
        dest="report_command", parser_class=parser_class, required=True
    )
    command(
        reports,
        "compliance",
        cmd_compliance,
        "the HIPAA compliance report as PDF, to standard output (admin, auditor)",
    )
