"""Where imported patients land: validate, match on identifiers, create or fill.

Shared by the FHIR and CSV importers.  Each patient is one write-path
transaction (the record with its identifiers).  A patient that matches an
existing one on any identifier (system and value) is never duplicated: it
only fills fields the existing record lacks, so importing the same data twice
changes nothing.  A row with no identifier at all (a plain spreadsheet) is
the same patient as an existing record with exactly the same name and birth
date, so importing such a file twice changes nothing either.  A new patient
that merely looks like an existing one is still created and flagged for
review; import never merges.  An identifier that already belongs to someone
with another birth date, or with no name in common, is two people sharing
one identifier in the source: that patient is rejected, not filled in.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime

from desktop_crm.errors import InvalidInput
from desktop_crm.services import patients
from desktop_crm.services.importing.report import ImportReport
from desktop_crm.services.patient_model import (
    ContactPoint,
    Identifier,
    Patient,
    normalise_email,
    normalise_phone,
    validate,
)
from desktop_crm.services.session import Session
from desktop_crm.storage import folding, patient_queries
from desktop_crm.storage.database import TakenMeanwhile
from desktop_crm.storage.patient_index import PatientSummary

log = logging.getLogger(__name__)

ACTION = "patient.import"
#: Validation messages about these fields may quote the offending value (a
#: date is not identifying on its own); any other quoted value is dropped.
_DATE_LABELS = frozenset({"date of birth", "deceased date"})
_QUOTED = re.compile(r"'[^']*'")


def safe_reason(model_label: str, shown_label: str, problem: str) -> str:
    """A rejection reason that names the field and never quotes its content.

    ``model_label`` is the record's name for the field (as validation
    raises it); ``shown_label`` is the source's name for it.
    """
    if model_label in _DATE_LABELS:
        return f"{shown_label}: {problem}"
    return f"{shown_label}: {_QUOTED.sub('the value', problem)}"


@dataclass
class Where:
    """The file and entry an imported item came from, for the report."""

    file: str
    entry: str


@dataclass
class PatientSink:
    """Stores imported patients for one run and keeps its report up to date.

    ``labels`` maps the record's field labels (as validation names them) to
    the source's own field names (FHIR paths, CSV columns).
    """

    session: Session
    report: ImportReport
    labels: dict[str, str]
    dry_run: bool = False
    _seen: dict[tuple[str, str], str] = field(default_factory=dict)
    #: In a dry run, the patients it would have created, by their dry-run id.
    _planned: dict[str, Patient] = field(default_factory=dict)
    _count: int = 0

    def label(self, model_label: str) -> str:
        return self.labels.get(model_label, model_label)

    def _reject(self, exc: InvalidInput, where: Where) -> None:
        reason = safe_reason(exc.field, self.label(exc.field), exc.problem)
        self.report.reject(where.file, where.entry, reason)

    def store(self, candidate: Patient, where: Where) -> str | None:
        """Import one patient; returns its id (existing or new), None if rejected."""
        clean = self._validated(candidate, where)
        if clean is None:
            return None
        for attempt in (1, 2):
            owner, identifiers = self._match(clean.identifiers, where)
            matched = replace(clean, identifiers=identifiers)
            try:
                if owner is not None:
                    return self._fill(owner, matched, where)
                return self._create(matched, where)
            except (InvalidInput, TakenMeanwhile) as exc:
                # Another import may have stored one of these identifiers
                # between our lookup and our write: look again once, it now
                # has an owner.
                if attempt == 1 and _identifier_clash(exc):
                    continue
                if isinstance(exc, TakenMeanwhile):
                    raise
                self._reject(exc, where)
                return None
        return None  # pragma: no cover - the loop returns or raises

    # -- validation --------------------------------------------------------------

    def _validated(self, candidate: Patient, where: Where) -> Patient | None:
        candidate = replace(
            candidate,
            phones=self._usable(candidate.phones, "phone", where),
            emails=self._usable(candidate.emails, "e-mail", where),
            identifiers=self._usable_identifiers(candidate.identifiers, where),
        )
        try:
            return validate(candidate, today=datetime.now(UTC).date())
        except InvalidInput as exc:
            self._reject(exc, where)
            return None

    def _usable(
        self, points: tuple[ContactPoint, ...], kind: str, where: Where
    ) -> tuple[ContactPoint, ...]:
        kept: list[ContactPoint] = []
        for point in points:
            try:
                if kind == "phone":
                    normalise_phone(point.value, kind)
                else:
                    normalise_email(point.value, kind)
            except InvalidInput:
                self.report.warn(
                    where.file,
                    where.entry,
                    f"{self.label(kind)}: not a usable {kind}; left out",
                )
                continue
            if point.value not in {p.value for p in kept}:
                kept.append(point)
        return tuple(kept)

    def _usable_identifiers(
        self, identifiers: tuple[Identifier, ...], where: Where
    ) -> tuple[Identifier, ...]:
        kept: dict[tuple[str, str], Identifier] = {}
        for ident in identifiers:
            if not ident.system.strip() or not ident.value.strip():
                self.report.warn(
                    where.file,
                    where.entry,
                    f"{self.label('identifier')}: needs both a system and a value; "
                    "left out",
                )
                continue
            kept.setdefault((ident.system.strip(), ident.value.strip()), ident)
        return tuple(kept.values())

    # -- matching ------------------------------------------------------------------

    def _owner(self, ident: Identifier) -> str | None:
        db = self.session.database()
        found = patient_queries.patient_by_identifier(db, ident.system, ident.value)
        return found or self._seen.get((ident.system, ident.value))

    def _match(
        self, identifiers: tuple[Identifier, ...], where: Where
    ) -> tuple[str | None, tuple[Identifier, ...]]:
        """The existing patient holding any of these identifiers, if one does.

        Identifiers held by a second, different patient are left out (with a
        warning) so that no identifier ever moves between patients.
        """
        owner: str | None = None
        kept = []
        for ident in identifiers:
            found = self._owner(ident)
            if found is not None and owner is not None and found != owner:
                self.report.warn(
                    where.file,
                    where.entry,
                    f"{self.label('identifier')}: a {ident.system} identifier "
                    "belongs to another patient; left out",
                )
                continue
            owner = owner or found
            kept.append(ident)
        return owner, tuple(kept)

    # -- writing -------------------------------------------------------------------

    def _create(self, clean: Patient, where: Where) -> str | None:
        if not clean.identifiers and not self.dry_run:
            # Matched on name and birth date alone: another import must not
            # create the same person between this check and our write.
            self.session.database().hold_write()
        candidates = patients.find_duplicates(self.session, clean)
        if not clean.identifiers:
            same = [c.patient.id for c in candidates if _same_person(c.patient, clean)]
            if same:
                return self._fill(same[0], clean, where)
        if self.dry_run:
            self._count += 1
            patient_id = f"dry-run:{self._count}"
        else:
            patient_id = patients.create_patient(
                self.session, clean, allow_duplicates=True, action=ACTION
            )
        for ident in clean.identifiers:
            self._seen[(ident.system, ident.value)] = patient_id
        if self.dry_run:
            self._planned[patient_id] = clean
        self.report.patients += 1
        self.report.duplicates += [(patient_id, c.patient.id) for c in candidates]
        return patient_id

    def _fill(self, owner: str, clean: Patient, where: Where) -> str | None:
        planned = self._planned.get(owner)
        existing = planned or patients.load_patient(self.session, owner)
        if not _plausibly_same(existing, clean):
            self.report.reject(
                where.file,
                where.entry,
                f"{self.label('identifier')}: already belongs to a patient with "
                "another birth date or name, so it cannot be this one; not "
                "imported (one identifier for two people in the source?)",
            )
            return None
        if owner.startswith("dry-run:"):
            self.report.unchanged += 1
            return owner
        filled = fill_in(existing, clean)
        if filled == existing:
            self.report.unchanged += 1
            return owner
        if not self.dry_run:
            changed = patients.update_patient(self.session, owner, filled)
            if not changed:
                self.report.unchanged += 1
                return owner
            log.info("patient %s updated by import", owner)
        self.report.updated += 1
        return owner


def _identifier_clash(exc: InvalidInput | TakenMeanwhile) -> bool:
    if isinstance(exc, TakenMeanwhile):
        return exc.column.startswith("patient_identifiers.")
    return exc.field == "identifier"


def _name_tokens(patient: Patient) -> set[str]:
    names = [patient.family, patient.given, patient.preferred_name]
    names += [n.family for n in patient.previous_names]
    return {token for name in names for token in folding.name_tokens(name)}


def _plausibly_same(existing: Patient, incoming: Patient) -> bool:
    """False when an identifier match cannot be the same person.

    Both birth dates known and different, or no name in common (a name
    changed at marriage still shares the given name).
    """
    if existing.birth_date and incoming.birth_date:
        if existing.birth_date != incoming.birth_date:
            return False
    mine, theirs = _name_tokens(existing), _name_tokens(incoming)
    return not (mine and theirs) or bool(mine & theirs)


def _same_person(found: PatientSummary, incoming: Patient) -> bool:
    """An existing record with exactly this name and birth date (folded)."""
    return (
        bool(incoming.birth_date)
        and found.birth_date == incoming.birth_date
        and folding.fold(found.family) == folding.fold(incoming.family)
        and folding.fold(found.given) == folding.fold(incoming.given)
    )


_TEXT_FIELDS = (
    "given",
    "middle",
    "prefix",
    "suffix",
    "preferred_name",
    "sex_at_birth",
    "gender_identity",
    "pronouns",
    "language",
    "timezone",
)
_OTHER_FIELDS = (
    "previous_names",
    "birth_date",
    "phones",
    "emails",
    "address",
    "emergency_contact",
    "insurance",
)


def fill_in(existing: Patient, incoming: Patient) -> Patient:
    """``existing`` with the fields it lacks taken from ``incoming``.

    Nothing already recorded is overwritten (staff may have corrected it);
    identifiers are added; a death is recorded if the record lacks one.
    """
    changes: dict[str, object] = {}
    for name in (*_TEXT_FIELDS, *_OTHER_FIELDS):
        if not getattr(existing, name) and getattr(incoming, name):
            changes[name] = getattr(incoming, name)
    have = {(i.system, i.value) for i in existing.identifiers}
    new_ids = [i for i in incoming.identifiers if (i.system, i.value) not in have]
    if new_ids:
        changes["identifiers"] = (*existing.identifiers, *new_ids)
    if incoming.status == "deceased" and existing.status != "deceased":
        changes["status"] = "deceased"
    if incoming.deceased_date and not existing.deceased_date:
        changes["status"] = "deceased"
        changes["deceased_date"] = incoming.deceased_date
    return replace(existing, **changes) if changes else existing  # type: ignore[arg-type]
