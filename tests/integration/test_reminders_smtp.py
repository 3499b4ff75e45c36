"""Reminders sent to a real SMTP server (aiosmtpd) on loopback, over TLS only.

The server's certificate comes from a trustme CA that only the tests trust;
the sender gets that CA through the product's ``context_factory`` hook (its
default context uses the system trust store, which must refuse the server).
AUTH is tested over STARTTLS only: aiosmtpd's AUTH under implicit TLS is
broken upstream (aio-libs/aiosmtpd#274).
"""

from __future__ import annotations

import socket
import ssl
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

import pytest
import trustme
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from desktop_crm.platform.secret_store import MemorySecretStore
from desktop_crm.services import patients, providers, settings_keys
from desktop_crm.services.clock import ManualClock
from desktop_crm.services.patient_model import ContactPoint, Patient
from desktop_crm.services.scheduling import (
    appointments,
    communications,
    reminders,
    smtp,
)
from desktop_crm.services.scheduling.model import AppointmentRequest
from desktop_crm.storage.writepath import AuditEvent, Mutation

HOST = "127.0.0.1"
USER = "reminders@clinic.example"
PASSWORD = "s3cret-smtp-pass"
# An appointment well in the future of any real clock, in the clinic's zone.
APPT_LOCAL = datetime(2031, 3, 20, 9, 0)
APPT_ZONE = "America/New_York"
APPT_UTC = datetime(2031, 3, 20, 13, 0, tzinfo=UTC)
REASON = "Depression follow-up and medication review (sertraline)"
CLINICAL_WORDS = (
    "depression",
    "sertraline",
    "medication",
    "diagnosis",
    "therapy",
    "follow-up",
    "reason",
)


@dataclass
class Inbox:
    """What the server accepted: (envelope recipients, parsed message)."""

    received: list[tuple[list[str], EmailMessage]] = field(default_factory=list)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        parsed = message_from_bytes(envelope.content, policy=policy.default)
        assert isinstance(parsed, EmailMessage)
        self.received.append((list(envelope.rcpt_tos), parsed))
        return "250 OK"


def _authenticator(
    server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any
) -> AuthResult:
    ok = (
        isinstance(auth_data, LoginPassword)
        and auth_data.login == USER.encode()
        and auth_data.password == PASSWORD.encode()
    )
    return AuthResult(success=ok, handled=False)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture(scope="module")
def server_context(ca: trustme.CA) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert(HOST).configure_cert(context)
    return context


@pytest.fixture
def trusting(ca: trustme.CA) -> Callable[[], ssl.SSLContext]:
    """The product's context (TLS 1.2+, verified) trusting only the test CA."""

    def factory() -> ssl.SSLContext:
        context = smtp.tls_context()
        ca.configure_trust(context)
        return context

    return factory


@pytest.fixture
def servers() -> Iterator[Callable[..., tuple[Controller, Inbox]]]:
    """Start aiosmtpd controllers on loopback; every one is stopped after."""
    started: list[Controller] = []

    def start(port: int | None = None, **kwargs: Any) -> tuple[Controller, Inbox]:
        inbox = Inbox()
        controller = Controller(
            inbox, hostname=HOST, port=port or _free_port(), **kwargs
        )
        controller.start()
        started.append(controller)
        return controller, inbox

    yield start
    for controller in started:
        controller.stop()


@dataclass
class Practice:
    session: Any
    secrets: MemorySecretStore
    patient_id: str
    provider_id: str
    clock: ManualClock


def _write_settings(session: Any, values: dict[str, str]) -> None:
    session.write(
        AuditEvent("settings.change", "settings", "test"),
        [Mutation("settings", k, "upsert", {"value": v}) for k, v in values.items()],
    )


def _practice(
    harness: Any,
    port: int,
    mode: str,
    *,
    username: str = "",
    language: str = "en",
    emails: tuple[ContactPoint, ...] = (
        ContactPoint("ana@patient.example", reminders=True),
        ContactPoint("ana.work@employer.example", reminders=False),
    ),
) -> Practice:
    session = harness.created.session
    secrets = MemorySecretStore()
    smtp.save_config(
        session,
        smtp.SMTPConfig(HOST, port, mode, username, "clinic@clinic.example"),
        secrets,
        PASSWORD if username else None,
    )
    _write_settings(session, {settings_keys.PRACTICE_NAME: "Lakeside Telehealth"})
    reminders.save_settings(session, offsets_hours="48,2", practice_phone="555-0100")
    patient_id = patients.create_patient(
        session,
        Patient(
            family="Rivera",
            given="Ana",
            language=language,
            timezone="America/Phoenix",
            emails=emails,
        ),
    )
    provider_id, _ = providers.upsert_practitioner(
        session, "Lee", "Sam", "Dr Lee", "", [("urn:test", "lee")]
    )
    clock = ManualClock(APPT_UTC.timestamp())
    return Practice(session, secrets, patient_id, provider_id, clock)


