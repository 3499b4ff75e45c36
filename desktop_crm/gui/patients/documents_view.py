"""The Documents tab: a patient's attached files, attach, preview, save a copy."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import Qt, Signal, Slot
from PySide6.QtGui import QPixmap
from PySide6.QtWidgets import (
    QAbstractItemView,
    QFileDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from desktop_crm.errors import InvalidInput
from desktop_crm.gui import fields
from desktop_crm.gui.patients import formatting
from desktop_crm.gui.worker import run_task, user_message
from desktop_crm.services import documents
from desktop_crm.services.documents import DocumentInfo
from desktop_crm.services.session import Session

COLUMNS = ("File", "Type", "Size", "Added")
OpenChooser = Callable[[QWidget], str]
SaveChooser = Callable[[QWidget, str], str]
TYPE_LABELS = {
    "application/pdf": "PDF",
    "image/png": "PNG image",
    "image/jpeg": "JPEG image",
    "image/gif": "GIF image",
    "image/webp": "WebP image",
    "image/tiff": "TIFF image",
}


def choose_open_file(parent: QWidget) -> str:
    path, _ = QFileDialog.getOpenFileName(
        parent,
        "Attach a document",
        "",
        "Documents (*.pdf *.png *.jpg *.jpeg *.gif *.webp *.tif *.tiff);;All files (*)",
    )
    return path


def choose_save_file(parent: QWidget, suggested: str) -> str:
    path, _ = QFileDialog.getSaveFileName(parent, "Save a copy", suggested)
    return path


def _read_and_attach(session: Session, patient_id: str, path: Path) -> str:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InvalidInput(
            "file", f"cannot be read: {exc.strerror or 'error'}"
        ) from exc
    return documents.attach(session, patient_id, path.name, data)


class DocumentsView(QWidget):
    """Documents stored inside the vault; each preview and saved copy is audited.

    Signals:
        document_attached(str): the id of a document just stored.
    """

    document_attached = Signal(str)

    def __init__(
        self,
        session: Session,
        choose_open: OpenChooser = choose_open_file,
        choose_save: SaveChooser = choose_save_file,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self._session = session
        self._choose_open = choose_open
        self._choose_save = choose_save
        self._patient_id = ""
        self._items: list[DocumentInfo] = []
        self._request = 0
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setAccessibleName("Documents")
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.verticalHeader().hide()
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        self.attach_button = QPushButton("&Attach…")
        self.preview_button = QPushButton("&Preview")
        self.save_button = QPushButton("Save a &copy…")
        self.preview = QLabel("Choose a document, then Preview.")
        self.preview.setObjectName("document_preview")
        self.preview.setAccessibleName("Document preview")
        self.preview.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.preview.setWordWrap(True)
        self.preview.setMinimumSize(220, 160)
        self.message = fields.error_label("Documents message")
        self.status = QLabel()
        self.status.setAccessibleName("Documents status")
        self._build()
        self.attach_button.clicked.connect(self.on_attach_button_clicked)
        self.preview_button.clicked.connect(self.on_preview_button_clicked)
        self.save_button.clicked.connect(self.on_save_button_clicked)
        self.table.itemSelectionChanged.connect(self.on_table_selection_changed)
        self.table.itemDoubleClicked.connect(self.on_preview_button_clicked)
        self.on_table_selection_changed()

    def _build(self) -> None:
        buttons = QHBoxLayout()
        for button in (self.attach_button, self.preview_button, self.save_button):
            buttons.addWidget(button)
        buttons.addStretch(1)
        left = QWidget()
        box = QVBoxLayout(left)
        box.setContentsMargins(0, 0, 0, 0)
        box.addLayout(buttons)
        box.addWidget(self.table, 1)
        box.addWidget(
            fields.hint_label(
                "PDFs and images up to 25 MB, kept inside the encrypted vault."
            )
        )
        splitter = QSplitter()
        splitter.addWidget(left)
        splitter.addWidget(self.preview)
        splitter.setStretchFactor(0, 1)
        splitter.setStretchFactor(1, 1)
        splitter.setSizes([1, 1])
        layout = QVBoxLayout(self)
        layout.addWidget(splitter, 1)
        layout.addWidget(self.message)
        layout.addWidget(self.status)

    # -- content -------------------------------------------------------------------
    def show_patient(self, patient_id: str) -> None:
        self._patient_id = patient_id
        self._request += 1
        self.preview.clear()
        self.preview.setText("Choose a document, then Preview.")
        fields.show_message(self.message, "")
        self.refresh()

    def refresh(self) -> None:
        session, patient_id = self._session, self._patient_id
        request = self._request
        run_task(
            lambda: (request, documents.list_documents(session, patient_id)),
            self.on_list_loaded,
            self.on_task_failed,
        )

    @Slot(object)
    def on_list_loaded(self, result: tuple[int, list[DocumentInfo]]) -> None:
        request, items = result
        if request != self._request:
            return
        self._items = items
        self.table.setRowCount(len(items))
        for row, info in enumerate(items):
            values = (
                info.filename,
                TYPE_LABELS.get(info.media_type, info.media_type),
                formatting.size_text(info.size),
                formatting.when_text(info.created_at),
            )
            for column, value in enumerate(values):
                self.table.setItem(row, column, QTableWidgetItem(value))
        self.on_table_selection_changed()

    def filenames(self) -> list[str]:
        return [i.filename for i in self._items]

    def selected(self) -> DocumentInfo | None:
        rows = self.table.selectionModel().selectedRows()
        return self._items[rows[0].row()] if rows else None

    @Slot(object)
    def on_task_failed(self, error: BaseException) -> None:
        self.status.clear()
        fields.show_message(self.message, user_message(error))

    # -- slots -----------------------------------------------------------------
    @Slot()
    def on_table_selection_changed(self) -> None:
        chosen = self.selected() is not None
        self.preview_button.setEnabled(chosen)
        self.save_button.setEnabled(chosen)

    @Slot()
    def on_attach_button_clicked(self) -> None:
        chosen = self._choose_open(self)
        if not chosen:
            return
        fields.show_message(self.message, "")
        self.status.clear()
        session, patient_id, path = self._session, self._patient_id, Path(chosen)
        run_task(
            lambda: _read_and_attach(session, patient_id, path),
            self.on_attach_succeeded,
            self.on_task_failed,
        )

    @Slot(object)
    def on_attach_succeeded(self, document_id: object) -> None:
        self.document_attached.emit(str(document_id))
        self.refresh()

    @Slot()
    def on_preview_button_clicked(self) -> None:
        info = self.selected()
        if info is None:
            return
        self._request += 1
        request, session = self._request, self._session
        self.preview.setText("Opening…")
        run_task(
            lambda: (request, documents.preview_document(session, info.id)),
            self.on_document_opened,
            self.on_task_failed,
        )

    @Slot(object)
    def on_document_opened(self, result: tuple[int, documents.Preview]) -> None:
        request, shown = result
        if request != self._request:
            return
        info, data = shown.info, shown.image
        if data:
            pixmap = QPixmap()
            if pixmap.loadFromData(data):
                self.preview.setPixmap(
                    pixmap.scaled(
                        self.preview.size(),
                        Qt.AspectRatioMode.KeepAspectRatio,
                        Qt.TransformationMode.SmoothTransformation,
                    )
                )
                return
        kind = TYPE_LABELS.get(info.media_type, info.media_type)
        self.preview.setText(
            f"{info.filename}\n{kind}, {formatting.size_text(info.size)}\n\n"
            + (shown.note or "No preview for this file type.")
        )

    @Slot()
    def on_save_button_clicked(self) -> None:
        info = self.selected()
        if info is None:
            return
        target = self._choose_save(self, info.filename)
        if not target:
            return
        session = self._session
        # The save dialog has already asked before replacing an existing file.
        run_task(
            lambda: documents.save_document(
                session, info.id, Path(target), overwrite=True
            ),
            self.on_document_saved,
            self.on_task_failed,
        )

    @Slot(object)
    def on_document_saved(self, _result: object) -> None:
        fields.show_message(self.message, "")
        self.status.setText("A copy was saved. It is not encrypted: keep it safe.")
