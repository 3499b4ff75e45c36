"""Booking, reading and changing appointments and recurring series.

A single appointment is a row of ``appointments``.  A series is a row of
``appointment_series`` (rule, wall-clock start, zone) expanded on read within
a bounded window; an occurrence that was edited or cancelled on its own is
an *exception*: a row of ``appointments`` whose id is the occurrence's id
(``<series id>.<YYYYMMDD>``), so edits of the series leave it as it is.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from desktop_crm.errors import InvalidInput
from desktop_crm.services.clock import Clock, SystemClock
from desktop_crm.services.patients import PatientNotFound
from desktop_crm.services.providers import Provider, list_providers
from desktop_crm.services.roles import NotesScope
from desktop_crm.services.scheduling import recurrence
from desktop_crm.services.scheduling.model import (
    INACTIVE,
    Appointment,
    AppointmentNotFound,
    AppointmentRequest,
    Overlap,
    check_details,
    from_row,
)
from desktop_crm.services.scheduling.timezones import (
    AmbiguousTime,
    NonexistentTime,
    is_fold,
    is_gap,
    resolve,
    utc_text,
    zone_of,
)
from desktop_crm.services.session import Session
from desktop_crm.storage import patient_queries, provider_queries, schedule_queries
from desktop_crm.storage.writepath import AuditEvent, Mutation

log = logging.getLogger(__name__)

#: The longest span one read expands series over.
MAX_WINDOW = timedelta(days=400)


# -- who may read the reason ---------------------------------------------------


def _provider_users(session: Session) -> dict[str, str | None]:
    return {str(r[0]): r[7] for r in provider_queries.all_providers(session.database())}


class ReasonPolicy:
    """Decides, per patient, whether the session's user may read reasons.

    Reasons are visit notes: they need ``visits.notes`` and the patient in the
    provider's notes scope (see ``roles.may_read_notes``).  A biller or front
    desk sees the appointment, its time and status, never its reason.
    """

    def __init__(self, session: Session) -> None:
        self._scope = NotesScope(session)

    def visible(self, patient_id: str) -> bool:
        return self._scope.covers(patient_id)


# -- reading ---------------------------------------------------------------------


def _series_occurrences(
    row: dict[str, Any],
    window: tuple[datetime, datetime] | None,
    skip: set[str],
    visible: bool,
) -> list[Appointment]:
    local_start = datetime.fromisoformat(str(row["local_start"]))
    found = []
    for occ in recurrence.expand(
        str(row["rrule"]),
        str(row["zone"]),
        local_start,
        fold=int(row["fold"]),
        window=window,
    ):
        if occ.recurrence_id in skip:
            continue
        found.append(
            Appointment(
                id=f"{row['id']}.{occ.recurrence_id}",
                patient_id=str(row["patient_id"]),
                provider_id=str(row["provider_id"]),
                start=occ.start,
                duration_min=int(row["duration_min"]),
                zone=str(row["zone"]),
                modality=str(row["modality"]),
                video_link=str(row["video_link"]),
                location=str(row["location"]),
                reason=str(row["reason"]) if visible else None,
                status=str(row["status"]),
                series_id=str(row["id"]),
                recurrence_id=occ.recurrence_id,
            )
        )
    return found


def _between(
    session: Session,
    start: datetime,
    end: datetime,
    provider_id: str | None,
    policy: ReasonPolicy,
) -> list[Appointment]:
    db = session.database()
    low, high = utc_text(start), utc_text(end)
    rows = schedule_queries.appointments_between(db, low, high, provider_id)
    found = [from_row(r, policy.visible(str(r["patient_id"]))) for r in rows]
    series_rows = schedule_queries.series_between(db, low, high, provider_id)
    skip: dict[str, set[str]] = {}
    exceptions = schedule_queries.exceptions_of(db, [str(r["id"]) for r in series_rows])
    for ex in exceptions:
        skip.setdefault(str(ex["series_id"]), set()).add(str(ex["recurrence_id"]))
    for row in series_rows:
        found += _series_occurrences(
            row,
            # An occurrence starting up to a day earlier may still reach in.
            (start - timedelta(days=1), end),
            skip.get(str(row["id"]), set()),
            policy.visible(str(row["patient_id"])),
        )
    found = [a for a in found if a.end > start and a.start < end]
    found.sort(key=lambda a: (a.start, a.provider_id, a.id))
    return found


def between(
    session: Session, start: datetime, end: datetime, provider_id: str | None = None
) -> list[Appointment]:
    """Appointments and occurrences overlapping ``[start, end)``, by start.

    Raises:
        NotPermitted: the user lacks ``appointments.read``.
        InvalidInput: the window is longer than MAX_WINDOW.
    """
    session.require("appointments.read")
    if end - start > MAX_WINDOW:
        raise InvalidInput("window", f"at most {MAX_WINDOW.days} days at a time")
    return _between(session, start, end, provider_id, ReasonPolicy(session))


def week(
    session: Session, monday: datetime, provider_id: str | None = None
) -> list[Appointment]:
    """The data of a week view: seven days from ``monday`` (an aware instant)."""
    return between(session, monday, monday + timedelta(days=7), provider_id)


def get(session: Session, appointment_id: str) -> Appointment:
    """One appointment or occurrence; audited as ``appointment.view``.

    Raises:
        AppointmentNotFound: no such id.
    """
    session.require("appointments.read")
    found = _load(session, appointment_id, ReasonPolicy(session))
    session.write(AuditEvent("appointment.view", "appointment", appointment_id))
    return found


def _load(session: Session, appointment_id: str, policy: ReasonPolicy) -> Appointment:
    db = session.database()
    row = schedule_queries.appointment(db, appointment_id)
    if row is not None:
        return from_row(row, policy.visible(str(row["patient_id"])))
    series_id, dot, key = appointment_id.partition(".")
    series = schedule_queries.series(db, series_id) if dot else None
    if series is None:
        raise AppointmentNotFound
    for occ in _series_occurrences(
        series, None, set(), policy.visible(str(series["patient_id"]))
    ):
        if occ.recurrence_id == key:
            return occ
    raise AppointmentNotFound


def patient_appointments(session: Session, patient_id: str) -> list[Appointment]:
    """Every appointment and occurrence of one patient (series fully expanded)."""
    session.require("appointments.read")
    db = session.database()
    policy = ReasonPolicy(session)
    found = [
        from_row(r, policy.visible(str(r["patient_id"])))
        for r in schedule_queries.patient_appointments(db, patient_id)
    ]
    series_rows = schedule_queries.patient_series(db, patient_id)
    skip = _exception_keys(session, [str(r["id"]) for r in series_rows])
    for row in series_rows:
        found += _series_occurrences(
            row,
            None,
            skip.get(str(row["id"]), set()),
            policy.visible(str(row["patient_id"])),
        )
    return sorted(found, key=lambda a: (a.start, a.id))


def _exception_keys(session: Session, series_ids: Sequence[str]) -> dict[str, set[str]]:
    skip: dict[str, set[str]] = {}
    for ex in schedule_queries.exceptions_of(session.database(), series_ids):
        skip.setdefault(str(ex["series_id"]), set()).add(str(ex["recurrence_id"]))
    return skip


# -- providers by name -------------------------------------------------------------


class ProviderNotFound(InvalidInput):
    """No provider, or more than one, has that display name."""

    exit_code = 2

    def __init__(
        self, name: str, candidates: list[Provider], *, ambiguous: bool = False
    ) -> None:
        shown = _closest(name, candidates)
        names = "; ".join(f"{p.display} ({p.id})" for p in shown) or "none"
        more = len(candidates) - len(shown)
        if more > 0:
            names += f"; and {more} more (see the Providers list)"
        what = "matches more than one provider" if ambiguous else "matches none"
        label = "candidates" if ambiguous else "closest names"
        super().__init__("provider", f"'{name}' {what}; {label}: {names}")
        self.candidates = candidates


MAX_CANDIDATES = 8


def _closest(name: str, candidates: list[Provider]) -> list[Provider]:
    """The few candidates whose names are nearest to ``name`` (for messages)."""
    import difflib

    if len(candidates) <= MAX_CANDIDATES:
        return candidates
    by_name = {p.display: p for p in candidates}
    near = difflib.get_close_matches(name, list(by_name), n=MAX_CANDIDATES, cutoff=0)
    return [by_name[n] for n in near]


def provider_by_name(session: Session, name: str) -> Provider:
    """The provider whose display name is exactly ``name``.

    Raises:
        ProviderNotFound: none or several; lists the candidates (all providers
            when none matches, those with the same name otherwise).
    """
    providers = list_providers(session)
    exact = [p for p in providers if p.display == name]
    if len(exact) == 1:
        return exact[0]
    raise ProviderNotFound(name, exact or providers, ambiguous=len(exact) > 1)


# -- booking ------------------------------------------------------------------------


def _check_parties(session: Session, request: AppointmentRequest) -> None:
    db = session.database()
    row = patient_queries.patient_row(db, request.patient_id)
    if row is None or row["status"] == "merged":
        raise PatientNotFound
    if request.provider_id not in _provider_users(session):
        raise InvalidInput("provider", "no provider with that id")


def _occurrence_starts(
    request: AppointmentRequest, rule: str
) -> list[recurrence.Occurrence]:
    zone = zone_of(request.zone)
    fold = 0 if request.fold in (None, "earlier") else 1
    occurrences = recurrence.expand(rule, request.zone, request.local_start, fold=fold)
    for occ in occurrences:
        if is_gap(occ.local, zone):
            raise NonexistentTime("start", occ.local, request.zone)
        if request.fold is None and is_fold(occ.local, zone):
            raise AmbiguousTime("start", occ.local, request.zone)
    return occurrences


def clashes(
    session: Session,
    provider_id: str,
    spans: Iterable[tuple[datetime, datetime]],
    ignore: Iterable[str] = (),
) -> list[Appointment]:
    """Active appointments of the provider that overlap any of ``spans``."""
    ordered = sorted(spans)
    if not ordered:
        return []
    skipped = set(ignore)
    policy = ReasonPolicy(session)
    found: dict[str, Appointment] = {}
    low = ordered[0][0]
    while low <= ordered[-1][0]:
        high = min(low + MAX_WINDOW, max(e for _, e in ordered) + timedelta(days=1))
        existing = [
            a
            for a in _between(session, low, high, provider_id, policy)
            if a.status not in INACTIVE
            and a.id not in skipped
            and a.series_id not in skipped
        ]
        for start, end in ordered:
            for other in existing:
                if other.start < end and start < other.end:
                    found[other.id] = other
        low = high
    return sorted(found.values(), key=lambda a: a.start)


def book(
    session: Session,
    request: AppointmentRequest,
    *,
    allow_overlap: bool = False,
    clock: Clock | None = None,
) -> list[str]:
    """Book one appointment, or a series when ``request.rrule`` is set.

    Returns:
        The new appointment ids (one per occurrence for a series).

    Raises:
        NotPermitted: the user lacks ``appointments.write``.
        NonexistentTime: the start (or an occurrence) is in a DST gap.
        AmbiguousTime: the start occurs twice and no fold was chosen.
        Overlap: the provider is booked then and ``allow_overlap`` is False.
        InvalidInput: any other field that breaks a rule (named).
    """
    session.require("appointments.write")
    request = check_details(request)
    _check_parties(session, request)
    now = datetime.fromtimestamp((clock or SystemClock()).now(), UTC)
    if request.rrule:
        return _book_series(session, request, now, allow_overlap)
    start = resolve(request.local_start, request.zone, request.fold)
    end = start + timedelta(minutes=request.duration_min)
    if not allow_overlap:
        found = clashes(session, request.provider_id, [(start, end)])
        if found:
            raise Overlap(found)
    appointment_id = str(uuid.uuid4())
    values = _row_values(request, now)
    values |= {"start_utc": utc_text(start), "end_utc": utc_text(end)}
    session.write(
        AuditEvent("appointment.create", "appointment", appointment_id),
        [Mutation("appointments", appointment_id, "insert", values)],
    )
    log.info("appointment %s booked", appointment_id)
    return [appointment_id]


def _row_values(request: AppointmentRequest, now: datetime) -> dict[str, Any]:
    return {
        "patient_id": request.patient_id,
        "provider_id": request.provider_id,
        "zone": request.zone,
        "duration_min": request.duration_min,
        "modality": request.modality,
        "video_link": request.video_link,
        "location": request.location,
        "reason": request.reason,
        "status": request.status,
        "created_at": utc_text(now),
        "updated_at": utc_text(now),
    }


def _series_values(
    request: AppointmentRequest,
    rule: str,
    occurrences: list[recurrence.Occurrence],
    now: datetime,
) -> dict[str, Any]:
    values = _row_values(request, now)
    last_end = occurrences[-1].start + timedelta(minutes=request.duration_min)
    values |= {
        "local_start": request.local_start.isoformat(timespec="minutes"),
        "fold": 1 if request.fold == "later" else 0,
        "rrule": rule,
        "first_utc": utc_text(occurrences[0].start),
        "last_end_utc": utc_text(last_end),
    }
    return values


def _book_series(
    session: Session, request: AppointmentRequest, now: datetime, allow_overlap: bool
) -> list[str]:
    resolve(request.local_start, request.zone, request.fold)
    rule = recurrence.normalise(request.rrule, request.zone, request.local_start)
    occurrences = _occurrence_starts(request, rule)
    length = timedelta(minutes=request.duration_min)
    if not allow_overlap:
        spans = [(o.start, o.start + length) for o in occurrences]
        found = clashes(session, request.provider_id, spans)
        if found:
            raise Overlap(found)
    series_id = str(uuid.uuid4())
    values = _series_values(request, rule, occurrences, now)
    session.write(
        AuditEvent("appointment.create_series", "appointment_series", series_id),
        [Mutation("appointment_series", series_id, "insert", values)],
    )
    log.info("series %s booked (%d occurrences)", series_id, len(occurrences))
    return [f"{series_id}.{o.recurrence_id}" for o in occurrences]


def request_of(appointment: Appointment) -> AppointmentRequest:
    """A request that would book ``appointment`` again (a base for edits)."""
    local = appointment.start.astimezone(zone_of(appointment.zone))
    return AppointmentRequest(
        patient_id=appointment.patient_id,
        provider_id=appointment.provider_id,
        local_start=local.replace(tzinfo=None, fold=0),
        zone=appointment.zone,
        duration_min=appointment.duration_min,
        modality=appointment.modality,
        video_link=appointment.video_link,
        location=appointment.location,
        reason=appointment.reason or "",
        status="booked",
        # Passed always: resolve() consults it only for a time that occurs twice.
        fold="later" if local.fold else "earlier",
    )


def with_changes(appointment: Appointment, **changes: Any) -> AppointmentRequest:
    return replace(request_of(appointment), **changes)
