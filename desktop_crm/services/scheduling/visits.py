"""The virtual-visit log: one record per telehealth encounter.

Starting a visit from an appointment writes, in one audited transaction, a
``visits`` row (the Encounter: class VR, status in-progress, so the patient's
FHIR export and the provider's notes scope see it), a ``virtual_visits`` row
with the telehealth details, and the appointment's status: ``booked`` moves
to ``arrived`` (FHIR R4's Appointment has no in-progress; the Encounter is the
one in progress), ``arrived`` and ``checked-in`` stay.  Closing records the
end on both rows, finishes the Encounter and fulfils the appointment.

Consent to telehealth must be recorded before a visit starts.  The clinical
note is written and read only by users for whom ``roles.may_read_notes``
holds (``visits.notes`` and the provider notes scope); everyone else sees
``note=None``.  Front-desk actions: :func:`check_in` and :func:`mark_no_show`.
"""

from __future__ import annotations

import json
import logging
import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from desktop_crm.errors import InvalidInput, NotPermitted
from desktop_crm.services.clock import Clock, SystemClock
from desktop_crm.services.roles import may_read_notes
from desktop_crm.services.scheduling import appointments, edits
from desktop_crm.services.scheduling.model import Appointment, check_video_link
from desktop_crm.services.scheduling.timezones import from_utc_text, utc_text
from desktop_crm.services.session import Session
from desktop_crm.storage import schedule_extra_queries as q
from desktop_crm.storage.writepath import AuditEvent, Mutation

log = logging.getLogger(__name__)

VISIT_MODALITIES = ("video", "audio-only")
CONSENT_METHODS = ("verbal", "written", "electronic")
#: Appointment statuses from which a visit may start.
STARTABLE = frozenset({"booked", "arrived", "checked-in"})
CHECK_IN_FROM = frozenset({"proposed", "booked", "arrived"})
NO_SHOW_FROM = frozenset({"proposed", "booked", "arrived", "checked-in"})
#: States (and regions) whose code the licensure check needs.
STATE_REQUIRED = frozenset({"US", "CA", "AU"})
MAX_PARTICIPANTS = 12
MAX_NAME = 100
MAX_PROBLEM = 500
MAX_PROBLEMS = 50
MAX_NOTE = 20_000
_COUNTRY = re.compile(r"^[A-Z]{2}$")
_TYPE = {"video": "Video visit", "audio-only": "Audio-only visit"}


@dataclass(frozen=True)
class Problem:
    """A connection problem noted during the visit."""

    at: datetime
    text: str


