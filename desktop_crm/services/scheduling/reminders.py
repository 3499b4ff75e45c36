"""Appointment reminders: planned at the practice's offsets, queued, retried.

Only e-mail addresses the patient consented to (``ContactPoint.reminders``)
get a reminder.  The text says the minimum: the practice, the date and time
in the patient's zone, how to join and how to cancel; never the reason or
any other clinical word.  Each send is logged in the communication log in
the same write as the reminder's new status.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from typing import Any, Protocol

from desktop_crm.errors import InvalidInput
from desktop_crm.platform.secret_store import SecretStore
from desktop_crm.services import settings_keys
from desktop_crm.services.clock import Clock, SystemClock
from desktop_crm.services.patient_model import Patient
from desktop_crm.services.patients import load_patient
from desktop_crm.services.scheduling import appointments, communications, smtp
from desktop_crm.services.scheduling.model import Appointment, AppointmentNotFound
from desktop_crm.services.scheduling.timezones import from_utc_text, utc_text, zone_of
from desktop_crm.services.session import Session
from desktop_crm.storage import schedule_queries
from desktop_crm.storage.writepath import AuditEvent, Mutation

log = logging.getLogger(__name__)

OFFSETS = "reminders.offsets_hours"
DEFAULT_OFFSETS = "48,2"
PRACTICE_PHONE = "practice.phone"
MAX_ATTEMPTS = 5
BACKOFF = timedelta(minutes=5)
#: Only statuses that still expect the patient get a reminder.
REMIND_STATUSES = frozenset({"proposed", "booked"})

_DAYS = {
    "en": "Monday Tuesday Wednesday Thursday Friday Saturday Sunday".split(),
    "es": "lunes martes miércoles jueves viernes sábado domingo".split(),
}
_MONTHS = {
    "en": "January February March April May June July August September October "
    "November December".split(),
    "es": "enero febrero marzo abril mayo junio julio agosto septiembre octubre "
    "noviembre diciembre".split(),
}
#: The shipped templates; a practice overrides them with the settings
#: ``reminders.template.<language>.subject`` and ``.body``.
TEMPLATES: dict[str, dict[str, str]] = {
    "en": {
        "subject": "Appointment reminder: {date} at {time}",
        "body": "Hello,\n\nThis is a reminder of your appointment with {practice} "
        "on {date} at {time}.\n\n{join}\n\nTo cancel or reschedule, {cancel}.\n\n"
        "{practice}\n",
        "video": "Join the video visit at: {link}",
        "video_later": "We will send you the link to join the video visit.",
        "phone": "We will call you at the phone number we have on file.",
        "in-person": "Where: {location}",
        "cancel_phone": "please call us at {phone}",
        "cancel_reply": "please reply to this e-mail",
    },
    "es": {
        "subject": "Recordatorio de cita: {date} a las {time}",
        "body": "Hola:\n\nLe recordamos su cita con {practice} el {date} a las "
        "{time}.\n\n{join}\n\nPara cancelar o cambiar la cita, {cancel}.\n\n"
        "{practice}\n",
        "video": "Únase a la videoconsulta en: {link}",
        "video_later": "Le enviaremos el enlace para la videoconsulta.",
        "phone": "Le llamaremos al número de teléfono que tenemos registrado.",
        "in-person": "Lugar: {location}",
        "cancel_phone": "llámenos al {phone}",
        "cancel_reply": "responda a este correo",
    },
}


class Sender(Protocol):
    """Anything that delivers an e-mail message or raises SMTPRefused."""

    def send(self, message: EmailMessage) -> None: ...


@dataclass(frozen=True)
class RunResult:
    """What one run did: sent and failed this run, pending after it."""

    sent: int
    failed: int
    pending: int

    def line(self) -> str:
        return f"sent: {self.sent}, failed: {self.failed}, pending: {self.pending}"


@dataclass(frozen=True)
class Reminder:
    """A reminder's state, shown on the appointment and the Today board."""

    id: str
    offset_min: int
    address: str
    status: str
    attempts: int
    last_error: str


