"""Patient use cases: create, edit, open (audited), search, duplicates, merge.

Every change goes through the session's single write path; opening a
record writes an audit entry, searching does not.
"""

from __future__ import annotations

import json
import logging
import uuid
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime
from typing import Any

from desktop_crm.errors import CRMError, InvalidInput
from desktop_crm.services.patient_model import (
    ContactPoint,
    HumanName,
    Identifier,
    Patient,
    parse_typed_date,
    parse_typed_month,
    validate,
)
from desktop_crm.services.session import Session
from desktop_crm.storage import folding, patient_index, patient_queries

# A merge moves scheduling rows too: their tables must be known to the write
# path even where no scheduling screen or command was loaded.
from desktop_crm.storage import schedule_queries as _schedule_tables  # noqa: F401
from desktop_crm.storage.database import TakenMeanwhile
from desktop_crm.storage.patient_index import PatientSummary
from desktop_crm.storage.writepath import AuditEvent, Mutation

log = logging.getLogger(__name__)

MRN_SYSTEM = "urn:desktop-crm:mrn"
SEARCH_LIMIT = 200
#: Tries to number a new patient when other processes take the MRN first.
MRN_ATTEMPTS = 5
#: Likely duplicates listed for one patient, at most (a screen's worth).
DUPLICATE_LIMIT = 20
#: A practice has a handful of patients per birth date, compared by name one
#: by one.  Past this many (a file of test patients all born on one day), the
#: search index picks the namesakes among them instead, so an import of such
#: a file does not grow quadratic.
FEW_BORN = 50
#: Namesakes born the same day compared, at most (all of them, in practice).
NAMESAKE_SCAN = 1_000


class PatientNotFound(CRMError):
    """No patient with that id."""

    def __init__(self) -> None:
        super().__init__("no patient with that id")


@dataclass(frozen=True)
class DuplicateCandidate:
    """An existing patient that looks like the one being entered, and why."""

    patient: PatientSummary
    reasons: tuple[str, ...]


class DuplicatesFound(CRMError):
    """Likely duplicates exist; the caller shows them before saving."""

    def __init__(self, candidates: list[DuplicateCandidate]) -> None:
        super().__init__(f"{len(candidates)} existing patient(s) look like this one")
        self.candidates = candidates


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _today() -> date:
    return datetime.now(UTC).date()


def _identifier_id(system: str, value: str) -> str:
    return f"{system}|{value}"


# -- reading ---------------------------------------------------------------


def _from_row(
    row: dict[str, Any], identifiers: list[tuple[str, str, str, str]]
) -> Patient:
    def load(name: str, default: Any) -> Any:
        try:
            return json.loads(row[name] or "null") or default
        except ValueError:
            return default

    return Patient(
        id=row["id"],
        mrn=row["mrn"],
        status=row["status"] if row["status"] != "merged" else "inactive",
        deceased_date=row["deceased_date"],
        family=row["family"],
        given=row["given"],
        middle=row["middle"],
        prefix=row["prefix"],
        suffix=row["suffix"],
        preferred_name=row["preferred_name"],
        previous_names=tuple(HumanName(**n) for n in load("previous_names", [])),
        birth_date=row["birth_date"],
        sex_at_birth=row["sex_at_birth"],
        gender_identity=row["gender_identity"],
        pronouns=row["pronouns"],
        phones=tuple(ContactPoint(**p) for p in load("phones", [])),
        emails=tuple(ContactPoint(**e) for e in load("emails", [])),
        address=load("address", {}),
        language=row["language"],
        preferred_contact=row["preferred_contact"],
        emergency_contact=load("emergency_contact", {}),
        insurance=load("insurance", {}),
        identifiers=tuple(Identifier(s, v, lbl) for _, s, v, lbl in identifiers),
        timezone=row["timezone"],
        notes=row["notes"],
    )


def load_patient(session: Session, patient_id: str) -> Patient:
    """Read a patient without an audit entry (for services that audit themselves)."""
    db = session.database()
    row = patient_queries.patient_row(db, patient_id)
    if row is None:
        raise PatientNotFound
    return _from_row(row, patient_queries.identifiers(db, patient_id))


def open_patient(session: Session, patient_id: str) -> Patient:
    """Open a record for viewing; writes a ``patient.view`` audit entry."""
    session.require("patients.read", patient_id)
    patient = load_patient(session, patient_id)
    session.write(AuditEvent("patient.view", "patient", patient_id))
    return patient


