"""CSV import: Synthea's patients.csv directly, any other sheet through a mapping.

Synthea's ``Id`` is recorded under the identifier system Synthea's FHIR
bundles use for the same UUID, so a CSV and a FHIR import of one person
converge into one patient.  Other spreadsheets map their columns onto our
fields (a mapping given by the caller, or one guessed from common headers).
A bad row is reported with its number (the header is row 1) and the other
rows go in; missing columns stop the import before any row is read.
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass
from pathlib import Path

from desktop_crm.errors import InvalidInput
from desktop_crm.services.importing.csv_source import (
    CsvSource,
    Row,
    check_encoding,
    detect_encoding,
)
from desktop_crm.services.importing.patient_sink import PatientSink, Where, safe_reason
from desktop_crm.services.importing.report import (
    COMMIT_GROUP_SECONDS,
    Cancel,
    ImportReport,
    Progress,
)
from desktop_crm.services.patient_model import (
    ContactPoint,
    HumanName,
    Identifier,
    Patient,
    parse_typed_date,
)
from desktop_crm.services.session import Session
from desktop_crm.storage import patient_queries
from desktop_crm.storage.writepath import AuditEvent, Mutation

log = logging.getLogger(__name__)

SYNTHEA_SYSTEM = "https://github.com/synthetichealth/synthea"
IDENTIFIER_PREFIX = "identifier:"
#: Systems and labels Synthea's FHIR exporter gives the same identifiers.
SYNTHEA_IDENTIFIERS = {
    "Id": (SYNTHEA_SYSTEM, ""),
    "SSN": ("http://hl7.org/fhir/sid/us-ssn", "Social Security Number"),
    "DRIVERS": ("urn:oid:2.16.840.1.113883.4.3.25", "Driver's license number"),
    "PASSPORT": (
        "http://standardhealthrecord.org/fhir/StructureDefinition/passportNumber",
        "Passport Number",
    ),
}
SYNTHEA_FIELDS = {
    "birth_date": "BIRTHDATE",
    "deceased_date": "DEATHDATE",
    "prefix": "PREFIX",
    "given": "FIRST",
    "middle": "MIDDLE",
    "family": "LAST",
    "suffix": "SUFFIX",
    "previous_family": "MAIDEN",
    "sex_at_birth": "GENDER",
    "line1": "ADDRESS",
    "city": "CITY",
    "district": "COUNTY",
    "state": "STATE",
    "postal_code": "ZIP",
}
SYNTHEA_REQUIRED = ("Id", "BIRTHDATE", "FIRST", "LAST")

#: Our fields and the header spellings guessed for them (lower case, without
#: spaces, underscores or hyphens).
FIELDS: dict[str, tuple[str, ...]] = {
    "family": ("lastname", "last", "surname", "family", "familyname"),
    "given": ("firstname", "first", "given", "givenname", "forename"),
    "middle": ("middlename", "middle"),
    "prefix": ("prefix", "title"),
    "suffix": ("suffix",),
    "preferred_name": ("preferredname", "nickname"),
    "previous_family": ("maidenname", "maiden", "previousname"),
    "birth_date": ("dob", "birthdate", "dateofbirth", "birthday"),
    "sex_at_birth": ("sex", "gender", "sexatbirth"),
    "phone": ("phone", "phonenumber", "telephone", "tel", "homephone"),
    "mobile": ("mobile", "cell", "mobilephone", "cellphone"),
    "email": ("email", "emailaddress"),
    "line1": ("address", "address1", "addressline1", "street"),
    "line2": ("address2", "addressline2"),
    "city": ("city", "town"),
    "district": ("county", "district"),
    "state": ("state", "province"),
    "postal_code": ("zip", "zipcode", "postalcode", "postcode"),
    "country": ("country",),
    "language": ("language", "preferredlanguage"),
    "deceased_date": ("deathdate", "dateofdeath", "deceaseddate"),
    "notes": ("notes", "note", "comments", "comment"),
}
_ADDRESS = ("line1", "line2", "city", "district", "state", "postal_code", "country")
_MODEL_LABELS = {
    "family name": "family",
    "given name": "given",
    "middle name": "middle",
    "prefix": "prefix",
    "suffix": "suffix",
    "preferred name": "preferred_name",
    "previous name": "previous_family",
    "date of birth": "birth_date",
    "deceased date": "deceased_date",
    "phone": "phone",
    "e-mail": "email",
    "notes": "notes",
}
_SEX = {"m": "male", "male": "male", "f": "female", "female": "female"}
_SEX.update({"u": "unknown", "unk": "unknown", "unknown": "unknown"})
_ISO_PARTIAL = re.compile(r"^\d{4}(-\d{2}(-\d{2})?)?$")
#: Settings key prefix of the column mappings saved per source.
MAPPING_PREFIX = "import.csv_mapping."
_MAPPING_NAME = re.compile(r"^[^\x00-\x1f\x7f]{1,60}$")
PREVIEW_ROWS = 5


@dataclass
class Plan:
    """How the columns of one file map onto our fields."""

    columns: dict[str, int]
    identifiers: list[tuple[int, str, str]]
    labels: dict[str, str]


def _squash(header: str) -> str:
    return re.sub(r"[\s_\-]", "", header).lower()


def load_mapping(mapping: dict[str, str] | Path | None) -> dict[str, str] | None:
    """A mapping as given, or read from a JSON file of ``{field: column}``."""
    if mapping is None or isinstance(mapping, dict):
        return mapping
    try:
        data = json.loads(Path(mapping).read_text(encoding="utf-8-sig"))
    except (OSError, ValueError) as exc:
        raise InvalidInput(
            "mapping", f"{Path(mapping).name} is not a JSON file"
        ) from exc
    if not isinstance(data, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in data.items()
    ):
        raise InvalidInput("mapping", 'give a JSON object {"field": "column", ...}')
    return data


def _guess(header: list[str]) -> dict[str, str]:
    squashed = {_squash(h): h for h in reversed(header)}
    guessed = {}
    for name, spellings in FIELDS.items():
        for spelling in spellings:
            if spelling in squashed:
                guessed[name] = squashed[spelling]
                break
    return guessed


def _synthea(header: list[str], file: str) -> dict[str, str]:
    missing = [c for c in SYNTHEA_REQUIRED if c not in header]
    if missing:
        raise InvalidInput(
            file,
            "missing required column(s) of Synthea's patients.csv: "
            + ", ".join(missing),
        )
    mapping = {f: c for f, c in SYNTHEA_FIELDS.items() if c in header}
    for column, (system, _label) in SYNTHEA_IDENTIFIERS.items():
        if column in header:
            mapping[IDENTIFIER_PREFIX + system] = column
    return mapping


def is_synthea(header: list[str]) -> bool:
    return header[:2] == ["Id", "BIRTHDATE"]


def effective_mapping(
    header: list[str], mapping: dict[str, str] | None, file: str
) -> dict[str, str]:
    """The mapping given, or Synthea's or the guessed one for this header."""
    if mapping is None:
        mapping = _synthea(header, file) if is_synthea(header) else _guess(header)
        if "family" not in mapping:
            raise InvalidInput(
                file,
                "missing required column: no column for the family name "
                "(e.g. last_name; or give a column mapping)",
            )
    return mapping


