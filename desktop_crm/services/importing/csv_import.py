"""CSV import: Synthea's patients.csv directly, any other sheet through a mapping.

Synthea's ``Id`` is recorded under the identifier system Synthea's FHIR
bundles use for the same UUID, so a CSV and a FHIR import of one person
converge into one patient.  A file with most of Synthea's columns but not
all the required ones is refused rather than guessed at.  Other
spreadsheets map their columns onto our fields (a mapping given by the
caller, or one guessed from common headers).  Our own patient-list export
(``exporting.csv_export``) is recognised by its header: every field it
carries comes back, and the apostrophe it puts before formula characters is
taken off again.  An MRN is only kept as a key to the record of this vault
it was issued to: another vault's MRN would clash with ours.

Columns that no field uses are named in one warning, unless the mapping
lists them as ignored (``{"ignore:anything": "Column"}``).  A bad row is
reported with its number (the header is row 1) and the other rows go in;
missing columns stop the import before any row is read.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from desktop_crm.errors import InvalidInput
from desktop_crm.services.exporting.csv_export import unneutralise
from desktop_crm.services.importing import input_files
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
from desktop_crm.services.patients import MRN_SYSTEM
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
#: Synthea's columns that hold nothing we keep: not worth a warning.
SYNTHEA_UNUSED = (
    "MARITAL",
    "RACE",
    "ETHNICITY",
    "BIRTHPLACE",
    "FIPS",
    "LAT",
    "LON",
    "HEALTHCARE_EXPENSES",
    "HEALTHCARE_COVERAGE",
    "INCOME",
)
SYNTHEA_COLUMNS = frozenset(
    [*SYNTHEA_IDENTIFIERS, *SYNTHEA_FIELDS.values(), *SYNTHEA_UNUSED]
)
#: Columns of Synthea's (``Id`` aside) that make a file recognisably Synthea's.
SYNTHEA_RECOGNISED = 8

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
    "gender_identity": ("genderidentity",),
    "pronouns": ("pronouns",),
    "phone": ("phone", "phonenumber", "telephone", "tel", "homephone"),
    "mobile": ("mobile", "cell", "mobilephone", "cellphone"),
    "phones": ("phones", "phonenumbers"),
    "email": ("email", "emailaddress"),
    "emails": ("emails", "emailaddresses"),
    "line1": ("address", "address1", "addressline1", "street"),
    "line2": ("address2", "addressline2"),
    "address_lines": ("addressline", "addresslines"),
    "city": ("city", "town", "addresscity"),
    "district": ("county", "district", "addressdistrict"),
    "state": ("state", "province", "addressstate"),
    "postal_code": (
        "zip",
        "zipcode",
        "postalcode",
        "postcode",
        "addresspostalcode",
    ),
    "country": ("country", "addresscountry"),
    "language": ("language", "preferredlanguage"),
    "preferred_contact": ("preferredcontact", "preferredcontactmethod"),
    "deceased_date": ("deathdate", "dateofdeath", "deceaseddate"),
    "notes": ("notes", "note", "comments", "comment"),
    "identifiers": ("identifiers",),
    # Taken from our own export only: elsewhere a column of these names means
    # something of the other system's (its record id, its statuses).
    "status": (),
    "mrn": (),
    "record_id": (),
}
#: Columns of our own export: enough of them (with their exact names) and a
#: file is read as one, whatever else it has lost on the way.
OWN_EXPORT_MARKERS = ("mrn", "family", "identifiers")
#: Our own export's columns mapped to fields the guesser does not take.
OWN_EXPORT_ONLY = {"record_id": "id", "mrn": "mrn", "status": "status"}
#: Our own export's columns that hold nothing to import (a count of visits).
OWN_EXPORT_UNUSED = ("visits",)
IGNORE_PREFIX = "ignore:"
#: Separator of the several values one cell of our export may hold.
LIST_SEPARATOR = ";"
_ADDRESS = ("line1", "line2", "city", "district", "state", "postal_code", "country")
#: Field labels (as validation and the sink name them) and the fields whose
#: columns stand for them in a report, the first one mapped winning.
_MODEL_LABELS = {
    "family name": ("family",),
    "given name": ("given",),
    "middle name": ("middle",),
    "prefix": ("prefix",),
    "suffix": ("suffix",),
    "preferred name": ("preferred_name",),
    "previous name": ("previous_family",),
    "date of birth": ("birth_date",),
    "deceased date": ("deceased_date",),
    "status": ("status", "deceased_date"),
    "preferred contact": ("preferred_contact",),
    "phone": ("phone", "mobile", "phones"),
    "e-mail": ("email", "emails"),
    "notes": ("notes",),
}
_SEX = {"m": "male", "male": "male", "f": "female", "female": "female"}
_SEX.update({"u": "unknown", "unk": "unknown", "unknown": "unknown"})
_SEX["intersex"] = "intersex"
#: Labels of identifiers whose system we know, for the ``identifiers`` column.
_SYSTEM_LABELS = {MRN_SYSTEM: "MRN", **dict(SYNTHEA_IDENTIFIERS.values())}
_ISO_PARTIAL = re.compile(r"^\d{4}(-\d{2}(-\d{2})?)?$")
#: Settings key prefix of the column mappings saved per source.
MAPPING_PREFIX = "import.csv_mapping."
_MAPPING_NAME = re.compile(r"^[^\x00-\x1f\x7f]{1,60}$")
PREVIEW_ROWS = 5
_Getter = Callable[[str], str]


@dataclass
class Plan:
    """How the columns of one file map onto our fields."""

    columns: dict[str, int]
    identifiers: list[tuple[int, str, str]]
    labels: dict[str, str]
    #: Columns listed as ignored on purpose (by the mapping, or as known).
    ignored: list[int]
    #: Read as our own export: formula apostrophes are taken off each cell.
    own_export: bool = False

    def unused(self, header: list[str]) -> list[str]:
        """The headers of the columns nothing takes and nothing ignores."""
        used = {*self.columns.values(), *self.ignored}
        used.update(i for i, _system, _label in self.identifiers)
        return [
            name or f"column {number + 1} (no header)"
            for number, name in enumerate(header)
            if number not in used
        ]


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
    mapping.update({IGNORE_PREFIX + c: c for c in SYNTHEA_UNUSED if c in header})
    return mapping


def is_synthea(header: list[str]) -> bool:
    """Synthea's patients.csv: its first columns, or ``Id`` and most of the rest.

    A file that lost a required column is still Synthea's, so that it is
    refused naming the column instead of being guessed at without its
    identifiers.
    """
    if header[:2] == ["Id", "BIRTHDATE"]:
        return True
    known = SYNTHEA_COLUMNS.intersection(header) - {"Id"}
    return "Id" in header and len(known) >= SYNTHEA_RECOGNISED


def is_own_export(header: list[str]) -> bool:
    """The patient list as ``exporting.csv_export`` writes it."""
    return all(column in header for column in OWN_EXPORT_MARKERS)


def _own_export(header: list[str]) -> dict[str, str]:
    mapping = _guess(header)
    mapping.update({f: c for f, c in OWN_EXPORT_ONLY.items() if c in header})
    mapping.update({IGNORE_PREFIX + c: c for c in OWN_EXPORT_UNUSED if c in header})
    return mapping


def effective_mapping(
    header: list[str], mapping: dict[str, str] | None, file: str
) -> dict[str, str]:
    """The mapping given, or the one for Synthea, our export or a guess."""
    if mapping is None:
        if is_synthea(header):
            mapping = _synthea(header, file)
        elif is_own_export(header):
            mapping = _own_export(header)
        else:
            mapping = _guess(header)
        if "family" not in mapping:
            raise InvalidInput(
                file,
                "missing required column: no column for the family name "
                "(e.g. last_name; or give a column mapping)",
            )
    return mapping


def _unknown_fields(mapping: dict[str, str]) -> list[str]:
    return [
        f
        for f in mapping
        if f not in FIELDS
        and not f.startswith(IDENTIFIER_PREFIX)
        and not f.startswith(IGNORE_PREFIX)
    ]


def _labels(mapping: dict[str, str]) -> dict[str, str]:
    labels = {
        label: mapping[name]
        for label, names in _MODEL_LABELS.items()
        for name in reversed(names)
        if name in mapping
    }
    labels["identifier"] = mapping.get("identifiers", "identifier column")
    return labels


def plan(header: list[str], mapping: dict[str, str] | None, file: str) -> Plan:
    """Check the mapping against the header; raises naming missing columns."""
    mapping = effective_mapping(header, mapping, file)
    unknown = _unknown_fields(mapping)
    if unknown:
        raise InvalidInput("mapping", f"unknown field(s): {', '.join(unknown)}")
    if "family" not in mapping:
        raise InvalidInput("mapping", "map a column to 'family' (the family name)")
    missing = [
        c
        for f, c in mapping.items()
        if c not in header and not f.startswith(IGNORE_PREFIX)
    ]
    if missing:
        raise InvalidInput(file, f"missing required column(s): {', '.join(missing)}")
    index = {name: header.index(name) for name in header[::-1]}
    columns = {f: index[c] for f, c in mapping.items() if f in FIELDS}
    identifiers = [
        (
            index[c],
            f[len(IDENTIFIER_PREFIX) :],
            _SYSTEM_LABELS.get(f[len(IDENTIFIER_PREFIX) :], c),
        )
        for f, c in mapping.items()
        if f.startswith(IDENTIFIER_PREFIX)
    ]
    ignored = [
        index[c]
        for f, c in mapping.items()
        if f.startswith(IGNORE_PREFIX) and c in index
    ]
    return Plan(columns, identifiers, _labels(mapping), ignored, is_own_export(header))


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
    unknown = _unknown_fields(checked)
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
    #: The product's own patient-list export: read as such, no mapping asked.
    own_export: bool = False


def preview_csv(
    path: Path, encoding: str | None = None, rows: int = PREVIEW_ROWS
) -> CsvPreview:
    """Header, first ``rows`` rows, detected (or given) encoding and a guess.

    Raises:
        InvalidInput: no such file, an unknown encoding, or no header row.
    """
    path = _csv_file(path)
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
    return CsvPreview(
        codec,
        header,
        shown,
        is_synthea(header),
        _guess(header),
        own_export=not is_synthea(header) and is_own_export(header),
    )


def _csv_file(path: Path) -> Path:
    path = Path(path)
    problem = input_files.unreadable(path)
    if problem == "is a folder":
        raise InvalidInput(path.name, "is a folder, not a CSV file")
    if problem == input_files.MISSING:
        raise InvalidInput(path.name, "no such file")
    if problem:
        raise InvalidInput(path.name, problem)
    return path


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


def _items(cell: str) -> list[str]:
    """The values of a cell that holds several (``a; b``), in order."""
    return [item.strip() for item in cell.split(LIST_SEPARATOR) if item.strip()]


def _listed_identifier(item: str) -> Identifier:
    """One ``system|value`` item of our export's ``identifiers`` column."""
    system, bar, value = item.partition("|")
    if not bar:
        return Identifier("", item)
    system = system.strip()
    return Identifier(system, value.strip(), _SYSTEM_LABELS.get(system, ""))


