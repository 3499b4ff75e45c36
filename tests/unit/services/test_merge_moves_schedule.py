"""A merge moves the retired record's schedule with it, and its undo moves it
back: appointments, series, reminders, the communication log and waitlist."""

from __future__ import annotations

from datetime import UTC, datetime

from schedule_extras_support import NY, add_patient, add_provider

from desktop_crm.services import patients
from desktop_crm.services.scheduling import appointments
from desktop_crm.services.scheduling import communications as comms
from desktop_crm.services.scheduling import waitlist as wl
from desktop_crm.services.scheduling.communications import Communication
from desktop_crm.services.scheduling.model import AppointmentRequest

TABLES = ("appointments", "appointment_series", "communications", "waitlist")


def owners(session, table: str) -> set[str]:
    rows = session.database().query(f"SELECT DISTINCT patient_id FROM {table}")
    return {str(r[0]) for r in rows}


def test_merge_and_undo_move_the_schedule(memory_vault) -> None:
    session = memory_vault.created.session
    lee = add_provider(session)
    survivor = add_patient(session, "Rivera")
    retired = add_patient(session, "Rivera-Duplicate")
    start = datetime(2031, 3, 3, 10, 0)
    appointments.book(session, AppointmentRequest(retired, lee, start, NY, 30))
    weekly = AppointmentRequest(
        retired, lee, start.replace(hour=14), NY, 30, rrule="FREQ=WEEKLY;COUNT=4"
    )
    appointments.book(session, weekly)
    comms.log_communication(
        session,
        Communication(retired, "call", "in", subject="called back",
                      at=datetime(2031, 3, 1, tzinfo=UTC)),
    )  # fmt: skip
    wl.add_entry(session, wl.WaitlistRequest(retired, zone=NY))
    assert all(owners(session, t) == {retired} for t in TABLES)

    merge_id = patients.merge(session, survivor, retired)

    assert all(owners(session, t) == {survivor} for t in TABLES)
    # the survivor's record lists them (one plus the four of the series)
    assert len(appointments.patient_appointments(session, survivor)) == 5
    assert appointments.patient_appointments(session, retired) == []

    patients.undo_merge(session, merge_id)

    assert all(owners(session, t) == {retired} for t in TABLES)
