"""Every field of a patient record as inputs, with inline validation errors."""

from __future__ import annotations

import re
from dataclasses import replace

from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QFormLayout,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QScrollArea,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from desktop_crm.errors import InvalidInput
from desktop_crm.gui import fields
from desktop_crm.gui.patients import formatting
from desktop_crm.gui.patients.contact_editor import ContactListEditor
from desktop_crm.gui.worker import user_message
from desktop_crm.services.patient_model import (
    CONTACT_METHODS,
    SEXES,
    STATUSES,
    HumanName,
    Identifier,
    Patient,
    parse_typed_date,
)
from desktop_crm.services.patients import MRN_SYSTEM

INVALID_STYLE = "border: 2px solid #b00020;"
_NUMBERED = re.compile(r"^(phone|e-mail) (\d+)$")


def _line(name: str, placeholder: str = "") -> QLineEdit:
    edit = QLineEdit()
    edit.setAccessibleName(name)
    edit.setObjectName(name.lower().replace(" ", "_").replace(",", ""))
    if placeholder:
        edit.setPlaceholderText(placeholder)
    return edit


def _combo(name: str, values: tuple[str, ...], labels: dict[str, str]) -> QComboBox:
    combo = QComboBox()
    combo.setAccessibleName(name)
    for value in values:
        combo.addItem(labels.get(value, value) or "Not recorded", value)
    return combo


def _typed_date(text: str, field_name: str) -> str | None:
    """A date typed as YYYY, YYYY-MM, YYYY-MM-DD or MM/DD/YYYY (month first)."""
    text = text.strip()
    if "/" not in text:
        return text or None
    iso = parse_typed_date(text)
    if iso is None:
        raise InvalidInput(
            field_name,
            f"'{text}' is not a date (MM/DD/YYYY, YYYY-MM-DD, YYYY-MM or YYYY)",
        )
    return iso