def _address(get: _Getter) -> dict[str, str]:
    address = {k: get(k) for k in _ADDRESS if get(k)}
    lines = _items(get("address_lines"))
    if lines and "line1" not in address:
        address["line1"] = lines[0]
        if len(lines) > 1 and "line2" not in address:
            address["line2"] = "; ".join(lines[1:])
    return address


def _identifiers(plan: Plan, values: list[str], get: _Getter) -> list[Identifier]:
    found = [
        Identifier(system, values[i].strip(), label)
        for i, system, label in plan.identifiers
        if values[i].strip()
    ]
    found += [_listed_identifier(item) for item in _items(get("identifiers"))]
    if get("mrn"):
        found.append(Identifier(MRN_SYSTEM, get("mrn"), "MRN"))
    return found


def _status(get: _Getter, deceased: str | None) -> str:
    given = get("status").lower()
    if given:
        return given
    return "deceased" if deceased else "active"


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
    phones += [ContactPoint(value) for value in _items(get("phones"))]
    emails = [ContactPoint(get("email"))] if get("email") else []
    emails += [ContactPoint(value) for value in _items(get("emails"))]
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
        gender_identity=get("gender_identity"),
        pronouns=get("pronouns"),
        phones=tuple(phones),
        emails=tuple(emails),
        address=_address(get),
        language=get("language"),
        preferred_contact=get("preferred_contact").lower(),
        identifiers=tuple(_identifiers(plan, values, get)),
        status=_status(get, deceased),
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
    #: Rows whose MRN another vault issued (left out; see ``_own_mrns``).
    foreign_mrns: int = 0

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
        values = row.values
        if self.plan.own_export:
            values = [unneutralise(v) for v in values]
        try:
            candidate = row_patient(self.plan, values)
        except InvalidInput as exc:
            shown = self.sink.label(exc.field)
            self.report.reject(
                where.file, where.entry, safe_reason(exc.field, shown, exc.problem)
            )
            return
        self.sink.store(self._own_mrns(candidate, values), where)

    def warn_unused(self) -> None:
        """One warning naming the columns nothing imports (headers only)."""
        unused = self.plan.unused(self.header)
        if unused:
            self.report.warn(
                self.file,
                "header",
                f"column(s) not imported: {', '.join(unused)} (map them to a "
                'field, or list them in a mapping as "ignore:..." to leave them '
                "out)",
            )

    def warn_foreign_mrns(self) -> None:
        if self.foreign_mrns:
            self.report.warn(
                self.file,
                "MRN",
                f"{self.foreign_mrns} row(s) carry an MRN another vault issued; "
                "it is left out (this vault numbers its own patients), the other "
                "identifiers are kept",
            )

    def _own_mrns(self, candidate: Patient, values: list[str]) -> Patient:
        """``candidate`` keeping only the MRNs this vault gave to this record.

        An MRN in the file is kept as the key that finds the same record
        again (our own export read back, or a synced copy's).  Any other is
        another vault's numbering: it could name someone else here, or the
        next patient this vault numbers.
        """
        mrns = [i for i in candidate.identifiers if i.system == MRN_SYSTEM]
        if not mrns:
            return candidate
        column = self.plan.columns.get("record_id")
        record = values[column].strip() if column is not None else ""
        db = self.sink.session.database()
        foreign = {
            i
            for i in mrns
            if not record
            or patient_queries.patient_by_identifier(db, MRN_SYSTEM, i.value.strip())
            != record
        }
        if not foreign:
            return candidate
        self.foreign_mrns += 1
        kept = tuple(i for i in candidate.identifiers if i not in foreign)
        return replace(candidate, identifiers=kept)

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
    path = _csv_file(path)
    file = str(path)
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
    run.warn_unused()
    total = path.stat().st_size
    with session.batch(COMMIT_GROUP_SECONDS):
        for row in rows:
            if cancel is not None and cancel():
                report.cancelled = True
                break
            run.row(row)
            if progress is not None:
                progress(min(source.bytes_read, total), total)
    run.warn_foreign_mrns()
    log.info(
        "CSV import: %d patients, %d unchanged, %d rejected",
        report.patients,
        report.unchanged,
        len(report.rejected),
    )
    return report
