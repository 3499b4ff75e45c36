"""New patient with the duplicate check, and what the lock leaves behind."""

from __future__ import annotations

import pytest
from gui_helpers import all_widgets, unlock_with
from PySide6.QtCore import QCoreApplication, QEvent
from support.vault_fixtures import ADMIN, ADMIN_PIN

from desktop_crm.gui.patients.patients_widget import PatientsWidget
from desktop_crm.gui.worker import wait_for_tasks
from desktop_crm.services import patients
from desktop_crm.services.patient_model import ContactPoint, Patient

pytestmark = pytest.mark.gui

MARIA = Patient(
    family="García-López",
    given="María José",
    birth_date="1984-02-29",
    sex_at_birth="female",
    phones=(ContactPoint("+1 555 010 0142"),),
)


@pytest.fixture
def session(harness):
    opened = harness.unlock_admin()
    yield opened
    wait_for_tasks()
    opened.lock()


@pytest.fixture
def existing(session) -> str:
    return patients.create_patient(session, MARIA)


@pytest.fixture
def screen(qtbot, session, existing):
    widget = PatientsWidget(session, debounce_ms=5)
    qtbot.addWidget(widget)
    widget.resize(1100, 700)
    widget.show()
    return widget


def fill(form, family, given, birth, sex, phone="") -> None:
    form.family_edit.setText(family)
    form.given_edit.setText(given)
    form.birth_edit.setText(birth)
    form.sex_combo.setCurrentIndex(form.sex_combo.findData(sex))
    form.phones.rows[0].value_edit.setText(phone)


def test_a_likely_duplicate_is_shown_before_saving(
    qtbot, screen, session, existing
) -> None:
    screen.new_button.click()
    dialog = screen.dialog
    fill(dialog.form, "Garcia Lopez", "Maria Jose", "02/29/1984", "female",
         "(555) 010-0142")  # fmt: skip

    dialog.save_button.click()

    qtbot.waitUntil(lambda: dialog.pages.currentWidget() is dialog.duplicates)
    table = dialog.duplicates.table
    assert table.rowCount() == 1
    assert table.item(0, 0).text() == "García-López, María José"
    assert table.item(0, 1).text() == "1984-02-29"
    assert "same birth date and similar name" in table.item(0, 3).text()
    assert "same phone" in table.item(0, 3).text()
    assert patients.count(session) == 1


def test_open_existing_opens_that_record(qtbot, screen, existing) -> None:
    screen.new_button.click()
    dialog = screen.dialog
    fill(dialog.form, "Garcia Lopez", "Maria Jose", "02/29/1984", "female")
    dialog.save_button.click()
    qtbot.waitUntil(lambda: dialog.pages.currentWidget() is dialog.duplicates)

    with qtbot.waitSignal(screen.patient_opened):
        dialog.duplicates.open_button.click()

    assert screen.record.patient.id == existing


def test_save_as_new_anyway_and_back(qtbot, screen, session) -> None:
    screen.new_button.click()
    dialog = screen.dialog
    fill(dialog.form, "Garcia-Lopez", "Maria", "1984-02-29", "female")
    dialog.save_button.click()
    qtbot.waitUntil(lambda: dialog.pages.currentWidget() is dialog.duplicates)
    dialog.duplicates.back_button.click()
    assert dialog.form.family_edit.text() == "Garcia-Lopez"
    dialog.save_button.click()
    qtbot.waitUntil(lambda: dialog.pages.currentWidget() is dialog.duplicates)

    with qtbot.waitSignal(dialog.patient_created):
        dialog.duplicates.save_button.click()

    assert patients.count(session) == 2


def test_a_different_person_is_not_warned(qtbot, screen, session) -> None:
    screen.new_button.click()
    dialog = screen.dialog
    fill(dialog.form, "García", "María", "1990-01-01", "male")

    with qtbot.waitSignal(dialog.patient_created):
        dialog.save_button.click()

    assert dialog.pages.currentIndex() == 0
    qtbot.waitUntil(lambda: screen.record.name_label.text() == "García, María")
    assert patients.count(session) == 2


def test_a_future_birth_date_is_named(qtbot, screen, session) -> None:
    screen.new_button.click()
    dialog = screen.dialog
    fill(dialog.form, "Future", "Fay", "2999-01-01", "female")

    dialog.save_button.click()

    qtbot.waitUntil(lambda: dialog.form.error_text() != "")
    assert dialog.form.error_text() == "Date of birth: cannot be in the future"
    assert dialog.form.birth_edit.text() == "2999-01-01"


def test_locking_leaves_nothing_of_the_patient_screen(qtbot, window, harness) -> None:
    unlock_with(qtbot, window, ADMIN, ADMIN_PIN, harness.code())
    qtbot.waitUntil(lambda: window.workspace is not None)
    screen = window.workspace.patients
    patients.create_patient(window.session, MARIA)
    screen.refresh()
    qtbot.waitUntil(lambda: screen.model.rowCount() == 1)
    with qtbot.waitSignal(screen.patient_opened):
        screen.open_patient(screen.model.summary(0).id)
    screen.record.edit_button.click()
    qtbot.keyClicks(screen.search_edit, "garc")

    window.lock("manual")
    QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)

    assert window.workspace is None
    assert "García" not in window.windowTitle()
    assert not [w for w in all_widgets() if isinstance(w, PatientsWidget)]
    texts = [w.text() for w in all_widgets() if hasattr(w, "text")]
    assert not [t for t in texts if isinstance(t, str) and "García" in t]


def test_a_record_that_loads_after_the_lock_is_dropped(
    qtbot, screen, session, existing
) -> None:
    # The vault can lock (idle, Ctrl+L) while a record is still loading.
    loaded = patients.open_patient(session, existing)
    session.lock()

    screen.on_patient_loaded(loaded)
    screen.record.show_patient(loaded)

    assert screen.record.patient is None
    assert screen.record.name_label.text() == ""
