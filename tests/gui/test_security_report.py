"""Admin > Security: the compliance report button and the notes scope (#6)."""

from __future__ import annotations

import pytest
from gui_helpers import unlock_with
from pypdf import PdfReader
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFileDialog
from support.vault_fixtures import ADMIN, ADMIN_PIN

from desktop_crm.services import settings_keys

pytestmark = pytest.mark.gui


@pytest.fixture
def admin(qtbot, window, harness):
    """The Admin page of an unlocked admin session."""
    unlock_with(qtbot, window, ADMIN, ADMIN_PIN, harness.code())
    qtbot.waitUntil(lambda: window.workspace is not None)
    window.workspace.show_section("Admin")
    return window.workspace.admin


def test_compliance_report_is_saved_where_chosen(
    qtbot, admin, window, tmp_path, monkeypatch
) -> None:
    view = admin.security_view
    target = tmp_path / "report.pdf"
    monkeypatch.setattr(
        QFileDialog, "getSaveFileName", lambda *a, **k: (str(target), "")
    )

    qtbot.mouseClick(view.report_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: "saved to report.pdf" in view.status.text(), timeout=15000)

    text = PdfReader(str(target)).pages[0].extract_text()
    assert "Security and compliance report" in text
    assert view.isEnabled()


def test_notes_scope_is_saved_from_the_security_view(qtbot, admin, window) -> None:
    view = admin.security_view
    assert view.scope_combo.currentData() == "own"
    view.scope_combo.setCurrentIndex(view.scope_combo.findData("all"))

    with qtbot.waitSignal(view.settings_saved):
        view.save_button.click()

    assert window.session.setting(settings_keys.PROVIDER_NOTES_SCOPE, "") == "all"
