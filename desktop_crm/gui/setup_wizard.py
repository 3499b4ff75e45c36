"""First-run setup: practice, first admin, TOTP enrolment, recovery key."""

from __future__ import annotations

import random

from PySide6.QtCore import Signal, Slot
from PySide6.QtWidgets import (
    QDialog,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from desktop_crm.gui import fields
from desktop_crm.gui.clipboard import SensitiveClipboard
from desktop_crm.gui.enrolment_widget import EnrolmentWidget
from desktop_crm.gui.key_check_widget import KeyCheckWidget
from desktop_crm.gui.recovery_key_widget import RecoveryKeyWidget
from desktop_crm.gui.setup_pages import AdminPage, PracticePage
from desktop_crm.gui.worker import run_task, user_message
from desktop_crm.services.session import Session
from desktop_crm.services.vault import CreatedVault, VaultService

PRACTICE, ADMIN, ENROL, RECOVERY, CHECK = range(5)
TITLES = (
    "Set up your practice",
    "Create the first admin",
    "Connect your authenticator app",
    "Save the recovery key",
    "Confirm the recovery key",
)


class SetupWizard(QWidget):
    """Creates the vault step by step; the vault exists after step 2.

    Signals:
        setup_finished(object): the admin's unlocked ``Session``.
        restore_finished(): a backup was restored instead (show the lock screen).
    """

    setup_finished = Signal(object)
    restore_finished = Signal()

    def __init__(
        self,
        vault: VaultService,
        clipboard: SensitiveClipboard,
        rng: random.Random | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self._vault = vault
        self.created: CreatedVault | None = None
        self.title = fields.heading(TITLES[0])
        self.step_label = QLabel()
        self.practice_page = PracticePage()
        self.admin_page = AdminPage()
        self.enrolment = EnrolmentWidget()
        self.enrol_error = fields.error_label()
        self.recovery = RecoveryKeyWidget(clipboard)
        self.key_check = KeyCheckWidget(rng)
        self.pages = QStackedWidget()
        self.back_button = QPushButton("&Back")
        self.next_button = QPushButton("&Next")
        self.next_button.setDefault(True)
        self._build()
        self.back_button.clicked.connect(self.on_back_button_clicked)
        self.next_button.clicked.connect(self.on_next_button_clicked)
        self.practice_page.restore_button.clicked.connect(self.on_restore_clicked)
        self.restore_dialog: QDialog | None = None
        self._show_page(PRACTICE)

    def _build(self) -> None:
        self.pages.addWidget(self.practice_page)
        self.pages.addWidget(self.admin_page)
        self.pages.addWidget(self._column(self.enrolment, self.enrol_error))
        warning = fields.hint_label(
            "This key opens the vault if this computer's keyring is lost, on a "
            "new computer, or in an emergency. It is shown only this once and "
            "Desktop CRM cannot show it again. Write it down or print it, and "
            "keep it somewhere safe away from this computer."
        )
        self.pages.addWidget(self._column(warning, self.recovery))
        self.pages.addWidget(self.key_check)
        buttons = QHBoxLayout()
        buttons.addWidget(self.step_label)
        buttons.addStretch(1)
        buttons.addWidget(self.back_button)
        buttons.addWidget(self.next_button)
        column = QWidget()
        column.setMaximumWidth(820)
        inner = QVBoxLayout(column)
        inner.setContentsMargins(32, 24, 32, 24)
        inner.addWidget(self.title)
        inner.addWidget(self.pages, 1)
        inner.addLayout(buttons)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(column, 1)

    @staticmethod
    def _column(*widgets: QWidget) -> QWidget:
        page = QWidget()
        layout = QVBoxLayout(page)
        for widget in widgets:
            layout.addWidget(widget)
        layout.addStretch(1)
        return page

    @property
    def session(self) -> Session | None:
        return None if self.created is None else self.created.session

    def current(self) -> int:
        return self.pages.currentIndex()

    def _show_page(self, index: int) -> None:
        self.pages.setCurrentIndex(index)
        self.title.setText(TITLES[index])
        self.step_label.setText(f"Step {index + 1} of {len(TITLES)}")
        self.back_button.setEnabled(index in (ADMIN, CHECK))
        self.next_button.setText("&Finish" if index == CHECK else "&Next")
        self.next_button.setEnabled(True)

    @Slot()
    def on_restore_clicked(self) -> None:
        from desktop_crm.gui.restore_dialog import RestoreDialog

        dialog = RestoreDialog(self._vault, self)
        dialog.restored.connect(self.restore_finished)
        dialog.finished.connect(dialog.deleteLater)
        self.restore_dialog = dialog
        dialog.open()

    @Slot()
    def on_back_button_clicked(self) -> None:
        self._show_page(self.current() - 1)

    @Slot()
    def on_next_button_clicked(self) -> None:
        index = self.current()
        if index == PRACTICE and self.practice_page.validate():
            self._show_page(ADMIN)
        elif index == ADMIN and self.admin_page.validate():
            self._create_vault()
        elif index == ENROL:
            self._confirm_code()
        elif index == RECOVERY:
            self._show_page(CHECK)
        elif index == CHECK and self.key_check.check():
            self._finish()

    def _busy(self, text: str) -> None:
        self.next_button.setEnabled(False)
        self.back_button.setEnabled(False)
        self.admin_page.busy.setText(text)

    def _create_vault(self) -> None:
        page = self.admin_page
        practice, zone = self.practice_page.practice(), self.practice_page.zone()
        name, pin = page.name_edit.text(), page.pin_edit.text()
        self._busy("Creating the encrypted vault…")
        run_task(
            lambda: self._vault.create(practice, name, pin, zone),
            self.on_create_succeeded,
            self.on_create_failed,
        )

    @Slot(object)
    def on_create_succeeded(self, created: CreatedVault) -> None:
        self.created = created
        self.admin_page.clear_pins()
        self.admin_page.busy.clear()
        self.enrolment.set_enrolment(created.enrolment)
        self.recovery.set_key(created.recovery_key)
        self.key_check.set_key(created.recovery_key)
        self._show_page(ENROL)
        if self.enrolment.code_edit is not None:
            self.enrolment.code_edit.setFocus()

    @Slot(object)
    def on_create_failed(self, error: BaseException) -> None:
        self.admin_page.busy.clear()
        self.admin_page.clear_pins()
        self._show_page(ADMIN)
        self.admin_page.fail(self.admin_page.pin_edit, user_message(error))

    def _confirm_code(self) -> None:
        code = self.enrolment.code()
        if len(code) != fields.CODE_DIGITS:
            fields.show_message(
                self.enrol_error, "Code: type the 6 digits the app shows."
            )
            return
        assert self.created is not None
        session = self.created.session
        self.next_button.setEnabled(False)
        run_task(
            lambda: self._vault.confirm_enrolment(session, code),
            self.on_enrolment_succeeded,
            self.on_enrolment_failed,
        )

    @Slot(object)
    def on_enrolment_succeeded(self, _result: object) -> None:
        fields.show_message(self.enrol_error, "")
        self.enrolment.forget()
        self._show_page(RECOVERY)

    @Slot(object)
    def on_enrolment_failed(self, error: BaseException) -> None:
        self.next_button.setEnabled(True)
        self.enrolment.show_refusal(self.enrol_error, error)

    def _finish(self) -> None:
        assert self.created is not None
        session = self.created.session
        self.recovery.forget()
        self.key_check.forget()
        self.created.recovery_key = ""
        self.setup_finished.emit(session)

    def abandon(self) -> None:
        """Lock the new session if the wizard is closed before finishing."""
        if self.created is not None and not self.created.session.locked:
            self.created.session.lock("setup-abandoned")
        abandon = getattr(self.restore_dialog, "abandon", None)
        if abandon is not None:
            abandon()
