"""Admin › Backups, the status-bar line, and first-run "Restore from backup…"."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from gui_helpers import unlock_with
from PySide6.QtCore import Qt
from PySide6.QtGui import QPalette
from PySide6.QtWidgets import QMessageBox
from support.vault_fixtures import ADMIN, ADMIN_PIN, make_vault

from desktop_crm.crypto import backup_format as fmt
from desktop_crm.crypto import totp
from desktop_crm.gui.restore_dialog import ENROL, RestoreDialog
from desktop_crm.gui.setup_wizard import SetupWizard
from desktop_crm.gui.unlock_widget import UnlockWidget
from desktop_crm.platform.secret_store import MemorySecretStore
from desktop_crm.services import backup, backup_schedule, documents, patients
from desktop_crm.services.backup_schedule import Schedule
from desktop_crm.services.patient_model import Patient

pytestmark = pytest.mark.gui

PASSPHRASE = "correct horse battery staple"
NEW_PIN = "864209"
SHOTS = Path("/tmp/gui-shots")


@pytest.fixture
def drive(tmp_path) -> Path:
    folder = tmp_path / "drive"
    folder.mkdir()
    return folder


def shoot(widget, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    assert widget.grab().save(str(SHOTS / f"backup-{name}.png"))


@pytest.fixture
def old_pc(tmp_path):
    """A vault on another computer (its own folder and keyring)."""
    made = make_vault(tmp_path / "old-pc", MemorySecretStore())
    made.created.session.lock()
    return made


@pytest.fixture
def admin(qtbot, window, harness):
    unlock_with(qtbot, window, ADMIN, ADMIN_PIN, harness.code())
    qtbot.waitUntil(lambda: window.workspace is not None)
    window.workspace.show_section("Admin")
    return window.workspace.admin


@pytest.fixture
def view(admin, window):
    backup.set_backup_passphrase(window.session, PASSPHRASE)
    admin.setCurrentWidget(admin.backups_view)
    return admin.backups_view


def test_the_tab_and_the_status_bar(qtbot, window, view, drive):
    window.resize(1000, 760)
    assert view.health_label.text() == "No backup yet"
    assert window.backup_status.text() == "No backup yet"
    assert not view.progress.isVisible()
    view.dest_edit.setText(str(drive))
    view.keep_spins[0].setValue(5)

    view.schedule_button.click()
    qtbot.waitUntil(lambda: view.schedule_button.isEnabled())

    stored = backup_schedule.get_schedule(window.session)
    assert stored is not None and stored.destination == drive
    assert stored.keep.daily == 5 and stored.at == "02:00"
    shoot(window, "tab")
    shoot(view, "tab-only")


def test_passphrase_is_typed_twice_and_long_enough(qtbot, view, window):
    qtbot.keyClicks(view.phrase_edit, "too short")
    qtbot.keyClicks(view.phrase_again, "too short")
    view.phrase_button.click()
    assert "at least 12 characters" in view.error.text()

    view.phrase_edit.setText("a long enough phrase")
    view.phrase_again.setText("a long enough phrasf")
    view.phrase_button.click()
    assert view.error.text() == "Passphrase: the two entries differ."

    before = window.session.setting(backup.PUBLIC_KEY, "")
    view.phrase_again.setText("a long enough phrase")
    view.phrase_button.click()
    qtbot.waitUntil(lambda: view.phrase_button.isEnabled(), timeout=20_000)
    assert "passphrase is set" in view.status.text()
    assert window.session.setting(backup.PUBLIC_KEY, "") != before
    assert view.phrase_edit.text() == ""


def test_back_up_now_shows_progress_and_updates_the_status_line(
    qtbot, window, view, drive
):
    view.dest_edit.setText(str(drive))
    view.chunk_size = fmt.MIN_CHUNK_BYTES
    seen: list[int] = []
    view.relay.progressed.connect(lambda done, total: seen.append(done))

    view.backup_button.click()
    qtbot.waitUntil(lambda: view.backup_button.isEnabled(), timeout=20_000)

    [made] = list(drive.glob("desktop-crm-backup-*.dcrmbak"))
    assert view.status.text().startswith(f"Backup written: {made}")
    assert len(seen) > 3 and seen == sorted(seen)
    assert view.health_label.text().startswith("Last backup: ")
    assert view.health_label.text().endswith(", not verified")  # no drill yet
    window.backup_status.refresh()
    assert window.backup_status.text() == view.health_label.text()


def test_cancel_mid_way_leaves_no_finished_looking_file(
    qtbot, window, view, drive, monkeypatch
):
    session = window.session
    pid = patients.create_patient(session, Patient(family="Big"))
    documents.attach(session, pid, "scan.pdf", b"%PDF-" + bytes(300_000))
    first_tick, release = threading.Event(), threading.Event()
    real = backup.create_backup

    def gated(session, out, progress=None, cancel=None, **kw):
        def held(done: int, total: int) -> None:
            progress(done, total)
            if not first_tick.is_set():
                first_tick.set()
                release.wait(10)

        return real(session, out, held, cancel, **kw)

    monkeypatch.setattr(backup, "create_backup", gated)
    view.dest_edit.setText(str(drive))
    view.chunk_size = fmt.MIN_CHUNK_BYTES

    view.backup_button.click()
    qtbot.waitUntil(first_tick.is_set, timeout=20_000)
    partial = list(drive.glob(".*.partial"))
    qtbot.waitUntil(
        lambda: view.progress.maximum() == 1000 and view.progress.value() > 0
    )
    assert view.cancel_button.isEnabled()
    shoot(view, "progress")
    qtbot.mouseClick(view.cancel_button, Qt.MouseButton.LeftButton)
    release.set()
    qtbot.waitUntil(lambda: view.backup_button.isEnabled(), timeout=20_000)

    assert len(partial) == 1  # it was being written under a temporary name
    assert view.error.text() == "Cancelled: no backup file was written."
    assert list(drive.iterdir()) == []
    assert session.setting(backup.LAST_RESULT, "").startswith("failed: cancelled")


def test_unlock_notice_and_red_status_when_overdue(qtbot, window, harness, tmp_path):
    session = harness.unlock_admin()
    backup.set_backup_passphrase(session, PASSPHRASE)
    backup_schedule.set_schedule(
        session, Schedule("02:00", tmp_path / "gone"), harness.clock.now()
    )
    assert not backup_schedule.run_scheduled(session, harness.clock.now()).ok
    session.lock()

    unlock_with(qtbot, window, ADMIN, ADMIN_PIN, harness.code())
    qtbot.waitUntil(lambda: window.workspace is not None)

    status = window.backup_status
    assert status.text().startswith("Backup failed: backup destination ")
    assert status.font().bold()
    assert status.palette().color(QPalette.ColorRole.WindowText).red() > 150
    notice = status.notice
    assert isinstance(notice, QMessageBox) and notice.isVisible()
    assert "shown to every admin at unlock" in notice.text()
    shoot(window, "notice")
    notice.accept()


def test_restore_from_first_run_into_a_fresh_folder(
    qtbot, setup_window, old_pc, tmp_path, clock
):
    source = old_pc.unlock_admin()
    backup.set_backup_passphrase(source, PASSPHRASE)
    patients.create_patient(source, Patient(family="Restored", given="Rita"))
    out = tmp_path / "from-old-pc.dcrmbak"
    backup.create_backup(source, out)
    source.lock()
    wizard = setup_window.gate
    assert isinstance(wizard, SetupWizard)

    wizard.practice_page.restore_button.click()
    dialog = wizard.restore_dialog
    assert isinstance(dialog, RestoreDialog) and dialog.isVisible()
    dialog.file_edit.setText(str(out))
    qtbot.keyClicks(dialog.secret_edit, PASSPHRASE)
    qtbot.keyClicks(dialog.admin_edit, ADMIN)
    qtbot.keyClicks(dialog.pin_edit, NEW_PIN)
    qtbot.keyClicks(dialog.confirm_edit, NEW_PIN)
    shoot(dialog, "restore-form")
    dialog.restore_button.click()
    qtbot.waitUntil(lambda: dialog.pages.currentIndex() == ENROL, timeout=30_000)
    shoot(dialog, "restore-enrol")

    secret = dialog.session.totp_secret
    qtbot.keyClicks(dialog.enrolment.code_edit, "000000")
    dialog.restore_button.click()
    qtbot.waitUntil(lambda: dialog.enrol_error.isVisible())
    assert dialog.enrol_error.text().startswith("Code: not accepted")
    dialog.enrolment.code_edit.setText(totp.code_at(secret, clock.now()))
    dialog.restore_button.click()

    qtbot.waitUntil(lambda: isinstance(setup_window.gate, UnlockWidget))
    clock.advance(totp.PERIOD)
    unlock_with(qtbot, setup_window, ADMIN, NEW_PIN, totp.code_at(secret, clock.now()))
    qtbot.waitUntil(lambda: setup_window.workspace is not None, timeout=20_000)
    restored = setup_window.session
    assert restored.vault_id != source.vault_id
    assert window_rows(restored) == ["Restored"]


def window_rows(session) -> list[str]:
    rows = session.database().query("SELECT family FROM patients")
    return [row[0] for row in rows]


def test_a_wrong_key_restore_leaves_no_vault(qtbot, setup_window, old_pc, tmp_path):
    source = old_pc.unlock_admin()
    backup.set_backup_passphrase(source, PASSPHRASE)
    out = tmp_path / "b.dcrmbak"
    backup.create_backup(source, out)
    source.lock()
    wizard = setup_window.gate
    wizard.practice_page.restore_button.click()
    dialog = wizard.restore_dialog
    dialog.file_edit.setText(str(out))
    dialog.secret_edit.setText("not the passphrase at all")
    dialog.admin_edit.setText(ADMIN)
    dialog.pin_edit.setText(NEW_PIN)
    dialog.confirm_edit.setText(NEW_PIN)

    dialog.restore_button.click()
    qtbot.waitUntil(lambda: dialog.error.isVisible(), timeout=30_000)

    assert "wrong backup passphrase or recovery key" in dialog.error.text()
    assert setup_window.gate is wizard and not setup_window._vault.exists()
    dialog.reject()


def test_verify_a_backup_file_with_progress(qtbot, window, view, drive):
    out = drive / "b.dcrmbak"
    backup.create_backup(window.session, out, chunk_size=fmt.MIN_CHUNK_BYTES)
    view.verify_phrase.setText("wrong passphrase!!")
    view.start_verify(out)
    qtbot.waitUntil(lambda: view.verify_button.isEnabled(), timeout=20_000)
    assert "wrong backup passphrase or recovery key" in view.error.text()

    view.verify_phrase.setText(PASSPHRASE)
    view.start_verify(out)
    qtbot.waitUntil(lambda: view.verify_button.isEnabled(), timeout=20_000)

    assert view.status.text().startswith("Backup ok: b.dcrmbak, made ")
    assert view.status.text().endswith("integrity ok.")
    assert view.verify_phrase.text() == ""