def _book(p: Practice, local: datetime = APPT_LOCAL) -> str:
    [appt_id] = appointments.book(
        p.session,
        AppointmentRequest(
            p.patient_id,
            p.provider_id,
            local,
            APPT_ZONE,
            30,
            modality="video",
            video_link="https://video.clinic.example/room/42",
            reason=REASON,
        ),
    )
    return appt_id


def _at(p: Practice, moment: datetime) -> None:
    p.clock.value = moment.timestamp()


def _run(p: Practice, factory: Callable[[], ssl.SSLContext]) -> reminders.RunResult:
    return reminders.run(p.session, p.secrets, clock=p.clock, context_factory=factory)


def _assert_minimal(message: EmailMessage) -> None:
    text = (str(message["Subject"]) + "\n" + message.get_content()).lower()
    for word in CLINICAL_WORDS:
        assert word not in text, word


def test_starttls_with_auth_sends_only_to_consented_address(
    memory_vault, servers, server_context, trusting
):
    controller, inbox = servers(
        tls_context=server_context,
        require_starttls=True,
        authenticator=_authenticator,
        auth_require_tls=True,
    )
    p = _practice(memory_vault, controller.port, "starttls", username=USER)
    appt_id = _book(p)
    _at(p, APPT_UTC - timedelta(hours=47))

    result = _run(p, trusting)

    assert result.line() == "sent: 1, failed: 0, pending: 0"
    assert [to for to, _ in inbox.received] == [["ana@patient.example"]]
    message = inbox.received[0][1]
    _assert_minimal(message)
    body = message.get_content()
    assert "Lakeside Telehealth" in body
    # The patient's own zone (Phoenix, MST): 09:00 EDT is 06:00 MST.
    assert "06:00 MST" in body and "Thursday, March 20, 2031" in body
    assert "https://video.clinic.example/room/42" in body
    assert "555-0100" in body
    [state] = reminders.for_appointment(p.session, appt_id)
    assert (state.status, state.attempts, state.offset_min) == ("sent", 1, 48 * 60)
    # Each send is in the communication log, linked to the appointment.
    [entry] = communications.for_patient(p.session, p.patient_id)
    assert (entry.channel, entry.direction, entry.appointment_id) == (
        "email",
        "out",
        appt_id,
    )
    assert entry.subject == str(message["Subject"])
    assert REASON.lower() not in entry.body.lower()
    # A second run sends nothing more.
    assert _run(p, trusting).line() == "sent: 0, failed: 0, pending: 0"
    assert len(inbox.received) == 1


def test_wrong_password_is_a_failure_not_a_send(
    memory_vault, servers, server_context, trusting
):
    controller, inbox = servers(
        tls_context=server_context,
        require_starttls=True,
        authenticator=_authenticator,
        auth_require_tls=True,
    )
    p = _practice(memory_vault, controller.port, "starttls", username=USER)
    p.secrets.set(smtp.password_name(p.session.vault_id), "wrong")
    appt_id = _book(p)
    _at(p, APPT_UTC - timedelta(hours=47))

    assert _run(p, trusting).line() == "sent: 0, failed: 1, pending: 1"
    assert inbox.received == []
    [state] = reminders.for_appointment(p.session, appt_id)
    assert state.status == "pending" and "refused the login" in state.last_error


def test_implicit_tls_without_auth_in_spanish(
    memory_vault, servers, server_context, trusting
):
    controller, inbox = servers(ssl_context=server_context)
    p = _practice(memory_vault, controller.port, "tls", language="es")
    _book(p)
    _at(p, APPT_UTC - timedelta(hours=1))

    assert _run(p, trusting).line() == "sent: 1, failed: 0, pending: 0"
    [(to, message)] = inbox.received
    assert to == ["ana@patient.example"]
    assert str(message["Subject"]) == (
        "Recordatorio de cita: jueves 20 de marzo de 2031 a las 06:00 MST"
    )
    body = message.get_content()
    assert body.startswith("Hola:") and "Únase a la videoconsulta" in body
    assert "llámenos al 555-0100" in body
    _assert_minimal(message)


