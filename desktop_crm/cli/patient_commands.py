"""The `patients` and `documents` subcommands (issue #3).

Output formats are part of the interface and tested end to end:

- ``patients count``: ``patients: N``;
- ``patients search QUERY``: one line per patient, best match first, no
  header: id, ``Family, Given Middle`` and date of birth (as stored, so partial
  dates stay partial), tab-separated; no match prints nothing;
- ``patients add``: the new patient's id;
- ``patients export ID --format fhir|pdf`` and ``patients export-all --format
  csv`` write the export to standard output (redirect it to a file);
- ``documents attach``: the new document's id; ``documents list``: id, file
  name, media type, size in bytes and time added, tab-separated.
"""

from __future__ import annotations

import argparse
import io
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, BinaryIO

from desktop_crm.cli.commands import _run_unlocked
from desktop_crm.errors import InvalidInput, UsageError
from desktop_crm.services import documents, patients
from desktop_crm.services.exporting import csv_export, fhir_export
from desktop_crm.services.patient_model import ContactPoint, Patient
from desktop_crm.services.session import Session
from desktop_crm.services.vault import VaultService

Handler = Callable[[VaultService, Session], int | None]


def _one_line(text: str) -> str:
    """Keep the tab-separated format intact whatever a field holds."""
    return " ".join(text.split())


def _display(family: str, given: str, middle: str) -> str:
    first = " ".join(p for p in (given, middle) if p)
    return f"{family}, {first}" if first else family


def _stdout_bytes() -> BinaryIO:
    buffer = getattr(sys.stdout, "buffer", None)
    if buffer is None:
        raise UsageError("standard output cannot take binary data")
    sys.stdout.flush()
    return buffer  # type: ignore[no-any-return]


def _refuse_terminal(what: str) -> None:
    if sys.stdout.isatty():
        raise UsageError(f"{what} goes to standard output: redirect it (> FILE)")


# -- patients ------------------------------------------------------------------


def cmd_count(args: argparse.Namespace) -> int:
    def run(vault: VaultService, session: Session) -> None:
        print(f"patients: {patients.count(session)}")

    return _run_unlocked(args, run)


def cmd_search(args: argparse.Namespace) -> int:
    if args.limit < 1:
        raise UsageError("--limit must be at least 1")

    def run(vault: VaultService, session: Session) -> None:
        for found in patients.search(session, args.query, args.limit):
            name = _display(found.family, found.given, found.middle)
            print(f"{found.id}\t{_one_line(name)}\t{found.birth_date or ''}")

    return _run_unlocked(args, run)


def cmd_add(args: argparse.Namespace) -> int:
    patient = Patient(
        family=args.family,
        given=args.given,
        middle=args.middle,
        birth_date=args.birth_date,
        sex_at_birth=args.sex,
        phones=tuple(ContactPoint(p) for p in args.phone),
        emails=tuple(ContactPoint(e) for e in args.email),
    )

    def run(vault: VaultService, session: Session) -> int:
        try:
            new_id = patients.create_patient(
                session, patient, allow_duplicates=args.allow_duplicate
            )
        except patients.DuplicatesFound as exc:
            ids = ", ".join(c.patient.id for c in exc.candidates)
            print(
                f"desktop-crm: {exc.message}: {ids} "
                "(check them, or add anyway with --allow-duplicate)",
                file=sys.stderr,
            )
            return 1
        print(new_id)
        return 0

    return _run_unlocked(args, run)


def cmd_export(args: argparse.Namespace) -> int:
    if args.format == "pdf":
        _refuse_terminal("the PDF")

    def run(vault: VaultService, session: Session) -> None:
        if args.format == "fhir":
            bundle = fhir_export.patient_bundle(session, args.patient_id)
            text = json.dumps(bundle, ensure_ascii=False, indent=2) + "\n"
            data = text.encode("utf-8")
        else:
            # fpdf2 takes over a second to import: load it only for PDFs.
            from desktop_crm.services.exporting import pdf_summary

            data = pdf_summary.patient_pdf(session, args.patient_id)
        out = _stdout_bytes()
        out.write(data)
        out.flush()

    return _run_unlocked(args, run)


