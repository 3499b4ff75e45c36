"""The first-run story: wizard, admin adds a user, idle lock, second user unlocks."""

from __future__ import annotations

import pytest
from gui_helpers import all_widgets, unlock_with
from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QAbstractButton,
    QComboBox,
    QLabel,
    QLineEdit,
    QListWidget,
    QTableWidget,
)

from desktop_crm.crypto.totp import PERIOD, code_at
from desktop_crm.gui import setup_wizard
from desktop_crm.gui.add_user_dialog import AddUserDialog
from desktop_crm.gui.main_window import LOCKED_TITLE, MainWindow
from desktop_crm.gui.setup_wizard import SetupWizard
from desktop_crm.gui.workspace_widget import WorkspaceWidget
from desktop_crm.services.clock import ManualClock

pytestmark = pytest.mark.gui

PRACTICE = "Riverside Telehealth"
ADMIN, ADMIN_PIN = "Ana Admin", "135790"
CLERK, CLERK_PIN = "Fran Frontdesk", "246813"
LEFT = Qt.MouseButton.LeftButton


def click(qtbot, button: QAbstractButton) -> None:
    qtbot.mouseClick(button, LEFT)


def fill_practice(qtbot, wizard: SetupWizard) -> None:
    page = wizard.practice_page
    qtbot.keyClicks(page.practice_edit, PRACTICE)
    page.zone_combo.lineEdit().clear()
    qtbot.keyClicks(page.zone_combo.lineEdit(), "America/Chicago")
    click(qtbot, wizard.next_button)
    assert wizard.current() == setup_wizard.ADMIN


def fill_admin(qtbot, wizard: SetupWizard, pin: str, confirm: str) -> None:
    page = wizard.admin_page
    page.name_edit.clear()
    qtbot.keyClicks(page.name_edit, ADMIN)
    qtbot.keyClicks(page.pin_edit, pin)
    qtbot.keyClicks(page.confirm_edit, confirm)
    click(qtbot, wizard.next_button)


def finish_wizard(qtbot, wizard: SetupWizard, clock: ManualClock) -> None:
    qtbot.waitUntil(lambda: wizard.current() == setup_wizard.ENROL)
    secret = wizard.enrolment.secret_label.text().replace(" ", "")
    qtbot.keyClicks(wizard.enrolment.code_edit, code_at(secret, clock.now()))
    click(qtbot, wizard.next_button)
    qtbot.waitUntil(lambda: wizard.current() == setup_wizard.RECOVERY)
    shown = wizard.recovery.key_label.text().replace("-\n", "-")
    groups = shown.split("-")[1:]
    click(qtbot, wizard.next_button)
    check = wizard.key_check
    for index, edit in zip(check.indices, check.edits, strict=True):
        qtbot.keyClicks(edit, groups[index])
    click(qtbot, wizard.next_button)


def add_user(qtbot, window: MainWindow) -> str:
    """Add the front-desk user through Admin > Users; returns their secret."""
    assert window.workspace is not None and window.workspace.admin is not None
    window.workspace.show_section("Admin")
    users = window.workspace.admin.users_view
    click(qtbot, users.add_button)
    dialog = users.dialog
    assert isinstance(dialog, AddUserDialog)
    qtbot.keyClicks(dialog.name_edit, CLERK)
    dialog.role_boxes["front-desk"].setChecked(True)
    qtbot.keyClicks(dialog.pin_edit, CLERK_PIN)
    qtbot.keyClicks(dialog.confirm_edit, CLERK_PIN)
    click(qtbot, dialog.buttons.buttons()[0])
    qtbot.waitUntil(lambda: dialog.pages.currentIndex() == 1)
    secret = dialog.enrolment.secret_label.text().replace(" ", "")
    names = [users.table.item(r, 0).text() for r in range(users.table.rowCount())]
    assert CLERK in names
    dialog.accept()
    return secret


def visible_texts() -> list[str]:
    """Text any label, field, list, table or button in the app could show."""
    texts: list[str] = []
    for widget in all_widgets():
        texts.append(widget.windowTitle())
        if isinstance(widget, QLabel | QLineEdit | QAbstractButton):
            texts.append(widget.text())
        elif isinstance(widget, QListWidget):
            texts.extend(widget.item(i).text() for i in range(widget.count()))
        elif isinstance(widget, QTableWidget):
            texts.extend(
                widget.item(r, c).text()
                for r in range(widget.rowCount())
                for c in range(widget.columnCount())
                if widget.item(r, c) is not None
            )
    return texts


