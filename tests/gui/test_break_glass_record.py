"""Emergency access (#6) from the patient record: reason, grant, reload."""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest
from PySide6.QtCore import Qt
from schedule_support import book, own_provider

from desktop_crm.gui.patients.emergency_dialog import EmergencyAccessDialog
from desktop_crm.gui.patients.patients_widget import PatientsWidget
from desktop_crm.gui.patients.record_view import NOT_SHOWN
from desktop_crm.gui.worker import wait_for_tasks
from desktop_crm.services import patients, users
from desktop_crm.services.patient_model import Patient
from desktop_crm.storage import audit

pytestmark = pytest.mark.gui

PIN = "246813"
REASON = "chest pain follow-up"


@pytest.fixture
def clinic(harness):
    """A patient of the admin's (with a reason) and a second provider, Pat."""
    admin = harness.unlock_admin()
    patient = patients.create_patient(admin, Patient(family="Glass", given="Bree"))
    book(admin, patient, own_provider(admin), 10, reason=REASON)
    pat = users.add_user(harness.service, admin, "Pat Provider", "provider", PIN)
    admin.lock()
    return patient, pat.secret


@pytest.fixture
def pat(harness, clinic):
    session = harness.service.unlock("Pat Provider", PIN, harness.code(clinic[1]))
    yield session
    wait_for_tasks()
    session.lock()


@pytest.fixture
def record(qtbot, pat, clinic):
    screen = PatientsWidget(pat, debounce_ms=5, today=lambda: date(2027, 1, 15))
    qtbot.addWidget(screen)
    screen.resize(1100, 700)
    screen.show()
    with qtbot.waitSignal(screen.patient_opened):
        screen.open_patient(clinic[0])
    view = screen.record
    view.tabs.setCurrentWidget(view.appointments)
    qtbot.waitUntil(lambda: view.appointments.rowCount() == 1)
    # qtbot holds widgets weakly: the generator keeps the screen (the record's
    # parent) alive until the test ends, so garbage collection cannot take it.
    yield view
    screen.close()


def reason_cell(view) -> str:
    return view.appointments.item(0, 4).text()


def grants(session) -> list:
    found = audit.entries(session.database(), 1000)
    return [e for e in found if e.action == "break_glass.open"]


def open_dialog(qtbot, view) -> EmergencyAccessDialog:
    qtbot.mouseClick(view.emergency_button, Qt.MouseButton.LeftButton)
    dialog = view.dialog
    assert isinstance(dialog, EmergencyAccessDialog)
    qtbot.waitExposed(dialog)
    return dialog


def test_a_provider_outside_the_patients_care_sees_no_reason(record, pat, clinic):
    assert reason_cell(record) == NOT_SHOWN
    assert record.emergency_button.isVisible()
    assert not record.access_label.isVisible()
    assert pat.break_glass_until(clinic[0]) is None


def test_a_short_reason_is_named_and_grants_nothing(qtbot, record, pat, clinic):
    dialog = open_dialog(qtbot, record)
    qtbot.keyClicks(dialog.reason_edit, "abc")
    qtbot.mouseClick(dialog.open_button, Qt.MouseButton.LeftButton)

    assert "at least 10 characters" in dialog.errors.text_of("reason")
    assert dialog.isVisible()
    assert pat.break_glass_until(clinic[0]) is None
    assert grants(pat) == []
    assert reason_cell(record) == NOT_SHOWN


def test_emergency_access_opens_the_reason_and_is_audited(
    qtbot, harness, record, pat, clinic
) -> None:
    dialog = open_dialog(qtbot, record)
    qtbot.keyClicks(dialog.reason_edit, "Covering for Dr Admin; patient called in")
    with qtbot.waitSignal(dialog.granted):
        qtbot.mouseClick(dialog.open_button, Qt.MouseButton.LeftButton)

    qtbot.waitUntil(lambda: reason_cell(record) == REASON)
    until = datetime.fromtimestamp(
        harness.clock.now() + 3600, ZoneInfo("America/Chicago")
    )
    assert record.access_label.isVisible()
    assert record.access_label.text() == f"Emergency access until {until:%H:%M}"
    assert not record.emergency_button.isVisible()
    [entry] = grants(pat)
    assert entry.record_id == clinic[0]
