"""The import dialog: dry run first, then the import, then the report."""

from __future__ import annotations

import json

import pytest

from desktop_crm.gui.patients.import_dialog import ImportDialog
from desktop_crm.gui.worker import wait_for_tasks
from desktop_crm.services import patients

pytestmark = pytest.mark.gui


def patient_entry(pid: str, family: str, birth: str) -> dict:
    return {
        "fullUrl": f"urn:uuid:{pid}",
        "resource": {
            "resourceType": "Patient",
            "id": pid,
            "identifier": [{"system": "urn:test:ids", "value": pid}],
            "name": [{"family": family, "given": ["Test"]}],
            "birthDate": birth,
        },
    }


@pytest.fixture
def bundle(tmp_path):
    entries = [
        patient_entry("a1", "Alpha", "1970-01-01"),
        patient_entry("b2", "Bravo", "not-a-date"),
        patient_entry("c3", "Charlie", "1980-05-05"),
    ]
    path = tmp_path / "bundle.json"
    bundle = {"resourceType": "Bundle", "type": "collection", "entry": entries}
    path.write_text(json.dumps(bundle), encoding="utf-8")
    return path


@pytest.fixture
def session(harness):
    opened = harness.unlock_admin()
    yield opened
    wait_for_tasks()
    opened.lock()


def test_preview_then_import_with_a_report(qtbot, session, bundle) -> None:
    dialog = ImportDialog(session, choose=lambda parent, kind: [str(bundle)])
    qtbot.addWidget(dialog)
    dialog.show()
    dialog.fhir_button.click()
    dialog.preview_button.click()
    qtbot.waitUntil(dialog.import_button.isEnabled)
    assert dialog.summary.text().startswith("Preview, nothing written: imported: 2")
    assert patients.count(session) == 0

    with qtbot.waitSignal(dialog.import_finished) as finished:
        dialog.import_button.click()

    assert finished.args[0].patients == 2
    assert patients.count(session) == 2
    assert dialog.progress.value() == dialog.progress.maximum()
    rejected = [
        [dialog.table.item(r, c).text() for c in range(4)]
        for r in range(dialog.table.rowCount())
        if dialog.table.item(r, 0).text() == "Rejected"
    ]
    assert len(rejected) == 1
    assert rejected[0][1].endswith("bundle.json")
    assert rejected[0][2] and rejected[0][3]
