"""The History tab: Undo for a merge made in another session; document events."""

from __future__ import annotations

from datetime import date

import pytest

from desktop_crm.gui.patients.patients_widget import PatientsWidget
from desktop_crm.gui.worker import wait_for_tasks
from desktop_crm.services import documents, patients
from desktop_crm.services.patient_model import Patient

pytestmark = pytest.mark.gui

PDF = b"%PDF-1.4\n% consent form\n%%EOF\n"


@pytest.fixture
def session(harness):
    opened = harness.unlock_admin()
    yield opened
    wait_for_tasks()
    opened.lock()


@pytest.fixture
def screen(qtbot, session):
    widget = PatientsWidget(session, debounce_ms=5, today=lambda: date(2025, 6, 1))
    qtbot.addWidget(widget)
    widget.resize(1100, 700)
    widget.show()
    return widget


def create(session, family: str, birth: str) -> str:
    return patients.create_patient(
        session, Patient(family=family, given="Test", birth_date=birth)
    )


def open_record(qtbot, screen, patient_id: str):
    with qtbot.waitSignal(screen.patient_opened):
        screen.open_patient(patient_id)
    return screen.record


def test_merge_from_an_earlier_session_can_be_undone_here(qtbot, harness, session):
    earlier = harness.unlock_admin()
    survivor = create(earlier, "Alpha", "1970-01-01")
    retired = create(earlier, "Bravo", "1980-05-05")
    merge_id = patients.merge(earlier, survivor, retired)
    earlier.lock()
    widget = PatientsWidget(session, debounce_ms=5, today=lambda: date(2025, 6, 1))
    qtbot.addWidget(widget)
    widget.show()

    record = open_record(qtbot, widget, survivor)
    history = record.history

    qtbot.waitUntil(lambda: history.merge_id == merge_id)
    assert history.undo_button.isVisibleTo(history)
    assert history.undo_label.text().startswith("This record was merged on ")
    history.undo_button.click()
    qtbot.waitUntil(lambda: patients.merged_into(session, retired) is None)
    qtbot.waitUntil(lambda: "Merge undone" in history.actions())
    qtbot.waitUntil(lambda: history.merge_id is None)
    assert not history.undo_button.isVisibleTo(history)


def test_document_events_appear_in_the_history(qtbot, screen, session, tmp_path):
    patient_id = create(session, "Doc", "1975-07-07")
    document_id = documents.attach(session, patient_id, "consent.pdf", PDF)
    documents.open_document(session, document_id)
    documents.save_document(session, document_id, tmp_path / "copy.pdf")

    record = open_record(qtbot, screen, patient_id)

    qtbot.waitUntil(lambda: "Opened" in record.history.actions())
    assert record.history.actions() == [
        "Opened",
        "Document saved to disk",
        "Document viewed",
        "Document attached",
        "Created",
    ]
    assert record.history.merge_id is None
