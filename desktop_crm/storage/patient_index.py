"""The patient search index (FTS5 inside the encrypted database) and its queries.

The index is kept in step by the write path: any change to a patient row or
to a patient identifier re-indexes that patient in the same transaction.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from desktop_crm.storage import folding
from desktop_crm.storage.database import Database
from desktop_crm.storage.writepath import (
    BEFORE_INDEXERS,
    INDEXERS,
    IndexJob,
    Mutation,
)

_WORD_SPLIT = re.compile(r"[^\w]+")
SUMMARY_COLUMNS = "p.id, p.family, p.given, p.middle, p.birth_date, p.status, p.mrn"


@dataclass(frozen=True)
class PatientSummary:
    """One line of a patient list or search result."""

    id: str
    family: str
    given: str
    middle: str
    birth_date: str | None
    status: str
    mrn: str


def _summary(row: tuple[Any, ...]) -> PatientSummary:
    return PatientSummary(*row)


def _json_list(raw: str | None) -> list[Any]:
    try:
        value = json.loads(raw or "[]")
    except ValueError:
        return []
    return value if isinstance(value, list) else []


def reindex(db: Database, patient_id: str) -> None:
    """Rebuild one patient's row of the search index.

    The index row shares the patient row's rowid, so replacing it is a
    lookup by key, not a scan of the whole index.
    """
    rows = db.query(
        "SELECT family, given, middle, preferred_name, previous_names, phones, "
        "emails, mrn, status, rowid FROM patients WHERE id = ?",
        (patient_id,),
    )
    if not rows:
        return
    family, given, middle, preferred, previous, phones, emails, mrn, status, rowid = (
        rows[0]
    )
    db.execute("DELETE FROM patient_search WHERE rowid = ?", (rowid,))
    if status == "merged":
        return
    names = [family, given, middle, preferred]
    for old in _json_list(previous):
        if isinstance(old, dict):
            names += [str(old.get("family", "")), str(old.get("given", ""))]
    name_tokens = folding.name_tokens(" ".join(n for n in names if n))
    phone_tokens = []
    for phone in _json_list(phones):
        if isinstance(phone, dict):
            phone_tokens += _phone_tokens(str(phone.get("value", "")))
    email_text = " ".join(
        folding.fold(str(e.get("value", "")))
        for e in _json_list(emails)
        if isinstance(e, dict)
    )
    ids = [mrn] + [
        str(r[0])
        for r in db.query(
            "SELECT value FROM patient_identifiers WHERE patient_id = ?", (patient_id,)
        )
    ]
    db.execute(
        "INSERT INTO patient_search "
        "(rowid, patient_id, names, phones, emails, identifiers) "
        "VALUES (?, ?, ?, ?, ?, ?)",
        (
            rowid,
            patient_id,
            " ".join(name_tokens),
            " ".join(dict.fromkeys(phone_tokens)),
            email_text,
            " ".join(folding.fold(i) for i in ids),
        ),
    )


def _phone_tokens(value: str) -> list[str]:
    """Digits of a phone number, also without a leading country code 1."""
    digits = folding.digits(value)
    tokens = [digits] if digits else []
    if len(digits) == 11 and digits.startswith("1"):
        tokens.append(digits[1:])
    return tokens


def _on_patient(db: Database, mutation: Mutation, _before: object) -> list[IndexJob]:
    return [(reindex, mutation.key)]


def _identifier_owner(db: Database, mutation: Mutation) -> str | None:
    row = db.query(
        "SELECT patient_id FROM patient_identifiers WHERE id = ?", (mutation.key,)
    )
    return str(row[0][0]) if row else None


def _on_identifier(db: Database, mutation: Mutation, before: object) -> list[IndexJob]:
    """Re-index the identifier's old owner (if it moved or went) and new one."""
    owners = (
        before,
        mutation.values.get("patient_id"),
        _identifier_owner(db, mutation),
    )
    return [(reindex, str(owner)) for owner in dict.fromkeys(owners) if owner]


INDEXERS["patients"] = _on_patient
INDEXERS["patient_identifiers"] = _on_identifier
BEFORE_INDEXERS["patient_identifiers"] = _identifier_owner


def _fts_quote(token: str) -> str:
    return '"' + token.replace('"', '""') + '"'


def _match(tokens: list[str], column: str, *, prefix_last: bool) -> str:
    parts = []
    for index, token in enumerate(tokens):
        term = _fts_quote(token)
        if prefix_last and index == len(tokens) - 1:
            term += "*"
        parts.append(f"{column}:{term}")
    return " AND ".join(parts)


def _sort_key(summary: PatientSummary) -> tuple[str, str, str]:
    return (folding.fold(summary.family), folding.fold(summary.given), summary.id)