def merged_into(session: Session, patient_id: str) -> str | None:
    row = patient_queries.patient_row(session.database(), patient_id)
    return None if row is None else row["merged_into"]


def count(session: Session) -> int:
    session.require("patients.read")
    return patient_index.count_patients(session.database())


def page(session: Session, offset: int, limit: int) -> list[PatientSummary]:
    session.require("patients.read")
    return patient_index.page(session.database(), offset, limit)


def search(
    session: Session, query: str, limit: int = SEARCH_LIMIT
) -> list[PatientSummary]:
    """Search as you type: names, date of birth, phone, e-mail, identifiers.

    Not audited per keystroke (opening a record is).  Whole-word name
    matches rank before prefix matches.
    """
    session.require("patients.read")
    db = session.database()
    text = query.strip()
    if not text:
        return []
    as_date = parse_typed_date(text)
    if as_date:
        return patient_index.by_birth_date(db, as_date, limit)
    as_month = parse_typed_month(text)
    if as_month:
        return patient_index.by_birth_month(db, as_month, limit)
    results: dict[str, PatientSummary] = {}

    def add(found: list[PatientSummary]) -> None:
        for item in found:
            results.setdefault(item.id, item)

    phone_digits = folding.digits(text)
    if "@" in text:
        add(patient_index.search_column(db, "emails", text, limit))
    elif len(phone_digits) >= 4 and len(phone_digits) >= len(text.replace(" ", "")) - 4:
        add(patient_index.search_column(db, "phones", phone_digits, limit))
        add(patient_index.search_column(db, "identifiers", text, limit))
    else:
        add(patient_index.search_names(db, folding.query_tokens(text), limit))
        if len(results) < limit:
            add(patient_index.search_column(db, "identifiers", text, limit))
    return list(results.values())[:limit]


# -- duplicates --------------------------------------------------------------


def _name_sets(family: str, given: str) -> tuple[set[str], set[str]]:
    return set(folding.name_tokens(family)), set(folding.name_tokens(given))


def _similar_by_birth(db: Any, patient: Patient) -> list[str]:
    if not patient.birth_date:
        return []
    family, given = _name_sets(patient.family, patient.given)
    similar = []
    born = patient_queries.names_with_birth_date(db, patient.birth_date, FEW_BORN + 1)
    if len(born) > FEW_BORN:
        born = patient_index.namesakes_born(
            db, sorted(family), patient.birth_date, NAMESAKE_SCAN
        )
    for other_id, other_family_name, other_given_name in born:
        other_family, other_given = _name_sets(other_family_name, other_given_name)
        if family & other_family and given & other_given:
            similar.append(other_id)
            if len(similar) > DUPLICATE_LIMIT:
                break
    return similar


def _same_contact(db: Any, patient: Patient) -> list[tuple[str, str]]:
    found: list[tuple[str, str]] = []
    for phone in patient.phones:
        digits = folding.digits(phone.value)
        national = (
            digits[1:] if len(digits) == 11 and digits.startswith("1") else digits
        )
        found += [
            (p.id, "same phone")
            for p in patient_index.search_column(db, "phones", national, 20)
        ]
    for email in patient.emails:
        found += [
            (p.id, "same e-mail")
            for p in patient_index.search_column(db, "emails", email.value, 20)
        ]
    for ident in patient.identifiers:
        owner = patient_queries.patient_by_identifier(db, ident.system, ident.value)
        if owner:
            found.append((owner, "same identifier"))
    return found


def find_duplicates(session: Session, patient: Patient) -> list[DuplicateCandidate]:
    """Likely duplicates: same birth date and a similar name, or the same phone,
    e-mail or identifier; at most ``DUPLICATE_LIMIT``.  Never merges anything."""
    db = session.database()
    reasons: dict[str, list[str]] = {}
    for other_id in _similar_by_birth(db, patient):
        reasons.setdefault(other_id, []).append("same birth date and similar name")
    for other_id, reason in _same_contact(db, patient):
        reasons.setdefault(other_id, []).append(reason)
    reasons.pop(patient.id, None)
    out = []
    for other_id, why in list(reasons.items())[:DUPLICATE_LIMIT]:
        row = patient_queries.patient_row(db, other_id)
        if row is None or row["status"] == "merged":
            continue
        summary = PatientSummary(
            row["id"],
            row["family"],
            row["given"],
            row["middle"],
            row["birth_date"],
            row["status"],
            row["mrn"],
        )
        out.append(DuplicateCandidate(summary, tuple(dict.fromkeys(why))))
    return out


