"""The Today board: a practice day's appointments with times, reminders, visits."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from schedule_extras_support import NY, add_patient, add_provider

from desktop_crm.errors import InvalidInput, NotPermitted
from desktop_crm.services import patients
from desktop_crm.services.clock import ManualClock
from desktop_crm.services.patient_model import ContactPoint, Patient
from desktop_crm.services.scheduling import appointments
from desktop_crm.services.scheduling import today as board
from desktop_crm.services.scheduling import visits as vv
from desktop_crm.services.scheduling.model import AppointmentRequest
from desktop_crm.services.scheduling.timezones import utc_text
from desktop_crm.storage.writepath import AuditEvent, Mutation

DAY = date(2031, 6, 2)  # practice zone of the test vault: America/Chicago


def _book(session, patient, provider, hh, zone=NY, day=DAY, modality="video"):
    local = datetime(day.year, day.month, day.day, hh, 0)
    request = AppointmentRequest(patient, provider, local, zone, 30, modality=modality)
    return appointments.book(session, request)[0]


def _reminder(session, appt_id, patient_id, status, due):
    session.write(
        AuditEvent("test.reminder", "reminder", appt_id),
        [
            Mutation(
                "reminders",
                f"{appt_id}:{status}",
                "insert",
                {
                    "appointment_id": appt_id,
                    "patient_id": patient_id,
                    "offset_min": 120,
                    "channel": "email",
                    "address": "a@example.org",
                    "due_utc": utc_text(due),
                    "start_utc": utc_text(due + timedelta(hours=2)),
                    "status": status,
                    "attempts": 1,
                    "next_attempt_utc": utc_text(due),
                },
            )
        ],
    )


@pytest.fixture
def day(memory_vault):
    session = memory_vault.created.session
    lee, moss = add_provider(session), add_provider(session, "Moss", "America/Denver")
    london = add_patient(session, "Rivera", "Europe/London")
    plain = add_patient(session, "Chen")
    consented = patients.create_patient(
        session,
        Patient(
            family="Diaz",
            given="Eva",
            emails=(ContactPoint("eva@example.org", reminders=True),),
        ),
    )
    rows = {
        "failed": _book(session, london, lee, 9),  # 08:00 Chicago
        "late": _book(session, plain, lee, 11, zone="America/Chicago"),
        "missed": _book(session, consented, moss, 9, zone="America/Denver"),
        "quiet": _book(session, plain, moss, 13, zone="America/Chicago"),
    }
    _book(session, plain, lee, 9, day=DAY + timedelta(days=1))  # another day
    return session, lee, moss, london, plain, consented, rows


def _at(hh: int, mm: int = 0) -> ManualClock:
    moment = datetime(2031, 6, 2, hh, mm, tzinfo=UTC)
    return ManualClock(moment.timestamp())


def test_the_board_lists_the_day_by_time_with_both_zones(day):
    session, lee, _moss, london, *_rest, rows = day

    found = board.today(session, DAY, viewer_zone=NY, clock=_at(5))

    assert [r.appointment_id for r in found] == [
        rows["failed"],
        rows["missed"],
        rows["late"],
        rows["quiet"],
    ]
    first = found[0]
    assert (first.time, first.patient_time) == ("09:00 EDT", "14:00 BST")
    assert (first.patient_name, first.provider_name) == ("Rivera, Ana", "Dr Lee")
    assert (first.modality, first.status, first.visit_state) == (
        "video",
        "booked",
        "none",
    )
    assert found[2].patient_time == ""  # no zone of their own
    assert [r.time for r in board.today(session, "2031-06-02", clock=_at(5))][:2] == [
        "08:00 CDT",
        "10:00 CDT",
    ]


def test_failed_and_late_reminders_are_flagged(day):
    session, _lee, _moss, london, plain, _consented, rows = day
    starts = {r.appointment_id: r.start for r in board.today(session, DAY)}
    _reminder(
        session,
        rows["failed"],
        london,
        "failed",
        starts[rows["failed"]] - timedelta(hours=2),
    )
    _reminder(
        session,
        rows["late"],
        plain,
        "pending",
        starts[rows["late"]] - timedelta(hours=2),
    )

    # 14:00Z: the 'late' one (16:00Z) was due at 14:00Z: not yet late.
    states = {
        r.appointment_id: r.reminders for r in board.today(session, DAY, clock=_at(14))
    }
    assert states[rows["failed"]] == "failed"
    assert states[rows["late"]] == "pending"
    assert states[rows["missed"]] == "late"  # 15:00Z: due 13:00Z, none queued
    assert states[rows["quiet"]] == ""  # no consent: nothing to send

    states = {
        r.appointment_id: r.reminders
        for r in board.today(session, DAY, clock=_at(14, 20))
    }
    assert states[rows["late"]] == "late"


def test_visit_state_and_provider_filter(day):
    session, lee, moss, *_rest, rows = day
    visit_id = vv.start_visit(session, rows["failed"], vv.VisitStart("verbal", "GB"))

    mine = board.today(session, DAY, lee, clock=_at(5))

    assert [r.appointment_id for r in mine] == [rows["failed"], rows["late"]]
    assert (mine[0].visit_id, mine[0].visit_state, mine[0].status) == (
        visit_id,
        "in-progress",
        "arrived",
    )
    vv.close_visit(session, visit_id)
    assert board.today(session, DAY, lee)[0].visit_state == "closed"


def test_bad_date_or_zone_names_the_field(day):
    session = day[0]
    for kwargs, field in (
        ({"day": "02/06/2031"}, "date"),
        ({"day": DAY, "viewer_zone": "Nowhere/City"}, "viewer zone"),
    ):
        with pytest.raises(InvalidInput) as caught:
            board.today(session, **kwargs)
        assert caught.value.field == field


def test_the_board_needs_appointments_read(memory_vault, day, add_staff):
    from schedule_extras_support import unlock

    auditor = unlock(memory_vault, add_staff("Al Auditor", "auditor", "246813"))
    with pytest.raises(NotPermitted):
        board.today(auditor, DAY)
    auditor.lock()
