"""The lock screen: messages, lockout countdown, quick re-unlock, locking."""

from __future__ import annotations

import pytest
from gui_helpers import all_widgets, unlock_with
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QDialog
from support.vault_fixtures import ADMIN, ADMIN_PIN, PRACTICE

from desktop_crm.crypto.totp import code_at
from desktop_crm.errors import AuthenticationFailed
from desktop_crm.gui.change_pin_dialog import ChangePinDialog
from desktop_crm.gui.main_window import LOCKED_TITLE
from desktop_crm.gui.unlock_widget import CODE_NEEDED, UnlockWidget
from desktop_crm.gui.workspace_widget import WorkspaceWidget
from desktop_crm.services import users

pytestmark = pytest.mark.gui


def gate(window) -> UnlockWidget:
    assert isinstance(window.gate, UnlockWidget)
    return window.gate


def full_unlock(qtbot, window, harness) -> None:
    unlock_with(qtbot, window, ADMIN, ADMIN_PIN, harness.code())
    qtbot.waitUntil(lambda: window.workspace is not None)


def test_wrong_pin_shows_the_generic_message_and_clears_the_pin(
    qtbot, window, harness
) -> None:
    unlock_with(qtbot, window, ADMIN, "975310", harness.code())

    error = gate(window).error
    qtbot.waitUntil(lambda: error.text() != "")
    assert error.text() == "PIN or code not accepted"
    assert gate(window).pin_edit.text() == ""
    assert gate(window).code_edit.text() == ""
    assert window.workspace is None


def test_lockout_shows_the_wait_and_counts_down(qtbot, window, harness) -> None:
    for _ in range(5):
        with pytest.raises(AuthenticationFailed):
            harness.service.unlock(ADMIN, "975310", "000000")
    screen = gate(window)
    code = code_at(harness.admin_secret, harness.clock.now())

    unlock_with(qtbot, window, ADMIN, ADMIN_PIN, code)

    expected = "Too many failed attempts. Try again in {} s."
    qtbot.waitUntil(lambda: screen.error.text() == expected.format(30))
    assert not screen.unlock_button.isEnabled()
    assert screen.pin_edit.text() == ""
    harness.clock.advance(12)
    qtbot.waitUntil(lambda: screen.error.text() == expected.format(18), timeout=3000)
    harness.clock.advance(20)
    qtbot.waitUntil(screen.unlock_button.isEnabled, timeout=3000)
    assert screen.error.text() == "You can try again now."


def test_missing_code_outside_the_grant_asks_for_it(qtbot, window) -> None:
    unlock_with(qtbot, window, ADMIN, ADMIN_PIN)

    error = gate(window).error
    qtbot.waitUntil(lambda: error.text() != "")
    assert error.text() == CODE_NEEDED
    assert gate(window).pin_edit.text() == ADMIN_PIN


def test_quick_re_unlock_with_an_empty_code(qtbot, window, harness) -> None:
    full_unlock(qtbot, window, harness)
    window.lock("manual")
    harness.clock.advance(3600)

    unlock_with(qtbot, window, ADMIN, ADMIN_PIN)

    qtbot.waitUntil(lambda: window.workspace is not None)
    assert window.session.method == "quick"


def test_unlocked_window_shows_practice_user_and_vault(qtbot, window, harness) -> None:
    full_unlock(qtbot, window, harness)

    assert window.windowTitle() == f"Desktop CRM — {PRACTICE}"
    assert window.user_label.text() == f"{ADMIN} (admin, provider)"
    assert window.vault_label.text() == f"Vault {window.session.vault_id}"
    assert window.workspace.pages.currentWidget() is window.workspace.patients


def test_ctrl_l_locks(qtbot, window, harness) -> None:
    full_unlock(qtbot, window, harness)
    session = window.session

    qtbot.keyClick(window, Qt.Key.Key_L, Qt.KeyboardModifier.ControlModifier)

    assert window.windowTitle() == LOCKED_TITLE
    assert session.locked
    assert gate(window).user_combo.currentText() == ADMIN
    qtbot.waitUntil(
        lambda: not any(isinstance(w, WorkspaceWidget) for w in all_widgets())
    )


