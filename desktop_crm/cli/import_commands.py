"""`desktop-crm import fhir PATH...` and `desktop-crm import csv FILE`.

``import csv`` takes ``--mapping FILE`` (JSON) or ``--mapping-name NAME`` (a
mapping saved earlier, from the GUI or with ``--save-mapping NAME``).

Both unlock as the other commands do, need the ``patients.import``
permission, print each rejected item as one line on stderr and end with the
summary line on stdout.  A finished run exits 0 even with rejections.  Ctrl-C
stops the run before the next patient: what was stored stays, the summary of
what was done is printed and the exit code is 130; a second Ctrl-C ends the
command at once.
"""

from __future__ import annotations

import argparse
import contextlib
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from desktop_crm.cli import commands

if TYPE_CHECKING:
    from desktop_crm.services.importing import ImportReport
    from desktop_crm.services.session import Session
    from desktop_crm.services.vault import VaultService


def register(
    sub: argparse._SubParsersAction,  # type: ignore[type-arg]
    command: Callable[..., argparse.ArgumentParser],
) -> None:
    """Add this module's subcommands; ``command`` is main._command."""
    group = sub.add_parser("import", help="import patients from FHIR or CSV files")
    kinds = group.add_subparsers(
        dest="import_command", parser_class=type(group), required=True
    )
    fhir = command(kinds, "fhir", cmd_import_fhir, "import FHIR R4 files or folders")
    fhir.add_argument("paths", nargs="+", metavar="PATH")
    fhir.add_argument("--dry-run", action="store_true", help="check and count only")
    csv = command(kinds, "csv", cmd_import_csv, "import patients from a CSV file")
    csv.add_argument("file", metavar="FILE")
    chosen = csv.add_mutually_exclusive_group()
    chosen.add_argument("--mapping", help="JSON file mapping our fields to columns")
    chosen.add_argument(
        "--mapping-name", metavar="NAME", help="use the column mapping saved as NAME"
    )
    csv.add_argument(
        "--save-mapping",
        metavar="NAME",
        help="save the column mapping used under NAME for the next file",
    )
    csv.add_argument("--encoding", help="the file's encoding (default: detected)")
    csv.add_argument("--dry-run", action="store_true", help="check and count only")


#: Exit code of a run stopped by Ctrl-C, as for any command interrupted.
INTERRUPTED = 130


@contextlib.contextmanager
def _ctrl_c_stops() -> Iterator[Callable[[], bool]]:
    """A cancel check that the first Ctrl-C turns true; the second one is
    the usual KeyboardInterrupt."""
    pressed = threading.Event()
    if threading.current_thread() is not threading.main_thread():
        yield pressed.is_set  # signals reach the main thread only
        return

    def first(signum: int, frame: object) -> None:
        pressed.set()
        signal.signal(signal.SIGINT, signal.default_int_handler)
        print(
            "stopping after the current patient (Ctrl-C again to stop at once)",
            file=sys.stderr,
        )

    before = signal.signal(signal.SIGINT, first)
    try:
        yield pressed.is_set
    finally:
        signal.signal(signal.SIGINT, before)


def _finish(report: ImportReport) -> int:
    _print_report(report)
    if report.cancelled:
        print(
            "interrupted: what was imported before stays; run the same command "
            "again to import the rest",
            file=sys.stderr,
        )
        return INTERRUPTED
    return 0


def _print_report(report: ImportReport) -> None:
    for item in report.rejected:
        print(f"rejected: {item.file}: {item.entry}: {item.reason}", file=sys.stderr)
    for item in report.warnings:
        print(f"warning: {item.file}: {item.entry}: {item.reason}", file=sys.stderr)
    for new_id, existing_id in report.duplicates:
        print(f"possible duplicate: {new_id} looks like {existing_id}", file=sys.stderr)
    if report.updated:
        print(f"updated: {report.updated} existing patients gained data")
    if report.dry_run:
        print("dry run: nothing was written")
    print(report.summary_line())


def cmd_import_fhir(args: argparse.Namespace) -> int:
    from desktop_crm.services.importing import import_fhir

    def run(vault: VaultService, session: Session) -> int:
        session.require("patients.import")
        paths = [Path(p) for p in args.paths]
        with _ctrl_c_stops() as cancel:
            report = import_fhir(session, paths, dry_run=args.dry_run, cancel=cancel)
        return _finish(report)

    return commands._run_unlocked(args, run)


def cmd_import_csv(args: argparse.Namespace) -> int:
    from desktop_crm.services.importing import import_csv
    from desktop_crm.services.importing.csv_import import saved_mapping

    def run(vault: VaultService, session: Session) -> int:
        session.require("patients.import")
        mapping: dict[str, str] | Path | None = None
        if args.mapping_name:
            mapping = saved_mapping(session, args.mapping_name)
        elif args.mapping:
            mapping = Path(args.mapping)
        with _ctrl_c_stops() as cancel:
            report = import_csv(
                session,
                Path(args.file),
                mapping=mapping,
                encoding=args.encoding,
                dry_run=args.dry_run,
                save_as=args.save_mapping,
                cancel=cancel,
            )
        return _finish(report)

    return commands._run_unlocked(args, run)
