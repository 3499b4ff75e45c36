"""The waitlist (#5): add an entry, refuse a bad window, offer a freed slot."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt
from schedule_support import DAY, book, make_clinic, open_session

from desktop_crm.gui.scheduling.change_dialogs import CancelDialog
from desktop_crm.gui.scheduling.details_dialog import AppointmentDialog
from desktop_crm.gui.scheduling.schedule_widget import ScheduleWidget
from desktop_crm.gui.scheduling.waitlist_view import EntryDialog, WaitlistView
from desktop_crm.services.scheduling import appointments
from desktop_crm.services.scheduling import waitlist as wl
from desktop_crm.services.scheduling import working_hours as wh

pytestmark = pytest.mark.gui


@pytest.fixture
def session(harness):
    yield from open_session(harness)


@pytest.fixture
def clinic(session):
    made = make_clinic(session)
    wh.set_hours(session, made["provider"], {d: [("08:00", "17:00")] for d in range(5)})
    return made


@pytest.fixture
def page(qtbot, harness, session, clinic):
    widget = ScheduleWidget(session, harness.clock)
    qtbot.addWidget(widget)
    widget.resize(1100, 700)
    widget.show()
    qtbot.waitUntil(lambda: not widget.busy)
    return widget


def open_waitlist(qtbot, page) -> WaitlistView:
    qtbot.mouseClick(page.waitlist_button, Qt.MouseButton.LeftButton)
    view = page.dialog
    assert isinstance(view, WaitlistView)
    qtbot.waitExposed(view)
    return view


def open_add(qtbot, view) -> EntryDialog:
    qtbot.mouseClick(view.add_button, Qt.MouseButton.LeftButton)
    dialog = view.dialog
    assert isinstance(dialog, EntryDialog)
    qtbot.waitExposed(dialog)
    return dialog


def choose_patient(qtbot, dialog, name: str) -> None:
    qtbot.keyClicks(dialog.picker.edit, name)
    qtbot.waitUntil(lambda: dialog.picker.patient_id is not None)


def test_add_an_entry_and_see_it_listed(qtbot, page, session, clinic) -> None:
    # The admin is ben's provider, so the notes scope lets them read the note.
    book(session, clinic["ben"], clinic["provider"], 15)
    view = open_waitlist(qtbot, page)
    assert view.table.rowCount() == 0
    dialog = open_add(qtbot, view)
    choose_patient(qtbot, dialog, "O'Grady")
    dialog.provider_combo.setCurrentIndex(1)
    qtbot.mouseClick(dialog.day_checks[4], Qt.MouseButton.LeftButton)  # Friday
    qtbot.mouseClick(dialog.window_check, Qt.MouseButton.LeftButton)
    dialog.modality_combo.setCurrentIndex(dialog.modality_combo.findData("video"))
    qtbot.keyClicks(dialog.note_edit, "prefers mornings")
    with qtbot.waitSignal(dialog.added):
        qtbot.mouseClick(dialog.add_button, Qt.MouseButton.LeftButton)

    [entry] = wl.list_entries(session)
    assert (entry.patient_id, entry.provider_id) == (clinic["ben"], clinic["provider"])
    assert entry.weekdays == (4,)
    assert [w.label() for w in entry.windows] == ["09:00-12:00"]
    assert (entry.modality, entry.note) == ("video", "prefers mornings")
    cells = [view.table.item(0, c).text() for c in range(view.table.columnCount())]
    assert cells[0] == "O'Grady, Ana"
    assert cells[2:6] == ["Fri", "09:00-12:00 (America/Chicago)", "Any date", "Video"]
    assert cells[-1] == "prefers mornings"
    assert view.summary.text() == "1 waiting"

    view.table.selectRow(0)
    qtbot.mouseClick(view.remove_button, Qt.MouseButton.LeftButton)
    assert wl.list_entries(session) == []
    assert wl.get_entry(session, entry.id).status == "removed"
    assert view.table.rowCount() == 0


def test_a_window_that_ends_before_it_starts_is_named_and_nothing_added(
    qtbot, page, session
) -> None:
    view = open_waitlist(qtbot, page)
    dialog = open_add(qtbot, view)
    choose_patient(qtbot, dialog, "O'Grady")
    qtbot.mouseClick(dialog.window_check, Qt.MouseButton.LeftButton)
    dialog.from_edit.setTime(dialog.from_edit.time().fromString("14:00", "HH:mm"))
    dialog.to_edit.setTime(dialog.to_edit.time().fromString("10:00", "HH:mm"))
    qtbot.mouseClick(dialog.add_button, Qt.MouseButton.LeftButton)

    assert "ends before it starts" in dialog.errors.text_of("time window")
    assert dialog.errors.text_of("patient") == ""
    assert dialog.isVisible()
    assert wl.list_entries(session) == []


def test_a_latest_date_before_the_earliest_is_named(qtbot, page, session) -> None:
    view = open_waitlist(qtbot, page)
    dialog = open_add(qtbot, view)
    choose_patient(qtbot, dialog, "O'Grady")
    qtbot.mouseClick(dialog.earliest_check, Qt.MouseButton.LeftButton)
    qtbot.mouseClick(dialog.latest_check, Qt.MouseButton.LeftButton)
    dialog.latest_edit.setDate(dialog.earliest_edit.date().addDays(-1))
    qtbot.mouseClick(dialog.add_button, Qt.MouseButton.LeftButton)

    assert "before the earliest" in dialog.errors.text_of("latest date")
    assert wl.list_entries(session) == []


def test_no_patient_chosen_is_named(qtbot, page, session) -> None:
    dialog = open_add(qtbot, open_waitlist(qtbot, page))
    qtbot.mouseClick(dialog.add_button, Qt.MouseButton.LeftButton)
    assert "choose one" in dialog.errors.text_of("patient")
    assert wl.list_entries(session) == []


def test_cancel_offers_the_slot_and_booking_closes_the_entry(
    qtbot, harness, session, clinic
) -> None:
    provider = clinic["provider"]
    [appt] = book(session, clinic["ana"], provider, 10)
    entry_id = wl.add_entry(
        session,
        wl.WaitlistRequest(clinic["ben"], weekdays=(4,), windows=(("09:00", "12:00"),)),
    )
    details = AppointmentDialog(session, appt, "America/Chicago", clock=harness.clock)
    qtbot.addWidget(details)
    details.show()
    qtbot.mouseClick(details.cancel_button, Qt.MouseButton.LeftButton)
    cancel = details.dialog
    assert isinstance(cancel, CancelDialog)
    qtbot.keyClicks(cancel.reason_edit, "patient called to cancel")
    qtbot.mouseClick(cancel.ok_button, Qt.MouseButton.LeftButton)

    offers = cancel.offers_dialog
    assert offers is not None
    qtbot.waitExposed(offers)
    assert appointments.get(session, appt).status == "cancelled"
    assert offers.table.item(0, 0).text() == "O'Grady, Ana"
    assert offers.table.item(0, 1).text().startswith("Fri · 09:00-12:00")
    qtbot.mouseClick(offers.book_button, Qt.MouseButton.LeftButton)
    booking = offers.booking
    assert booking is not None
    assert booking.patient_id == clinic["ben"]
    assert booking.time_edit.time().toString("HH:mm") == "10:00"
    assert booking.date_edit.date().toPython() == DAY
    assert booking.duration_spin.value() == 30
    assert booking.provider_combo.currentData() == provider
    with qtbot.waitSignal(offers.booked):
        qtbot.mouseClick(booking.book_button, Qt.MouseButton.LeftButton)

    entry = wl.get_entry(session, entry_id)
    assert entry.status == "booked"
    new = appointments.get(session, entry.appointment_id)
    assert (new.patient_id, new.provider_id, new.status) == (
        clinic["ben"],
        provider,
        "booked",
    )
    assert new.start == appointments.get(session, appt).start
    qtbot.waitUntil(lambda: not offers.isVisible())


def test_no_dialog_when_nobody_fits(qtbot, harness, session, clinic) -> None:
    [appt] = book(session, clinic["ana"], clinic["provider"], 10)
    wl.add_entry(session, wl.WaitlistRequest(clinic["ben"], weekdays=(0,)))
    details = AppointmentDialog(session, appt, "America/Chicago", clock=harness.clock)
    qtbot.addWidget(details)
    details.show()
    qtbot.mouseClick(details.cancel_button, Qt.MouseButton.LeftButton)
    cancel = details.dialog
    qtbot.keyClicks(cancel.reason_edit, "patient called to cancel")
    qtbot.mouseClick(cancel.ok_button, Qt.MouseButton.LeftButton)
    assert cancel.offers_dialog is None
    assert appointments.get(session, appt).status == "cancelled"