def test_wizard_to_idle_lock_to_second_user(qtbot, setup_window, clock) -> None:
    window = setup_window
    wizard = window.gate
    assert isinstance(wizard, SetupWizard)

    fill_practice(qtbot, wizard)
    fill_admin(qtbot, wizard, ADMIN_PIN, ADMIN_PIN)
    finish_wizard(qtbot, wizard, clock)
    qtbot.waitUntil(lambda: window.workspace is not None)
    assert window.windowTitle() == f"Desktop CRM — {PRACTICE}"
    assert window.workspace.sections() == [
        "Patients",
        "Today",
        "Schedule",
        "Messages",
        "Audit",
        "Admin",
    ]
    clerk_secret = add_user(qtbot, window)
    clock.advance(5 * 60 + 1)
    qtbot.waitUntil(lambda: window.windowTitle() == LOCKED_TITLE, timeout=3000)
    qtbot.waitUntil(
        lambda: (
            not any(
                isinstance(w, WorkspaceWidget) or w.objectName() == "users_table"
                for w in all_widgets()
            )
        )
    )

    texts = visible_texts()
    assert not any(PRACTICE in text for text in texts)
    assert not any(CLERK in text for text in texts)  # the user list is in a combo
    assert not any("Arrives with issue" in text for text in texts)
    assert window.user_label.text() == window.vault_label.text() == ""
    gate = window.gate
    combo_items = [gate.user_combo.itemText(i) for i in range(gate.user_combo.count())]
    assert combo_items == [ADMIN, CLERK]
    assert not [
        w
        for w in all_widgets()
        if isinstance(w, QComboBox) and w is not gate.user_combo and w.isVisible()
    ]

    clock.advance(PERIOD)
    unlock_with(qtbot, window, CLERK, CLERK_PIN, code_at(clerk_secret, clock.now()))
    qtbot.waitUntil(lambda: window.workspace is not None)

    assert window.session.user_name == CLERK
    assert "Admin" not in window.workspace.sections()
    assert window.workspace.admin is None
    assert window.user_label.text() == f"{CLERK} (front-desk)"


def test_wizard_refuses_mismatched_pins(qtbot, setup_window, empty_vault) -> None:
    wizard = setup_window.gate
    fill_practice(qtbot, wizard)

    fill_admin(qtbot, wizard, "135790", "135791")

    assert wizard.current() == setup_wizard.ADMIN
    assert wizard.admin_page.error.text().startswith("Confirm PIN:")
    assert wizard.admin_page.confirm_edit.text() == ""
    assert not empty_vault.exists()


def test_wizard_refuses_trivial_pin_naming_the_field(
    qtbot, setup_window, empty_vault
) -> None:
    wizard = setup_window.gate
    fill_practice(qtbot, wizard)

    fill_admin(qtbot, wizard, "123456", "123456")

    error = wizard.admin_page.error
    qtbot.waitUntil(lambda: error.isVisible() and error.text() != "")
    assert error.text().startswith("PIN: a run of consecutive digits")
    assert wizard.current() == setup_wizard.ADMIN
    assert wizard.admin_page.pin_edit.text() == ""
    assert not empty_vault.exists()


def test_wizard_needs_a_practice_name(qtbot, setup_window) -> None:
    wizard = setup_window.gate

    click(qtbot, wizard.next_button)

    assert wizard.current() == setup_wizard.PRACTICE
    assert wizard.practice_page.error.text().startswith("Practice name:")


def test_wizard_refuses_wrong_recovery_groups(qtbot, setup_window, clock) -> None:
    wizard = setup_window.gate
    fill_practice(qtbot, wizard)
    fill_admin(qtbot, wizard, ADMIN_PIN, ADMIN_PIN)
    qtbot.waitUntil(lambda: wizard.current() == setup_wizard.ENROL)
    secret = wizard.enrolment.secret_label.text().replace(" ", "")
    qtbot.keyClicks(wizard.enrolment.code_edit, code_at(secret, clock.now()))
    click(qtbot, wizard.next_button)
    qtbot.waitUntil(lambda: wizard.current() == setup_wizard.RECOVERY)
    click(qtbot, wizard.next_button)

    for edit in wizard.key_check.edits:
        qtbot.keyClicks(edit, "AAAAA")
    click(qtbot, wizard.next_button)

    assert wizard.current() == setup_wizard.CHECK
    assert "does not match" in wizard.key_check.error.text()
    assert setup_window.workspace is None


def test_wizard_refuses_a_wrong_enrolment_code(qtbot, setup_window, clock) -> None:
    wizard = setup_window.gate
    fill_practice(qtbot, wizard)
    fill_admin(qtbot, wizard, ADMIN_PIN, ADMIN_PIN)
    qtbot.waitUntil(lambda: wizard.current() == setup_wizard.ENROL)
    secret = wizard.enrolment.secret_label.text().replace(" ", "")
    wrong = f"{(int(code_at(secret, clock.now())) + 1) % 1_000_000:06d}"

    qtbot.keyClicks(wizard.enrolment.code_edit, wrong)
    click(qtbot, wizard.next_button)

    qtbot.waitUntil(lambda: wizard.enrol_error.text() != "")
    assert wizard.enrol_error.text().startswith("Code: not accepted")
    assert wizard.current() == setup_wizard.ENROL
