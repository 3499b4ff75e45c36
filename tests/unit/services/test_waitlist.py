"""The waitlist: entries with preferences, offered when a slot is freed."""

from __future__ import annotations

from datetime import date, datetime

import pytest
from schedule_extras_support import NY, add_patient, add_provider, unlock

from desktop_crm.errors import InvalidInput
from desktop_crm.services import settings
from desktop_crm.services import settings_keys as keys
from desktop_crm.services.patients import PatientNotFound
from desktop_crm.services.scheduling import appointments, edits
from desktop_crm.services.scheduling import waitlist as wl
from desktop_crm.services.scheduling import working_hours as wh
from desktop_crm.services.scheduling.model import AppointmentRequest

MONDAY = datetime(2031, 6, 2, 10, 0)


@pytest.fixture
def clinic(memory_vault):
    session = memory_vault.created.session
    lee = add_provider(session)
    wh.set_hours(session, lee, {d: [("09:00", "17:00")] for d in range(5)})
    booked = add_patient(session, "Booked")
    return session, lee, booked, memory_vault.clock


def _book(session, patient, provider, local=MONDAY, modality="video"):
    request = AppointmentRequest(patient, provider, local, NY, 30, modality=modality)
    return appointments.book(session, request, allow_overlap=True)[0]


def _add(session, clock, family, **prefs):
    clock.advance(60)
    patient = add_patient(session, family)
    request = wl.WaitlistRequest(patient, **{"zone": NY, **prefs})
    return wl.add_entry(session, request, clock=clock)


def test_cancelling_offers_fitting_entries_longest_waiting_first(clinic):
    session, lee, booked, clock = clinic
    other = add_provider(session, "Moss")
    appt = _book(session, booked, lee)
    fit_any = _add(session, clock, "Ames", weekdays=(0,), windows=(("09:00", "12:00"),))
    fit_lee = _add(session, clock, "Baker", provider_id=lee, note="prefers mornings")
    _add(session, clock, "Cole", weekdays=(1,))
    _add(session, clock, "Dunn", windows=(("13:00", "17:00"),))
    _add(session, clock, "Egan", modality="phone")
    _add(session, clock, "Ford", latest=date(2031, 5, 31))
    _add(session, clock, "Gray", earliest=date(2031, 6, 3))
    _add(session, clock, "Hale", provider_id=other)
    london = _add(
        session, clock, "Ives", zone="Europe/London", windows=(("15:00", "15:30"),)
    )
    gone = _add(session, clock, "Jude")
    wl.remove_entry(session, gone)
    clock.advance(60)
    wl.add_entry(session, wl.WaitlistRequest(booked), clock=clock)

    offers = wl.cancel_and_offer(session, appt, "patient unwell")

    assert [o.entry.id for o in offers] == [fit_any, fit_lee, london]
    assert {(o.cancelled_id, o.provider_id, o.modality) for o in offers} == {
        (appt, lee, "video")
    }
    assert appointments.get(session, appt).status == "cancelled"
    assert [o.entry.id for o in wl.offers_for_cancelled(session, appt)] == [
        fit_any,
        fit_lee,
        london,
    ]


def test_no_offers_outside_working_hours_or_once_rebooked(clinic):
    session, lee, booked, clock = clinic
    _add(session, clock, "Ames")
    early = _book(session, booked, lee, datetime(2031, 6, 2, 8, 0))
    later = _book(session, booked, lee, datetime(2031, 6, 3, 11, 0))

    assert wl.cancel_and_offer(session, early, "moved") == []
    edits.cancel(session, later, "moved")
    assert len(wl.offers_for_cancelled(session, later)) == 1
    _book(session, add_patient(session, "Walk"), lee, datetime(2031, 6, 3, 11, 0))
    assert wl.offers_for_cancelled(session, later) == []


