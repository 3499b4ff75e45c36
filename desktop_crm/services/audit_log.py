"""Searching and exporting the audit log, and a patient's accounting of access.

Every function needs the ``audit.read`` permission; exports also need
``audit.export`` and are themselves audited (``audit.export``, naming the
filters used, never their values other than a patient's record id).

Dates given to a query are calendar days in the practice's time zone
(``practice.timezone``, UTC when none is set), both ends inclusive.  Entries
are stored in UTC; exports carry both the UTC time and the practice time.
Entries hold field *names* only, never values, and so do the exports.
"""

from __future__ import annotations

import csv
import json
import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import TextIO
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from desktop_crm.errors import InvalidInput
from desktop_crm.platform.atomic import atomic_write
from desktop_crm.services import settings_keys
from desktop_crm.services.exporting.csv_export import neutralise
from desktop_crm.services.session import Session
from desktop_crm.storage import audit, queries
from desktop_crm.storage.audit import AuditFilter, ListedEntry
from desktop_crm.storage.writepath import AuditEvent

log = logging.getLogger(__name__)

PAGE_SIZE = 200
#: A PDF is built in memory; past this many entries the CSV export is the tool.
PDF_MAX_ROWS = 10_000
CSV_COLUMNS = (
    "seq",
    "time_utc",
    "time_local",
    "time_zone",
    "user",
    "workstation",
    "action",
    "kind",
    "record_type",
    "record_id",
    "fields",
    "outcome",
)
PATIENT_RECORD_TYPES = frozenset({"patient", *audit.PATIENT_TABLES})


@dataclass(frozen=True)
class AuditQuery:
    """Filters as a person gives them; every one optional."""

    user: str | None = None
    patient_id: str | None = None
    action: str | None = None
    date_from: date | None = None
    date_to: date | None = None

    def named(self) -> tuple[str, ...]:
        """The names of the filters in use (what an export's entry records)."""
        given = {
            "user": self.user,
            "patient": self.patient_id,
            "action": self.action,
            "from": self.date_from,
            "to": self.date_to,
        }
        return tuple(name for name, value in given.items() if value)


@dataclass(frozen=True)
class LogLine:
    """One entry as people read it."""

    seq: int
    at_utc: str
    at_local: str
    user: str
    workstation: str
    action: str
    kind: str
    record_type: str
    record_id: str
    fields: tuple[str, ...]
    outcome: str


def kind_of(action: str, record_type: str | None) -> str:
    """What an entry means for a patient's accounting: viewed, changed, ..."""
    if record_type not in PATIENT_RECORD_TYPES:
        return ""
    verb = action.rsplit(".", 1)[-1]
    if verb in ("view", "list"):
        return "viewed"
    if "export" in verb:
        return "exported"
    if "print" in verb:
        return "printed"
    if verb in ("sent", "failed", "skipped"):
        return "sent"
    return "changed"


def practice_zone(session: Session) -> str:
    return session.setting(settings_keys.PRACTICE_TZ, "UTC") or "UTC"


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def _instant(day: date, zone: ZoneInfo) -> str:
    start = datetime(day.year, day.month, day.day, tzinfo=zone).astimezone(UTC)
    return start.isoformat(timespec="microseconds")


def to_filter(session: Session, query: AuditQuery) -> AuditFilter:
    """Check the query and turn it into the storage filter (UTC bounds)."""
    db = session.database()
    if query.date_from and query.date_to and query.date_to < query.date_from:
        raise InvalidInput("to", "the end date is before the start date")
    user_id = None
    if query.user:
        row = queries.user_by_name(db, query.user.strip())
        if row is None:
            raise InvalidInput("user", "no user with this name")
        user_id = row.id
    patient_id = (query.patient_id or "").strip() or None
    if patient_id is not None and not audit.patient_exists(db, patient_id):
        raise InvalidInput("patient", "no patient with this record id")
    zone = _zone(practice_zone(session))
    since = _instant(query.date_from, zone) if query.date_from else None
    until = _instant(query.date_to + timedelta(days=1), zone) if query.date_to else None
    action = (query.action or "").strip() or None
    return AuditFilter(user_id, patient_id, action, since, until)