def cmd_export_all(args: argparse.Namespace) -> int:
    def run(vault: VaultService, session: Session) -> None:
        encoding = "utf-8" if args.no_bom else "utf-8-sig"
        out = io.TextIOWrapper(_stdout_bytes(), encoding=encoding, newline="")
        try:
            csv_export.write_patients_csv(session, out)
            out.flush()
        finally:
            out.detach()

    return _run_unlocked(args, run)


# -- documents -------------------------------------------------------------------


def _read_document(path: str) -> bytes:
    try:
        with Path(path).open("rb") as handle:
            return handle.read(documents.MAX_BYTES + 1)
    except OSError as exc:
        raise InvalidInput(
            "file to attach", f"cannot read it: {exc.strerror}"
        ) from None


def cmd_documents_attach(args: argparse.Namespace) -> int:
    data = _read_document(args.file)

    def run(vault: VaultService, session: Session) -> None:
        print(documents.attach(session, args.patient_id, Path(args.file).name, data))

    return _run_unlocked(args, run)


def cmd_documents_list(args: argparse.Namespace) -> int:
    def run(vault: VaultService, session: Session) -> None:
        for doc in documents.list_documents(session, args.patient_id):
            name = _one_line(doc.filename)
            print(f"{doc.id}\t{name}\t{doc.media_type}\t{doc.size}\t{doc.created_at}")

    return _run_unlocked(args, run)


def cmd_documents_save(args: argparse.Namespace) -> int:
    def run(vault: VaultService, session: Session) -> None:
        target = Path(args.out)
        documents.save_document(
            session, args.document_id, target, overwrite=args.overwrite
        )

    return _run_unlocked(args, run)


# -- registration ------------------------------------------------------------------


def _group(sub: Any, name: str, help_text: str) -> Any:
    parser = sub.add_parser(name, help=help_text, description=help_text)
    return parser.add_subparsers(
        dest=f"{name}_command", parser_class=type(parser), required=True
    )


def _register_patients(
    sub: Any, command: Callable[..., argparse.ArgumentParser]
) -> None:
    group = _group(sub, "patients", "find, add and export patients")
    command(group, "count", cmd_count, "print the number of patients")
    search = command(group, "search", cmd_search, "find patients (best match first)")
    search.add_argument("query")
    search.add_argument("--limit", type=int, default=patients.SEARCH_LIMIT)
    add = command(group, "add", cmd_add, "add a patient; prints the new id")
    add.add_argument("--family", required=True)
    add.add_argument("--given", default="")
    add.add_argument("--middle", default="")
    add.add_argument("--birth-date", help="YYYY-MM-DD (or YYYY-MM, YYYY)")
    add.add_argument(
        "--sex", default="", choices=("female", "male", "intersex", "unknown")
    )
    add.add_argument("--phone", action="append", default=[])
    add.add_argument("--email", action="append", default=[])
    add.add_argument("--allow-duplicate", action="store_true")
    export = command(group, "export", cmd_export, "export one patient to stdout")
    export.add_argument("patient_id")
    export.add_argument("--format", required=True, choices=("fhir", "pdf"))
    export_all = command(
        group, "export-all", cmd_export_all, "export the patient list to stdout"
    )
    export_all.add_argument("--format", required=True, choices=("csv",))
    export_all.add_argument(
        "--no-bom", action="store_true", help="omit the UTF-8 byte order mark"
    )


def _register_documents(
    sub: Any, command: Callable[..., argparse.ArgumentParser]
) -> None:
    group = _group(sub, "documents", "a patient's documents (inside the vault)")
    attach = command(group, "attach", cmd_documents_attach, "attach a PDF or image")
    attach.add_argument("patient_id")
    attach.add_argument("file")
    listing = command(group, "list", cmd_documents_list, "list a patient's documents")
    listing.add_argument("patient_id")
    save = command(group, "save", cmd_documents_save, "save a copy to a file")
    save.add_argument("document_id")
    save.add_argument("--out", required=True, help="the file to create")
    save.add_argument("--overwrite", action="store_true")


def register(
    sub: argparse._SubParsersAction,  # type: ignore[type-arg]
    command: Callable[..., argparse.ArgumentParser],
) -> None:
    """Add this module's subcommands; ``command`` is main._command."""
    _register_patients(sub, command)
    _register_documents(sub, command)
