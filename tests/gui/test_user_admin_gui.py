"""Admin > Users actions of #6 and the Admin > Break-glass review list."""

from __future__ import annotations

import pytest
from gui_helpers import unlock_with
from PySide6.QtWidgets import QMessageBox
from support.vault_fixtures import ADMIN, ADMIN_PIN

from desktop_crm.crypto import totp
from desktop_crm.errors import AuthenticationFailed
from desktop_crm.gui.change_roles_dialog import ChangeRolesDialog
from desktop_crm.gui.worker import wait_for_tasks
from desktop_crm.services import break_glass, patients, users
from desktop_crm.services.patient_model import Patient
from desktop_crm.storage import queries

pytestmark = pytest.mark.gui

BO_PIN = "246813"
REASON = "Patient phoned in distress about a missing referral"


@pytest.fixture
def admin(qtbot, window, harness):
    """The Admin page of an unlocked admin session, with one more user, Bo."""
    unlock_with(qtbot, window, ADMIN, ADMIN_PIN, harness.code())
    qtbot.waitUntil(lambda: window.workspace is not None)
    window.workspace.show_section("Admin")
    enrolment = users.add_user(
        harness.service, window.session, "Bo Biller", "biller", BO_PIN
    )
    window.workspace.admin.bo_secret = enrolment.secret
    window.workspace.admin.users_view.refresh()
    return window.workspace.admin


def press(box: QMessageBox, role=QMessageBox.ButtonRole.AcceptRole) -> None:
    [button] = [b for b in box.buttons() if box.buttonRole(b) == role]
    button.click()


def select(view, name: str) -> None:
    names = [view.table.item(r, 0).text() for r in range(view.table.rowCount())]
    view.table.selectRow(names.index(name))


def row_of(view, name: str) -> list[str]:
    select(view, name)
    row = view.table.currentRow()
    return [view.table.item(row, c).text() for c in range(view.table.columnCount())]


def test_columns_show_active_locked_out_and_last_unlock(admin, harness) -> None:
    view = admin.users_view
    headers = [
        view.table.horizontalHeaderItem(c).text()
        for c in range(view.table.columnCount())
    ]
    assert headers == [
        "Name", "Roles", "Active", "Authenticator", "Locked out", "Last unlock"
    ]  # fmt: skip
    admin_row = row_of(view, ADMIN)
    assert admin_row[2:5] == ["yes", "enrolled", "no"]
    assert admin_row[5] != "never"
    assert row_of(view, "Bo Biller")[5] == "never"


def test_unlock_button_clears_a_lockout(qtbot, admin, harness) -> None:
    view = admin.users_view
    for _ in range(5):
        with pytest.raises(AuthenticationFailed):
            harness.service.unlock("Bo Biller", "975319", "000000")
    view.refresh()
    select(view, ADMIN)
    assert not view.unlock_button.isEnabled()
    assert row_of(view, "Bo Biller")[4] == "yes"

    assert view.unlock_button.isEnabled()
    view.unlock_button.click()

    assert row_of(view, "Bo Biller")[4] == "no"
    assert view.status.text() == "Bo Biller can try to unlock again."
    assert not view.unlock_button.isEnabled()


def test_change_roles_dialog(qtbot, admin, window) -> None:
    view = admin.users_view
    select(view, "Bo Biller")
    view.roles_button.click()
    dialog = view.dialog
    assert isinstance(dialog, ChangeRolesDialog)
    assert dialog.role_boxes["biller"].isChecked()

    qtbot.mouseClick(dialog.role_boxes["biller"], qtbot_left())
    dialog.buttons.buttons()[0].click()
    assert dialog.error.text() == "Role: give at least one role"
    assert row_of(view, "Bo Biller")[1] == "biller"

    qtbot.mouseClick(dialog.role_boxes["front-desk"], qtbot_left())
    dialog.buttons.buttons()[0].click()

    assert row_of(view, "Bo Biller")[1] == "front-desk"
    user = queries.user_by_name(window.session.database(), "Bo Biller")
    assert user.roles == ("front-desk",)