def _line(entry: ListedEntry, zone: ZoneInfo) -> LogLine:
    moment = datetime.fromisoformat(entry.at)
    try:
        fields = tuple(str(f) for f in json.loads(entry.fields))
    except (ValueError, TypeError):
        fields = ()
    return LogLine(
        seq=entry.seq,
        at_utc=moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S"),
        at_local=moment.astimezone(zone).strftime("%Y-%m-%d %H:%M:%S"),
        user=entry.user_name or (entry.user_id or ""),
        workstation=entry.workstation,
        action=entry.action,
        kind=kind_of(entry.action, entry.record_type),
        record_type=entry.record_type or "",
        record_id=entry.record_id or "",
        fields=fields,
        outcome=entry.outcome,
    )


def page(
    session: Session,
    query: AuditQuery,
    before_seq: int | None = None,
    limit: int = PAGE_SIZE,
) -> list[LogLine]:
    """Matching entries newest first, ``limit`` of them older than ``before_seq``.

    Reading the log is not itself logged (like searching patients); exports are.
    """
    session.require("audit.read")
    flt = to_filter(session, query)
    zone = _zone(practice_zone(session))
    found = audit.search(session.database(), flt, before_seq=before_seq, limit=limit)
    return [_line(e, zone) for e in found]


def count(session: Session, query: AuditQuery) -> int:
    session.require("audit.read")
    return audit.count(session.database(), to_filter(session, query))


def accounting(
    session: Session,
    patient_id: str,
    date_from: date | None = None,
    date_to: date | None = None,
) -> list[LogLine]:
    """Who saw, changed, exported or printed one patient's record, oldest first."""
    session.require("audit.read")
    query = AuditQuery(patient_id=patient_id, date_from=date_from, date_to=date_to)
    return list(_lines(session, query))


def user_names(session: Session) -> list[str]:
    """Every user's name, for the user filter."""
    session.require("audit.read")
    return [u.name for u in queries.all_users(session.database())]


def action_names(session: Session) -> list[str]:
    """Every action that occurs in the log, for the action filter."""
    session.require("audit.read")
    return audit.actions(session.database())


def _lines(session: Session, query: AuditQuery) -> Iterator[LogLine]:
    flt = to_filter(session, query)
    zone = _zone(practice_zone(session))
    for entry in audit.iterate(session.database(), flt):
        yield _line(entry, zone)


def _audit_export(session: Session, query: AuditQuery, fmt: str) -> None:
    patient = (query.patient_id or "").strip() or None
    session.write(
        AuditEvent(
            "audit.export",
            "patient" if patient else None,
            patient,
            outcome=fmt,
            fields=query.named(),
        )
    )


def write_csv(session: Session, query: AuditQuery, out: TextIO) -> int:
    """Write the matching entries, oldest first, to ``out``; returns the count.

    ``out`` should be opened with ``newline=""``.  The export's own audit
    entry is written before the first row, so no partial export goes
    unaudited; it is not part of the rows written.

    Raises:
        NotPermitted: the user lacks ``audit.read`` or ``audit.export``.
        InvalidInput: an unknown user or patient, or dates the wrong way round.
    """
    session.require("audit.read")
    session.require("audit.export")
    flt = to_filter(session, query)
    last = audit.search(session.database(), flt, limit=1)
    zone_name = practice_zone(session)
    _audit_export(session, query, "csv")
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    written = 0
    # The export's own entry may match the filters: the rows stop before it.
    stop = last[0].seq if last else 0
    for line in _lines_of(session, flt, zone_name):
        if line.seq > stop:
            break
        writer.writerow(_csv_row(line, zone_name))
        written += 1
    log.info("audit log exported as CSV (%d entries)", written)
    return written