def test_practice_edited_template_is_used(
    memory_vault, servers, server_context, trusting
):
    controller, inbox = servers(ssl_context=server_context)
    p = _practice(memory_vault, controller.port, "tls")
    reminders.save_settings(
        p.session,
        templates={("en", "subject"): "See you {date} at {time} ({practice})"},
    )
    _book(p)
    _at(p, APPT_UTC - timedelta(hours=1))

    assert _run(p, trusting).sent == 1
    assert str(inbox.received[0][1]["Subject"]) == (
        "See you Thursday, March 20, 2031 at 06:00 MST (Lakeside Telehealth)"
    )


def test_certificate_that_does_not_verify_is_refused(
    memory_vault, servers, server_context
):
    # STARTTLS with the default trust store, and implicit TLS with another CA.
    starttls, inbox_a = servers(tls_context=server_context, require_starttls=True)
    implicit, inbox_b = servers(ssl_context=server_context)
    other = trustme.CA()

    def other_ca() -> ssl.SSLContext:
        context = smtp.tls_context()
        other.configure_trust(context)
        return context

    for controller, mode, factory in (
        (starttls, "starttls", smtp.tls_context),
        (implicit, "tls", other_ca),
    ):
        sender = smtp.SMTPSender(
            smtp.SMTPConfig(HOST, controller.port, mode, "", "c@clinic.example"),
            None,
            factory,
        )
        message = EmailMessage()
        message["From"], message["To"] = "c@clinic.example", "a@patient.example"
        message["Subject"] = "x"
        message.set_content("x")
        with pytest.raises(smtp.SMTPRefused, match="certificate does not verify"):
            sender.send(message)
    assert inbox_a.received == [] and inbox_b.received == []


def test_refused_through_the_queue_when_certificate_does_not_verify(
    memory_vault, servers, server_context
):
    controller, inbox = servers(tls_context=server_context, require_starttls=True)
    p = _practice(memory_vault, controller.port, "starttls")
    appt_id = _book(p)
    _at(p, APPT_UTC - timedelta(hours=47))

    assert _run(p, smtp.tls_context).line() == "sent: 0, failed: 1, pending: 1"
    assert inbox.received == []
    [state] = reminders.for_appointment(p.session, appt_id)
    assert "certificate does not verify" in state.last_error


def test_server_without_starttls_is_refused(memory_vault, servers, trusting):
    controller, inbox = servers()  # plain SMTP, no TLS offered
    p = _practice(memory_vault, controller.port, "starttls")
    appt_id = _book(p)
    _at(p, APPT_UTC - timedelta(hours=47))

    assert _run(p, trusting).line() == "sent: 0, failed: 1, pending: 1"
    assert inbox.received == []
    [state] = reminders.for_appointment(p.session, appt_id)
    assert "offers no TLS" in state.last_error
    assert communications.for_patient(p.session, p.patient_id) == []


def test_context_without_verification_is_refused_before_connecting():
    def lax() -> ssl.SSLContext:
        context = smtp.tls_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        return context

    sender = smtp.SMTPSender(
        smtp.SMTPConfig(HOST, _free_port(), "tls", "", "c@clinic.example"), None, lax
    )
    with pytest.raises(smtp.SMTPRefused, match="without certificate checks"):
        sender.send(EmailMessage())


def test_retry_with_backoff_after_server_down(
    memory_vault, servers, server_context, trusting
):
    port = _free_port()  # nothing listens there yet
    p = _practice(memory_vault, port, "tls")
    appt_id = _book(p)
    first_try = APPT_UTC - timedelta(hours=47)
    _at(p, first_try)

    assert _run(p, trusting).line() == "sent: 0, failed: 1, pending: 1"
    [state] = reminders.for_appointment(p.session, appt_id)
    assert (state.status, state.attempts) == ("pending", 1)
    assert "cannot reach" in state.last_error

    _, inbox = servers(port=port, ssl_context=server_context)
    # Before the back-off has passed, nothing is tried.
    _at(p, first_try + reminders.BACKOFF - timedelta(seconds=1))
    assert _run(p, trusting).line() == "sent: 0, failed: 0, pending: 1"
    assert inbox.received == []
    # After it, the retry goes through.
    _at(p, first_try + reminders.BACKOFF)
    assert _run(p, trusting).line() == "sent: 1, failed: 0, pending: 0"
    assert len(inbox.received) == 1
    [state] = reminders.for_appointment(p.session, appt_id)
    assert (state.status, state.attempts, state.last_error) == ("sent", 2, "")
    assert len(communications.for_patient(p.session, p.patient_id)) == 1


