"""The front desk: Today board arrivals, check in, visits, no-show, a call."""

from __future__ import annotations

from datetime import timedelta

import pytest
from schedule_support import book, make_clinic, open_session

from desktop_crm.gui.scheduling.details_dialog import AppointmentDialog
from desktop_crm.gui.scheduling.today_board import TodayBoard
from desktop_crm.services.scheduling import appointments, communications
from desktop_crm.services.scheduling import visits as vv
from desktop_crm.services.scheduling.timezones import utc_text
from desktop_crm.storage.writepath import AuditEvent, Mutation

pytestmark = pytest.mark.gui


@pytest.fixture
def session(harness):
    yield from open_session(harness)


@pytest.fixture
def clinic(session):
    return make_clinic(session)


def failed_reminder(session, appt_id, patient_id) -> None:
    start = appointments.get(session, appt_id).start
    due = start - timedelta(hours=2)
    session.write(
        AuditEvent("test.reminder", "reminder", appt_id),
        [
            Mutation(
                "reminders",
                f"{appt_id}:failed",
                "insert",
                {
                    "appointment_id": appt_id,
                    "patient_id": patient_id,
                    "offset_min": 120,
                    "channel": "email",
                    "address": "a@example.org",
                    "due_utc": utc_text(due),
                    "start_utc": utc_text(start),
                    "status": "failed",
                    "attempts": 5,
                    "last_error": "mailbox unavailable",
                    "next_attempt_utc": utc_text(due),
                },
            )
        ],
    )


@pytest.fixture
def day(session, clinic):
    p = clinic["provider"]
    late = book(session, clinic["ben"], p, 11, modality="in-person", video_link="")
    early = book(session, clinic["ana"], p, 9)
    failed_reminder(session, early[0], clinic["ana"])
    return {"early": early[0], "late": late[0]}


@pytest.fixture
def board(qtbot, harness, session, day):
    widget = TodayBoard(session, harness.clock)
    qtbot.addWidget(widget)
    widget.resize(1000, 500)
    widget.show()
    qtbot.waitUntil(lambda: not widget.busy)
    return widget


@pytest.fixture
def details(qtbot, harness, session, day):
    dialog = AppointmentDialog(
        session, day["early"], "America/Chicago", clock=harness.clock
    )
    qtbot.addWidget(dialog)
    dialog.show()
    return dialog


def _cells(board, row: int) -> list[str]:
    return [board.table.item(row, c).text() for c in range(board.table.columnCount())]


def test_today_board_shows_arrivals_in_time_order(board) -> None:
    first, second = _cells(board, 0), _cells(board, 1)
    assert first[:3] == ["09:00 CST", "Bélanger-Côté, Ana", "15:00 GMT"]
    assert first[5:] == ["Booked", "Failed: call the patient"]
    assert second[:2] == ["11:00 CST", "O'Grady, Ana"]
    assert second[4] == "In person"
    assert "1 reminder problem" in board.summary.text()


def test_check_in_from_the_board(qtbot, board, session, day) -> None:
    board.select(day["late"])
    assert not board.start_button.isEnabled()  # in person: no video visit
    board.check_in_button.click()
    qtbot.waitUntil(lambda: not board.busy)

    assert appointments.get(session, day["late"]).status == "checked-in"
    assert _cells(board, 1)[5] == "Checked in"
    assert not board.check_in_button.isEnabled()


def test_no_show_from_the_board(qtbot, board, session, day) -> None:
    board.select(day["late"])
    board.no_show_button.click()
    qtbot.waitUntil(lambda: not board.busy)
    assert appointments.get(session, day["late"]).status == "noshow"


def test_start_and_close_a_visit(qtbot, details, session, day) -> None:
    assert "call the patient" in details.reminder_error.text()
    details.check_in_button.click()
    assert details.labels["status"].text() == "Checked in"
    details.start_button.click()
    start = details.dialog
    start.ok_button.click()
    assert start.errors.text_of("consent")  # consent comes first
    start.consent_combo.setCurrentIndex(start.consent_combo.findData("verbal"))
    start.country_edit.setText("GB")
    start.participants_edit.setText("patient, interpreter")
    start.ok_button.click()

    visit = vv.visit_for_appointment(session, day["early"])
    assert visit is not None and visit.ended is None
    assert visit.participants == ("patient", "interpreter")
    assert "visit in progress" in details.labels["status"].text()
    assert details.close_visit_button.isVisible()

    details.close_visit_button.click()
    assert appointments.get(session, day["early"]).status == "fulfilled"
    assert vv.visit_for_appointment(session, day["early"]).ended is not None
    assert not details.close_visit_button.isVisible()


def test_log_a_call_linked_to_the_appointment(qtbot, details, session, clinic, day):
    details.call_button.click()
    call = details.dialog
    call.direction_combo.setCurrentIndex(call.direction_combo.findData("out"))
    qtbot.keyClicks(call.subject_edit, "Reminder bounced; confirmed by phone")
    qtbot.keyClicks(call.body_edit, "Patient will join from London.")
    call.ok_button.click()

    [logged] = communications.for_patient(session, clinic["ana"])
    assert (logged.channel, logged.direction, logged.appointment_id) == (
        "call",
        "out",
        day["early"],
    )
    assert logged.subject == "Reminder bounced; confirmed by phone"
    assert not call.isVisible()


def test_cancel_needs_a_reason(qtbot, details, session, day) -> None:
    details.cancel_button.click()
    cancel = details.dialog
    cancel.ok_button.click()
    assert cancel.errors.text_of("cancel reason") == (
        "Say why the appointment is cancelled"
    )
    assert appointments.get(session, day["early"]).status == "booked"
    qtbot.keyClicks(cancel.reason_edit, "patient unwell")
    cancel.ok_button.click()
    got = appointments.get(session, day["early"])
    assert (got.status, got.cancel_reason) == ("cancelled", "patient unwell")
    assert not details.cancel_button.isEnabled()
