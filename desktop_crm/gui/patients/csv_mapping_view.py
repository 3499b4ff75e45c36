"""The column-mapping step of a CSV import (any sheet but Synthea's patients.csv).

One combo box per field of ours lists the file's columns; the first rows are
shown as decoded with the detected (or chosen) encoding, so a wrong encoding
is visible before anything is imported; a mapping saved earlier can be
applied, and the one set here saved under a name at import time.
"""

from __future__ import annotations

from PySide6.QtCore import Signal, Slot
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QFormLayout,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QScrollArea,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from desktop_crm.services.importing.csv_import import CsvPreview

#: Our fields as the step names them, in the order shown.
FIELD_LABELS: dict[str, str] = {
    "family": "Family name (required)",
    "given": "Given name",
    "middle": "Middle name",
    "prefix": "Prefix",
    "suffix": "Suffix",
    "preferred_name": "Preferred name",
    "previous_family": "Previous (maiden) name",
    "birth_date": "Date of birth",
    "sex_at_birth": "Sex at birth",
    "phone": "Phone",
    "mobile": "Mobile phone",
    "email": "E-mail",
    "line1": "Address line 1",
    "line2": "Address line 2",
    "city": "City",
    "district": "County",
    "state": "State",
    "postal_code": "ZIP / postal code",
    "country": "Country",
    "language": "Language",
    "deceased_date": "Deceased date",
    "notes": "Notes",
}
#: Encoding choices: label, codec (``None``: as detected).
ENCODINGS = (
    ("Detected", None),
    ("UTF-8", "utf-8-sig"),
    ("Windows-1252", "cp1252"),
)
NOT_IMPORTED = "(not imported)"
_CODEC_NAMES = {"utf-8-sig": "UTF-8", "utf-8": "UTF-8", "cp1252": "Windows-1252"}