def plan(header: list[str], mapping: dict[str, str] | None, file: str) -> Plan:
    """Check the mapping against the header; raises naming missing columns."""
    mapping = effective_mapping(header, mapping, file)
    unknown = [
        f for f in mapping if f not in FIELDS and not f.startswith(IDENTIFIER_PREFIX)
    ]
    if unknown:
        raise InvalidInput("mapping", f"unknown field(s): {', '.join(unknown)}")
    if "family" not in mapping:
        raise InvalidInput("mapping", "map a column to 'family' (the family name)")
    missing = [c for c in mapping.values() if c not in header]
    if missing:
        raise InvalidInput(file, f"missing required column(s): {', '.join(missing)}")
    index = {name: header.index(name) for name in header[::-1]}
    columns = {f: index[c] for f, c in mapping.items() if f in FIELDS}
    labels_by_system = dict(SYNTHEA_IDENTIFIERS.values())
    identifiers = [
        (
            index[c],
            f[len(IDENTIFIER_PREFIX) :],
            labels_by_system.get(f[len(IDENTIFIER_PREFIX) :], c),
        )
        for f, c in mapping.items()
        if f.startswith(IDENTIFIER_PREFIX)
    ]
    labels = {m: mapping[f] for m, f in _MODEL_LABELS.items() if f in mapping}
    labels["identifier"] = "identifier column"
    return Plan(columns, identifiers, labels)


# -- saved mappings --------------------------------------------------------------


