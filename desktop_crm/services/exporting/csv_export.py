"""The patient list as CSV, safe to open in a spreadsheet (pitfall B21).

Spreadsheets run a cell as a formula when it begins with ``=``, ``+``, ``-``
or ``@`` (and some treat a leading tab or carriage return the same way),
whether or not the CSV quotes it.  So every *text* cell that would begin with
one of those characters gets a leading apostrophe, which spreadsheets show as
text.  This includes phone numbers in international format: ``+1 555 010
0142`` is exported as ``'+1 555 010 0142``.  Numeric columns (``visits``) are
written as plain numbers and never prefixed.

To keep the rule reversible, a text cell that already begins with
apostrophes followed by a trigger character gets one more apostrophe, and
:func:`unneutralise` removes exactly one.  Re-importing our own export with
:func:`unneutralise` on every text cell therefore gives back the original
values, with no double prefix.  See ``docs/export.md``.
"""

from __future__ import annotations

import csv
import logging
from collections.abc import Iterator
from typing import TextIO

from desktop_crm.services import patients
from desktop_crm.services.exporting.record_fields import ADDRESS_FIELDS, address_parts
from desktop_crm.services.patient_model import Patient
from desktop_crm.services.session import Session
from desktop_crm.storage import patient_queries
from desktop_crm.storage.writepath import AuditEvent

log = logging.getLogger(__name__)

TRIGGERS = frozenset("=+-@\t\r")
PAGE_SIZE = 500
LIST_SEPARATOR = "; "

TEXT_COLUMNS = (
    "id",
    "mrn",
    "family",
    "given",
    "middle",
    "prefix",
    "suffix",
    "preferred_name",
    "birth_date",
    "sex_at_birth",
    "gender_identity",
    "pronouns",
    "phones",
    "emails",
    "status",
    "deceased_date",
    *(f"address_{name}" for name in ADDRESS_FIELDS),
    "language",
    "preferred_contact",
    "identifiers",
)
NUMERIC_COLUMNS = ("visits",)
COLUMNS = TEXT_COLUMNS + NUMERIC_COLUMNS


def _needs_prefix(value: str) -> bool:
    rest = value.lstrip("'")
    return bool(rest) and rest[0] in TRIGGERS


def neutralise(value: str) -> str:
    """A text cell as exported: one apostrophe added before a formula trigger."""
    return "'" + value if _needs_prefix(value) else value


def unneutralise(cell: str) -> str:
    """Undo :func:`neutralise` when reading our own export back.

    Strips exactly one leading apostrophe, and only when what follows the
    leading apostrophes is a trigger character (``=``, ``+``, ``-``, ``@``,
    tab, CR).  Other cells, including names like ``'Ofa`` or ``O'Grady``,
    come back unchanged.
    """
    if cell.startswith("'") and _needs_prefix(cell):
        return cell[1:]
    return cell


def _text_cells(patient: Patient) -> list[str]:
    address = address_parts(patient.address)
    return [
        patient.id,
        patient.mrn,
        patient.family,
        patient.given,
        patient.middle,
        patient.prefix,
        patient.suffix,
        patient.preferred_name,
        patient.birth_date or "",
        patient.sex_at_birth,
        patient.gender_identity,
        patient.pronouns,
        LIST_SEPARATOR.join(p.value for p in patient.phones),
        LIST_SEPARATOR.join(e.value for e in patient.emails),
        patient.status,
        patient.deceased_date or "",
        *(LIST_SEPARATOR.join(address[name]) for name in ADDRESS_FIELDS),
        patient.language,
        patient.preferred_contact,
        LIST_SEPARATOR.join(f"{i.system}|{i.value}" for i in patient.identifiers),
    ]


def row_for(session: Session, patient: Patient) -> list[str]:
    """One CSV row: neutralised text cells, then plain numeric cells."""
    visits = len(patient_queries.visits(session.database(), patient.id))
    return [neutralise(cell) for cell in _text_cells(patient)] + [str(visits)]


def _all_patients(session: Session) -> Iterator[Patient]:
    offset = 0
    while True:
        batch = patients.page(session, offset, PAGE_SIZE)
        for summary in batch:
            yield patients.load_patient(session, summary.id)
        if len(batch) < PAGE_SIZE:
            return
        offset += PAGE_SIZE


def write_patients_csv(session: Session, out: TextIO) -> int:
    """Write every patient (merged records excluded) to ``out``; returns the count.

    Rows are streamed page by page.  ``out`` should be opened with
    ``newline=""``.  One ``patients.export_all`` audit entry (outcome ``csv``)
    is written before the first row, so no partial export goes unaudited.

    Raises:
        NotPermitted: the user lacks ``patients.export``.
    """
    session.require("patients.export")
    session.require("patients.read")
    session.write(AuditEvent("patients.export_all", "patient", None, outcome="csv"))
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(COLUMNS)
    written = 0
    for patient in _all_patients(session):
        writer.writerow(row_for(session, patient))
        written += 1
    log.info("patient list exported as CSV (%d rows)", written)
    return written