@dataclass(frozen=True)
class VirtualVisit:
    """One telehealth encounter; ``note`` is None when the viewer may not read it."""

    id: str
    appointment_id: str
    patient_id: str
    provider_id: str
    started: datetime
    ended: datetime | None
    modality: str
    platform: str
    link: str
    participants: tuple[str, ...]
    location_country: str
    location_state: str
    consent_method: str
    consent_at: datetime
    consent_by: str | None
    problems: tuple[Problem, ...]
    note: str | None

    @property
    def state(self) -> str:
        """``in-progress`` or ``closed``."""
        return "in-progress" if self.ended is None else "closed"

    @property
    def duration_min(self) -> int | None:
        """Whole minutes from start to end (None while in progress)."""
        if self.ended is None:
            return None
        return int((self.ended - self.started).total_seconds() // 60)


@dataclass(frozen=True)
class VisitStart:
    """What starting a visit records besides what the appointment gives.

    ``consent`` is how the patient consented to telehealth (``verbal``,
    ``written`` or ``electronic``); ``location_country`` an ISO 3166 code
    (``US``), with ``location_state`` (``CA``) required for US, CA and AU.
    ``modality``/``link`` default to the appointment's.
    """

    consent: str
    location_country: str
    location_state: str = ""
    participants: tuple[str, ...] = ()
    platform: str = ""
    link: str | None = None
    modality: str | None = None


def _now(clock: Clock | None) -> datetime:
    return datetime.fromtimestamp((clock or SystemClock()).now(), UTC)


# -- front desk --------------------------------------------------------------------


def _appointment(session: Session, appointment_id: str) -> Appointment:
    session.require("appointments.write")
    return appointments._load(
        session, appointment_id, appointments.ReasonPolicy(session)
    )


def check_in(
    session: Session, appointment_id: str, *, clock: Clock | None = None
) -> None:
    """Mark the patient checked in (FHIR ``checked-in``).

    Raises:
        InvalidInput: the appointment is cancelled, fulfilled, a no-show or
            already checked in (field ``status``).
    """
    appt = _appointment(session, appointment_id)
    if appt.status not in CHECK_IN_FROM:
        raise InvalidInput("status", f"a {appt.status} appointment cannot check in")
    edits.set_status(session, appointment_id, "checked-in", clock=clock)


def mark_no_show(
    session: Session, appointment_id: str, *, clock: Clock | None = None
) -> None:
    """Mark the appointment a no-show (FHIR ``noshow``).

    Raises:
        InvalidInput: the visit has started, or the appointment is already
            cancelled, fulfilled or a no-show.
    """
    appt = _appointment(session, appointment_id)
    if q.visit_of_appointment(session.database(), appt.id) is not None:
        raise InvalidInput("status", "the visit has started: it is no no-show")
    if appt.status not in NO_SHOW_FROM:
        raise InvalidInput("status", f"a {appt.status} appointment cannot be a no-show")
    edits.set_status(session, appointment_id, "noshow", clock=clock)


# -- checking what a visit records ----------------------------------------------


def _check_participants(names: Sequence[str]) -> list[str]:
    if isinstance(names, str):
        raise InvalidInput("participants", "give a list of names")
    found = [n.strip() for n in names if n.strip()]
    if len(found) > MAX_PARTICIPANTS:
        raise InvalidInput("participants", f"at most {MAX_PARTICIPANTS}")
    if any(len(n) > MAX_NAME for n in found):
        raise InvalidInput("participants", f"each at most {MAX_NAME} characters")
    return found


def _check_location(country: str, state: str) -> tuple[str, str]:
    country = country.strip().upper()
    if not _COUNTRY.match(country):
        raise InvalidInput(
            "location country", "give the two-letter country code (e.g. US)"
        )
    state = state.strip()
    if len(state) > MAX_NAME:
        raise InvalidInput("location state", f"use at most {MAX_NAME} characters")
    if country in STATE_REQUIRED and not state:
        raise InvalidInput(
            "location state", "give the state or territory the patient is in"
        )
    return country, state


def _check_start(details: VisitStart, appt: Appointment) -> dict[str, Any]:
    """The checked details (consent first: nothing starts without it)."""
    if details.consent not in CONSENT_METHODS:
        raise InvalidInput(
            "consent",
            "record the patient's consent to telehealth (verbal, written or "
            "electronic) before starting the visit",
        )
    if appt.modality == "in-person":
        raise InvalidInput("modality", "an in-person appointment has no virtual visit")
    modality = details.modality or ("video" if appt.modality == "video" else "")
    modality = modality or "audio-only"
    if modality not in VISIT_MODALITIES:
        raise InvalidInput("modality", "choose video or audio-only")
    country, state = _check_location(details.location_country, details.location_state)
    platform = details.platform.strip()
    if len(platform) > MAX_NAME:
        raise InvalidInput("platform", f"use at most {MAX_NAME} characters")
    link = appt.video_link if details.link is None else details.link
    return {
        "modality": modality,
        "platform": platform,
        "link": check_video_link(link),
        "participants": json.dumps(_check_participants(details.participants)),
        "location_country": country,
        "location_state": state,
        "consent_method": details.consent,
    }


# -- start and close ----------------------------------------------------------------


def start_visit(
    session: Session,
    appointment_id: str,
    details: VisitStart,
    *,
    clock: Clock | None = None,
) -> str:
    """Start the virtual visit of an appointment; returns the visit id.

    Raises:
        NotPermitted: the user lacks ``appointments.write``.
        AppointmentNotFound: no such appointment.
        InvalidInput: no consent recorded (field ``consent``), an in-person
            appointment, a status that cannot start (``status``), a visit
            already started (``appointment``), or another bad field (named).
    """
    appt = _appointment(session, appointment_id)
    values = _check_start(details, appt)
    if appt.status not in STARTABLE:
        raise InvalidInput("status", f"a {appt.status} appointment cannot start")
    db = session.database()
    if q.visit_of_appointment(db, appt.id) is not None:
        raise InvalidInput("appointment", "its visit has already started")
    now = _now(clock)
    status = "arrived" if appt.status == "booked" else appt.status
    _, status_change = edits.status_mutation(session, appt.id, status, clock=clock)
    visit_id = str(uuid.uuid4())
    encounter = {
        "patient_id": appt.patient_id,
        "provider_id": appt.provider_id,
        "start": utc_text(now),
        "class": "VR",
        "type": _TYPE[values["modality"]],
        "status": "in-progress",
        "source_key": f"appointment:{appt.id}",
    }
    values |= {
        "appointment_id": appt.id,
        "started_utc": utc_text(now),
        "consent_utc": utc_text(now),
        "consent_by": session.user_id,
        "updated_at": utc_text(now),
    }
    session.write(
        AuditEvent("visit.start", "visit", visit_id, outcome=values["modality"]),
        [
            status_change,
            Mutation("visits", visit_id, "insert", encounter),
            Mutation("virtual_visits", visit_id, "insert", values),
        ],
    )
    log.info("visit %s started for appointment %s", visit_id, appt.id)
    return visit_id


def _row(session: Session, visit_id: str) -> dict[str, Any]:
    row = q.virtual_visit(session.database(), visit_id)
    if row is None:
        raise InvalidInput("visit", "no visit with that id")
    return row


def _open_row(session: Session, visit_id: str) -> dict[str, Any]:
    session.require("appointments.write")
    row = _row(session, visit_id)
    if row["ended_utc"] is not None:
        raise InvalidInput("visit", "is already closed")
    return row


def close_visit(session: Session, visit_id: str, *, clock: Clock | None = None) -> None:
    """Record the end of a visit, finish its Encounter and fulfil the appointment.

    Raises:
        InvalidInput: no such visit, or one already closed (field ``visit``).
    """
    row = _open_row(session, visit_id)
    now = _now(clock)
    start = from_utc_text(str(row["started_utc"]))
    end = max(now, start)
    _, status_change = edits.status_mutation(
        session, str(row["appointment_id"]), "fulfilled", clock=clock
    )
    session.write(
        AuditEvent("visit.close", "visit", visit_id),
        [
            status_change,
            Mutation(
                "visits",
                visit_id,
                "update",
                {"end": utc_text(end), "status": "finished"},
            ),
            Mutation(
                "virtual_visits",
                visit_id,
                "update",
                {"ended_utc": utc_text(end), "updated_at": utc_text(now)},
            ),
        ],
    )
    log.info("visit %s closed", visit_id)


def report_problem(
    session: Session, visit_id: str, text: str, *, clock: Clock | None = None
) -> None:
    """Note a connection problem (dropped call, no audio...) on an open visit.

    Raises:
        InvalidInput: empty or too long (field ``connection problem``), or
            the visit is closed or unknown.
    """
    text = text.strip()
    if not text or len(text) > MAX_PROBLEM:
        raise InvalidInput(
            "connection problem",
            f"say what went wrong in 1 to {MAX_PROBLEM} characters",
        )
    row = _open_row(session, visit_id)
    problems = json.loads(str(row["problems"]))
    if len(problems) >= MAX_PROBLEMS:
        raise InvalidInput("connection problem", f"at most {MAX_PROBLEMS} a visit")
    now = utc_text(_now(clock))
    problems.append({"at": now, "text": text})
    session.write(
        AuditEvent("visit.problem", "visit", visit_id),
        [
            Mutation(
                "virtual_visits",
                visit_id,
                "update",
                {"problems": json.dumps(problems), "updated_at": now},
            )
        ],
    )


def set_note(
    session: Session, visit_id: str, text: str, *, clock: Clock | None = None
) -> None:
    """Write the visit's clinical note (replacing the previous text).

    Raises:
        NotPermitted: the user may not read this patient's notes
            (``visits.notes`` and the provider notes scope).
        InvalidInput: too long (field ``note``), or no such visit.
    """
    row = _row(session, visit_id)
    patient_id = q.visit_patient(session.database(), visit_id) or ""
    if not may_read_notes(session, patient_id):
        log.info("refused visit note for user %s", session.user_id)
        raise NotPermitted("visits.notes")
    if len(text) > MAX_NOTE:
        raise InvalidInput("note", f"use at most {MAX_NOTE} characters")
    session.write(
        AuditEvent("visit.note", "visit", str(row["id"]), fields=("note",)),
        [
            Mutation(
                "virtual_visits",
                visit_id,
                "update",
                {"note": text, "updated_at": utc_text(_now(clock))},
            )
        ],
    )


# -- reading -----------------------------------------------------------------------


def _from_row(session: Session, row: dict[str, Any]) -> VirtualVisit:
    db = session.database()
    visit_id = str(row["id"])
    patient_id = q.visit_patient(db, visit_id) or ""
    provider_id = q.visit_provider(db, visit_id) or ""
    ended = row["ended_utc"]
    return VirtualVisit(
        id=visit_id,
        appointment_id=str(row["appointment_id"]),
        patient_id=patient_id,
        provider_id=provider_id,
        started=from_utc_text(str(row["started_utc"])),
        ended=None if ended is None else from_utc_text(str(ended)),
        modality=str(row["modality"]),
        platform=str(row["platform"]),
        link=str(row["link"]),
        participants=tuple(json.loads(str(row["participants"]))),
        location_country=str(row["location_country"]),
        location_state=str(row["location_state"]),
        consent_method=str(row["consent_method"]),
        consent_at=from_utc_text(str(row["consent_utc"])),
        consent_by=None if row["consent_by"] is None else str(row["consent_by"]),
        problems=tuple(
            Problem(from_utc_text(p["at"]), str(p["text"]))
            for p in json.loads(str(row["problems"]))
        ),
        note=str(row["note"]) if may_read_notes(session, patient_id) else None,
    )


def get_visit(session: Session, visit_id: str) -> VirtualVisit:
    """One visit (audited as ``visit.view``); the note only for those who may.

    Raises:
        NotPermitted: the user lacks ``appointments.read``.
        InvalidInput: no visit with that id.
    """
    session.require("appointments.read")
    found = _from_row(session, _row(session, visit_id))
    session.write(AuditEvent("visit.view", "visit", visit_id))
    return found


def visit_for_appointment(session: Session, appointment_id: str) -> VirtualVisit | None:
    """The visit started from an appointment, if any (audited when found)."""
    session.require("appointments.read")
    row = q.visit_of_appointment(session.database(), appointment_id)
    if row is None:
        return None
    found = _from_row(session, row)
    session.write(AuditEvent("visit.view", "visit", found.id))
    return found
