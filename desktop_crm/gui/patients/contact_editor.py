"""An editable list of phone numbers or e-mail addresses, each with consent."""

from __future__ import annotations

from PySide6.QtCore import Slot
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QHBoxLayout,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from desktop_crm.services.patient_model import ContactPoint

PHONE_USES = ("", "mobile", "home", "work")
EMAIL_USES = ("", "home", "work")


class ContactRow(QWidget):
    """One value, its use and its reminder consent.

    Signals: none.
    """

    def __init__(self, kind: str, number: int, uses: tuple[str, ...]) -> None:
        super().__init__()
        label = f"{kind} {number}"
        self.value_edit = QLineEdit()
        self.value_edit.setAccessibleName(label)
        self.value_edit.setObjectName(label.lower().replace(" ", "_"))
        self.value_edit.setPlaceholderText(
            "(555) 010-0142" if kind == "Phone" else "name@example.org"
        )
        self.use_combo = QComboBox()
        self.use_combo.addItems([u or "use…" for u in uses])
        self.use_combo.setAccessibleName(f"{label} use")
        self.reminders_box = QCheckBox("Reminders")
        self.reminders_box.setAccessibleName(f"{label} may receive reminders")
        self.reminders_box.setToolTip("The patient agreed to reminders at this address")
        self.remove_button = QPushButton("Remove")
        self.remove_button.setAccessibleName(f"Remove {label.lower()}")
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.value_edit, 1)
        layout.addWidget(self.use_combo)
        layout.addWidget(self.reminders_box)
        layout.addWidget(self.remove_button)

    def load(self, point: ContactPoint) -> None:
        self.value_edit.setText(point.value)
        index = self.use_combo.findText(point.use) if point.use else 0
        if index < 0:
            self.use_combo.addItem(point.use)
            index = self.use_combo.count() - 1
        self.use_combo.setCurrentIndex(index)
        self.reminders_box.setChecked(point.reminders)

    def point(self) -> ContactPoint | None:
        value = self.value_edit.text().strip()
        if not value:
            return None
        use = self.use_combo.currentText() if self.use_combo.currentIndex() else ""
        return ContactPoint(value, use, self.reminders_box.isChecked())


class ContactListEditor(QWidget):
    """Phones or e-mails: rows to fill in, with Add and Remove.

    Signals: none (the form reads the rows when saving).
    """

    def __init__(self, kind: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._kind = kind
        self._uses = PHONE_USES if kind == "Phone" else EMAIL_USES
        self.rows: list[ContactRow] = []
        self._rows_layout = QVBoxLayout()
        self._rows_layout.setContentsMargins(0, 0, 0, 0)
        self.add_button = QPushButton(f"Add {kind.lower()}")
        self.add_button.clicked.connect(self.on_add_button_clicked)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(self._rows_layout)
        buttons = QHBoxLayout()
        buttons.addWidget(self.add_button)
        buttons.addStretch(1)
        layout.addLayout(buttons)

    def add_row(self, point: ContactPoint | None = None) -> ContactRow:
        row = ContactRow(self._kind, len(self.rows) + 1, self._uses)
        if point is not None:
            row.load(point)
        row.remove_button.clicked.connect(lambda: self._remove(row))
        self.rows.append(row)
        self._rows_layout.addWidget(row)
        return row

    def _remove(self, row: ContactRow) -> None:
        if row in self.rows:
            self.rows.remove(row)
            row.hide()
            row.deleteLater()
        if not self.rows:
            self.add_row()

    def load(self, points: tuple[ContactPoint, ...]) -> None:
        for row in self.rows:
            row.hide()
            row.deleteLater()
        self.rows = []
        for point in points:
            self.add_row(point)
        if not self.rows:
            self.add_row()

    def filled(self) -> list[tuple[ContactRow, ContactPoint]]:
        """The rows that hold a value, in order, with what they hold."""
        out = []
        for row in self.rows:
            point = row.point()
            if point is not None:
                out.append((row, point))
        return out

    @Slot()
    def on_add_button_clicked(self) -> None:
        self.add_row().value_edit.setFocus()