def offsets(session: Session) -> list[int]:
    """The practice's reminder offsets in minutes, largest first."""
    return _parse_offsets(session.setting(OFFSETS, DEFAULT_OFFSETS))


def _parse_offsets(text: str) -> list[int]:
    try:
        hours = [float(h) for h in text.split(",") if h.strip()]
    except ValueError as exc:
        raise InvalidInput("reminder offsets", "hours, separated by commas") from exc
    if any(not 0 < h <= 24 * 14 for h in hours):
        raise InvalidInput("reminder offsets", "each between 0 and 336 hours")
    return sorted({int(h * 60) for h in hours}, reverse=True)


def save_settings(
    session: Session,
    *,
    offsets_hours: str | None = None,
    practice_phone: str | None = None,
    templates: Mapping[tuple[str, str], str] | None = None,
) -> None:
    """Store the reminder offsets, the practice phone and edited templates (admin).

    ``templates`` maps (language, "subject" or "body") to the new text; it
    may use the shipped fields ({practice}, {date}, {time}, {join}, {cancel}).

    Raises:
        NotPermitted: the user lacks ``settings.manage``.
        InvalidInput: offsets that are not hours, or a template field unknown.
    """
    session.require("settings.manage")
    values: dict[str, str] = {}
    if offsets_hours is not None:
        values[OFFSETS] = offsets_hours
    if practice_phone is not None:
        values[PRACTICE_PHONE] = practice_phone.strip()
    fields = dict.fromkeys(("practice", "date", "time", "join", "cancel"), "")
    for (lang, part), text in (templates or {}).items():
        if lang not in TEMPLATES or part not in ("subject", "body"):
            raise InvalidInput("template", f"no {part} template for '{lang}'")
        try:
            text.format(**fields)
        except (KeyError, IndexError, ValueError) as exc:
            raise InvalidInput("template", f"unknown field in {lang} {part}") from exc
        values[f"reminders.template.{lang}.{part}"] = text
    if OFFSETS in values:
        _parse_offsets(values[OFFSETS])
    if values:
        session.write(
            AuditEvent("settings.change", "settings", ",".join(sorted(values))),
            [
                Mutation("settings", k, "upsert", {"value": v})
                for k, v in values.items()
            ],
        )


# -- the text ----------------------------------------------------------------------


def _template(session: Session, language: str) -> dict[str, str]:
    lang = language.split("-")[0].lower()
    base = dict(TEMPLATES.get(lang, TEMPLATES["en"]))
    code = lang if lang in TEMPLATES else "en"
    for part in ("subject", "body"):
        base[part] = session.setting(f"reminders.template.{code}.{part}", base[part])
    base["lang"] = code
    return base


def _date_text(local: datetime, lang: str) -> str:
    day = _DAYS[lang][local.weekday()]
    month = _MONTHS[lang][local.month - 1]
    if lang == "es":
        return f"{day} {local.day} de {month} de {local.year}"
    return f"{day}, {month} {local.day}, {local.year}"


def compose(
    session: Session, appt: Appointment, patient: Patient, address: str
) -> EmailMessage:
    """The reminder message for one address (no reason, no clinical word)."""
    config = smtp.load_config(session)
    text = _template(session, patient.language)
    zone = patient.timezone or appt.zone
    local = appt.start.astimezone(zone_of(zone))
    phone = session.setting(PRACTICE_PHONE, "")
    fields: dict[str, Any] = {
        "practice": session.setting(settings_keys.PRACTICE_NAME, ""),
        "date": _date_text(local, text["lang"]),
        "time": f"{local:%H:%M} {local.tzname()}",
        "link": appt.video_link,
        "location": appt.location,
        "phone": phone,
    }
    join_key = appt.modality
    if appt.modality == "video" and not appt.video_link:
        join_key = "video_later"
    fields["join"] = text[join_key].format(**fields)
    fields["cancel"] = text["cancel_phone" if phone else "cancel_reply"].format(
        **fields
    )
    message = EmailMessage()
    message["From"] = config.sender
    message["To"] = address
    message["Subject"] = text["subject"].format(**fields)
    message["Date"] = format_datetime(datetime.now(UTC))
    message["Message-ID"] = make_msgid(domain=config.sender.rpartition("@")[2])
    message.set_content(text["body"].format(**fields))
    return message


