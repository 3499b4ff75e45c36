"""The Audit page: filters, the lazy table, exports and "who saw this record"."""

from __future__ import annotations

import csv
import io

import pytest
from gui_helpers import unlock_with
from pypdf import PdfReader
from PySide6.QtCore import QDate, Qt
from support.vault_fixtures import ADMIN, ADMIN_PIN

from desktop_crm.gui.audit_view import PAGE_SIZE, AuditView
from desktop_crm.services import patients, users
from desktop_crm.services.patient_model import Patient
from desktop_crm.storage.writepath import AuditEvent

pytestmark = pytest.mark.gui

AUDITOR, AUDITOR_PIN = "Al Auditor", "864209"


def _unlock_admin(qtbot, window, harness):
    unlock_with(qtbot, window, ADMIN, ADMIN_PIN, harness.code())
    qtbot.waitUntil(lambda: window.workspace is not None)
    return window.session


@pytest.fixture
def seen(qtbot, window, harness):
    """An admin session with one patient viewed twice; the Audit page shown."""
    session = _unlock_admin(qtbot, window, harness)
    patient_id = patients.create_patient(session, Patient(family="Seen", given="Sue"))
    patients.create_patient(session, Patient(family="Other", given="Olly"))
    patients.open_patient(session, patient_id)
    patients.open_patient(session, patient_id)
    window.workspace.show_section("Audit")
    view = window.workspace.audit
    view.search()
    return view, patient_id


def _column(view: AuditView, heading: str) -> list[str]:
    model = view.model
    headings = [
        model.headerData(c, Qt.Orientation.Horizontal)
        for c in range(model.columnCount())
    ]
    col = headings.index(heading)
    return [model.index(r, col).data() for r in range(model.rowCount())]


def test_admin_sees_the_log_newest_first(seen):
    view, _ = seen

    actions = _column(view, "Action")

    assert actions[:2] == ["patient.view", "patient.view"]
    assert "vault.create" in actions
    assert set(_column(view, "User")) >= {ADMIN}
    assert "America/Chicago" in view.status.text()


def test_filters_by_action_and_user(qtbot, seen):
    view, _ = seen
    view.action_combo.setCurrentText("patient.view")
    view.user_combo.setCurrentText(ADMIN)

    qtbot.mouseClick(view.search_button, Qt.MouseButton.LeftButton)

    assert _column(view, "Action") == ["patient.view", "patient.view"]
    assert view.status.text().startswith("2 entries match")


def test_dates_in_the_future_find_nothing(qtbot, seen):
    view, _ = seen
    view.from_edit.setDate(QDate.currentDate().addDays(2))

    qtbot.mouseClick(view.search_button, Qt.MouseButton.LeftButton)

    assert view.model.rowCount() == 0
    assert view.status.text().startswith("0 entries")


def test_dates_the_wrong_way_round_are_named(qtbot, seen):
    view, _ = seen
    view.from_edit.setDate(QDate(2024, 3, 2))
    view.to_edit.setDate(QDate(2024, 3, 1))
    rows = view.model.rowCount()

    qtbot.mouseClick(view.search_button, Qt.MouseButton.LeftButton)

    assert view.error.isVisible()
    assert view.error.text() == "To: the end date is before the start date"
    assert view.model.rowCount() == rows


def test_who_saw_this_record(qtbot, seen):
    view, patient_id = seen
    qtbot.keyClicks(view.patient_edit, patient_id)

    qtbot.mouseClick(view.who_saw_button, Qt.MouseButton.LeftButton)

    assert view.who_saw_mode
    assert _column(view, "What") == ["viewed", "viewed", "changed"]
    assert set(_column(view, "Who")) == {ADMIN}
    assert view.status.text().startswith("3 accesses to this record")


def test_who_saw_needs_a_known_patient(qtbot, seen):
    view, _ = seen
    qtbot.mouseClick(view.who_saw_button, Qt.MouseButton.LeftButton)
    empty = view.error.text()
    qtbot.keyClicks(view.patient_edit, "no-such-record")
    qtbot.mouseClick(view.who_saw_button, Qt.MouseButton.LeftButton)

    assert empty.startswith("Patient: enter")
    assert view.error.text() == "Patient: no patient with this record id"
    assert not view.who_saw_mode


def test_exports_write_files_and_are_audited(qtbot, seen, tmp_path):
    view, patient_id = seen
    qtbot.keyClicks(view.patient_edit, patient_id)
    qtbot.mouseClick(view.who_saw_button, Qt.MouseButton.LeftButton)

    written = view.export_csv(tmp_path / "who.csv")
    assert view.export_pdf(tmp_path / "who.pdf")

    text = (tmp_path / "who.csv").read_text(encoding="utf-8-sig")
    rows = list(csv.reader(io.StringIO(text)))
    assert written == 3 == len(rows) - 1
    assert {row[9] for row in rows[1:]} == {patient_id}
    reader = PdfReader(str(tmp_path / "who.pdf"))
    assert "Accounting of access" in reader.pages[0].extract_text()
    assert not list(tmp_path.glob("*.part"))
    view.action_combo.setCurrentText("audit.export")
    view.patient_edit.clear()
    view.search()
    assert _column(view, "Outcome") == ["pdf", "csv"]


def test_export_to_a_missing_folder_says_so(seen, tmp_path):
    view, _ = seen

    assert view.export_csv(tmp_path / "gone" / "log.csv") == -1

    assert view.error.text().startswith("Target file: cannot be written")


def test_table_reads_a_page_at_a_time(qtbot, seen, window):
    view, _ = seen
    for i in range(PAGE_SIZE + 50):
        window.session.write(AuditEvent("test.bulk", "x", str(i)))
    view.action_combo.setCurrentText("test.bulk")
    view.search()

    first = view.model.rowCount()
    view.model.fetchMore()

    assert first == PAGE_SIZE
    assert view.model.rowCount() == PAGE_SIZE + 50
    assert not view.model.canFetchMore()


def test_auditor_lands_on_the_audit_page_only(qtbot, window, harness):
    admin = harness.unlock_admin()
    enrolment = users.add_user(harness.service, admin, AUDITOR, "auditor", AUDITOR_PIN)
    admin.lock()
    window.show_unlock()  # the lock screen lists users as it opens

    unlock_with(qtbot, window, AUDITOR, AUDITOR_PIN, harness.code(enrolment.secret))
    qtbot.waitUntil(lambda: window.workspace is not None, timeout=5000)

    workspace = window.workspace
    assert workspace.sections() == ["Audit"]
    assert workspace.patients is None
    assert workspace.pages.currentWidget() is workspace.audit
    assert workspace.audit.csv_button.isEnabled()
    assert "session.unlock" in _column(workspace.audit, "Action")
    window.resize(1100, 700)
    workspace.audit.table.resizeColumnsToContents()
    window.grab().save("/tmp/audit.png")