class CsvMappingView(QGroupBox):
    """Field → column combo boxes, encoding chooser, preview, save-as name.

    Signals:
        encoding_changed(object): the user chose another encoding (a codec
            name, or ``None`` for the detected one); the dialog reads the
            preview again with it.
    """

    encoding_changed = Signal(object)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Column mapping", parent)
        self._header: list[str] = []
        self._saved: dict[str, dict[str, str]] = {}
        self._detected = ""
        self.encoding_combo = QComboBox()
        self.encoding_combo.setAccessibleName("File encoding")
        for label, codec in ENCODINGS:
            self.encoding_combo.addItem(label, codec)
        self.saved_combo = QComboBox()
        self.saved_combo.setAccessibleName("Saved mappings")
        self.save_edit = QLineEdit()
        self.save_edit.setAccessibleName("Save this mapping as")
        self.save_edit.setPlaceholderText("e.g. Old EHR export (optional)")
        self.save_edit.setMaxLength(60)
        self.note = QLabel()
        self.note.setAccessibleName("Mapping message")
        self.note.setWordWrap(True)
        self.note.hide()
        self.combos: dict[str, QComboBox] = {}
        self.preview = self._make_preview()
        self._build()
        self.encoding_combo.currentIndexChanged.connect(
            self.on_encoding_combo_current_index_changed
        )
        self.saved_combo.activated.connect(self.on_saved_combo_activated)

    def _make_preview(self) -> QTableWidget:
        table = QTableWidget(0, 0)
        table.setAccessibleName("First rows of the file")
        table.verticalHeader().hide()
        table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        table.horizontalHeader().setSectionResizeMode(
            QHeaderView.ResizeMode.ResizeToContents
        )
        table.setMaximumHeight(150)
        return table

    def _build(self) -> None:
        grid = QGridLayout()
        for number, (name, label) in enumerate(FIELD_LABELS.items()):
            combo = QComboBox()
            combo.setAccessibleName(f"Column for {label}")
            combo.setObjectName(f"map_{name}")
            self.combos[name] = combo
            row, column = divmod(number, 2)
            grid.addWidget(QLabel(label), row, 2 * column)
            grid.addWidget(combo, row, 2 * column + 1)
        fields_box = QWidget()
        fields_box.setLayout(grid)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setWidget(fields_box)
        scroll.setMinimumHeight(150)
        top = QFormLayout()
        encoding_row = QHBoxLayout()
        encoding_row.addWidget(self.encoding_combo)
        encoding_row.addStretch(1)
        top.addRow("&Encoding:", encoding_row)
        top.addRow("Apply a &saved mapping:", self.saved_combo)
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(self.note)
        layout.addWidget(scroll, 1)
        layout.addWidget(QLabel("First rows, as they will be read:"))
        layout.addWidget(self.preview)
        save = QFormLayout()
        save.addRow("Save this mapping &as:", self.save_edit)
        layout.addLayout(save)

    # -- content -----------------------------------------------------------------
    def show_preview(
        self, preview: CsvPreview, saved: dict[str, dict[str, str]], *, fresh: bool
    ) -> None:
        """Fill the step from a preview; ``fresh`` (a new file) resets choices."""
        self._header = list(preview.header)
        self._saved = dict(saved)
        if fresh:
            self._detected = _CODEC_NAMES.get(preview.encoding, preview.encoding)
            self.encoding_combo.blockSignals(True)
            self.encoding_combo.setCurrentIndex(0)
            self.encoding_combo.setItemText(0, f"Detected ({self._detected})")
            self.encoding_combo.blockSignals(False)
        self._fill_saved()
        if fresh:
            self._fill_combos(preview.guessed)
            self.note.hide()
        self._fill_preview(preview)

    def _fill_saved(self) -> None:
        self.saved_combo.clear()
        self.saved_combo.addItem("(none)" if self._saved else "(none saved yet)")
        for name in self._saved:
            self.saved_combo.addItem(name)

    def _fill_combos(self, mapping: dict[str, str]) -> None:
        for name, combo in self.combos.items():
            combo.clear()
            combo.addItem(NOT_IMPORTED, "")
            for column in self._header:
                combo.addItem(column, column)
            wanted = mapping.get(name, "")
            index = combo.findData(wanted) if wanted in self._header else 0
            combo.setCurrentIndex(max(index, 0))

    def _fill_preview(self, preview: CsvPreview) -> None:
        self.preview.clear()
        self.preview.setColumnCount(len(preview.header))
        self.preview.setHorizontalHeaderLabels(preview.header)
        self.preview.setRowCount(len(preview.rows))
        for row, values in enumerate(preview.rows):
            for column, value in enumerate(values[: len(preview.header)]):
                self.preview.setItem(row, column, QTableWidgetItem(value))

    def apply(self, mapping: dict[str, str]) -> list[str]:
        """Set the combos from ``mapping``; returns the columns not in this file."""
        missing = [
            c for f, c in mapping.items() if f in self.combos and c not in self._header
        ]
        self._fill_combos(mapping)
        return missing

    # -- what the user chose -------------------------------------------------------
    def mapping(self) -> dict[str, str]:
        return {
            name: str(combo.currentData())
            for name, combo in self.combos.items()
            if combo.currentData()
        }

    def encoding(self) -> str | None:
        data = self.encoding_combo.currentData()
        return str(data) if data else None

    def save_as(self) -> str | None:
        return self.save_edit.text().strip() or None

    def preview_cells(self) -> list[list[str]]:
        """The preview table's text (for tests and accessibility)."""
        return [
            [
                item.text() if (item := self.preview.item(r, c)) else ""
                for c in range(self.preview.columnCount())
            ]
            for r in range(self.preview.rowCount())
        ]

    # -- slots -------------------------------------------------------------------
    @Slot(int)
    def on_encoding_combo_current_index_changed(self, _index: int) -> None:
        self.encoding_changed.emit(self.encoding())

    @Slot(int)
    def on_saved_combo_activated(self, index: int) -> None:
        if index <= 0:
            return
        name = self.saved_combo.itemText(index)
        missing = self.apply(self._saved.get(name, {}))
        text = f"Columns of “{name}” not in this file: {', '.join(missing)}"
        self.note.setText(text if missing else "")
        self.note.setVisible(bool(missing))
        if not self.save_edit.text().strip():
            self.save_edit.setText(name)