def _lines_of(session: Session, flt: AuditFilter, zone_name: str) -> Iterator[LogLine]:
    zone = _zone(zone_name)
    for entry in audit.iterate(session.database(), flt):
        yield _line(entry, zone)


def _csv_row(line: LogLine, zone_name: str) -> list[str]:
    cells = [
        line.at_utc,
        line.at_local,
        zone_name,
        line.user,
        line.workstation,
        line.action,
        line.kind,
        line.record_type,
        line.record_id,
        "; ".join(line.fields),
        line.outcome,
    ]
    return [str(line.seq), *(neutralise(c) for c in cells)]


def export_pdf(session: Session, query: AuditQuery) -> bytes:
    """The matching entries as a PDF (at most ``PDF_MAX_ROWS`` of them).

    Raises:
        NotPermitted: the user lacks ``audit.read`` or ``audit.export``.
        InvalidInput: too many entries match for one PDF, or a bad filter.
    """
    session.require("audit.read")
    session.require("audit.export")
    flt = to_filter(session, query)
    db = session.database()
    matching = audit.count(db, flt)
    if matching > PDF_MAX_ROWS:
        raise InvalidInput(
            "filters",
            f"{matching:,} entries match and a PDF holds at most {PDF_MAX_ROWS:,}: "
            "narrow the dates or filters, or export CSV",
        )
    last = audit.search(db, flt, limit=1)
    stop = last[0].seq if last else 0
    zone_name = practice_zone(session)
    # fpdf2 takes over a second to import: load it only for PDFs.
    from desktop_crm.services import audit_pdf

    lines = (line for line in _lines_of(session, flt, zone_name) if line.seq <= stop)
    title = _pdf_title(session, query)
    data = audit_pdf.render(
        title, _filter_text(query, zone_name), zone_name, lines, matching
    )
    _audit_export(session, query, "pdf")
    log.info("audit log exported as PDF (%d entries)", matching)
    return data


def _pdf_title(session: Session, query: AuditQuery) -> str:
    practice = session.setting(settings_keys.PRACTICE_NAME, "")
    what = "Accounting of access" if query.patient_id else "Audit log"
    return f"{what} — {practice}" if practice else what


def _filter_text(query: AuditQuery, zone_name: str) -> str:
    parts = [
        f"From {query.date_from.isoformat() if query.date_from else 'the start'}",
        f"to {query.date_to.isoformat() if query.date_to else 'the newest entry'} "
        f"(days in {zone_name})",
    ]
    if query.user:
        parts.append(f"user {query.user}")
    if query.patient_id:
        parts.append(f"patient record {query.patient_id}")
    if query.action:
        parts.append(f"action {query.action}")
    return ", ".join(parts)


def save_csv(session: Session, query: AuditQuery, path: Path) -> int:
    """``write_csv`` into a file: written beside it, then moved into place.

    Raises:
        InvalidInput: as ``write_csv``, or the file cannot be written
            (field ``target file``); no partial file is left behind.
    """
    part = path.with_name(path.name + ".part")
    try:
        with part.open("w", encoding="utf-8-sig", newline="") as out:
            written = write_csv(session, query, out)
        os.replace(part, path)
    except OSError as exc:
        part.unlink(missing_ok=True)
        raise InvalidInput(
            "target file", f"cannot be written: {exc.strerror or 'error'}"
        ) from exc
    except BaseException:
        part.unlink(missing_ok=True)
        raise
    return written


def save_pdf(session: Session, query: AuditQuery, path: Path) -> None:
    """``export_pdf`` into a file, replaced whole or not at all."""
    data = export_pdf(session, query)
    try:
        atomic_write(path, data)
    except OSError as exc:
        raise InvalidInput(
            "target file", f"cannot be written: {exc.strerror or 'error'}"
        ) from exc
