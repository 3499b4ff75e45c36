"""Changing appointments: status, reschedule and cancel, for one occurrence,
this and following, or a whole series (exceptions survive series edits)."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from desktop_crm.errors import InvalidInput
from desktop_crm.services.clock import Clock, SystemClock
from desktop_crm.services.scheduling import recurrence
from desktop_crm.services.scheduling.appointments import (
    ReasonPolicy,
    _load,
    _occurrence_starts,
    _series_values,
    clashes,
)
from desktop_crm.services.scheduling.model import (
    STATUSES,
    Appointment,
    AppointmentRequest,
    Overlap,
    check_details,
)
from desktop_crm.services.scheduling.timezones import Fold, resolve, utc_text
from desktop_crm.services.session import Session
from desktop_crm.storage import schedule_queries
from desktop_crm.storage.writepath import AuditEvent, Mutation

log = logging.getLogger(__name__)

Scope = Literal["this", "following", "all"]
SCOPES: tuple[Scope, ...] = ("this", "following", "all")
Row = dict[str, Any]


def _now(clock: Clock | None) -> str:
    return utc_text(datetime.fromtimestamp((clock or SystemClock()).now(), UTC))


def _target(session: Session, appointment_id: str) -> tuple[Appointment, Row | None]:
    """The appointment (reason visible: edits keep it) and its series row."""
    session.require("appointments.write")
    found = _load(session, appointment_id, _AllReasons())
    series = None
    if found.series_id is not None:
        series = schedule_queries.series(session.database(), found.series_id)
    return found, series


class _AllReasons(ReasonPolicy):
    """Edits copy the stored reason forward; nobody is shown it here."""

    def __init__(self) -> None:
        pass

    def visible(self, provider_id: str) -> bool:
        return True


def _exception_values(occ: Appointment, **changes: Any) -> Row:
    values: Row = {
        "patient_id": occ.patient_id,
        "provider_id": occ.provider_id,
        "start_utc": utc_text(occ.start),
        "end_utc": utc_text(occ.end),
        "zone": occ.zone,
        "duration_min": occ.duration_min,
        "modality": occ.modality,
        "video_link": occ.video_link,
        "location": occ.location,
        "reason": occ.reason or "",
        "status": occ.status,
        "cancel_reason": occ.cancel_reason,
        "series_id": occ.series_id,
        "recurrence_id": occ.recurrence_id,
    }
    return values | changes


def _one_mutation(
    session: Session, occ: Appointment, now: str, **changes: Any
) -> Mutation:
    """The change of a single appointment, or an occurrence stored as an exception."""
    if schedule_queries.appointment(session.database(), occ.id) is not None:
        return Mutation("appointments", occ.id, "update", changes | {"updated_at": now})
    values = _exception_values(occ, **changes) | {"created_at": now, "updated_at": now}
    return Mutation("appointments", occ.id, "insert", values)


def _save_one(
    session: Session, occ: Appointment, action: str, now: str, **changes: Any
) -> None:
    """Update a single appointment, or store an occurrence as an exception."""
    mutation = _one_mutation(session, occ, now, **changes)
    session.write(AuditEvent(action, "appointment", occ.id), [mutation])


def status_mutation(
    session: Session, appointment_id: str, status: str, *, clock: Clock | None = None
) -> tuple[Appointment, Mutation]:
    """The appointment and the (unwritten) change of its status, for services
    that write it together with rows of their own (a visit's start and close).

    Raises:
        NotPermitted: the user lacks ``appointments.write``.
        AppointmentNotFound: no such appointment or occurrence.
        InvalidInput: an unknown status, or ``cancelled`` (use ``cancel``).
    """
    if status not in STATUSES or status == "cancelled":
        raise InvalidInput("status", f"choose one of {', '.join(STATUSES)}")
    occ, _ = _target(session, appointment_id)
    return occ, _one_mutation(
        session, occ, _now(clock), status=status, cancel_reason=""
    )


def set_status(
    session: Session,
    appointment_id: str,
    status: str,
    cancel_reason: str = "",
    *,
    clock: Clock | None = None,
) -> None:
    """Move one appointment (or occurrence) along the FHIR workflow.

    Raises:
        InvalidInput: an unknown status, or cancelling without a reason.
    """
    if status not in STATUSES:
        raise InvalidInput("status", f"choose one of {', '.join(STATUSES)}")
    if status == "cancelled" and not cancel_reason.strip():
        raise InvalidInput("cancel reason", "say why the appointment is cancelled")
    occ, _ = _target(session, appointment_id)
    _save_one(
        session,
        occ,
        f"appointment.{status}",
        _now(clock),
        status=status,
        cancel_reason=cancel_reason.strip() if status == "cancelled" else "",
    )


def _check_scope(scope: str, occ: Appointment) -> None:
    if scope not in SCOPES:
        raise InvalidInput("scope", f"choose one of {', '.join(SCOPES)}")
    if scope != "this" and occ.series_id is None:
        raise InvalidInput("scope", "only a recurring appointment has following ones")


def cancel(
    session: Session,
    appointment_id: str,
    reason: str,
    scope: Scope = "this",
    *,
    clock: Clock | None = None,
) -> None:
    """Cancel one occurrence, this and following, or the whole series."""
    if not reason.strip():
        raise InvalidInput("cancel reason", "say why the appointment is cancelled")
    occ, series = _target(session, appointment_id)
    _check_scope(scope, occ)
    now = _now(clock)
    if scope == "this" or series is None:
        _save_one(
            session,
            occ,
            "appointment.cancelled",
            now,
            status="cancelled",
            cancel_reason=reason.strip(),
        )
        return
    first = _is_first(series, occ)
    mutations = _cancel_exceptions(session, series, occ, scope, reason, now)
    if scope == "all" or first:
        mutations.append(
            Mutation(
                "appointment_series",
                str(series["id"]),
                "update",
                {"status": "cancelled", "updated_at": now},
            )
        )
    else:
        mutations.append(_truncate(series, occ, now))
    session.write(
        AuditEvent(
            "appointment.cancel_series",
            "appointment_series",
            str(series["id"]),
            outcome=scope,
        ),
        mutations,
    )


def _is_first(series: Row, occ: Appointment) -> bool:
    return str(series["local_start"])[:10].replace("-", "") == occ.recurrence_id


def _cancel_exceptions(
    session: Session, series: Row, occ: Appointment, scope: str, reason: str, now: str
) -> list[Mutation]:
    rows = schedule_queries.exceptions_of(session.database(), [str(series["id"])])
    return [
        Mutation(
            "appointments",
            str(r["id"]),
            "update",
            {"status": "cancelled", "cancel_reason": reason.strip(), "updated_at": now},
        )
        for r in rows
        if scope == "all" or str(r["recurrence_id"]) >= str(occ.recurrence_id)
    ]


def _truncate(series: Row, occ: Appointment, now: str) -> Mutation:
    """End a series just before ``occ``."""
    local_start = datetime.fromisoformat(str(series["local_start"]))
    split_at = recurrence.parse_recurrence_id(
        str(occ.recurrence_id), local_start.time()
    )
    rule = recurrence.truncate_before(
        str(series["rrule"]), str(series["zone"]), split_at
    )
    kept = recurrence.expand(
        rule, str(series["zone"]), local_start, fold=int(series["fold"])
    )
    last_end = kept[-1].start + timedelta(minutes=int(series["duration_min"]))
    return Mutation(
        "appointment_series",
        str(series["id"]),
        "update",
        {"rrule": rule, "last_end_utc": utc_text(last_end), "updated_at": now},
    )


def reschedule(
    session: Session,
    appointment_id: str,
    local_start: datetime,
    *,
    scope: Scope = "this",
    zone: str | None = None,
    fold: Fold | None = None,
    duration_min: int | None = None,
    allow_overlap: bool = False,
    clock: Clock | None = None,
) -> str:
    """Move an appointment, with the same DST and double-booking checks as booking.

    For a series, ``following`` splits it: the old series ends before this
    occurrence and a new one starts with it (its id is returned); ``all``
    moves every occurrence by the same change of date and time.  Occurrences
    edited or cancelled on their own keep their own times.

    Returns:
        The id of the appointment, occurrence or (new) series changed.
    """
    occ, series = _target(session, appointment_id)
    _check_scope(scope, occ)
    zone = zone or occ.zone
    duration = duration_min or occ.duration_min
    now = _now(clock)
    if scope == "this" or series is None:
        start = resolve(local_start, zone, fold)
        check_details(_request(occ, local_start, zone, fold, duration))
        end = start + timedelta(minutes=duration)
        if not allow_overlap:
            found = clashes(session, occ.provider_id, [(start, end)], ignore=[occ.id])
            if found:
                raise Overlap(found)
        _save_one(
            session,
            occ,
            "appointment.reschedule",
            now,
            start_utc=utc_text(start),
            end_utc=utc_text(end),
            zone=zone,
            duration_min=duration,
        )
        return occ.id
    return _move_series(
        session,
        series,
        occ,
        local_start,
        zone,
        fold,
        duration,
        scope,
        allow_overlap,
        now,
    )


def _request(
    occ: Appointment, local_start: datetime, zone: str, fold: Fold | None, duration: int
) -> AppointmentRequest:
    return AppointmentRequest(
        occ.patient_id,
        occ.provider_id,
        local_start,
        zone,
        duration,
        occ.modality,
        occ.video_link,
        occ.location,
        occ.reason or "",
        "booked",
        fold,
    )


def _move_series(  # noqa: PLR0913 - the reschedule arguments, passed on
    session: Session,
    series: Row,
    occ: Appointment,
    local_start: datetime,
    zone: str,
    fold: Fold | None,
    duration: int,
    scope: Scope,
    allow_overlap: bool,
    now: str,
) -> str:
    old_start = datetime.fromisoformat(str(series["local_start"]))
    occ_local = recurrence.parse_recurrence_id(str(occ.recurrence_id), old_start.time())
    first = _is_first(series, occ)
    if scope == "all" or first:
        new_start = old_start + (local_start - occ_local)
        rule = str(series["rrule"])
    else:
        new_start = local_start
        rule = recurrence.remaining_count(
            str(series["rrule"]), zone, old_start, occ_local
        )
    request = _request(occ, new_start, zone, fold, duration)
    request = AppointmentRequest(
        **{**request.__dict__, "status": str(series["status"])}
    )
    occurrences = _occurrence_starts(request, rule)
    ignore = [str(series["id"])]
    if not allow_overlap:
        length = timedelta(minutes=duration)
        spans = [(o.start, o.start + length) for o in occurrences]
        found = clashes(session, occ.provider_id, spans, ignore=ignore)
        if found:
            raise Overlap(found)
    stamp = datetime.fromisoformat(now)
    values = _series_values(request, rule, occurrences, stamp)
    if scope == "all" or first:
        values.pop("created_at")
        session.write(
            AuditEvent(
                "appointment.reschedule_series",
                "appointment_series",
                str(series["id"]),
                outcome="all",
            ),
            [Mutation("appointment_series", str(series["id"]), "update", values)],
        )
        return str(series["id"])
    return _split(session, series, occ, values, now)


def _split(
    session: Session, series: Row, occ: Appointment, values: Row, now: str
) -> str:
    import uuid

    new_id = str(uuid.uuid4())
    mutations = [
        _truncate(series, occ, now),
        Mutation("appointment_series", new_id, "insert", values),
    ]
    for row in schedule_queries.exceptions_of(session.database(), [str(series["id"])]):
        if str(row["recurrence_id"]) < str(occ.recurrence_id):
            continue
        moved = {k: v for k, v in row.items() if k != "id"}
        moved |= {"series_id": new_id, "updated_at": now}
        mutations += [
            Mutation("appointments", str(row["id"]), "delete"),
            Mutation(
                "appointments", f"{new_id}.{row['recurrence_id']}", "insert", moved
            ),
        ]
    session.write(
        AuditEvent(
            "appointment.split_series",
            "appointment_series",
            str(series["id"]),
            outcome=new_id,
        ),
        mutations,
    )
    log.info("series %s split at %s into %s", series["id"], occ.recurrence_id, new_id)
    return new_id