def test_a_series_occurrence_cancelled_this_and_following_still_offers(clinic):
    session, lee, booked, clock = clinic
    waiting = _add(session, clock, "Ames")
    ids = appointments.book(
        session,
        AppointmentRequest(booked, lee, MONDAY, NY, 30, rrule="FREQ=WEEKLY;COUNT=4"),
    )

    offers = wl.cancel_and_offer(session, ids[2], "moving", scope="following")

    assert [o.entry.id for o in offers] == [waiting]
    assert offers[0].start == appointments.get(session, ids[1]).start.replace(day=16)


def test_offers_need_a_cancelled_appointment(clinic):
    session, lee, booked, _clock = clinic
    appt = _book(session, booked, lee)

    with pytest.raises(InvalidInput) as caught:
        wl.offers_for_cancelled(session, appt)

    assert caught.value.field == "appointment"


def test_the_note_is_read_only_within_the_notes_scope(memory_vault, clinic, add_staff):
    session, lee, _booked, clock = clinic
    entry = _add(session, clock, "Ames", note="anxious about waiting")
    desk = unlock(memory_vault, add_staff("Fran Desk", "front-desk", "246813"))

    assert wl.get_entry(desk, entry).note is None
    assert wl.get_entry(session, entry).note is None  # not a patient the admin sees
    settings.save(session, {keys.PROVIDER_NOTES_SCOPE: "all"})
    assert wl.get_entry(session, entry).note == "anxious about waiting"
    assert [e.note for e in wl.list_entries(desk)] == [None]
    desk.lock()


def test_remove_and_mark_booked_close_an_entry_once(clinic):
    session, lee, booked, clock = clinic
    first = _add(session, clock, "Ames")
    second = _add(session, clock, "Baker", provider_id=lee)
    appt = _book(session, booked, lee)

    wl.remove_entry(session, first)
    wl.mark_booked(session, second, appt)

    assert wl.list_entries(session) == []
    assert wl.get_entry(session, second).appointment_id == appt
    assert wl.get_entry(session, first).status == "removed"
    with pytest.raises(InvalidInput, match="already removed") as caught:
        wl.remove_entry(session, first)
    assert caught.value.field == "waitlist entry"


@pytest.mark.parametrize(
    ("prefs", "field"),
    [
        ({"weekdays": (7,)}, "weekdays"),
        ({"windows": (("12:00", "09:00"),)}, "time window"),
        ({"windows": (("9am", "12:00"),)}, "time window"),
        ({"earliest": date(2031, 6, 9), "latest": date(2031, 6, 1)}, "latest date"),
        ({"earliest": "2031-06-01"}, "earliest date"),
        ({"modality": "fax"}, "modality"),
        ({"note": "x" * 501}, "note"),
        ({"provider_id": "nobody"}, "provider"),
        ({"zone": "Mars/Olympus"}, "zone"),
    ],
)
def test_bad_entries_name_the_field_and_add_nothing(clinic, prefs, field):
    session, _lee, booked, _clock = clinic

    with pytest.raises(InvalidInput) as caught:
        wl.add_entry(session, wl.WaitlistRequest(booked, **prefs))

    assert caught.value.field == field
    assert wl.list_entries(session) == []


def test_unknown_patient_is_refused(clinic):
    session = clinic[0]
    with pytest.raises(PatientNotFound):
        wl.add_entry(session, wl.WaitlistRequest("no-such-patient"))
    assert wl.list_entries(session) == []


def test_default_zone_is_the_patients_then_the_practices(clinic):
    session, _lee, _booked, _clock = clinic
    tokyo = add_patient(session, "Sato", "Asia/Tokyo")
    plain = add_patient(session, "Plain")

    first = wl.add_entry(session, wl.WaitlistRequest(tokyo))
    second = wl.add_entry(session, wl.WaitlistRequest(plain))

    assert wl.get_entry(session, first).zone == "Asia/Tokyo"
    assert wl.get_entry(session, second).zone == "America/Chicago"
