"""The CSV column-mapping step: preview, encoding chooser, save, reuse."""

from __future__ import annotations

from dataclasses import replace

import pytest

from desktop_crm.gui.patients.import_dialog import ImportDialog
from desktop_crm.gui.worker import wait_for_tasks
from desktop_crm.services import patients
from desktop_crm.services.exporting.csv_export import write_patients_csv
from desktop_crm.services.importing import load_saved_mappings, save_mapping
from desktop_crm.services.patient_model import ContactPoint, Patient

pytestmark = pytest.mark.gui

LINES = ["Nom,Prénom,Naissance,Courriel", "Bélanger,Renée,03/14/1985,", "Côté,Zoë,,"]


@pytest.fixture
def session(harness):
    opened = harness.unlock_admin()
    yield opened
    wait_for_tasks()
    opened.lock()


@pytest.fixture
def sheet(tmp_path):
    path = tmp_path / "old-ehr.csv"
    path.write_bytes(("\r\n".join(LINES) + "\r\n").encode("cp1252"))
    return path


def dialog_for(qtbot, session, path) -> ImportDialog:
    dialog = ImportDialog(session, choose=lambda parent, kind: [str(path)])
    qtbot.addWidget(dialog)
    dialog.show()
    dialog.csv_button.click()
    return dialog


def test_map_preview_save_then_import(qtbot, session, sheet) -> None:
    dialog = dialog_for(qtbot, session, sheet)
    view = dialog.mapping_view

    qtbot.waitUntil(dialog.preview_button.isEnabled)
    assert dialog.mapping_step
    assert view.encoding_combo.currentText() == "Detected (Windows-1252)"
    assert view.preview_cells() == [
        ["Bélanger", "Renée", "03/14/1985", ""],
        ["Côté", "Zoë", "", ""],
    ]
    view.combos["family"].setCurrentText("Nom")
    view.combos["given"].setCurrentText("Prénom")
    view.combos["birth_date"].setCurrentText("Naissance")
    view.save_edit.setText("Old EHR")

    dialog.preview_button.click()
    qtbot.waitUntil(dialog.import_button.isEnabled)
    assert dialog.summary.text().startswith("Preview, nothing written: imported: 2")
    assert load_saved_mappings(session) == {}
    with qtbot.waitSignal(dialog.import_finished):
        dialog.import_button.click()

    assert patients.count(session) == 2
    assert load_saved_mappings(session) == {
        "Old EHR": {"family": "Nom", "given": "Prénom", "birth_date": "Naissance"}
    }
    found = patients.search(session, "belanger")
    record = patients.load_patient(session, found[0].id)
    assert (record.family, record.given, record.birth_date) == (
        "Bélanger",
        "Renée",
        "1985-03-14",
    )


def test_choosing_utf8_shows_the_damage_before_import(qtbot, session, sheet) -> None:
    dialog = dialog_for(qtbot, session, sheet)
    view = dialog.mapping_view
    qtbot.waitUntil(dialog.preview_button.isEnabled)

    view.encoding_combo.setCurrentIndex(view.encoding_combo.findText("UTF-8"))

    qtbot.waitUntil(lambda: "\ufffd" in view.preview_cells()[0][0])
    qtbot.waitUntil(dialog.preview_button.isEnabled)
    assert view.encoding() == "utf-8-sig"
    view.combos["family"].setCurrentText("Nom")
    dialog.preview_button.click()
    qtbot.waitUntil(dialog.import_button.isEnabled)
    kinds = [dialog.table.item(row, 0).text() for row in range(dialog.table.rowCount())]
    assert kinds.count("Rejected") == 2  # both rows hold bytes that are not UTF-8


def test_a_saved_mapping_is_offered_and_applied(qtbot, session, sheet) -> None:
    save_mapping(session, "Old EHR", {"family": "Nom", "given": "Prénom"})
    dialog = dialog_for(qtbot, session, sheet)
    view = dialog.mapping_view
    qtbot.waitUntil(dialog.preview_button.isEnabled)

    index = view.saved_combo.findText("Old EHR")
    assert index > 0
    view.saved_combo.setCurrentIndex(index)
    view.saved_combo.activated.emit(index)

    assert view.mapping() == {"family": "Nom", "given": "Prénom"}
    assert view.save_as() == "Old EHR"


def test_synthea_csv_skips_the_mapping_step(qtbot, session, tmp_path) -> None:
    path = tmp_path / "patients.csv"
    path.write_text(
        "Id,BIRTHDATE,DEATHDATE,FIRST,LAST\nabc-1,1970-01-01,,Ann,Lee\n",
        encoding="utf-8",
    )
    dialog = dialog_for(qtbot, session, path)

    qtbot.waitUntil(dialog.preview_button.isEnabled)

    assert not dialog.mapping_step
    dialog.preview_button.click()
    qtbot.waitUntil(dialog.import_button.isEnabled)
    assert "imported: 1" in dialog.summary.text()


def test_our_own_export_skips_the_mapping_step_and_keeps_every_field(
    qtbot, session, tmp_path
) -> None:
    pid = patients.create_patient(
        session,
        Patient(
            family="Okafor",
            given="Chidi",
            birth_date="1988-03-04",
            phones=(ContactPoint("(555) 777-1212"),),
        ),
    )
    phones = patients.load_patient(session, pid).phones
    path = tmp_path / "patients.csv"
    with path.open("w", encoding="utf-8-sig", newline="") as out:
        write_patients_csv(session, out)
    patients.update_patient(
        session, pid, replace(patients.load_patient(session, pid), phones=())
    )
    dialog = dialog_for(qtbot, session, path)

    qtbot.waitUntil(dialog.preview_button.isEnabled)

    assert not dialog.mapping_step
    dialog.import_button.setEnabled(True)
    dialog.import_button.click()
    qtbot.waitUntil(lambda: "unchanged" in dialog.summary.text())
    wait_for_tasks()
    assert patients.load_patient(session, pid).phones == phones  # filled back in
    assert patients.count(session) == 1