def test_switch_user_locks_and_forgets_the_user(qtbot, window, harness) -> None:
    full_unlock(qtbot, window, harness)
    session = window.session

    window.switch_action.trigger()

    assert session.locked
    assert window.windowTitle() == LOCKED_TITLE


def test_activity_postpones_the_idle_lock(qtbot, window, harness) -> None:
    full_unlock(qtbot, window, harness)
    harness.clock.advance(4 * 60)

    qtbot.keyClick(window.workspace.nav, Qt.Key.Key_Down)
    harness.clock.advance(2 * 60)
    qtbot.wait(1200)

    assert window.session is not None
    harness.clock.advance(3 * 60 + 1)
    qtbot.waitUntil(lambda: window.session is None, timeout=3000)


def test_lock_closes_open_dialogs(qtbot, window, harness) -> None:
    full_unlock(qtbot, window, harness)
    window.change_pin_action.trigger()
    dialog = window.dialog
    assert isinstance(dialog, ChangePinDialog) and dialog.isVisible()

    window.lock("manual")

    qtbot.waitUntil(
        lambda: not any(isinstance(w, QDialog) and w.isVisible() for w in all_widgets())
    )


def test_reset_user_must_choose_a_new_pin_and_enrol(qtbot, window, harness) -> None:
    admin = harness.unlock_admin()
    users.add_user(harness.service, admin, "Bo Biller", "biller", "246813")
    enrolment = users.reset_user(harness.service, admin, "Bo Biller", "864202")
    admin.lock()
    window.show_unlock()  # the lock screen lists users as it opens

    unlock_with(qtbot, window, "Bo Biller", "864202", harness.code(enrolment.secret))
    qtbot.waitUntil(lambda: isinstance(window.dialog, ChangePinDialog))
    dialog = window.dialog
    assert window.workspace is None
    qtbot.keyClicks(dialog.pin_edit, "357913")
    qtbot.keyClicks(dialog.confirm_edit, "357913")
    qtbot.mouseClick(dialog.buttons.buttons()[0], Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: dialog.pages.currentIndex() == 1)
    secret = dialog.enrolment.secret_label.text().replace(" ", "")
    harness.clock.advance(30)
    qtbot.keyClicks(dialog.enrolment.code_edit, code_at(secret, harness.clock.now()))
    qtbot.mouseClick(dialog.buttons.buttons()[0], Qt.MouseButton.LeftButton)

    qtbot.waitUntil(lambda: window.workspace is not None)
    assert window.session.user_name == "Bo Biller"
    assert not window.session.must_change_pin


def test_reset_authenticator_enrols_the_new_entry_then_unlocks(
    qtbot, window, harness
) -> None:
    admin = harness.unlock_admin()
    enrolment = users.add_user(harness.service, admin, "Bo Biller", "biller", "246813")
    users.reset_totp(harness.service, admin, "Bo Biller")
    admin.lock()
    window.show_unlock()
    old_code = harness.code(enrolment.secret)

    unlock_with(qtbot, window, "Bo Biller", "246813", old_code)
    qtbot.waitUntil(lambda: gate(window).dialog is not None)
    dialog = gate(window).dialog
    assert window.workspace is None
    assert gate(window).pin_edit.text() == ""
    secret = dialog.enrolment.secret_label.text().replace(" ", "")
    assert secret and secret != enrolment.secret
    # A code from the old entry is refused and said so next to the code field.
    harness.clock.advance(30)
    qtbot.keyClicks(dialog.enrolment.code_edit, harness.code(enrolment.secret))
    qtbot.mouseClick(dialog.buttons.buttons()[0], Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: dialog.error.text() != "")
    assert window.workspace is None
    harness.clock.advance(30)
    qtbot.keyClicks(dialog.enrolment.code_edit, code_at(secret, harness.clock.now()))
    # The secret is wiped as the dialog closes; the dialog is then deleted.
    shown_at_close: list[str] = []
    label = dialog.enrolment.secret_label
    dialog.finished.connect(lambda _result: shown_at_close.append(label.text()))
    qtbot.mouseClick(dialog.buttons.buttons()[0], Qt.MouseButton.LeftButton)

    qtbot.waitUntil(lambda: window.workspace is not None)
    assert window.session.user_name == "Bo Biller"
    assert shown_at_close == [""]
