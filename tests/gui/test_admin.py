"""Admin > Users and Admin > Security on an unlocked admin session."""

from __future__ import annotations

import pytest
from gui_helpers import unlock_with
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication, QMessageBox
from support.vault_fixtures import ADMIN, ADMIN_PIN

from desktop_crm.gui.new_recovery_key_dialog import NewRecoveryKeyDialog
from desktop_crm.gui.reset_user_dialog import ResetUserDialog
from desktop_crm.services import settings_keys, users

pytestmark = pytest.mark.gui


@pytest.fixture
def admin(qtbot, window, harness):
    """The Admin page of an unlocked admin session."""
    unlock_with(qtbot, window, ADMIN, ADMIN_PIN, harness.code())
    qtbot.waitUntil(lambda: window.workspace is not None)
    window.workspace.show_section("Admin")
    return window.workspace.admin


def press_yes(box: QMessageBox) -> None:
    yes = [
        b
        for b in box.buttons()
        if box.buttonRole(b) == QMessageBox.ButtonRole.AcceptRole
    ]
    yes[0].click()


def test_users_table_lists_users(admin) -> None:
    table = admin.users_view.table

    row = [table.item(0, c).text() for c in range(table.columnCount())]

    assert row[:4] == [ADMIN, "admin, provider", "yes", "enrolled"]


def test_add_user_refuses_mismatched_pins(qtbot, admin) -> None:
    view = admin.users_view
    view.add_button.click()
    dialog = view.dialog
    qtbot.keyClicks(dialog.name_edit, "Cy Clinician")
    dialog.role_boxes["provider"].setChecked(True)
    qtbot.keyClicks(dialog.pin_edit, "246813")
    qtbot.keyClicks(dialog.confirm_edit, "246814")

    dialog.buttons.buttons()[0].click()

    assert dialog.error.text() == "Confirm PIN: does not match the PIN."
    assert view.table.rowCount() == 1


def test_reset_user_shows_a_new_qr_code(qtbot, admin, window, harness) -> None:
    users.add_user(harness.service, window.session, "Bo Biller", "biller", "246813")
    view = admin.users_view
    view.refresh()
    view.table.selectRow(0)
    view.reset_button.click()
    dialog = view.dialog
    assert isinstance(dialog, ResetUserDialog)

    qtbot.keyClicks(dialog.pin_edit, "864202")
    qtbot.keyClicks(dialog.confirm_edit, "864202")
    dialog.buttons.buttons()[0].click()

    qtbot.waitUntil(lambda: dialog.pages.currentIndex() == 1)
    assert not dialog.enrolment.qr_label.pixmap().isNull()
    assert len(dialog.enrolment.secret_label.text().replace(" ", "")) >= 16


def test_security_settings_are_saved_and_applied(qtbot, admin, window) -> None:
    view = admin.security_view
    assert (view.idle_spin.value(), view.quick_spin.value()) == (5, 8)
    view.idle_spin.setValue(15)
    view.quick_spin.setValue(0)

    with qtbot.waitSignal(view.settings_saved):
        view.save_button.click()

    session = window.session
    assert session.setting(settings_keys.IDLE_MINUTES, "") == "15"
    assert session.setting(settings_keys.QUICK_UNLOCK_HOURS, "") == "0"


def test_unattended_needs_confirmation(qtbot, admin, window) -> None:
    view = admin.security_view

    view.unattended_box.click()

    assert not view.unattended_box.isChecked()
    box = view.confirmation
    assert "without a PIN" in box.text()
    press_yes(box)
    qtbot.waitUntil(view.unattended_box.isChecked)
    assert window.session.setting(settings_keys.UNATTENDED, "") == "1"


def test_new_recovery_key_must_be_typed_back(qtbot, admin) -> None:
    view = admin.security_view
    view.recovery_button.click()
    press_yes(view.confirmation)
    qtbot.waitUntil(lambda: isinstance(view.dialog, NewRecoveryKeyDialog))
    dialog = view.dialog
    dialog.reject()
    assert dialog.isVisible()

    first, second = dialog.key_check.expected()
    qtbot.keyClicks(dialog.key_check.edits[0], first)
    qtbot.keyClicks(dialog.key_check.edits[1], second)
    with qtbot.waitSignal(dialog.accepted):
        dialog.buttons.buttons()[0].click()

    assert dialog.key_view.key_label.text() == ""


def test_copy_of_the_recovery_key_is_cleared_on_lock(qtbot, admin, window) -> None:
    view = admin.security_view
    view.recovery_button.click()
    press_yes(view.confirmation)
    qtbot.waitUntil(lambda: isinstance(view.dialog, NewRecoveryKeyDialog))
    dialog = view.dialog
    dialog.key_view.copy_button.click()
    assert QApplication.clipboard().text().startswith("RK1-")

    # The dialog is window-modal, so the shortcut is pressed inside it.
    dialog.activateWindow()
    qtbot.waitUntil(dialog.isActiveWindow)
    qtbot.keyClick(dialog, Qt.Key.Key_L, Qt.KeyboardModifier.ControlModifier)

    assert QApplication.clipboard().text() == ""
    assert window.session is None


def test_rotate_key_asks_first(qtbot, admin, window) -> None:
    view = admin.security_view
    generation = window.session.header.dek_generation

    view.rotate_button.click()
    press_yes(view.confirmation)

    qtbot.waitUntil(lambda: view.status.text() == "The database key was rotated.")
    assert window.session.header.dek_generation == generation + 1
