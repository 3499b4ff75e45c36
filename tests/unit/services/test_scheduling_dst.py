"""Scheduling across DST: B19 (a)-(d), gaps, folds and weekly series."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from desktop_crm.services import patients, providers, settings
from desktop_crm.services.clock import ManualClock
from desktop_crm.services.patient_model import ContactPoint, Patient
from desktop_crm.services.scheduling import appointments, calendar_export, recurrence
from desktop_crm.services.scheduling.model import AppointmentRequest, Overlap
from desktop_crm.services.scheduling.timezones import (
    AmbiguousTime,
    NonexistentTime,
    resolve,
)


def _setup(harness, patient_zone: str = "America/Phoenix"):
    session = harness.created.session
    patient_id = patients.create_patient(
        session,
        Patient(
            family="Rivera",
            given="Ana",
            timezone=patient_zone,
            emails=(ContactPoint("ana@example.org", reminders=True),),
        ),
    )
    provider_id, _ = providers.upsert_practitioner(
        session, "Lee", "Sam", "Dr Lee", "", [("urn:test", "lee")]
    )
    return session, patient_id, provider_id


def _req(patient_id, provider_id, start, zone="America/Chicago", **kw):
    local = datetime.fromisoformat(start)
    return AppointmentRequest(patient_id, provider_id, local, zone, 30, **kw)


def test_b19_a_patient_in_phoenix_sees_mst(memory_vault):
    session, patient_id, provider_id = _setup(memory_vault)

    [appt_id] = appointments.book(
        session, _req(patient_id, provider_id, "2025-03-20T09:00")
    )

    appt = appointments.get(session, appt_id)
    assert appt.start == datetime(2025, 3, 20, 14, 0, tzinfo=UTC)
    assert appt.label() == "2025-03-20 09:00 America/Chicago"
    assert appt.time_in("America/Chicago") == "09:00 CDT"
    assert appt.time_in("America/Phoenix") == "07:00 MST"


def test_b19_b_gap_refused_naming_start(memory_vault):
    session, patient_id, provider_id = _setup(memory_vault)

    with pytest.raises(NonexistentTime) as caught:
        appointments.book(session, _req(patient_id, provider_id, "2025-03-09T02:30"))

    assert caught.value.field == "start"


@pytest.mark.parametrize(("fold", "expected"), [("earlier", 6), ("later", 7)])
def test_b19_c_fold_needs_a_choice(memory_vault, fold, expected):
    session, patient_id, provider_id = _setup(memory_vault)
    with pytest.raises(AmbiguousTime):
        appointments.book(session, _req(patient_id, provider_id, "2025-11-02T01:30"))

    [appt_id] = appointments.book(
        session, _req(patient_id, provider_id, "2025-11-02T01:30", fold=fold)
    )

    assert appointments.get(session, appt_id).start == datetime(
        2025, 11, 2, expected, 30, tzinfo=UTC
    )


def test_b19_d_booked_on_dst_day_for_later_date(memory_vault):
    session, patient_id, provider_id = _setup(memory_vault)
    clock = ManualClock(datetime(2025, 3, 9, 12, tzinfo=UTC).timestamp())

    [appt_id] = appointments.book(
        session, _req(patient_id, provider_id, "2025-03-12T02:30"), clock=clock
    )

    assert appointments.get(session, appt_id).start == datetime(
        2025, 3, 12, 7, 30, tzinfo=UTC
    )


@pytest.mark.parametrize(
    ("zone", "first", "gap", "fold"),
    [
        (
            "America/New_York",
            "2025-02-03T09:00",
            "2025-03-09T02:30",
            "2025-11-02T01:30",
        ),
        ("Europe/London", "2025-02-03T09:00", "2025-03-30T01:30", "2025-10-26T01:30"),
        (
            "Australia/Sydney",
            "2025-03-03T09:00",
            "2025-10-05T02:30",
            "2025-04-06T02:30",
        ),
    ],
)
def test_weekly_series_keeps_local_time_across_both_changes(
    memory_vault, zone, first, gap, fold
):
    session, patient_id, provider_id = _setup(memory_vault)

    ids = appointments.book(
        session,
        _req(patient_id, provider_id, first, zone, rrule="FREQ=WEEKLY;COUNT=45"),
    )

    found = appointments.patient_appointments(session, patient_id)
    assert len(ids) == len(found) == 45
    assert {a.label().split(" ")[1] for a in found} == {"09:00"}
    assert len({a.start.astimezone(UTC).hour for a in found}) == 2
    with pytest.raises(NonexistentTime):
        resolve(datetime.fromisoformat(gap), zone, None)
    with pytest.raises(AmbiguousTime):
        resolve(datetime.fromisoformat(fold), zone, None)
    assert resolve(datetime.fromisoformat(fold), zone, "earlier") < resolve(
        datetime.fromisoformat(fold), zone, "later"
    )


def test_overlap_warned_unless_allowed(memory_vault):
    session, patient_id, provider_id = _setup(memory_vault)
    appointments.book(
        session,
        _req(patient_id, provider_id, "2025-03-03T09:00", rrule="FREQ=WEEKLY;COUNT=4"),
    )

    with pytest.raises(Overlap) as caught:
        appointments.book(session, _req(patient_id, provider_id, "2025-03-17T09:15"))
    ids = appointments.book(
        session, _req(patient_id, provider_id, "2025-03-17T09:15"), allow_overlap=True
    )

    assert len(caught.value.clashes) == 1
    assert caught.value.clashes[0].id.endswith(".20250317")
    assert len(ids) == 1


def test_series_edits_and_exceptions_survive(memory_vault):
    from desktop_crm.services.scheduling import edits

    session, patient_id, provider_id = _setup(memory_vault)
    ids = appointments.book(
        session,
        _req(patient_id, provider_id, "2025-03-03T09:00", rrule="FREQ=WEEKLY;COUNT=6"),
    )

    edits.cancel(session, ids[1], "patient travelling")
    edits.reschedule(session, ids[2], datetime(2025, 3, 17, 11, 0))
    edits.reschedule(session, ids[0], datetime(2025, 3, 3, 10, 0), scope="all")
    new_series = edits.reschedule(
        session, ids[4], datetime(2025, 3, 31, 8, 0), scope="following"
    )

    found = appointments.patient_appointments(session, patient_id)
    times = [(a.label(), a.status) for a in found]
    assert times == [
        ("2025-03-03 10:00 America/Chicago", "booked"),
        ("2025-03-10 09:00 America/Chicago", "cancelled"),
        ("2025-03-17 11:00 America/Chicago", "booked"),
        ("2025-03-24 10:00 America/Chicago", "booked"),
        ("2025-03-31 08:00 America/Chicago", "booked"),
        ("2025-04-07 08:00 America/Chicago", "booked"),
    ]
    assert found[-1].series_id == new_series


def test_reason_hidden_from_front_desk(memory_vault, add_staff):
    session, patient_id, provider_id = _setup(memory_vault)
    [appt_id] = appointments.book(
        session, _req(patient_id, provider_id, "2025-03-20T09:00", reason="anxiety")
    )
    staff = add_staff("Fran Desk", "front-desk", "246813")
    desk = memory_vault.service.unlock(
        staff.name, staff.pin, memory_vault.code(staff.secret)
    )

    desk_view = appointments.get(desk, appt_id)
    settings.save(session, {"access.provider_notes_scope": "all"})  # not own patient
    provider_view = appointments.get(session, appt_id)  # admin,provider: visits.notes

    assert desk_view.reason is None
    assert provider_view.reason == "anxiety"
    desk.lock()


def test_ical_round_trip(memory_vault):
    from icalendar import Calendar

    session, patient_id, provider_id = _setup(memory_vault)
    ids = appointments.book(
        session,
        _req(
            patient_id,
            provider_id,
            "2025-03-03T09:00",
            "America/New_York",
            rrule="FREQ=WEEKLY;INTERVAL=2;UNTIL=20250601",
        ),
    )
    from desktop_crm.services.scheduling import edits

    edits.cancel(session, ids[1], "holiday")

    data = calendar_export.provider_calendar(session, provider_id)

    cal = Calendar.from_ical(data)
    assert b"Rivera" not in data
    assert cal.walk("VTIMEZONE")
    [event] = cal.walk("VEVENT")
    start = event.decoded("dtstart")
    assert start.astimezone(UTC) == datetime(2025, 3, 3, 14, tzinfo=UTC)
    rule = event["rrule"].to_ical().decode()
    expanded = recurrence.expand(rule, "America/New_York", start.replace(tzinfo=None))
    exdates = {d.dt.astimezone(UTC) for d in event["exdate"].dts}
    kept = [o.start for o in expanded if o.start not in exdates]
    assert kept == [
        a.start
        for a in appointments.patient_appointments(session, patient_id)
        if a.status != "cancelled"
    ]