def _check_mapping_name(name: str) -> str:
    name = name.strip()
    if not _MAPPING_NAME.match(name):
        raise InvalidInput("mapping name", "use 1 to 60 printable characters")
    return name


def save_mapping(session: Session, name: str, mapping: dict[str, str]) -> None:
    """Store a column mapping under ``name`` (one audited settings write).

    Raises:
        NotPermitted: the user lacks ``patients.import``.
        InvalidInput: a bad name, or a mapping naming fields we do not have.
    """
    session.require("patients.import")
    name = _check_mapping_name(name)
    checked = load_mapping(mapping) or {}
    unknown = [
        f for f in checked if f not in FIELDS and not f.startswith(IDENTIFIER_PREFIX)
    ]
    if unknown or "family" not in checked:
        raise InvalidInput(
            "mapping",
            f"unknown field(s): {', '.join(unknown)}"
            if unknown
            else "map a column to 'family' (the family name)",
        )
    key = MAPPING_PREFIX + name
    session.write(
        AuditEvent("import.mapping_save", "settings", key),
        [Mutation("settings", key, "upsert", {"value": json.dumps(checked)})],
    )


def load_saved_mappings(session: Session) -> dict[str, dict[str, str]]:
    """Every saved column mapping, by name (sorted); unreadable ones are skipped."""
    session.require("patients.import")
    found: dict[str, dict[str, str]] = {}
    rows = patient_queries.settings_with_prefix(session.database(), MAPPING_PREFIX)
    for key, value in rows:
        try:
            data = json.loads(value)
        except ValueError:
            log.warning("saved CSV mapping %r is not JSON; skipped", key)
            continue
        if isinstance(data, dict) and all(
            isinstance(k, str) and isinstance(v, str) for k, v in data.items()
        ):
            found[key[len(MAPPING_PREFIX) :]] = data
    return found


def saved_mapping(session: Session, name: str) -> dict[str, str]:
    """The mapping saved as ``name``; raises InvalidInput naming the known ones."""
    saved = load_saved_mappings(session)
    if name.strip() not in saved:
        known = ", ".join(saved) or "none saved yet"
        raise InvalidInput("mapping name", f"no saved mapping '{name}' ({known})")
    return saved[name.strip()]


@dataclass
class CsvPreview:
    """The first rows of a CSV as the mapping step shows them."""

    encoding: str
    header: list[str]
    rows: list[list[str]]
    synthea: bool
    guessed: dict[str, str]


def preview_csv(
    path: Path, encoding: str | None = None, rows: int = PREVIEW_ROWS
) -> CsvPreview:
    """Header, first ``rows`` rows, detected (or given) encoding and a guess.

    Raises:
        InvalidInput: no such file, an unknown encoding, or no header row.
    """
    path = Path(path)
    if not path.is_file():
        raise InvalidInput(path.name, "no such file")
    codec = check_encoding(encoding) if encoding else detect_encoding(path)
    source = CsvSource(path, codec).rows()
    first = next(source, None)
    if first is None or not any(v.strip() for v in first.values):
        raise InvalidInput(path.name, "the file is empty (no header row)")
    header = [v.strip().lstrip("\ufeff").strip() for v in first.values]
    shown: list[list[str]] = []
    for row in source:
        if len(shown) >= rows:
            break
        if row.values and any(v.strip() for v in row.values):
            shown.append(row.values)
    return CsvPreview(codec, header, shown, is_synthea(header), _guess(header))


# -- rows ------------------------------------------------------------------------------


def _date(value: str, model_label: str) -> str | None:
    value = value.strip()
    if not value:
        return None
    if "T" in value and _ISO_PARTIAL.match(value.split("T", 1)[0]):
        value = value.split("T", 1)[0]
    if _ISO_PARTIAL.match(value):
        return value
    typed = parse_typed_date(value)
    if typed is None:
        raise InvalidInput(model_label, "is not a date (use YYYY-MM-DD or MM/DD/YYYY)")
    return typed