def test_backoff_doubles_and_gives_up(memory_vault, trusting):
    p = _practice(memory_vault, _free_port(), "tls")
    appt_id = _book(p)
    moment = APPT_UTC - timedelta(hours=47)
    waits = []
    for _ in range(reminders.MAX_ATTEMPTS + 2):  # bounded
        _at(p, moment)
        _run(p, trusting)
        [state] = reminders.for_appointment(p.session, appt_id)
        if state.status != "pending":
            break
        waits.append(reminders.BACKOFF * 2 ** (state.attempts - 1))
        moment += waits[-1]
    assert state.status == "failed"
    assert state.attempts == reminders.MAX_ATTEMPTS
    assert waits == [
        reminders.BACKOFF * 2**k for k in range(reminders.MAX_ATTEMPTS - 1)
    ]


def test_reminders_not_yet_due_are_not_sent(
    memory_vault, servers, server_context, trusting
):
    controller, inbox = servers(ssl_context=server_context)
    p = _practice(memory_vault, controller.port, "tls")
    appt_id = _book(p)

    _at(p, APPT_UTC - timedelta(hours=49))
    assert _run(p, trusting).line() == "sent: 0, failed: 0, pending: 0"
    assert inbox.received == []
    assert reminders.for_appointment(p.session, appt_id) == []

    # 48 h before: the first; 2 h before: the second; after the start: nothing.
    _at(p, APPT_UTC - timedelta(hours=48))
    assert _run(p, trusting).sent == 1
    _at(p, APPT_UTC - timedelta(hours=3))
    assert _run(p, trusting).sent == 0
    _at(p, APPT_UTC - timedelta(hours=2))
    assert _run(p, trusting).sent == 1
    _at(p, APPT_UTC + timedelta(minutes=1))
    assert _run(p, trusting).sent == 0
    assert len(inbox.received) == 2
    assert [r.offset_min for r in reminders.for_appointment(p.session, appt_id)] == [
        48 * 60,
        2 * 60,
    ]


def test_booked_late_sends_only_the_nearest_reminder(
    memory_vault, servers, server_context, trusting
):
    controller, inbox = servers(ssl_context=server_context)
    p = _practice(memory_vault, controller.port, "tls")
    appt_id = _book(p)
    _at(p, APPT_UTC - timedelta(hours=1))

    assert _run(p, trusting).line() == "sent: 1, failed: 0, pending: 0"
    states = {
        r.offset_min: r.status for r in reminders.for_appointment(p.session, appt_id)
    }
    assert states == {48 * 60: "skipped", 2 * 60: "sent"}
    assert len(inbox.received) == 1


def test_no_consent_no_reminder_and_cancelled_no_reminder(
    memory_vault, servers, server_context, trusting
):
    from desktop_crm.services.scheduling import edits

    controller, inbox = servers(ssl_context=server_context)
    p = _practice(
        memory_vault,
        controller.port,
        "tls",
        emails=(ContactPoint("no-consent@patient.example", reminders=False),),
    )
    _book(p)
    other = _book(p, APPT_LOCAL + timedelta(hours=1))
    edits.set_status(p.session, other, "cancelled", "patient asked")
    _at(p, APPT_UTC - timedelta(hours=1))

    assert _run(p, trusting).line() == "sent: 0, failed: 0, pending: 0"
    assert inbox.received == []


def test_queued_reminder_of_cancelled_or_moved_appointment_is_not_sent(
    memory_vault, servers, trusting
):
    from desktop_crm.services.scheduling import edits

    port = _free_port()  # down: the reminders stay queued
    p = _practice(memory_vault, port, "tls")
    cancelled = _book(p)
    moved = _book(p, APPT_LOCAL + timedelta(hours=1))
    _at(p, APPT_UTC - timedelta(hours=47))
    assert _run(p, trusting).line() == "sent: 0, failed: 2, pending: 2"

    edits.set_status(p.session, cancelled, "cancelled", "patient asked")
    edits.reschedule(p.session, moved, APPT_LOCAL + timedelta(days=1, hours=1))
    _at(p, APPT_UTC - timedelta(hours=46))
    # The old reminders are dropped without a connection; the moved
    # appointment is not due again yet (it is now 70 h away).
    assert _run(p, trusting).line() == "sent: 0, failed: 0, pending: 0"
    states = reminders.for_appointment(p.session, cancelled)
    assert [(s.status, s.last_error) for s in states] == [
        ("skipped", "the appointment is cancelled")
    ]
    [old] = reminders.for_appointment(p.session, moved)
    assert (old.status, old.last_error) == ("skipped", "the appointment was moved")