# -- writing -------------------------------------------------------------------


def _new_identifier(patient_id: str, ident: Identifier) -> Mutation:
    return Mutation(
        "patient_identifiers",
        _identifier_id(ident.system, ident.value),
        "insert",
        {
            "patient_id": patient_id,
            "system": ident.system,
            "value": ident.value,
            "label": ident.label,
        },
    )


def _identifier_mutations(
    session: Session, patient_id: str, wanted: tuple[Identifier, ...]
) -> list[Mutation]:
    db = session.database()
    existing = {
        (s, v): rid for rid, s, v, _ in patient_queries.identifiers(db, patient_id)
    }
    mutations = []
    for ident in wanted:
        owner = patient_queries.patient_by_identifier(db, ident.system, ident.value)
        if owner and owner != patient_id:
            # The value itself (a chart number, an SSN) stays out of messages.
            raise InvalidInput(
                "identifier",
                f"the {ident.system} identifier given already belongs to another "
                "patient",
            )
        if (ident.system, ident.value) not in existing:
            mutations.append(_new_identifier(patient_id, ident))
    keep = {(i.system, i.value) for i in wanted}
    for key, rid in existing.items():
        if key not in keep and key[0] != MRN_SYSTEM:
            mutations.append(Mutation("patient_identifiers", rid, "delete"))
    return mutations


def create_patient(
    session: Session,
    patient: Patient,
    *,
    allow_duplicates: bool = False,
    action: str = "patient.create",
) -> str:
    """Validate and store a new patient; returns the new id.

    Raises:
        InvalidInput: a field is wrong (the message names it).
        DuplicatesFound: likely duplicates exist and ``allow_duplicates`` is off.
    """
    session.require("patients.write")
    clean = validate(patient, today=_today())
    if not allow_duplicates:
        candidates = find_duplicates(session, clean)
        if candidates:
            raise DuplicatesFound(candidates)
    patient_id = str(uuid.uuid4())
    db = session.database()
    identifiers = _identifier_mutations(session, patient_id, clean.identifiers)
    for attempt in range(1, MRN_ATTEMPTS + 1):
        # The next MRN is read before the write takes the vault's write lock:
        # another process may store the same one in between, which the
        # database's unique index then refuses.
        mrn = patient_queries.next_mrn(db)
        now = _now()
        columns = {
            **clean.to_columns(),
            "mrn": mrn,
            "created_at": now,
            "updated_at": now,
        }
        mutations = [
            Mutation("patients", patient_id, "insert", columns),
            _new_identifier(patient_id, Identifier(MRN_SYSTEM, mrn, "MRN")),
            *identifiers,
        ]
        try:
            session.write(AuditEvent(action, "patient", patient_id), mutations)
        except TakenMeanwhile as exc:
            if exc.column != "patients.mrn" or attempt == MRN_ATTEMPTS:
                raise
            log.info("MRN taken by another process meanwhile; numbering again")
            continue
        break
    log.info("patient %s created", patient_id)
    return patient_id


def update_patient(session: Session, patient_id: str, patient: Patient) -> list[str]:
    """Store an edited record; returns the names of the fields that changed."""
    session.require("patients.write")
    if merged_into(session, patient_id):
        raise InvalidInput(
            "record", "this record was merged into another; undo the merge to edit it"
        )
    before = load_patient(session, patient_id)
    clean = validate(replace(patient, id=patient_id), today=_today())
    old, new = before.to_columns(), clean.to_columns()
    changed = {k: v for k, v in new.items() if old.get(k) != v}
    mrn_identifier = Identifier(MRN_SYSTEM, before.mrn, "MRN")
    wanted = (mrn_identifier, *[i for i in clean.identifiers if i.system != MRN_SYSTEM])
    ident_mutations = _identifier_mutations(session, patient_id, wanted)
    if not changed and not ident_mutations:
        return []
    mutations = []
    if changed:
        mutations.append(
            Mutation(
                "patients", patient_id, "update", {**changed, "updated_at": _now()}
            )
        )
    fields = sorted(changed) + (["identifiers"] if ident_mutations else [])
    session.write(
        AuditEvent("patient.update", "patient", patient_id, fields=tuple(fields)),
        mutations + ident_mutations,
    )
    return fields


