"""The Messages page: the practice's communication log and logging a contact."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from schedule_support import make_clinic, open_session

from desktop_crm.gui.scheduling.messages_view import MessagesView
from desktop_crm.services.roles import allows
from desktop_crm.services.scheduling import communications
from desktop_crm.services.scheduling.communications import Communication

pytestmark = pytest.mark.gui


@pytest.fixture
def session(harness):
    yield from open_session(harness)


@pytest.fixture
def clinic(session, harness):
    made = make_clinic(session)
    now = datetime.fromtimestamp(harness.clock.now(), UTC)
    made["call"] = communications.log_communication(
        session,
        Communication(
            made["ana"],
            "call",
            "in",
            subject="Asked to move Tuesday",
            body="Prefers mornings; call back after 9.",
        ),
        clock=harness.clock,
    )
    made["email"] = communications.log_communication(
        session,
        Communication(
            made["ben"],
            "email",
            "out",
            subject="Forms",
            at=now - timedelta(hours=1),
        ),
    )
    # Moved out of the default week.
    made["older"] = communications.log_communication(
        session,
        Communication(
            made["ben"], "sms", "out", subject="Too old", at=now - timedelta(days=8)
        ),
    )
    return made


@pytest.fixture
def view(qtbot, harness, session, clinic):
    widget = MessagesView(session, harness.clock)
    qtbot.addWidget(widget)
    widget.resize(1000, 600)
    widget.show()
    qtbot.waitUntil(lambda: not widget.busy)
    return widget


def _cells(view, row: int) -> list[str]:
    return [view.table.item(row, c).text() for c in range(view.table.columnCount())]


def _subjects(view) -> list[str]:
    return [view.table.item(r, 4).text() for r in range(view.table.rowCount())]


def test_logged_call_shows_up_newest_first(view, clinic) -> None:
    assert _subjects(view) == ["Asked to move Tuesday", "Forms"]
    time_text, patient, channel, direction, subject, user = _cells(view, 0)
    assert time_text.startswith("2027-01-15 02:0")  # the clock's Chicago time
    assert (patient, channel, direction, subject) == (
        "Bélanger-Côté, Ana",
        "Phone call",
        "Incoming",
        "Asked to move Tuesday",
    )
    assert user == "Ana Admin"
    assert "2 entries" in view.summary.text()
    assert "America/Chicago" in view.summary.text()


def test_body_shows_on_selection(qtbot, view, clinic) -> None:
    assert view.body_view.toPlainText() == ""
    assert view.body_view.isReadOnly()
    view.table.selectRow(0)
    assert view.body_view.toPlainText() == "Prefers mornings; call back after 9."


def test_older_entries_appear_when_the_range_widens(qtbot, view) -> None:
    view.from_edit.setDate(view.from_edit.date().addDays(-7))
    qtbot.waitUntil(lambda: not view.busy)
    assert _subjects(view)[-1] == "Too old"


def test_channel_filter(qtbot, view) -> None:
    combo = view.channel_combo
    combo.setCurrentIndex(combo.findData("email"))
    assert _subjects(view) == ["Forms"]
    combo.setCurrentIndex(combo.findData(""))
    assert len(_subjects(view)) == 2


def test_range_ending_before_it_starts_is_explained(qtbot, view) -> None:
    view.to_edit.setDate(view.from_edit.date().addDays(-1))
    qtbot.waitUntil(lambda: not view.busy)
    assert view.error.isVisible()
    assert view.error.text() == "To date: choose a day on or after the from date"
    assert view.table.rowCount() == 0


def test_log_without_a_patient_names_the_patient_field(qtbot, view, session, clinic):
    before = len(communications.recent(session, *view._range()))
    view.log_button.click()
    dialog = view.dialog
    qtbot.keyClicks(dialog.subject_edit, "No one chosen")
    dialog.save_button.click()

    assert dialog.isVisible()
    assert dialog.errors.text_of("patient") == "Search for the patient and choose one"
    assert len(communications.recent(session, *view._range())) == before


def test_log_a_contact_refreshes_the_list(qtbot, view, session, clinic) -> None:
    view.log_button.click()
    dialog = view.dialog
    qtbot.keyClicks(dialog.picker.edit, "O'Grady")
    qtbot.waitUntil(lambda: dialog.picker.patient_id == clinic["ben"])
    dialog.channel_combo.setCurrentIndex(dialog.channel_combo.findData("portal"))
    dialog.direction_combo.setCurrentIndex(dialog.direction_combo.findData("out"))
    qtbot.keyClicks(dialog.subject_edit, "Lab forms sent")
    qtbot.keyClicks(dialog.body_edit, "Sent through the portal.")
    with qtbot.waitSignal(dialog.finished):
        dialog.save_button.click()
    qtbot.waitUntil(lambda: not view.busy)

    assert "Lab forms sent" in _subjects(view)
    [row] = [
        r
        for r in range(view.table.rowCount())
        if _cells(view, r)[4] == "Lab forms sent"
    ]
    assert _cells(view, row)[1:4] == ["O'Grady, Ana", "Portal message", "Outgoing"]


@pytest.mark.parametrize(
    ("role", "gets_page"),
    [("biller", False), ("auditor", False), ("front-desk", True), ("provider", True)],
)
def test_who_gets_the_page(role, gets_page) -> None:
    assert allows((role,), "communications.read") is gets_page
