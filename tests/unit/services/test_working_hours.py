"""Working hours and days off per provider, in the provider's zone (issue #5)."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from schedule_extras_support import NY, add_patient, add_provider, at, unlock

from desktop_crm.errors import InvalidInput, NotPermitted
from desktop_crm.services import providers
from desktop_crm.services.scheduling import appointments
from desktop_crm.services.scheduling import working_hours as wh
from desktop_crm.services.scheduling.model import AppointmentRequest
from desktop_crm.storage import audit

NINE_TO_FIVE = {d: [("09:00", "17:00")] for d in range(7)}


@pytest.fixture
def clinic(memory_vault):
    session = memory_vault.created.session
    return session, add_provider(session)


def test_set_and_get_several_intervals_a_day(clinic):
    session, lee = clinic
    wh.set_hours(
        session,
        lee,
        {0: [("13:00", "17:00"), (time(9), time(12))], 4: [("08:00", "00:00")]},
    )

    hours = wh.get_hours(session, lee)

    assert hours.zone == NY and hours.configured
    assert [iv.label() for iv in hours.weekly[0]] == ["09:00-12:00", "13:00-17:00"]
    assert [iv.label() for iv in hours.weekly[4]] == ["08:00-24:00"]
    assert hours.weekly[1] == () and hours.weekly[6] == ()
    newest = audit.entries(session.database(), limit=1)[0]
    assert (newest.action, newest.record_id) == ("provider.hours", lee)


# -- DST: 09:00-17:00 stays 09:00-17:00 local on both sides of each change --------

CHANGES = {
    "America/New_York": [date(2031, 3, 9), date(2031, 11, 2)],
    "Europe/London": [date(2031, 3, 30), date(2031, 10, 26)],
    "Australia/Sydney": [date(2031, 4, 6), date(2031, 10, 5)],
}


@pytest.mark.parametrize("zone", sorted(CHANGES))
def test_nine_to_five_local_across_both_dst_changes(memory_vault, zone):
    session = memory_vault.created.session
    provider = add_provider(session, "Kim", zone)
    wh.set_hours(session, provider, NINE_TO_FIVE)

    for change in CHANGES[zone]:
        offsets = set()
        for day in (change - timedelta(days=1), change, change + timedelta(days=1)):
            start, end = at(day, 9, 0, zone), at(day, 17, 0, zone)
            offsets.add(start.utcoffset())
            assert not wh.outside_hours(session, provider, start, end), day
            early = at(day, 8, 30, zone)
            assert wh.outside_hours(
                session, provider, early, early + timedelta(hours=1)
            )
            late = at(day, 16, 45, zone)
            assert wh.outside_hours(
                session, provider, late, late + timedelta(minutes=30)
            )
        assert len(offsets) == 2, "the dates straddle the change"


@pytest.mark.parametrize(
    ("day", "hours_shaded"), [(date(2031, 3, 9), 15), (date(2031, 11, 2), 17)]
)
def test_shading_on_a_23_and_a_25_hour_day(clinic, day, hours_shaded):
    session, lee = clinic
    wh.set_hours(session, lee, NINE_TO_FIVE)

    shaded = wh.shaded_intervals(session, lee, day)

    assert [(s.start, s.end) for s in shaded][0][1] == at(day, 9, 0, NY)
    assert shaded[1].start == at(day, 17, 0, NY)
    total = sum((s.end - s.start for s in shaded), timedelta())
    assert total == timedelta(hours=hours_shaded)
    assert {s.why for s in shaded} == {"outside hours"}


def test_shading_in_the_viewers_zone_crosses_the_providers_dates(clinic):
    session, lee = clinic
    wh.set_hours(session, lee, {0: [("09:00", "17:00")]})  # Mondays only

    # Monday 2031-06-02 in Tokyo is Sunday 15:00Z to Monday 15:00Z; Lee works
    # Mondays 09:00-17:00 EDT (13:00Z-21:00Z), so only the part before is shaded.
    shaded = wh.shaded_intervals(session, lee, date(2031, 6, 2), "Asia/Tokyo")

    assert [(s.start.astimezone(UTC), s.end.astimezone(UTC)) for s in shaded] == [
        (
            datetime(2031, 6, 1, 15, 0, tzinfo=UTC),
            datetime(2031, 6, 2, 13, 0, tzinfo=UTC),
        )
    ]


def test_no_hours_set_means_nothing_is_outside(clinic):
    session, lee = clinic
    start = at(date(2031, 6, 1), 3, 0, NY)

    assert not wh.outside_hours(session, lee, start, start + timedelta(hours=1))
    assert wh.shaded_intervals(session, lee, date(2031, 6, 1)) == []


def test_days_off_shade_whole_days_and_can_be_removed(clinic):
    session, lee = clinic
    wh.set_hours(session, lee, NINE_TO_FIVE)
    off = wh.add_day_off(session, lee, date(2031, 7, 3), date(2031, 7, 5), "Holiday")
    single = wh.add_day_off(session, lee, date(2031, 8, 1))
    noon = at(date(2031, 7, 4), 12, 0, NY)

    assert wh.outside_hours(session, lee, noon, noon + timedelta(minutes=30))
    shaded = wh.shaded_intervals(session, lee, date(2031, 7, 4))
    assert [(s.why, s.end - s.start) for s in shaded] == [
        ("day off", timedelta(hours=24))
    ]
    kept = wh.get_hours(session, lee).days_off
    assert [(d.first, d.last, d.label) for d in kept] == [
        (date(2031, 7, 3), date(2031, 7, 5), "Holiday"),
        (date(2031, 8, 1), date(2031, 8, 1), ""),
    ]

    wh.remove_day_off(session, off)
    assert not wh.outside_hours(session, lee, noon, noon + timedelta(minutes=30))
    assert [d.id for d in wh.get_hours(session, lee).days_off] == [single]


def test_days_off_count_even_without_hours(clinic):
    session, lee = clinic
    wh.add_day_off(session, lee, date(2031, 7, 4))
    noon = at(date(2031, 7, 4), 12, 0, NY)

    assert wh.outside_hours(session, lee, noon, noon + timedelta(minutes=30))


# -- booking asks first ------------------------------------------------------------


def _request(patient, provider, local, **kw):
    return AppointmentRequest(patient, provider, local, NY, 30, **kw)


def test_booking_outside_hours_raises_until_allowed(clinic):
    session, lee = clinic
    patient = add_patient(session)
    wh.set_hours(session, lee, NINE_TO_FIVE)
    request = _request(patient, lee, datetime(2031, 6, 2, 8, 0))

    with pytest.raises(
        wh.OutsideWorkingHours, match="outside the provider's"
    ) as caught:
        wh.check_request(session, request)

    assert "Rivera" not in caught.value.message
    assert "08:00 EDT to 08:30 EDT" in caught.value.message
    assert appointments.patient_appointments(session, patient) == []
    wh.check_request(session, request, allow_outside=True)
    wh.check_request(session, _request(patient, lee, datetime(2031, 6, 2, 9, 0)))


def test_a_series_is_checked_occurrence_by_occurrence(clinic):
    session, lee = clinic
    patient = add_patient(session)
    wh.set_hours(session, lee, NINE_TO_FIVE)
    wh.add_day_off(session, lee, date(2031, 3, 16))
    request = _request(
        patient, lee, datetime(2031, 3, 2, 9, 0), rrule="FREQ=WEEKLY;COUNT=4"
    )

    with pytest.raises(wh.OutsideWorkingHours, match="day off") as caught:
        wh.check_request(session, request)

    assert [s.start.astimezone(ZoneInfo(NY)).date() for s in caught.value.spans] == [
        date(2031, 3, 16)
    ]


# -- bad input: named field, nothing changed ------------------------------------------


@pytest.mark.parametrize(
    ("weekly", "field", "problem"),
    [
        (
            {0: [("09:00", "12:00"), ("11:00", "13:00")]},
            "working hours (Monday)",
            "overlaps",
        ),
        (
            {2: [("17:00", "09:00")]},
            "working hours (Wednesday)",
            "ends before it starts",
        ),
        ({6: [("9am", "17:00")]}, "working hours (Sunday)", "is not HH:MM"),
        ({7: [("09:00", "17:00")]}, "weekday", "Monday.*Sunday"),
        ({1: [("09:00", "10:00")] * 7}, "working hours (Tuesday)", "at most 6"),
    ],
)
def test_bad_hours_name_the_field_and_keep_the_old_hours(
    clinic, weekly, field, problem
):
    session, lee = clinic
    wh.set_hours(session, lee, NINE_TO_FIVE)
    before = wh.get_hours(session, lee)

    with pytest.raises(InvalidInput, match=problem) as caught:
        wh.set_hours(session, lee, weekly)

    assert caught.value.field == field
    assert wh.get_hours(session, lee) == before


@pytest.mark.parametrize(
    ("args", "field"),
    [
        ((date(2031, 7, 5), date(2031, 7, 3)), "last day"),
        ((date(2031, 1, 1), date(2032, 6, 1)), "last day"),
        ((date(2031, 7, 5), None, "x" * 101), "label"),
        ((datetime(2031, 7, 5, 9, 0),), "first day"),
    ],
)
def test_bad_days_off_name_the_field_and_add_nothing(clinic, args, field):
    session, lee = clinic

    with pytest.raises(InvalidInput) as caught:
        wh.add_day_off(session, lee, *args)

    assert caught.value.field == field
    assert wh.get_hours(session, lee).days_off == ()


def test_bad_instants_and_unknown_provider(clinic):
    session, lee = clinic
    start = at(date(2031, 6, 2), 9, 0, NY)

    with pytest.raises(InvalidInput) as caught:
        wh.outside_hours(session, lee, start, start)
    assert caught.value.field == "end"
    with pytest.raises(InvalidInput) as caught:
        wh.outside_hours(session, lee, start.replace(tzinfo=None), start)
    assert caught.value.field == "start"
    with pytest.raises(InvalidInput) as caught:
        wh.set_hours(session, "nobody", NINE_TO_FIVE)
    assert caught.value.field == "provider"
    with pytest.raises(InvalidInput) as caught:
        wh.remove_day_off(session, "nothing")
    assert caught.value.field == "day off"


# -- who may change them -------------------------------------------------------------


def test_front_desk_may_set_any_providers_hours(memory_vault, clinic, add_staff):
    session, lee = clinic
    desk = unlock(memory_vault, add_staff("Fran Desk", "front-desk", "246813"))

    wh.set_hours(desk, lee, NINE_TO_FIVE)
    wh.add_day_off(desk, lee, date(2031, 7, 4))

    assert wh.get_hours(session, lee).configured
    desk.lock()


def test_a_provider_sets_their_own_hours_only(memory_vault, clinic, add_staff):
    session, lee = clinic
    staff = add_staff("Pat Provider", "provider", "246813")
    providers.ensure_user_providers(session)
    pat = unlock(memory_vault, staff)
    [own] = [p.id for p in providers.list_providers(pat) if p.user_id == staff.user_id]

    wh.set_hours(pat, own, NINE_TO_FIVE)
    with pytest.raises(NotPermitted):
        wh.set_hours(pat, lee, NINE_TO_FIVE)
    with pytest.raises(NotPermitted):
        wh.add_day_off(pat, lee, date(2031, 7, 4))

    assert wh.get_hours(session, own).configured
    assert not wh.get_hours(session, lee).configured
    pat.lock()


def test_biller_may_read_but_not_change(memory_vault, clinic, add_staff):
    session, lee = clinic
    biller = unlock(memory_vault, add_staff("Bo Biller", "biller", "246813"))

    assert not wh.get_hours(biller, lee).configured
    with pytest.raises(NotPermitted, match="appointments.write"):
        wh.set_hours(biller, lee, NINE_TO_FIVE)
    biller.lock()