def history(
    session: Session, patient_id: str
) -> list[tuple[str, str, str, list[str], str]]:
    """Who did what to a record and when: (time, user, action, fields, outcome).

    Oldest first.  Includes the entries of the patient's documents (attached,
    viewed, saved to disk), found through the documents they hold now.
    """
    session.require("patients.read")
    rows = patient_queries.patient_history(session.database(), patient_id)
    return [
        (str(at), str(user), str(action), list(json.loads(fields)), str(outcome))
        for at, user, action, fields, outcome in rows
    ]


# -- merge ---------------------------------------------------------------------


@dataclass(frozen=True)
class MergeInfo:
    """One merge a patient took part in (as the survivor or the retired one)."""

    id: str
    survivor_id: str
    retired_id: str
    merged_at: str
    undone_at: str | None


def merges_of(session: Session, patient_id: str) -> list[MergeInfo]:
    """The merges touching ``patient_id``, newest first, undone ones included."""
    session.require("patients.read")
    return [
        MergeInfo(*row)
        for row in patient_queries.merges_of(session.database(), patient_id)
    ]


def undoable_merge(session: Session, patient_id: str) -> MergeInfo | None:
    """The newest merge touching the patient that is not undone yet, if any.

    The merge row records the ids it moved, so undoing it moves exactly those
    back, from any session, whatever was merged since.
    """
    return next(
        (m for m in merges_of(session, patient_id) if m.undone_at is None), None
    )


#: Every table whose rows belong to one patient: a merge moves them all.
_MOVABLE = sorted(patient_queries.PER_PATIENT_TABLES)


def merge(session: Session, survivor_id: str, retired_id: str) -> str:
    """Merge ``retired_id`` into ``survivor_id``; returns the merge id for undo.

    Visits, documents, identifiers (but the retired record's MRN),
    appointments and their series, reminders, the communication log and
    waitlist entries move to the survivor; the retired record
    is kept (status ``merged``) so the merge can be undone.  One audit entry
    names both records.
    """
    session.require("patients.merge")
    if survivor_id == retired_id:
        raise InvalidInput("merge", "choose two different patients")
    db = session.database()
    survivor = patient_queries.patient_row(db, survivor_id)
    retired = patient_queries.patient_row(db, retired_id)
    if survivor is None or retired is None:
        raise PatientNotFound
    if "merged" in (survivor["status"], retired["status"]):
        raise InvalidInput("merge", "one of these records was already merged")
    moved = {t: patient_queries.rows_of(db, t, retired_id) for t in _MOVABLE}
    moved["patient_identifiers"] = [
        rid
        for rid in moved["patient_identifiers"]
        if not rid.startswith(MRN_SYSTEM + "|")
    ]
    merge_id = str(uuid.uuid4())
    mutations = [
        Mutation(t, rid, "update", {"patient_id": survivor_id})
        for t, ids in moved.items()
        for rid in ids
    ]
    mutations += [
        Mutation(
            "patients",
            retired_id,
            "update",
            {"status": "merged", "merged_into": survivor_id, "updated_at": _now()},
        ),
        Mutation(
            "patient_merges",
            merge_id,
            "insert",
            {
                "survivor_id": survivor_id,
                "retired_id": retired_id,
                "moved": json.dumps({**moved, "status": retired["status"]}),
                "merged_at": _now(),
            },
        ),
    ]
    session.write(
        AuditEvent("patient.merge", "patient", f"{survivor_id},{retired_id}"), mutations
    )
    return merge_id


def undo_merge(session: Session, merge_id: str) -> None:
    """Move everything back and reactivate the retired record."""
    session.require("patients.merge")
    row = patient_queries.merge_row(session.database(), merge_id)
    if row is None:
        raise InvalidInput("merge", "no merge with that id")
    survivor_id, retired_id, moved_json, undone = row
    if undone:
        raise InvalidInput("merge", "this merge was already undone")
    moved = json.loads(moved_json)
    status = moved.pop("status", "active")
    mutations = [
        Mutation(t, rid, "update", {"patient_id": retired_id})
        for t, ids in moved.items()
        for rid in ids
    ]
    mutations += [
        Mutation(
            "patients",
            retired_id,
            "update",
            {"status": status, "merged_into": None, "updated_at": _now()},
        ),
        Mutation("patient_merges", merge_id, "update", {"undone_at": _now()}),
    ]
    session.write(
        AuditEvent("patient.unmerge", "patient", f"{survivor_id},{retired_id}"),
        mutations,
    )