class PatientFormWidget(QWidget):
    """Inputs for one patient; reads back a ``Patient`` and shows errors inline.

    Signals: none (the dialog that holds the form saves it).
    """

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._base = Patient(family="")
        self._marked: list[QWidget] = []
        self.error = fields.error_label("Form error")
        self._make_inputs()
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QScrollArea.Shape.NoFrame)
        body = QWidget()
        grid = QGridLayout(body)
        grid.addWidget(self._name_group(), 0, 0)
        grid.addWidget(self._identity_group(), 0, 1)
        grid.addWidget(self._contact_group(), 1, 0, 1, 2)
        grid.addWidget(self._address_group(), 2, 0)
        grid.addWidget(self._care_group(), 2, 1)
        grid.addWidget(self._records_group(), 3, 0, 1, 2)
        grid.setColumnStretch(0, 1)
        grid.setColumnStretch(1, 1)
        scroll.setWidget(body)
        self.scroll = scroll
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.error)
        layout.addWidget(scroll, 1)

    # -- building ----------------------------------------------------------------
    def _make_inputs(self) -> None:
        self.family_edit = _line("Family name")
        self.given_edit = _line("Given name")
        self.middle_edit = _line("Middle name")
        self.prefix_edit = _line("Prefix", "Dr., Ms. …")
        self.suffix_edit = _line("Suffix", "Jr., III …")
        self.preferred_edit = _line("Preferred name")
        self.previous_edit = QPlainTextEdit()
        self.previous_edit.setAccessibleName("Previous names")
        self.previous_edit.setPlaceholderText("One per line: Family, Given")
        self.previous_edit.setFixedHeight(52)
        self.birth_edit = _line("Date of birth", "MM/DD/YYYY, YYYY-MM or YYYY")
        self.sex_combo = _combo("Sex at birth", SEXES, formatting.SEX_LABELS)
        self.gender_edit = _line("Gender identity")
        self.pronouns_edit = _line("Pronouns", "she/her, they/them …")
        self.phones = ContactListEditor("Phone")
        self.emails = ContactListEditor("E-mail")
        self.address_edits = {
            k: _line(f"Address: {label}") for k, label in formatting.ADDRESS_KEYS
        }
        self.language_edit = _line("Preferred language", "English, es, …")
        self.contact_combo = _combo(
            "Preferred contact", CONTACT_METHODS, formatting.CONTACT_LABELS
        )
        self.timezone_edit = _line("Time zone", "America/Chicago")
        self.emergency_edits = {
            k: _line(f"Emergency contact: {label}")
            for k, label in formatting.EMERGENCY_KEYS
        }
        self.insurance_edits = {
            k: _line(f"Insurance: {label}") for k, label in formatting.INSURANCE_KEYS
        }
        self.identifiers_table = QTableWidget(0, 3)
        self.identifiers_table.setAccessibleName("Identifiers")
        self.identifiers_table.setHorizontalHeaderLabels(["System", "Value", "Label"])
        self.identifiers_table.horizontalHeader().setSectionResizeMode(
            QHeaderView.ResizeMode.Stretch
        )
        self.identifiers_table.verticalHeader().hide()
        self.identifiers_table.setFixedHeight(96)
        self.identifiers_table.setSelectionBehavior(
            QAbstractItemView.SelectionBehavior.SelectRows
        )
        self.add_identifier_button = QPushButton("Add identifier")
        self.add_identifier_button.clicked.connect(self._add_identifier_row)
        self.remove_identifier_button = QPushButton("Remove identifier")
        self.remove_identifier_button.clicked.connect(self._remove_identifier_row)
        self.status_combo = _combo("Status", STATUSES, formatting.STATUS_LABELS)
        self.deceased_edit = _line("Deceased date", "MM/DD/YYYY, YYYY-MM or YYYY")
        self.notes_edit = QPlainTextEdit()
        self.notes_edit.setAccessibleName("Administrative notes")
        self.notes_edit.setFixedHeight(64)

    @staticmethod
    def _group(title: str, rows: list[tuple[str, QWidget]]) -> QGroupBox:
        group = QGroupBox(title)
        form = QFormLayout(group)
        for label, widget in rows:
            form.addRow(label, widget)
        return group

    def _name_group(self) -> QGroupBox:
        return self._group(
            "Name",
            [
                ("Family name *", self.family_edit),
                ("Given name", self.given_edit),
                ("Middle name", self.middle_edit),
                ("Prefix", self.prefix_edit),
                ("Suffix", self.suffix_edit),
                ("Preferred name", self.preferred_edit),
                ("Previous names", self.previous_edit),
            ],
        )

    def _identity_group(self) -> QGroupBox:
        return self._group(
            "Birth and identity",
            [
                ("Date of birth", self.birth_edit),
                ("Sex at birth", self.sex_combo),
                ("Gender identity", self.gender_edit),
                ("Pronouns", self.pronouns_edit),
                ("Language", self.language_edit),
                ("Preferred contact", self.contact_combo),
                ("Time zone", self.timezone_edit),
            ],
        )

    def _contact_group(self) -> QGroupBox:
        return self._group(
            "Phones and e-mail", [("Phones", self.phones), ("E-mail", self.emails)]
        )

    def _address_group(self) -> QGroupBox:
        labels = dict(formatting.ADDRESS_KEYS)
        return self._group(
            "Address", [(labels[k], edit) for k, edit in self.address_edits.items()]
        )

    def _care_group(self) -> QGroupBox:
        emergency = dict(formatting.EMERGENCY_KEYS)
        insurance = dict(formatting.INSURANCE_KEYS)
        rows = [
            (f"Emergency {emergency[k].lower()}", e)
            for k, e in self.emergency_edits.items()
        ]
        rows += [(insurance[k], e) for k, e in self.insurance_edits.items()]
        return self._group("Emergency contact and insurance", rows)

    def _records_group(self) -> QGroupBox:
        buttons = QHBoxLayout()
        buttons.addWidget(self.add_identifier_button)
        buttons.addWidget(self.remove_identifier_button)
        buttons.addStretch(1)
        identifiers = QWidget()
        box = QVBoxLayout(identifiers)
        box.setContentsMargins(0, 0, 0, 0)
        box.addWidget(self.identifiers_table)
        box.addLayout(buttons)
        return self._group(
            "Identifiers, status and notes",
            [
                ("Identifiers", identifiers),
                ("Status", self.status_combo),
                ("Deceased date", self.deceased_edit),
                ("Notes", self.notes_edit),
            ],
        )

    def _add_identifier_row(self, ident: Identifier | None = None) -> None:
        table = self.identifiers_table
        row = table.rowCount()
        table.insertRow(row)
        values = (ident.system, ident.value, ident.label) if ident else ("", "", "")
        for column, value in enumerate(values):
            table.setItem(row, column, QTableWidgetItem(value))

    def _remove_identifier_row(self) -> None:
        rows = sorted(
            {i.row() for i in self.identifiers_table.selectedIndexes()}, reverse=True
        )
        for row in rows:
            self.identifiers_table.removeRow(row)

    # -- loading and reading -------------------------------------------------------
    def load(self, patient: Patient) -> None:
        """Fill the inputs from ``patient`` (its unknown map keys are kept)."""
        self._base = patient
        pairs = (
            (self.family_edit, patient.family),
            (self.given_edit, patient.given),
            (self.middle_edit, patient.middle),
            (self.prefix_edit, patient.prefix),
            (self.suffix_edit, patient.suffix),
            (self.preferred_edit, patient.preferred_name),
            (self.birth_edit, patient.birth_date or ""),
            (self.gender_edit, patient.gender_identity),
            (self.pronouns_edit, patient.pronouns),
            (self.language_edit, patient.language),
            (self.timezone_edit, patient.timezone),
            (self.deceased_edit, patient.deceased_date or ""),
        )
        for edit, value in pairs:
            edit.setText(value)
        self.previous_edit.setPlainText(
            "\n".join(
                formatting.name_text(n.family, n.given) for n in patient.previous_names
            )
        )
        self._set_combo(self.sex_combo, patient.sex_at_birth)
        self._set_combo(self.contact_combo, patient.preferred_contact)
        self._set_combo(self.status_combo, patient.status)
        self.phones.load(patient.phones)
        self.emails.load(patient.emails)
        for edits, values in (
            (self.address_edits, patient.address),
            (self.emergency_edits, patient.emergency_contact),
            (self.insurance_edits, patient.insurance),
        ):
            for key, edit in edits.items():
                edit.setText(str(values.get(key, "")))
        self.identifiers_table.setRowCount(0)
        for ident in patient.identifiers:
            if ident.system != MRN_SYSTEM:
                self._add_identifier_row(ident)
        self.notes_edit.setPlainText(patient.notes)

    @staticmethod
    def _set_combo(combo: QComboBox, value: str) -> None:
        index = combo.findData(value)
        if index < 0:
            combo.addItem(value, value)
            index = combo.count() - 1
        combo.setCurrentIndex(index)

    def _previous_names(self) -> tuple[HumanName, ...]:
        names = []
        for line in self.previous_edit.toPlainText().splitlines():
            if line.strip():
                family, _, given = line.partition(",")
                names.append(HumanName(family.strip(), given.strip()))
        return tuple(names)

    @staticmethod
    def _mapping(edits: dict[str, QLineEdit], before: dict[str, str]) -> dict[str, str]:
        values = {k: v for k, v in before.items() if k not in edits}
        values.update(
            {k: e.text().strip() for k, e in edits.items() if e.text().strip()}
        )
        return values

    def _identifiers(self) -> tuple[Identifier, ...]:
        table = self.identifiers_table
        out = []
        for row in range(table.rowCount()):
            cells = [table.item(row, c) for c in range(3)]
            system, value, label = (c.text().strip() if c else "" for c in cells)
            if system or value or label:
                out.append(Identifier(system, value, label))
        return tuple(out)

    def patient(self) -> Patient:
        """The record as entered.

        Raises:
            InvalidInput: a date is typed in a form no rule accepts.
        """
        base = self._base
        return replace(
            base,
            family=self.family_edit.text(),
            given=self.given_edit.text(),
            middle=self.middle_edit.text(),
            prefix=self.prefix_edit.text(),
            suffix=self.suffix_edit.text(),
            preferred_name=self.preferred_edit.text(),
            previous_names=self._previous_names(),
            birth_date=_typed_date(self.birth_edit.text(), "date of birth"),
            sex_at_birth=self.sex_combo.currentData(),
            gender_identity=self.gender_edit.text(),
            pronouns=self.pronouns_edit.text(),
            phones=tuple(p for _, p in self.phones.filled()),
            emails=tuple(p for _, p in self.emails.filled()),
            address=self._mapping(self.address_edits, base.address),
            language=self.language_edit.text().strip(),
            preferred_contact=self.contact_combo.currentData(),
            emergency_contact=self._mapping(
                self.emergency_edits, base.emergency_contact
            ),
            insurance=self._mapping(self.insurance_edits, base.insurance),
            identifiers=self._identifiers(),
            status=self.status_combo.currentData(),
            deceased_date=_typed_date(self.deceased_edit.text(), "deceased date"),
            timezone=self.timezone_edit.text().strip(),
            notes=self.notes_edit.toPlainText(),
        )

    # -- errors --------------------------------------------------------------------
    def _widget_for(self, field_name: str) -> QWidget | None:
        numbered = _NUMBERED.match(field_name)
        if numbered:
            editor = self.phones if numbered.group(1) == "phone" else self.emails
            filled = editor.filled()
            index = int(numbered.group(2)) - 1
            return filled[index][0].value_edit if 0 <= index < len(filled) else None
        return {
            "family name": self.family_edit,
            "given name": self.given_edit,
            "middle name": self.middle_edit,
            "prefix": self.prefix_edit,
            "suffix": self.suffix_edit,
            "preferred name": self.preferred_edit,
            "previous name": self.previous_edit,
            "date of birth": self.birth_edit,
            "deceased date": self.deceased_edit,
            "status": self.status_combo,
            "preferred contact": self.contact_combo,
            "identifier": self.identifiers_table,
            "identifier system": self.identifiers_table,
            "time zone": self.timezone_edit,
            "notes": self.notes_edit,
        }.get(field_name)

    def show_error(self, error: InvalidInput) -> None:
        """Name the field in the banner, outline it and move the focus there."""
        self.clear_error()
        fields.show_message(self.error, user_message(error))
        widget = self._widget_for(error.field)
        if widget is None:
            return
        widget.setStyleSheet(f"{type(widget).__name__} {{ {INVALID_STYLE} }}")
        self._marked.append(widget)
        self.scroll.ensureWidgetVisible(widget)
        widget.setFocus()

    def clear_error(self) -> None:
        fields.show_message(self.error, "")
        for widget in self._marked:
            widget.setStyleSheet("")
        self._marked = []

    def error_text(self) -> str:
        return self.error.text() if self.error.isVisible() else ""


def field_label(name: str) -> str:
    """A changed column's name as a person reads it (``preferred_contact``)."""
    return name.replace("_", " ")