def row_patient(plan: Plan, values: list[str]) -> Patient:
    """Our record for one row (validation happens when it is stored)."""

    def get(name: str) -> str:
        return values[plan.columns[name]].strip() if name in plan.columns else ""

    deceased = _date(get("deceased_date"), "deceased date")
    phones = [
        ContactPoint(get(n), u)
        for n, u in (("phone", "home"), ("mobile", "mobile"))
        if get(n)
    ]
    previous = (
        (HumanName(get("previous_family"), get("given"), "maiden"),)
        if get("previous_family")
        else ()
    )
    return Patient(
        family=get("family"),
        given=get("given"),
        middle=get("middle"),
        prefix=get("prefix"),
        suffix=get("suffix"),
        preferred_name=get("preferred_name"),
        previous_names=previous,
        birth_date=_date(get("birth_date"), "date of birth"),
        sex_at_birth=_SEX.get(get("sex_at_birth").lower(), ""),
        phones=tuple(phones),
        emails=(ContactPoint(get("email")),) if get("email") else (),
        address={k: get(k) for k in _ADDRESS if get(k)},
        language=get("language"),
        identifiers=tuple(
            Identifier(system, values[i].strip(), label)
            for i, system, label in plan.identifiers
            if values[i].strip()
        ),
        status="deceased" if deceased else "active",
        deceased_date=deceased,
        notes=get("notes"),
    )


@dataclass
class _CsvRun:
    """One CSV import run."""

    file: str
    encoding: str
    header: list[str]
    plan: Plan
    sink: PatientSink
    report: ImportReport

    def row(self, row: Row) -> None:
        where = Where(self.file, f"row {row.number}")
        if row.error:
            self.report.reject(where.file, where.entry, row.error)
            return
        if not any(v.strip() for v in row.values):
            return
        if len(row.values) != len(self.header):
            self.report.reject(
                where.file,
                where.entry,
                f"has {len(row.values)} values; the header has {len(self.header)}",
            )
            return
        if row.bad_bytes:
            self.report.reject(where.file, where.entry, self._bad_bytes(row))
            return
        try:
            candidate = row_patient(self.plan, row.values)
        except InvalidInput as exc:
            shown = self.sink.label(exc.field)
            self.report.reject(
                where.file, where.entry, safe_reason(exc.field, shown, exc.problem)
            )
            return
        self.sink.store(candidate, where)

    def _bad_bytes(self, row: Row) -> str:
        column = next(
            (self.header[i] for i, v in enumerate(row.values) if "\ufffd" in v), ""
        )
        codec = "UTF-8" if self.encoding.startswith("utf") else self.encoding
        where = f"{column}: " if column else ""
        return f"{where}byte {row.bad_bytes} cannot be read as {codec}"


def import_csv(
    session: Session,
    path: Path,
    *,
    mapping: dict[str, str] | Path | None = None,
    encoding: str | None = None,
    dry_run: bool = False,
    progress: Progress | None = None,
    cancel: Cancel | None = None,
    save_as: str | None = None,
) -> ImportReport:
    """Import the patients of one CSV file; see the module docstring.

    ``save_as`` stores the mapping used (given or guessed) under that name
    once it has been checked against the header (see ``save_mapping``), so
    the next file from the same source can use it; a dry run saves nothing.

    ``encoding`` overrides detection (UTF-8 with or without BOM, else
    Windows-1252).  ``progress(done, total)`` counts bytes; it and
    ``cancel()`` are called for every row.

    Raises:
        NotPermitted: the user lacks ``patients.import``.
        InvalidInput: the file cannot be read, or required columns are missing
            (nothing is imported then).
    """
    session.require("patients.import")
    path = Path(path)
    file = str(path)
    if not path.is_file():
        raise InvalidInput(path.name, "no such file")
    codec = check_encoding(encoding) if encoding else detect_encoding(path)
    source = CsvSource(path, codec)
    rows = source.rows()
    first = next(rows, None)
    if first is None or not any(v.strip() for v in first.values):
        raise InvalidInput(path.name, "the file is empty (no header row)")
    header = [v.strip().lstrip("\ufeff").strip() for v in first.values]
    effective = effective_mapping(header, load_mapping(mapping), path.name)
    chosen = plan(header, effective, path.name)
    if save_as is not None and not dry_run:
        save_mapping(session, save_as, effective)
    report = ImportReport(dry_run=dry_run)
    sink = PatientSink(session, report, chosen.labels, dry_run)
    run = _CsvRun(file, codec, header, chosen, sink, report)
    total = path.stat().st_size
    with session.batch(COMMIT_GROUP_SECONDS):
        for row in rows:
            if cancel is not None and cancel():
                report.cancelled = True
                break
            run.row(row)
            if progress is not None:
                progress(min(source.bytes_read, total), total)
    log.info(
        "CSV import: %d patients, %d unchanged, %d rejected",
        report.patients,
        report.unchanged,
        len(report.rejected),
    )
    return report