def search_names(db: Database, tokens: list[str], limit: int) -> list[PatientSummary]:
    """Name search: whole-word matches first, then prefix matches.

    Each group is cut at ``limit`` inside the FTS query (no join-and-sort of
    every match: a one-letter prefix matches most of the practice) and then
    sorted by name; typing more letters narrows the list.
    """
    if not tokens:
        return []
    results: dict[str, PatientSummary] = {}
    for prefix in (False, True):
        expr = _match(tokens, "names", prefix_last=prefix)
        rows = db.query(
            f"SELECT {SUMMARY_COLUMNS} FROM (SELECT rowid FROM patient_search "
            "WHERE patient_search MATCH ? LIMIT ?) s "
            "JOIN patients p ON p.rowid = s.rowid",
            (expr, limit),
        )
        for summary in sorted((_summary(r) for r in rows), key=_sort_key):
            results.setdefault(summary.id, summary)
        if len(results) >= limit:
            break
    return list(results.values())[:limit]


def search_column(
    db: Database, column: str, text: str, limit: int
) -> list[PatientSummary]:
    """Prefix search in one index column (phones, emails, identifiers).

    The typed text is split the way the index's tokenizer splits stored
    values (at '@', '.', '-' and the like) and matched as one phrase whose
    last token may be a prefix, so "jane.doe@ex" and "123-45-67" both work.
    """
    if column not in ("phones", "emails", "identifiers") or not text:
        return []
    tokens = [t for t in _WORD_SPLIT.split(folding.fold(text)) if t]
    if not tokens:
        return []
    expr = f'{column}:"{" ".join(t.replace(chr(34), "") for t in tokens)}"*'
    rows = db.query(
        f"SELECT {SUMMARY_COLUMNS} FROM (SELECT rowid FROM patient_search "
        "WHERE patient_search MATCH ? LIMIT ?) s "
        "JOIN patients p ON p.rowid = s.rowid",
        (expr, limit),
    )
    return sorted((_summary(r) for r in rows), key=_sort_key)


def namesakes_born(
    db: Database, family_tokens: list[str], birth_date: str, limit: int
) -> list[tuple[str, str, str]]:
    """(id, family, given) of unmerged patients born on ``birth_date`` whose
    indexed names hold any of ``family_tokens`` (folded name tokens).

    For duplicate checks on a date that many patients share: the index finds
    the namesakes, so the cost follows their number, not the date's.
    """
    words = [t.replace('"', "") for t in family_tokens]
    words = [w for w in words if w]
    if not words:
        return []
    expr = "names : (" + " OR ".join(f'"{w}"' for w in words) + ")"
    rows = db.query(
        "SELECT p.id, p.family, p.given FROM (SELECT rowid FROM patient_search "
        "WHERE patient_search MATCH ?) s JOIN patients p ON p.rowid = s.rowid "
        "WHERE p.birth_date = ? AND p.status != 'merged' LIMIT ?",
        (expr, birth_date, limit),
    )
    return [(str(i), str(f or ""), str(g or "")) for i, f, g in rows]


def by_birth_date(db: Database, iso_date: str, limit: int) -> list[PatientSummary]:
    rows = db.query(
        f"SELECT {SUMMARY_COLUMNS} FROM patients p WHERE p.birth_date = ? "
        "AND p.status != 'merged' ORDER BY p.family COLLATE NOCASE LIMIT ?",
        (iso_date, limit),
    )
    return [_summary(r) for r in rows]


def by_birth_month(db: Database, year_month: str, limit: int) -> list[PatientSummary]:
    """Patients born in one month (``YYYY-MM``), including month-only dates."""
    rows = db.query(
        f"SELECT {SUMMARY_COLUMNS} FROM patients p WHERE p.birth_date >= ? "
        "AND p.birth_date < ? AND p.status != 'merged' "
        "ORDER BY p.family COLLATE NOCASE LIMIT ?",
        (year_month, year_month + "~", limit),
    )
    return [_summary(r) for r in rows]


def count_patients(db: Database) -> int:
    return int(db.scalar("SELECT count(*) FROM patients WHERE status != 'merged'"))


def page(db: Database, offset: int, limit: int) -> list[PatientSummary]:
    """A slice of all patients in list order (for the lazy list model)."""
    rows = db.query(
        f"SELECT {SUMMARY_COLUMNS} FROM patients p WHERE p.status != 'merged' "
        "ORDER BY p.family COLLATE NOCASE, p.given COLLATE NOCASE, p.id "
        "LIMIT ? OFFSET ?",
        (limit, offset),
    )
    return [_summary(r) for r in rows]