# -- planning ----------------------------------------------------------------------


def _reminder_id(appointment_id: str, offset: int, address: str, start: str) -> str:
    # The start is part of the key: a moved appointment is reminded anew.
    digest = hashlib.sha256(f"{address.lower()}|{start}".encode()).hexdigest()[:16]
    return f"{appointment_id}:{offset}:{digest}"


class _NoReasons(appointments.ReasonPolicy):
    def __init__(self) -> None:
        pass

    def visible(self, provider_id: str) -> bool:
        return False


def plan(session: Session, now: datetime) -> int:
    """Queue the reminders that have come due; returns how many were queued.

    When several offsets of one appointment are due at once (booked late),
    only the one nearest the appointment is sent; the others are recorded
    as skipped.
    """
    steps = offsets(session)
    if not steps:
        return 0
    db = session.database()
    upcoming = [
        a
        for a in appointments._between(
            # Inclusive of the largest offset: a reminder due exactly now.
            session,
            now,
            now + timedelta(minutes=steps[0], seconds=1),
            None,
            _NoReasons(),
        )
        if a.status in REMIND_STATUSES and a.start > now
    ]
    known = schedule_queries.reminder_ids_of(db, [a.id for a in upcoming])
    mutations: list[Mutation] = []
    for appt in upcoming:
        mutations += _plan_one(session, appt, steps, now, known)
    if mutations:
        session.write(AuditEvent("reminders.plan", "reminders", None), mutations)
    return sum(1 for m in mutations if m.values["status"] == "pending")


def _plan_one(
    session: Session,
    appt: Appointment,
    steps: list[int],
    now: datetime,
    known: set[str],
) -> list[Mutation]:
    due = [s for s in steps if appt.start - timedelta(minutes=s) <= now]
    if not due:
        return []
    patient = load_patient(session, appt.patient_id)
    found = []
    for contact in patient.emails:
        if not contact.reminders:
            continue
        for step in due:
            key = _reminder_id(appt.id, step, contact.value, utc_text(appt.start))
            if key in known:
                continue
            status = "pending" if step == due[-1] else "skipped"
            values = {
                "appointment_id": appt.id,
                "patient_id": appt.patient_id,
                "offset_min": step,
                "channel": "email",
                "address": contact.value,
                "due_utc": utc_text(appt.start - timedelta(minutes=step)),
                "start_utc": utc_text(appt.start),
                "status": status,
                "attempts": 0,
                "next_attempt_utc": utc_text(now),
            }
            found.append(Mutation("reminders", key, "insert", values))
    return found


# -- sending -----------------------------------------------------------------------


def _sender_for(
    session: Session, secrets: SecretStore, context_factory: Any
) -> smtp.SMTPSender:
    config = smtp.load_config(session)
    password = secrets.get(smtp.password_name(session.vault_id))
    return smtp.SMTPSender(config, password, context_factory)


def run(
    session: Session,
    secrets: SecretStore,
    *,
    clock: Clock | None = None,
    sender: Sender | None = None,
    context_factory: Any = smtp.tls_context,
) -> RunResult:
    """Queue what is due and send what is ready; one audited write per send.

    Raises:
        NotPermitted: the user lacks ``reminders.run``.
        SMTPRefused: no SMTP server is set up.
    """
    session.require("reminders.run")
    now = datetime.fromtimestamp((clock or SystemClock()).now(), UTC)
    plan(session, now)
    ready = schedule_queries.reminders_ready(session.database(), utc_text(now))
    if ready and sender is None:
        sender = _sender_for(session, secrets, context_factory)
    sent = failed = 0
    for row in ready:
        assert sender is not None
        outcome = _send_one(session, sender, row, now)
        sent += outcome == "sent"
        failed += outcome == "failed"
    pending = schedule_queries.count_reminders(session.database(), "pending")
    log.info("reminders run: %d sent, %d failed, %d pending", sent, failed, pending)
    return RunResult(sent, failed, pending)


