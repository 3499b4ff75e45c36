"""The Schedule page: book, move with a conflict warning, edit a series, print."""

from __future__ import annotations

import io
import unicodedata
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from pypdf import PdfReader
from PySide6.QtCore import QPoint, Qt
from PySide6.QtWidgets import QMessageBox
from schedule_support import CHI, DAY, book, make_clinic, open_session

from desktop_crm.gui.scheduling.schedule_widget import ScheduleWidget
from desktop_crm.gui.worker import wait_for_tasks
from desktop_crm.services.scheduling import appointments, schedule_view

pytestmark = pytest.mark.gui


@pytest.fixture
def session(harness):
    yield from open_session(harness)


@pytest.fixture
def clinic(session):
    return make_clinic(session)


def _local(appt) -> str:
    return appt.start.astimezone(ZoneInfo(CHI)).strftime("%m-%d %H:%M")


def _day(session, provider=None):
    start, end = schedule_view.day_range(DAY, CHI)
    return [
        a
        for a in appointments.between(session, start, end, provider)
        if a.status != "cancelled"
    ]


@pytest.fixture
def saved(tmp_path):
    return tmp_path / "sheet.pdf"


@pytest.fixture
def screen(qtbot, harness, session, clinic, saved):
    widget = ScheduleWidget(
        session, harness.clock, choose_save=lambda _parent, _name: str(saved)
    )
    qtbot.addWidget(widget)
    widget.resize(1100, 760)
    widget.show()
    qtbot.waitUntil(lambda: not widget.busy)
    return widget


def _reload(qtbot, screen) -> None:
    screen.reload()
    qtbot.waitUntil(lambda: not screen.busy)


def _answer(qtbot, owner, text: str) -> None:
    qtbot.waitUntil(lambda: bool(owner.asker and owner.asker.question))
    box = owner.asker.question
    [button] = [b for b in box.buttons() if b.text() == text]
    button.click()


def test_book_from_the_keyboard(qtbot, screen, session, clinic) -> None:
    grid = screen.grid
    grid.setFocus()
    # The cursor starts at 09:00 in the provider's column; N books there.
    qtbot.keyClick(grid, Qt.Key.Key_N)
    dialog = screen.dialog
    assert dialog.time_edit.time().toString("HH:mm") == "09:00"
    assert dialog.zone_combo.currentText() == CHI
    qtbot.keyClicks(dialog.patient_edit, "Belanger")
    dialog.search_patients()
    assert dialog.patient_id == clinic["ana"]
    dialog.link_edit.setText("https://meet.example.org/r/9")
    dialog.book_button.click()

    [appt] = _day(session)
    assert (_local(appt), appt.patient_id, appt.modality) == (
        "01-15 09:00",
        clinic["ana"],
        "video",
    )
    qtbot.waitUntil(lambda: not screen.busy and len(grid.blocks) == 1)
    lines = grid._block_lines(grid.blocks[0], CHI)
    assert lines[0] == "09:00 Bélanger-Côté, Ana"
    assert "Patient 15:00 GMT" in lines[1]


def test_booking_errors_show_beside_the_field(qtbot, screen, session, clinic) -> None:
    screen.book_at(datetime(2027, 3, 14, 2, 30, tzinfo=ZoneInfo(CHI)), None)
    dialog = screen.dialog
    dialog.book_button.click()
    assert dialog.errors.text_of("patient") == "Search for the patient and choose one"

    qtbot.keyClicks(dialog.patient_edit, "Grady")
    dialog.search_patients()
    dialog.time_edit.setTime(dialog.time_edit.time().fromString("02:30", "HH:mm"))
    dialog.link_edit.setText("http://insecure.example.org")
    dialog.book_button.click()
    assert dialog.errors.text_of("video link") == "Must be an https:// address"

    dialog.link_edit.setText("https://meet.example.org/r/2")
    dialog.book_button.click()
    # 02:30 on 14 March 2027 does not exist in Chicago: named on the start.
    assert "does not exist in America/Chicago" in dialog.errors.text_of("start")
    assert dialog.isVisible()
    assert appointments.patient_appointments(session, clinic["ben"]) == []


def test_a_time_that_occurs_twice_asks_earlier_or_later(
    qtbot, screen, session, clinic
) -> None:
    screen.book_at(datetime(2027, 11, 7, 1, 30, tzinfo=ZoneInfo(CHI)), None)
    dialog = screen.dialog
    qtbot.keyClicks(dialog.patient_edit, "Grady")
    dialog.search_patients()
    dialog.book_button.click()
    qtbot.waitUntil(lambda: dialog.asker.question is not None)
    dialog.asker.question.findChild(type(dialog.book_button), "fold_later").click()

    [appt] = appointments.patient_appointments(session, clinic["ben"])
    assert appt.start.astimezone(ZoneInfo(CHI)).tzname() == "CST"


def test_double_booking_asks_before_saving(qtbot, screen, session, clinic) -> None:
    book(session, clinic["ben"], clinic["provider"], 9)
    _reload(qtbot, screen)
    screen.book_at(datetime(2027, 1, 15, 9, 15, tzinfo=ZoneInfo(CHI)), None)
    dialog = screen.dialog
    qtbot.keyClicks(dialog.patient_edit, "Belanger")
    dialog.search_patients()
    dialog.book_button.click()

    question = dialog.asker.question
    assert question is not None and "already has another appointment" in (
        question.text()
    )
    assert len(_day(session)) == 1
    _answer(qtbot, dialog, "Book anyway")
    assert len(_day(session)) == 2


