"""FHIR R4 import: files or folders of Bundles, single resources and NDJSON.

Patients become patient records, Practitioners join the providers list and the
Encounters of imported patients become past visits; Appointments and
Communications are placed at the end of the run (see ``fhir_schedule``).
Each patient is its own transaction, so a transaction Bundle is not
all-or-nothing here.  Other resource types, and JSON that is not FHIR, are
counted as skipped.  NDJSON is read line by line, so memory stays bounded
however large the file.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from desktop_crm.errors import InvalidInput
from desktop_crm.services import providers
from desktop_crm.services.importing import fhir_patient as fp
from desktop_crm.services.importing import input_files, json_input
from desktop_crm.services.importing.fhir_schedule import ScheduleImport
from desktop_crm.services.importing.patient_sink import PatientSink, Where
from desktop_crm.services.importing.report import (
    COMMIT_GROUP_SECONDS,
    Cancel,
    ImportReport,
    Progress,
)
from desktop_crm.services.importing.visits import VisitDraft, VisitWriter
from desktop_crm.services.session import Session
from desktop_crm.storage import patient_queries

log = logging.getLogger(__name__)

JSON_SUFFIXES = (".json",)
NDJSON_SUFFIXES = (".ndjson", ".jsonl")
#: Within a Bundle, practitioners go first, then patients, then encounters,
#: so references inside the Bundle resolve whatever the entry order.
_PHASE = {
    "Practitioner": 0,
    "Patient": 1,
    "Encounter": 2,
    "Appointment": 3,
    "Communication": 3,
}


class Cancelled(Exception):
    """The caller asked the run to stop (raised between patients)."""


@dataclass
class _Entry:
    """One resource of a file, with where it came from."""

    where: Where
    full_url: str
    resource: dict[str, Any]


@dataclass
class FhirRun:
    """State of one FHIR import run: report, references seen so far, writers."""

    session: Session
    report: ImportReport
    dry_run: bool
    progress: Progress | None
    cancel: Cancel | None
    total: int = 0
    done: int = 0
    patients: PatientSink = field(init=False)
    visits: VisitWriter = field(init=False)
    schedule: ScheduleImport = field(init=False)
    patient_refs: dict[str, str] = field(default_factory=dict)
    provider_refs: dict[str, str] = field(default_factory=dict)
    deferred: list[VisitDraft] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.patients = PatientSink(self.session, self.report, fp.LABELS, self.dry_run)
        self.visits = VisitWriter(
            self.session, self.report, self.resolve_provider, self.dry_run
        )
        self.schedule = ScheduleImport(self.session, self.report, self.dry_run)

    # -- files --------------------------------------------------------------------

    def run(self, files: list[Path], skipped_files: int) -> None:
        self.report.skipped += skipped_files
        self.total = sum(input_files.size(f) for f in files)
        try:
            for path in files:
                self._file(path)
        except Cancelled:
            self.report.cancelled = True
            self.visits.flush()
            log.info("FHIR import cancelled")
            return
        self._finish()

    def _file(self, path: Path) -> None:
        start = self.done
        problem = input_files.unreadable(path)
        if problem:
            # Gone since the run began, or a FIFO or device that a read
            # would wait on forever.
            self.report.reject(str(path), "file", problem)
        elif path.suffix.lower() in NDJSON_SUFFIXES:
            self._ndjson(path)
        else:
            self._json(path)
        self.visits.flush()
        self.done = start + input_files.size(path)
        self._tick()

    def _json(self, path: Path) -> None:
        name = str(path)
        try:
            raw = path.read_bytes()
        except OSError as exc:
            self.report.reject(name, "file", f"cannot be read ({exc.strerror})")
            return
        if not raw.strip():
            self.report.reject(name, "file", "the file is empty")
            return
        try:
            data = json_input.parse(raw)
        except json_input.NotJSON as exc:
            self.report.reject(name, "file", exc.reason)
            return
        del raw
        if not _is_resource(data):
            self.report.skipped += 1
            self.report.warn(name, "file", "not a FHIR resource (no resourceType)")
            return
        if data["resourceType"] == "Bundle":
            self._bundle(name, data, (self.done, input_files.size(path)))
        else:
            self._entries([_Entry(Where(name, fp.resource_label(data)), "", data)])

    def _ndjson(self, path: Path) -> None:
        name = str(path)
        file_start = self.done
        try:
            stream = path.open("rb")
        except OSError as exc:
            self.report.reject(name, "file", f"cannot be read ({exc.strerror})")
            return
        with stream:
            for number, line in enumerate(stream, 1):
                self.done = file_start + stream.tell()
                if not line.strip():
                    continue
                entry = self._ndjson_entry(name, number, line)
                if entry is None:
                    continue
                if entry.resource["resourceType"] == "Bundle":
                    self._bundle(name, entry.resource, None)
                else:
                    self._entries([entry])

    def _ndjson_entry(self, name: str, number: int, line: bytes) -> _Entry | None:
        try:
            data = json_input.parse(line)
        except json_input.NotJSON:
            self.report.reject(name, f"line {number}", "not valid JSON")
            return None
        if not _is_resource(data):
            self.report.skipped += 1
            return None
        label = f"line {number} ({fp.resource_label(data)})"
        return _Entry(Where(name, label), "", data)

    def _bundle(
        self, name: str, bundle: dict[str, Any], span: tuple[int, int] | None
    ) -> None:
        entries = []
        for index, item in enumerate(fp.dicts(bundle.get("entry")), 1):
            resource = fp.obj(item.get("resource"))
            if not _is_resource(resource) or resource["resourceType"] not in _PHASE:
                # Most of a Synthea bundle (observations, claims, ...): counted
                # here, before any label or entry is made for it.
                self.report.skipped += 1
                continue
            label = f"entry {index} ({fp.resource_label(resource)})"
            entries.append(
                _Entry(Where(name, label), fp.text(item.get("fullUrl")), resource)
            )
        entries.sort(key=lambda e: _PHASE[e.resource["resourceType"]])
        self._entries(entries, span)

    # -- resources ----------------------------------------------------------------

    def _entries(
        self, entries: list[_Entry], span: tuple[int, int] | None = None
    ) -> None:
        """Import entries in order; ``span`` is (first byte, size) of their file."""
        for index, entry in enumerate(entries, 1):
            if self.cancel is not None and self.cancel():
                raise Cancelled
            if span is not None:
                self.done = span[0] + span[1] * index // len(entries)
            kind = entry.resource["resourceType"]
            if kind == "Patient":
                self._patient(entry)
            elif kind == "Practitioner":
                self._practitioner(entry)
            elif kind == "Encounter":
                self._encounter(entry)
            elif kind in ("Appointment", "Communication"):
                key = entry.full_url or fp.resource_label(entry.resource)
                self.schedule.add(entry.where, key, entry.resource)
            else:
                self.report.skipped += 1
            self._tick()

    def _tick(self) -> None:
        if self.progress is not None:
            self.progress(min(self.done, self.total), self.total)

    def _keys(self, entry: _Entry) -> list[str]:
        keys = [fp.resource_label(entry.resource)] if entry.resource.get("id") else []
        return keys + ([entry.full_url] if entry.full_url else [])

    def _patient(self, entry: _Entry) -> None:
        try:
            candidate = fp.patient_from_fhir(entry.resource, entry.full_url)
        except InvalidInput as exc:
            self.report.reject(entry.where.file, entry.where.entry, exc.message)
            return
        patient_id = self.patients.store(candidate, entry.where)
        if patient_id is not None:
            for key in self._keys(entry):
                self.patient_refs[key] = patient_id

    def _practitioner(self, entry: _Entry) -> None:
        found = fp.practitioner_from_fhir(
            entry.resource, entry.full_url, providers.NPI_SYSTEM
        )
        try:
            provider_id, created = providers.upsert_practitioner(
                self.session,
                found.family,
                found.given,
                found.display,
                found.npi,
                found.identifiers,
                "",
                dry_run=self.dry_run,
            )
        except InvalidInput as exc:
            self.report.reject(entry.where.file, entry.where.entry, exc.message)
            return
        self.report.practitioners += int(created)
        for key in self._keys(entry):
            self.provider_refs[key] = provider_id
        for system, value in found.identifiers:
            self.provider_refs[f"Practitioner?identifier={system}|{value}"] = (
                provider_id
            )

    def _encounter(self, entry: _Entry) -> None:
        resource = entry.resource
        subject = resource.get("subject")
        subject_ref = (
            fp.text(subject.get("reference")) if isinstance(subject, dict) else ""
        )
        key = entry.full_url or fp.resource_label(resource)
        if not subject_ref or not (entry.full_url or resource.get("id")):
            self.report.skipped += 1
            self.report.warn(
                entry.where.file, entry.where.entry, "subject: no patient reference"
            )
            return
        provider_ref, provider_display = fp.encounter_provider(resource)
        draft = VisitDraft(
            file=entry.where.file,
            entry=entry.where.entry,
            source_key=f"fhir:{key}",
            subject_ref=subject_ref,
            provider_ref=provider_ref,
            provider_display=provider_display,
            **fp.encounter_fields(resource),
        )
        patient_id = self.resolve_patient(subject_ref)
        if patient_id is None:
            self.deferred.append(draft)
        else:
            self.visits.add(patient_id, draft)

    def _finish(self) -> None:
        self.visits.flush()
        for draft in self.deferred:
            patient_id = self.resolve_patient(draft.subject_ref)
            if patient_id is None:
                self.report.skipped += 1
                self.report.warn(
                    draft.file,
                    draft.entry,
                    f"subject: {draft.subject_ref} is not an imported patient; "
                    "encounter left out",
                )
            else:
                self.visits.add(patient_id, draft)
        self.deferred = []
        self.visits.finish()
        self.schedule.finish(self.resolve_patient, self.resolve_provider)

    # -- references ---------------------------------------------------------------

    def resolve_patient(self, ref: str) -> str | None:
        if ref in self.patient_refs:
            return self.patient_refs[ref]
        pair = _conditional(ref, "Patient")
        if pair is None:
            return None
        db = self.session.database()
        return patient_queries.patient_by_identifier(db, *pair)

    def resolve_provider(self, ref: str) -> str | None:
        if ref in self.provider_refs:
            return self.provider_refs[ref]
        pair = _conditional(ref, "Practitioner")
        if pair is None:
            return None
        found = providers.find_by_identifier(self.session, *pair)
        if found is not None:
            self.provider_refs[ref] = found
        return found


def _conditional(ref: str, kind: str) -> tuple[str, str] | None:
    """(system, value) of ``Kind?identifier=system|value``, else None."""
    prefix = f"{kind}?identifier="
    if not ref.startswith(prefix):
        return None
    system, bar, value = unquote(ref[len(prefix) :]).partition("|")
    return (system, value) if bar and system and value else None


def _is_resource(data: Any) -> bool:
    return isinstance(data, dict) and isinstance(data.get("resourceType"), str)


@dataclass
class Collected:
    """What the paths given to an import hold."""

    files: list[Path] = field(default_factory=list)
    #: Files passed over (not .json or .ndjson).
    others: int = 0
    #: Folders that could not be listed, with the reason.
    unreadable: list[tuple[Path, str]] = field(default_factory=list)


def collect_files(paths: list[Path]) -> Collected:
    """The JSON and NDJSON files under ``paths`` (folders searched recursively).

    A folder that cannot be listed (no permission) is named in
    ``unreadable`` rather than passed over in silence.
    """
    found = Collected()

    def unreadable(error: OSError) -> None:
        found.unreadable.append((Path(error.filename), error.strerror or "error"))

    for path in paths:
        if not input_files.is_dir(path):
            found.files.append(path)  # read (or reported) file by file
            continue
        inside = []
        for folder, subfolders, names in os.walk(path, onerror=unreadable):
            subfolders.sort()
            inside += [Path(folder) / name for name in names]
        for child in sorted(inside):
            if not child.is_file():
                found.others += 1  # a FIFO, a socket, a broken link
                continue
            if child.suffix.lower() in JSON_SUFFIXES + NDJSON_SUFFIXES:
                found.files.append(child)
            else:
                found.others += 1
    return found


def import_fhir(
    session: Session,
    paths: list[Path],
    *,
    dry_run: bool = False,
    progress: Progress | None = None,
    cancel: Cancel | None = None,
) -> ImportReport:
    """Import FHIR R4 files or folders; see the module docstring.

    ``progress(done, total)`` counts bytes of input (known up front for every
    file); it and ``cancel()`` are called for every entry of an imported
    type.  A cancelled run stops before the next patient: what was written
    stays, and
    ``report.cancelled`` says so.

    Raises:
        NotPermitted: the user lacks ``patients.import``.
    """
    session.require("patients.import")
    report = ImportReport(dry_run=dry_run)
    collected = collect_files(paths)
    files, others = collected.files, collected.others
    for folder, why in collected.unreadable:
        report.reject(str(folder), "folder", f"cannot be read ({why})")
    with session.batch(COMMIT_GROUP_SECONDS):
        # A file missing, unreadable or not a regular file is reported when
        # its turn comes (it may also vanish while the run goes on).
        FhirRun(session, report, dry_run, progress, cancel).run(files, others)
    log.info(
        "FHIR import: %d patients, %d practitioners, %d encounters, %d rejected",
        report.patients,
        report.practitioners,
        report.encounters,
        len(report.rejected),
    )
    return report
