"""The input pages of the setup wizard: the practice and its first admin."""

from __future__ import annotations

import logging
import zoneinfo

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QComboBox,
    QCompleter,
    QFormLayout,
    QHBoxLayout,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from desktop_crm.gui import fields

log = logging.getLogger(__name__)


def system_zone() -> str:
    """The computer's IANA time zone, or UTC when it cannot be told."""
    try:
        import tzlocal

        name = str(tzlocal.get_localzone_name() or "")
    except Exception:
        # tzlocal raises various errors on odd systems; all mean "unknown".
        log.info("could not read the system time zone; defaulting to UTC")
        return "UTC"
    return name if name in zoneinfo.available_timezones() else "UTC"


class PracticePage(QWidget):
    """Practice name and time zone.

    Signals: none.
    """

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.zones = sorted(zoneinfo.available_timezones())
        self.practice_edit = QLineEdit()
        self.practice_edit.setAccessibleName("Practice name")
        self.practice_edit.setMaxLength(100)
        self.practice_edit.setPlaceholderText("for example, Riverside Telehealth")
        self.zone_combo = QComboBox()
        self.zone_combo.setAccessibleName("Time zone")
        self.zone_combo.setEditable(True)
        self.zone_combo.addItems(self.zones)
        self.zone_combo.setInsertPolicy(QComboBox.InsertPolicy.NoInsert)
        completer = QCompleter(self.zones, self.zone_combo)
        completer.setFilterMode(Qt.MatchFlag.MatchContains)
        completer.setCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
        self.zone_combo.setCompleter(completer)
        self.zone_combo.setCurrentText(system_zone())
        self.error = fields.error_label()
        self.restore_button = QPushButton("&Restore from backup…")
        self.restore_button.setObjectName("restore_from_backup")
        form = QFormLayout()
        form.addRow("&Practice name:", self.practice_edit)
        form.addRow("&Time zone:", self.zone_combo)
        layout = QVBoxLayout(self)
        layout.addWidget(
            fields.hint_label(
                "The name appears in the window title and on the authenticator "
                "entry. Appointments and reminders use the practice's time zone."
            )
        )
        layout.addLayout(form)
        layout.addWidget(self.error)
        layout.addStretch(1)
        restore = QHBoxLayout()
        restore.addWidget(
            fields.hint_label(
                "Moving to this computer? Restore the practice from a backup."
            )
        )
        restore.addWidget(self.restore_button)
        layout.addLayout(restore)

    def practice(self) -> str:
        return self.practice_edit.text().strip()

    def zone(self) -> str:
        return self.zone_combo.currentText().strip()

    def validate(self) -> bool:
        """Check both fields; show an inline error naming the first bad one."""
        if not self.practice():
            return self._fail(self.practice_edit, "Practice name: enter a name.")
        if self.zone() not in self.zones:
            return self._fail(
                self.zone_combo,
                f"Time zone: '{self.zone()}' is not a time zone; pick one from "
                "the list (type part of a city to filter).",
            )
        fields.show_message(self.error, "")
        return True

    def _fail(self, widget: QWidget, message: str) -> bool:
        fields.show_message(self.error, message)
        widget.setFocus()
        return False


class AdminPage(QWidget):
    """The first admin's display name and PIN (typed twice).

    Signals: none.
    """

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.name_edit = QLineEdit()
        self.name_edit.setAccessibleName("Your name")
        self.name_edit.setMaxLength(100)
        self.pin_edit = fields.pin_edit("PIN")
        self.confirm_edit = fields.pin_edit("Confirm PIN")
        self.error = fields.error_label()
        self.busy = fields.hint_label("")
        form = QFormLayout()
        form.addRow("Your &name:", self.name_edit)
        form.addRow("&PIN:", self.pin_edit)
        form.addRow("&Confirm PIN:", self.confirm_edit)
        layout = QVBoxLayout(self)
        layout.addWidget(
            fields.hint_label(
                "You become the practice's first user, with the admin and "
                "provider roles. You will unlock with this PIN and a code "
                "from an authenticator app on your phone."
            )
        )
        layout.addLayout(form)
        layout.addWidget(fields.hint_label(fields.PIN_POLICY))
        layout.addWidget(self.error)
        layout.addWidget(self.busy)
        layout.addStretch(1)

    def validate(self) -> bool:
        """Checks that need no service: a name, and the two PINs equal."""
        if not self.name_edit.text().strip():
            return self.fail(self.name_edit, "Your name: enter your name.")
        if not self.pin_edit.text():
            return self.fail(self.pin_edit, "PIN: enter a PIN.")
        if self.pin_edit.text() != self.confirm_edit.text():
            self.confirm_edit.clear()
            return self.fail(self.confirm_edit, "Confirm PIN: does not match the PIN.")
        fields.show_message(self.error, "")
        return True

    def fail(self, widget: QWidget, message: str) -> bool:
        fields.show_message(self.error, message)
        widget.setFocus()
        return False

    def clear_pins(self) -> None:
        self.pin_edit.clear()
        self.confirm_edit.clear()