def _send_one(
    session: Session, sender: Sender, row: Mapping[str, Any], now: datetime
) -> str:
    """Send one queued reminder: ``sent``, ``failed`` or ``skipped``."""
    reminder_id = str(row["id"])
    attempts = int(row["attempts"]) + 1
    start = from_utc_text(str(row["start_utc"]))
    if start <= now:
        _fail(session, reminder_id, attempts, "the appointment has started", final=True)
        return "failed"
    try:
        appt = appointments._load(session, str(row["appointment_id"]), _NoReasons())
    except AppointmentNotFound:
        _skip(session, reminder_id, "the appointment no longer exists")
        return "skipped"
    if appt.status not in REMIND_STATUSES:
        _skip(session, reminder_id, f"the appointment is {appt.status}")
        return "skipped"
    if appt.start != start:
        _skip(session, reminder_id, "the appointment was moved")
        return "skipped"
    try:
        patient = load_patient(session, appt.patient_id)
        message = compose(session, appt, patient, str(row["address"]))
        sender.send(message)
    except smtp.SMTPRefused as exc:
        backoff = BACKOFF * 2 ** (attempts - 1)
        final = attempts >= MAX_ATTEMPTS or now + backoff >= start
        _fail(
            session,
            reminder_id,
            attempts,
            exc.message,
            final=final,
            retry=now + backoff,
        )
        return "failed"
    entry_id, logged = communications.mutation(
        session,
        communications.Communication(
            patient_id=appt.patient_id,
            channel="email",
            direction="out",
            subject=str(message["Subject"]),
            body=message.get_content(),
            appointment_id=appt.id,
            at=now,
        ),
    )
    update = {
        "status": "sent",
        "attempts": attempts,
        "sent_utc": utc_text(now),
        "last_error": "",
    }
    session.write(
        AuditEvent("reminder.sent", "reminder", reminder_id),
        [Mutation("reminders", reminder_id, "update", update), logged],
    )
    log.info("reminder %s sent (communication %s)", reminder_id, entry_id)
    return "sent"


def _skip(session: Session, reminder_id: str, why: str) -> None:
    """Drop a queued reminder that no longer applies (nothing is sent)."""
    session.write(
        AuditEvent("reminder.skipped", "reminder", reminder_id),
        [
            Mutation(
                "reminders",
                reminder_id,
                "update",
                {"status": "skipped", "last_error": why},
            )
        ],
    )
    log.info("reminder %s skipped: %s", reminder_id, why)


def _fail(
    session: Session,
    reminder_id: str,
    attempts: int,
    error: str,
    *,
    final: bool,
    retry: datetime | None = None,
) -> None:
    values: dict[str, Any] = {"attempts": attempts, "last_error": error[:300]}
    if final:
        values["status"] = "failed"
    elif retry is not None:
        values["next_attempt_utc"] = utc_text(retry)
    session.write(
        AuditEvent(
            "reminder.failed",
            "reminder",
            reminder_id,
            outcome="final" if final else "retry",
        ),
        [Mutation("reminders", reminder_id, "update", values)],
    )
    log.info("reminder %s failed (attempt %d)", reminder_id, attempts)


def for_appointment(session: Session, appointment_id: str) -> list[Reminder]:
    """The reminders of one appointment and their status (failed ones show)."""
    session.require("appointments.read")
    return [
        Reminder(
            str(r["id"]),
            int(r["offset_min"]),
            str(r["address"]),
            str(r["status"]),
            int(r["attempts"]),
            str(r["last_error"]),
        )
        for r in schedule_queries.reminders_of(session.database(), appointment_id)
    ]