def test_move_with_conflict_warning(qtbot, screen, session, clinic) -> None:
    book(session, clinic["ben"], clinic["provider"], 9)
    [moving] = book(session, clinic["ana"], clinic["provider"], 11)
    _reload(qtbot, screen)
    grid = screen.grid
    assert grid.select_appointment(moving)

    # Shift+Up moves it 15 minutes earlier each time; the 7th step (09:15)
    # would overlap the 09:00 appointment, so it asks first.
    grid.setFocus()
    for _ in range(7):
        qtbot.keyClick(grid, Qt.Key.Key_Up, Qt.KeyboardModifier.ShiftModifier)
        qtbot.waitUntil(lambda: not screen.busy)
    assert _local(appointments.get(session, moving)) == "01-15 09:30"
    question = screen.asker.question
    assert question is not None and "already has another appointment" in (
        question.text()
    )
    _answer(qtbot, screen, "Move anyway")
    assert _local(appointments.get(session, moving)) == "01-15 09:15"


def test_drag_a_block_onto_another_asks_and_cancel_keeps_it(
    qtbot, screen, session, clinic
) -> None:
    book(session, clinic["ben"], clinic["provider"], 9)
    [moving] = book(session, clinic["ana"], clinic["provider"], 11)
    _reload(qtbot, screen)
    grid = screen.grid
    block = next(b for b in grid.blocks if b.id == moving)
    other = next(b for b in grid.blocks if b.id != moving)
    source = grid.block_rect(block).center().toPoint()
    target = grid.block_rect(other).center().toPoint()

    qtbot.mousePress(grid, Qt.MouseButton.LeftButton, pos=source)
    qtbot.mouseMove(grid, QPoint(source.x(), (source.y() + target.y()) // 2))
    qtbot.mouseMove(grid, target)
    qtbot.mouseRelease(grid, Qt.MouseButton.LeftButton, pos=target)

    question = screen.asker.question
    assert question is not None and question.windowTitle() == "Double booking"
    question.button(QMessageBox.StandardButton.Cancel).click()
    assert _local(appointments.get(session, moving)) == "01-15 11:00"

    qtbot.mousePress(grid, Qt.MouseButton.LeftButton, pos=source)
    qtbot.mouseMove(grid, target)
    qtbot.mouseRelease(grid, Qt.MouseButton.LeftButton, pos=target)
    _answer(qtbot, screen, "Move anyway")
    assert _local(appointments.get(session, moving)) == "01-15 09:00"


def test_recurring_edit_this_and_following(qtbot, screen, session, clinic) -> None:
    ids = book(
        session, clinic["ana"], clinic["provider"], 9, rrule="FREQ=WEEKLY;COUNT=4"
    )
    screen.open_appointment(ids[1])
    details = screen.dialog
    assert "2027-01-22 09:00 America/Chicago" in details.labels["when"].text()
    details.move_button.click()
    move = details.dialog
    move.time_edit.setTime(move.time_edit.time().fromString("10:30", "HH:mm"))
    move.scope_combo.setCurrentIndex(move.scope_combo.findData("following"))
    move.ok_button.click()

    found = appointments.patient_appointments(session, clinic["ana"])
    assert [_local(a) for a in found] == [
        "01-15 09:00",
        "01-22 10:30",
        "01-29 10:30",
        "02-05 10:30",
    ]
    assert not details.isVisible()


def test_week_view_and_provider_filter(qtbot, screen, session, clinic) -> None:
    book(session, clinic["ana"], clinic["provider"], 9)
    book(session, clinic["ben"], clinic["provider"], 10, day=DAY.replace(day=12))
    screen.week_button.click()
    qtbot.waitUntil(lambda: not screen.busy)
    assert [c.title for c in screen.grid.columns][:2] == ["Mon 11 Jan", "Tue 12 Jan"]
    assert len(screen.grid.blocks) == 2
    assert screen.title.text() == "Week of Monday 11 January 2027"
    screen.set_provider(clinic["provider"])
    qtbot.waitUntil(lambda: not screen.busy)
    assert len(screen.grid.blocks) == 2
    screen.next_button.click()
    qtbot.waitUntil(lambda: not screen.busy)
    assert screen.grid.blocks == []
    screen.today_button.click()
    qtbot.waitUntil(lambda: not screen.busy)
    assert len(screen.grid.blocks) == 2


def test_day_sheet_is_saved_and_reads_back(qtbot, screen, session, clinic, saved):
    book(session, clinic["ana"], clinic["provider"], 9, reason="knee pain")
    book(session, clinic["ben"], clinic["provider"], 10, modality="in-person")
    screen.print_button.click()
    qtbot.waitUntil(lambda: not screen.printing)
    wait_for_tasks()

    reader = PdfReader(io.BytesIO(saved.read_bytes()))
    text = unicodedata.normalize(
        "NFC", "\n".join(p.extract_text() for p in reader.pages)
    )
    assert "Day sheet" in text and "Friday 15 January 2027" in text
    assert "Bélanger-Côté, Ana" in text and "O'Grady, Ana" in text
    assert "15:00 GMT" in text
    assert "knee pain" in text  # the admin is this patient's provider
    assert screen.status.text() == "Day sheet saved: sheet.pdf"
