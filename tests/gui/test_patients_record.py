"""The record view: open, edit with inline errors, history, documents, merge."""

from __future__ import annotations

import shutil
from datetime import date

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QImage

from desktop_crm.gui.patients.patients_widget import PatientsWidget
from desktop_crm.gui.worker import wait_for_tasks
from desktop_crm.services import patients
from desktop_crm.services.patient_model import ContactPoint, Patient

pytestmark = pytest.mark.gui

GRADY = Patient(
    family="O'Grady",
    given="Siobhán",
    birth_date="1970-03",
    sex_at_birth="female",
    pronouns="she/her",
    phones=(ContactPoint("(555) 010-0142", "mobile", True),),
    notes="<b>not bold</b>",
)
OTHER = Patient(family="Ogrady", given="Siobhan", birth_date="1970-03-05")


@pytest.fixture
def session(harness):
    opened = harness.unlock_admin()
    yield opened
    wait_for_tasks()
    opened.lock()


@pytest.fixture
def ids(session) -> dict[str, str]:
    return {
        "grady": patients.create_patient(session, GRADY, allow_duplicates=True),
        "other": patients.create_patient(session, OTHER, allow_duplicates=True),
    }


@pytest.fixture
def chosen(tmp_path):
    """Paths the injected file choosers hand back, keyed by purpose."""
    return {"open": "", "save": str(tmp_path / "copy.png")}


@pytest.fixture
def screen(qtbot, session, ids, chosen):
    widget = PatientsWidget(
        session,
        debounce_ms=5,
        today=lambda: date(2025, 6, 1),
        choose_open=lambda parent: chosen["open"],
        choose_save=lambda parent, name: chosen["save"],
    )
    qtbot.addWidget(widget)
    widget.resize(1100, 700)
    widget.show()
    return widget


def open_record(qtbot, screen, patient_id: str):
    with qtbot.waitSignal(screen.patient_opened):
        screen.open_patient(patient_id)
    return screen.record


def test_the_record_shows_every_field_as_given(qtbot, screen, ids) -> None:
    record = open_record(qtbot, screen, ids["grady"])

    details = record.details

    assert record.name_label.text() == "O'Grady, Siobhán"
    assert details.text("Date of birth") == "March 1970 (approximate, age about 55)"
    assert details.text("Phones") == "+1 555-010-0142 (mobile) · reminders: yes"
    assert details.text("Notes") == "<b>not bold</b>"
    assert details.values["Notes"].textFormat() == Qt.TextFormat.PlainText
    assert details.text("Insurance") == "—"


def test_an_invalid_phone_is_named_and_nothing_is_stored(
    qtbot, screen, session, ids
) -> None:
    record = open_record(qtbot, screen, ids["grady"])
    record.edit_button.click()
    dialog = record.dialog
    phone = dialog.form.phones.rows[0].value_edit
    phone.setText("12")

    dialog.save_button.click()

    qtbot.waitUntil(lambda: dialog.form.error_text() != "")
    assert dialog.form.error_text().startswith("Phone 1:")
    assert phone.text() == "12"
    assert "border" in phone.styleSheet()
    stored = patients.load_patient(session, ids["grady"])
    assert stored.phones[0].value == "+1 555-010-0142"


def test_a_valid_edit_is_saved_and_shown_in_history(
    qtbot, screen, session, ids
) -> None:
    record = open_record(qtbot, screen, ids["grady"])
    record.edit_button.click()
    dialog = record.dialog
    dialog.form.phones.rows[0].value_edit.setText("(555) 010-0199")
    dialog.form.language_edit.setText("Irish")

    with qtbot.waitSignal(dialog.patient_saved):
        dialog.save_button.click()

    assert record.info.text() == "Saved. Changed: language, phones."
    assert patients.load_patient(session, ids["grady"]).language == "Irish"
    qtbot.waitUntil(lambda: "Edited" in record.history.actions())
    assert record.history.actions()[:2] == ["Edited", "Opened"]
    assert record.history.table.item(0, 3).text() == "language, phones"
    qtbot.waitUntil(lambda: record.details.text("Language") == "Irish")


def test_merge_and_undo(qtbot, screen, session, ids) -> None:
    record = open_record(qtbot, screen, ids["grady"])
    record.merge_button.click()
    dialog = record.dialog
    qtbot.keyClicks(dialog.search_edit, "ogrady")
    assert dialog.model.rowCount() == 1
    dialog.table.selectRow(0)

    with qtbot.waitSignal(dialog.patients_merged):
        dialog.merge_button.click()

    qtbot.waitUntil(screen.undo_bar.isVisible)
    assert session.database() is not None
    assert patients.merged_into(session, ids["other"]) == ids["grady"]
    qtbot.waitUntil(lambda: "Merged" in record.history.actions())
    assert record.history.undo_button.isVisibleTo(record.history)

    screen.undo_button.click()

    qtbot.waitUntil(lambda: patients.merged_into(session, ids["other"]) is None)
    qtbot.waitUntil(lambda: "Merge undone" in record.history.actions())
    assert not record.history.undo_button.isVisibleTo(record.history)
    assert screen.undo_label.text().startswith("The merge was undone")


def _png(path) -> str:
    image = QImage(40, 30, QImage.Format.Format_RGB32)
    image.fill(QColor("teal"))
    assert image.save(str(path))
    return str(path)


def test_attach_and_preview_a_png(qtbot, screen, ids, chosen, tmp_path) -> None:
    record = open_record(qtbot, screen, ids["grady"])
    record.tabs.setCurrentWidget(record.documents)
    documents = record.documents
    chosen["open"] = _png(tmp_path / "insurance-card.png")

    documents.attach_button.click()

    qtbot.waitUntil(lambda: documents.filenames() == ["insurance-card.png"])
    documents.table.selectRow(0)
    documents.preview_button.click()
    qtbot.waitUntil(lambda: not documents.preview.pixmap().isNull())
    documents.save_button.click()
    qtbot.waitUntil(lambda: documents.status.text() != "")
    assert (tmp_path / "copy.png").read_bytes() == (
        tmp_path / "insurance-card.png"
    ).read_bytes()


@pytest.mark.skipif(
    shutil.which("pdftoppm") is None, reason="poppler-utils (pdftoppm) not installed"
)
def test_attach_and_preview_a_pdf(qtbot, screen, ids, chosen, tmp_path) -> None:
    from fpdf import FPDF

    record = open_record(qtbot, screen, ids["grady"])
    record.tabs.setCurrentWidget(record.documents)
    documents = record.documents
    consent = FPDF()
    consent.add_page()
    consent.set_font("helvetica", size=20)
    consent.cell(text="Consent to telehealth")
    (tmp_path / "consent.pdf").write_bytes(bytes(consent.output()))
    chosen["open"] = str(tmp_path / "consent.pdf")

    documents.attach_button.click()
    qtbot.waitUntil(lambda: documents.filenames() == ["consent.pdf"])
    documents.table.selectRow(0)
    documents.preview_button.click()

    qtbot.waitUntil(lambda: not documents.preview.pixmap().isNull())
