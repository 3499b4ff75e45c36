"""The Details tab: every field of a record, read-only."""

from __future__ import annotations

from datetime import date

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFormLayout, QLabel, QScrollArea, QWidget

from desktop_crm.gui.patients import formatting as fmt
from desktop_crm.services.patient_model import Patient
from desktop_crm.services.patients import MRN_SYSTEM

ROWS = (
    "Legal name",
    "Preferred name",
    "Previous names",
    "Date of birth",
    "Sex at birth",
    "Gender identity",
    "Pronouns",
    "Phones",
    "E-mail",
    "Address",
    "Language",
    "Preferred contact",
    "Time zone",
    "Emergency contact",
    "Insurance",
    "Identifiers",
    "Status",
    "Notes",
)
EMPTY = "—"


def _identifiers(patient: Patient) -> str:
    return fmt.lines(
        f"{i.label or i.system}: {i.value}"
        + (f"  ({i.system})" if i.label and i.system != MRN_SYSTEM else "")
        for i in patient.identifiers
    )


def _status(patient: Patient) -> str:
    status = fmt.STATUS_LABELS.get(patient.status, patient.status)
    if patient.deceased_date:
        return f"{status} ({fmt.date_text(patient.deceased_date)})"
    return status


def _legal_name(patient: Patient) -> str:
    parts = (patient.prefix, patient.given, patient.middle, patient.family)
    name = " ".join(p for p in parts if p)
    return f"{name}, {patient.suffix}" if patient.suffix else name


def values_of(patient: Patient, today: date) -> dict[str, str]:
    """What each row shows for ``patient``."""
    return {
        "Legal name": _legal_name(patient),
        "Preferred name": patient.preferred_name,
        "Previous names": fmt.previous_names_text(patient.previous_names),
        "Date of birth": fmt.birth_date_text(patient.birth_date, today),
        "Sex at birth": fmt.SEX_LABELS.get(patient.sex_at_birth, patient.sex_at_birth),
        "Gender identity": patient.gender_identity,
        "Pronouns": patient.pronouns,
        "Phones": fmt.lines(fmt.contact_text(p) for p in patient.phones),
        "E-mail": fmt.lines(fmt.contact_text(e) for e in patient.emails),
        "Address": fmt.mapping_text(patient.address, fmt.ADDRESS_KEYS),
        "Language": patient.language,
        "Preferred contact": fmt.CONTACT_LABELS.get(
            patient.preferred_contact, patient.preferred_contact
        ),
        "Time zone": patient.timezone,
        "Emergency contact": fmt.mapping_text(
            patient.emergency_contact, fmt.EMERGENCY_KEYS
        ),
        "Insurance": fmt.mapping_text(patient.insurance, fmt.INSURANCE_KEYS),
        "Identifiers": _identifiers(patient),
        "Status": _status(patient),
        "Notes": patient.notes,
    }


class DetailsView(QScrollArea):
    """Labels for each field of the record; empty fields show a dash.

    Signals: none.
    """

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWidgetResizable(True)
        self.setFrameShape(QScrollArea.Shape.NoFrame)
        body = QWidget()
        form = QFormLayout(body)
        form.setLabelAlignment(Qt.AlignmentFlag.AlignRight)
        form.setRowWrapPolicy(QFormLayout.RowWrapPolicy.DontWrapRows)
        self.values: dict[str, QLabel] = {}
        for row in ROWS:
            value = QLabel()
            value.setWordWrap(True)
            value.setTextFormat(Qt.TextFormat.PlainText)
            value.setAccessibleName(row)
            value.setObjectName("value_" + row.lower().replace(" ", "_"))
            self.values[row] = value
            caption = QLabel(f"{row}:")
            caption.setStyleSheet("color: palette(placeholder-text);")
            form.addRow(caption, value)
        self.setWidget(body)

    def show_patient(self, patient: Patient, today: date) -> None:
        for row, text in values_of(patient, today).items():
            self.values[row].setText(text or EMPTY)

    def clear(self) -> None:
        for label in self.values.values():
            label.clear()

    def text(self, row: str) -> str:
        return self.values[row].text()
