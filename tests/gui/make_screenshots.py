"""Render every screen offscreen to PNG files: ``python make_screenshots.py DIR``.

Not a test (pytest does not collect it); run it after visual changes and look
at the pictures.
"""

from __future__ import annotations

import os
import random
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("DESKTOP_CRM_TEST_KDF", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from PySide6.QtWidgets import QApplication, QWidget  # noqa: E402

from desktop_crm.crypto.totp import PERIOD, code_at  # noqa: E402
from desktop_crm.gui import setup_wizard  # noqa: E402
from desktop_crm.gui.main_window import MainWindow  # noqa: E402
from desktop_crm.gui.worker import wait_for_tasks  # noqa: E402
from desktop_crm.platform.secret_store import MemorySecretStore  # noqa: E402
from desktop_crm.services import users  # noqa: E402
from desktop_crm.services.clock import ManualClock  # noqa: E402
from desktop_crm.services.vault import VaultService  # noqa: E402


def settle(app: QApplication) -> None:
    wait_for_tasks()
    for _ in range(5):
        app.processEvents()


def shot(app: QApplication, widget: QWidget, path: Path) -> None:
    settle(app)
    widget.grab().save(str(path))
    print(path)  # noqa: T201


def wizard_shots(app: QApplication, window: MainWindow, clock: ManualClock, out: Path):  # noqa: ANN201
    wizard = window.gate
    assert isinstance(wizard, setup_wizard.SetupWizard)
    wizard.practice_page.practice_edit.setText("Riverside Telehealth")
    wizard.practice_page.zone_combo.setCurrentText("America/Chicago")
    shot(app, window, out / "wizard-1-practice.png")
    wizard.next_button.click()
    page = wizard.admin_page
    page.name_edit.setText("Dr. Ana Alvarez")
    page.pin_edit.setText("135790")
    page.confirm_edit.setText("135791")
    wizard.next_button.click()
    shot(app, window, out / "wizard-2-admin-error.png")
    page.pin_edit.setText("135790")
    page.confirm_edit.setText("135790")
    wizard.next_button.click()
    settle(app)
    shot(app, window, out / "wizard-3-enrol.png")
    secret = wizard.enrolment.secret_label.text().replace(" ", "")
    assert wizard.enrolment.code_edit is not None
    wizard.enrolment.code_edit.setText(code_at(secret, clock.now()))
    wizard.next_button.click()
    settle(app)
    shot(app, window, out / "wizard-4-recovery.png")
    wizard.next_button.click()
    shot(app, window, out / "wizard-5-check.png")
    for index, edit in zip(
        wizard.key_check.indices, wizard.key_check.edits, strict=True
    ):
        edit.setText(wizard.key_check._groups[index])
    wizard.next_button.click()
    settle(app)
    return secret


def main(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    app = QApplication.instance() or QApplication([])
    clock = ManualClock()
    vault = VaultService(Path(tempfile.mkdtemp()) / "vault", MemorySecretStore(), clock)
    window = MainWindow(vault, clock, rng=random.Random(3))
    window.start()
    window.show()
    secret = wizard_shots(app, window, clock, out)
    shot(app, window, out / "main-patients.png")
    assert window.workspace is not None and window.session is not None
    users.add_user(vault, window.session, "Fran Frontdesk", "front-desk", "246813")
    users.add_user(vault, window.session, "Dr. Ben Okafor", "provider", "975313")
    window.workspace.show_section("Admin")
    admin = window.workspace.admin
    assert admin is not None
    admin.users_view.refresh()
    shot(app, window, out / "admin-users.png")
    admin.setCurrentIndex(1)
    shot(app, window, out / "admin-security.png")
    admin.users_view.add_button.click()
    settle(app)
    assert admin.users_view.dialog is not None
    shot(app, admin.users_view.dialog, out / "dialog-add-user.png")
    admin.users_view.dialog.reject()
    window.lock("manual")
    shot(app, window, out / "locked.png")
    gate = window.gate
    gate.pin_edit.setText("111222")
    clock.advance(PERIOD)
    gate.code_edit.setText(code_at(secret, clock.now()))
    gate.unlock_button.click()
    settle(app)
    shot(app, window, out / "unlock-error.png")
    window.close()
    settle(app)


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "/tmp/gui-shots"))