def qtbot_left():
    from PySide6.QtCore import Qt

    return Qt.MouseButton.LeftButton


def test_deactivate_then_rotate_the_key(qtbot, admin, harness, window) -> None:
    view = admin.users_view
    select(view, ADMIN)
    assert not view.deactivate_button.isEnabled()  # not yourself
    select(view, "Bo Biller")
    view.deactivate_button.click()
    press(view.confirmation)

    assert row_of(view, "Bo Biller")[2] == "no"
    assert "Bo Biller" not in harness.service.user_names()
    offer = view.confirmation
    assert offer.windowTitle() == "Rotate the database key now?"
    press(offer)
    qtbot.waitUntil(lambda: view.status.text() == "The database key was rotated.")
    wait_for_tasks()
    assert window.session.header.dek_generation == 2
    assert not view.roles_button.isEnabled()


def test_deactivate_cancelled_changes_nothing(admin, harness) -> None:
    view = admin.users_view
    select(view, "Bo Biller")
    view.deactivate_button.click()
    press(view.confirmation, QMessageBox.ButtonRole.RejectRole)
    assert row_of(view, "Bo Biller")[2] == "yes"
    assert "Bo Biller" in harness.service.user_names()


def test_reset_authenticator(admin, harness) -> None:
    view = admin.users_view
    select(view, "Bo Biller")
    view.totp_button.click()
    press(view.confirmation)
    assert "new authenticator entry" in view.status.text()
    code = totp.code_at(admin.bo_secret, harness.clock.now())
    from desktop_crm.services.vault import TOTPEnrolmentRequired

    with pytest.raises(TOTPEnrolmentRequired):
        harness.service.unlock("Bo Biller", BO_PIN, code)


def test_break_glass_review_tab(qtbot, harness, window) -> None:
    # A biller opens a record in an emergency, then the admin unlocks.
    admin_session = harness.unlock_admin()
    patient = patients.create_patient(
        admin_session, Patient(family="Glass", given="Bree")
    )
    bo = users.add_user(harness.service, admin_session, "Bo Biller", "biller", BO_PIN)
    admin_session.lock()
    session = harness.service.unlock("Bo Biller", BO_PIN, harness.code(bo.secret))
    break_glass.open_grant(session, patient, REASON)
    session.lock()

    unlock_with(qtbot, window, ADMIN, ADMIN_PIN, harness.code())
    qtbot.waitUntil(lambda: window.workspace is not None)
    assert any("break-glass" in n for n in window.session.notices)
    notices = window.workspace.notices
    assert notices.isVisible() and "await your review" in notices.text()
    window.workspace.show_section("Admin")
    tabs = window.workspace.admin
    view = tabs.break_glass_view
    tabs.setCurrentWidget(view)
    assert view.summary.text() == "1 break-glass access waiting for review."
    assert view.table.rowCount() == 1
    assert view.table.item(0, 1).text() == "Bo Biller"
    assert view.table.item(0, 5).text() == REASON
    assert not view.review_button.isEnabled()
    view.table.selectRow(0)
    view.resize(900, 400)

    view.review_button.click()

    assert view.table.rowCount() == 0
    assert view.summary.text() == "0 break-glass accesses waiting for review."
    view.all_box.click()
    assert view.table.rowCount() == 1
    assert view.table.item(0, 4).text().endswith(f"by {ADMIN}")


def test_no_break_glass_tab_without_the_permission(qtbot, harness, window) -> None:
    admin_session = harness.unlock_admin()
    assert users.change_roles(harness.service, admin_session, ADMIN, "admin")
    from desktop_crm.gui.admin_widget import AdminWidget
    from desktop_crm.gui.clipboard import SensitiveClipboard

    bo = users.add_user(harness.service, admin_session, "Bo Biller", "biller", BO_PIN)
    admin_session.lock()
    session = harness.service.unlock("Bo Biller", BO_PIN, harness.code(bo.secret))
    widget = AdminWidget(harness.service, session, SensitiveClipboard())
    qtbot.addWidget(widget)
    assert widget.break_glass_view is None
    session.lock()
