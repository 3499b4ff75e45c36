"""Import patients from FHIR files or a CSV: dry run, import with progress, report.

A CSV that is not Synthea's patients.csv gets a column-mapping step first
(see ``csv_mapping_view``): its first rows are read off the GUI thread with
the detected encoding, and again when the user picks another one.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QObject, Signal, Slot
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDialog,
    QFileDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QProgressBar,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from desktop_crm.errors import CRMError
from desktop_crm.gui import fields
from desktop_crm.gui.patients.csv_mapping_view import CsvMappingView
from desktop_crm.gui.worker import run_task, user_message
from desktop_crm.services.importing import (
    ImportReport,
    import_csv,
    import_fhir,
    load_saved_mappings,
)
from desktop_crm.services.importing.csv_import import CsvPreview, preview_csv
from desktop_crm.services.session import Session

Chooser = Callable[[QWidget, str], list[str]]
COLUMNS = ("Kind", "File", "Entry", "Reason")


def choose_sources(parent: QWidget, kind: str) -> list[str]:
    """Ask for FHIR files (``fhir``), a folder (``folder``) or a CSV (``csv``)."""
    if kind == "folder":
        folder = QFileDialog.getExistingDirectory(parent, "Import a FHIR folder")
        return [folder] if folder else []
    if kind == "csv":
        path, _ = QFileDialog.getOpenFileName(
            parent, "Import a CSV file", "", "CSV files (*.csv);;All files (*)"
        )
        return [path] if path else []
    paths, _ = QFileDialog.getOpenFileNames(
        parent, "Import FHIR files", "", "FHIR (*.json *.ndjson);;All files (*)"
    )
    return list(paths)


class _ProgressRelay(QObject):
    """Carries progress from the pool thread to the GUI thread.

    Signals:
        progressed(int, int): done and total (bytes of input).
    """

    progressed = Signal(int, int)


class ImportDialog(QDialog):
    """Choose the input, preview it with a dry run, then import with progress.

    Signals:
        import_finished(object): the ``ImportReport`` of a real (not dry) run.
    """

    import_finished = Signal(object)

    def __init__(
        self,
        session: Session,
        choose: Chooser = choose_sources,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("Import patients")
        self._session = session
        self._choose = choose
        self._paths: list[Path] = []
        self._csv = False
        self._preview_number = 0
        self._cancel = threading.Event()
        # Unparented: a run still going when the dialog is destroyed (the
        # lock closes it) must find the relay alive; the worker's closure
        # keeps it.
        self._relay = _ProgressRelay()
        self._relay.progressed.connect(self.on_relay_progressed)
        self.fhir_button = QPushButton("FHIR &files…")
        self.folder_button = QPushButton("FHIR f&older…")
        self.csv_button = QPushButton("&CSV file…")
        self.source_label = QLabel("Nothing chosen yet.")
        self.source_label.setWordWrap(True)
        self.preview_button = QPushButton("&Preview (dry run)")
        self.import_button = QPushButton("&Import")
        self.cancel_button = QPushButton("Cancel import")
        self.close_button = QPushButton("Close")
        self.progress = QProgressBar()
        self.progress.setAccessibleName("Import progress")
        self.summary = QLabel()
        self.summary.setWordWrap(True)
        self.summary.setAccessibleName("Import summary")
        self.error = fields.error_label("Import error")
        self.table = self._make_table()
        self.mapping_view = CsvMappingView()
        self.mapping_view.hide()
        self._build()
        self._connect()
        self._set_running(False)

    def _make_table(self) -> QTableWidget:
        table = QTableWidget(0, len(COLUMNS))
        table.setAccessibleName("Rejected items and warnings")
        table.setHorizontalHeaderLabels(COLUMNS)
        table.verticalHeader().hide()
        table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        header = table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setStretchLastSection(True)
        return table

    def _build(self) -> None:
        sources = QHBoxLayout()
        for button in (self.fhir_button, self.folder_button, self.csv_button):
            sources.addWidget(button)
        sources.addStretch(1)
        actions = QHBoxLayout()
        actions.addWidget(self.preview_button)
        actions.addWidget(self.import_button)
        actions.addWidget(self.cancel_button)
        actions.addStretch(1)
        actions.addWidget(self.close_button)
        layout = QVBoxLayout(self)
        layout.addWidget(fields.heading("Import patients"))
        layout.addWidget(
            fields.hint_label(
                "FHIR R4 bundles, resources or NDJSON, or a CSV file. Run the preview "
                "first: it reads everything and writes nothing. Importing the same "
                "data again adds nothing new; likely duplicates are listed, never "
                "merged."
            )
        )
        layout.addLayout(sources)
        layout.addWidget(self.source_label)
        layout.addWidget(self.mapping_view, 2)
        layout.addLayout(actions)
        layout.addWidget(self.progress)
        layout.addWidget(self.summary)
        layout.addWidget(self.error)
        layout.addWidget(self.table, 1)
        self.resize(820, 760)

    def _connect(self) -> None:
        self.fhir_button.clicked.connect(lambda: self._pick("fhir"))
        self.folder_button.clicked.connect(lambda: self._pick("folder"))
        self.csv_button.clicked.connect(lambda: self._pick("csv"))
        self.preview_button.clicked.connect(self.on_preview_button_clicked)
        self.import_button.clicked.connect(self.on_import_button_clicked)
        self.cancel_button.clicked.connect(self.on_cancel_button_clicked)
        self.close_button.clicked.connect(self.reject)
        self.mapping_view.encoding_changed.connect(
            self.on_mapping_view_encoding_changed
        )

    def _pick(self, kind: str) -> None:
        chosen = self._choose(self, kind)
        if not chosen:
            return
        self._paths = [Path(p) for p in chosen]
        self._csv = kind == "csv"
        names = ", ".join(p.name or str(p) for p in self._paths[:3])
        more = f" and {len(self._paths) - 3} more" if len(self._paths) > 3 else ""
        self.source_label.setText(f"Chosen: {names}{more}")
        self.import_button.setEnabled(False)
        self.preview_button.setEnabled(not self._csv)
        self.mapping_view.hide()
        self.summary.clear()
        self.table.setRowCount(0)
        fields.show_message(self.error, "")
        if self._csv:
            self._load_preview(None, fresh=True)

    @property
    def mapping_step(self) -> bool:
        """Whether this CSV goes through the column-mapping step."""
        return self._csv and not self.mapping_view.isHidden()

    def _load_preview(self, encoding: str | None, *, fresh: bool) -> None:
        """Read the CSV's first rows (and the saved mappings) off-thread."""
        self._preview_number += 1
        number, session, path = self._preview_number, self._session, self._paths[0]

        def load() -> tuple[int, bool, CsvPreview, dict[str, dict[str, str]]]:
            return (
                number,
                fresh,
                preview_csv(path, encoding),
                load_saved_mappings(session),
            )

        self.preview_button.setEnabled(False)
        run_task(load, self.on_preview_loaded, self.on_task_failed)

    def _set_running(self, running: bool) -> None:
        for button in (self.fhir_button, self.folder_button, self.csv_button):
            button.setEnabled(not running)
        self.preview_button.setEnabled(not running and bool(self._paths))
        self.import_button.setEnabled(False)
        self.cancel_button.setVisible(running)
        self.close_button.setEnabled(not running)

    def _start(self, dry_run: bool) -> None:
        self._cancel.clear()
        self._set_running(True)
        self.progress.setRange(0, 0)
        fields.show_message(self.error, "")
        session, paths, csv = self._session, list(self._paths), self._csv
        relay, cancel = self._relay, self._cancel
        mapping: dict[str, str] | None = None
        encoding: str | None = None
        save_as: str | None = None
        if self.mapping_step:
            mapping = self.mapping_view.mapping()
            encoding = self.mapping_view.encoding()
            save_as = None if dry_run else self.mapping_view.save_as()

        def work() -> tuple[bool, ImportReport]:
            def progress(done: int, total: int) -> None:
                relay.progressed.emit(done, total)

            if csv:
                report = import_csv(
                    session,
                    paths[0],
                    mapping=mapping,
                    encoding=encoding,
                    save_as=save_as,
                    dry_run=dry_run,
                    progress=progress,
                    cancel=cancel.is_set,
                )
                return dry_run, report
            report = import_fhir(
                session, paths, dry_run=dry_run, progress=progress, cancel=cancel.is_set
            )
            return dry_run, report

        run_task(work, self.on_task_succeeded, self.on_task_failed)

    def _show_report(self, report: ImportReport, dry_run: bool) -> None:
        prefix = "Preview, nothing written: " if dry_run else ""
        line = prefix + report.summary_line()
        if report.duplicates:
            line += f"; likely duplicates to review: {len(report.duplicates)}"
        if report.cancelled:
            line += ". Cancelled: what was imported before stays."
        self.summary.setText(line)
        items = [("Rejected", r) for r in report.rejected]
        items += [("Warning", w) for w in report.warnings]
        self.table.setRowCount(len(items))
        for row, (kind, item) in enumerate(items):
            for column, value in enumerate((kind, item.file, item.entry, item.reason)):
                self.table.setItem(row, column, QTableWidgetItem(value))

    def done(self, result: int) -> None:
        """Closing the dialog (or the lock closing it) cancels a running import."""
        self._cancel.set()
        super().done(result)

    # -- slots -------------------------------------------------------------------
    @Slot()
    def on_preview_button_clicked(self) -> None:
        self._start(dry_run=True)

    @Slot()
    def on_import_button_clicked(self) -> None:
        self._start(dry_run=False)

    @Slot()
    def on_cancel_button_clicked(self) -> None:
        self._cancel.set()
        self.cancel_button.setEnabled(False)

    @Slot(object)
    def on_mapping_view_encoding_changed(self, encoding: object) -> None:
        if self._csv and self._paths:
            self.import_button.setEnabled(False)
            self._load_preview(
                encoding if isinstance(encoding, str) else None, fresh=False
            )

    @Slot(object)
    def on_preview_loaded(
        self, result: tuple[int, bool, CsvPreview, dict[str, dict[str, str]]]
    ) -> None:
        number, fresh, preview, saved = result
        if number != self._preview_number:
            return
        if preview.synthea or preview.own_export:
            # A layout we know column by column: nothing to map.
            self.mapping_view.hide()
        else:
            self.mapping_view.show_preview(preview, saved, fresh=fresh)
            self.mapping_view.show()
        self.preview_button.setEnabled(True)

    @Slot(int, int)
    def on_relay_progressed(self, done: int, total: int) -> None:
        if total <= 0:
            return
        self.progress.setRange(0, 1000)
        self.progress.setValue(int(1000 * min(done, total) / total))

    @Slot(object)
    def on_task_succeeded(self, result: tuple[bool, ImportReport]) -> None:
        dry_run, report = result
        self._set_running(False)
        self.cancel_button.setEnabled(True)
        self.progress.setRange(0, 1)
        self.progress.setValue(1)
        self._show_report(report, dry_run)
        self.import_button.setEnabled(dry_run)
        if not dry_run:
            self.import_finished.emit(report)

    @Slot(object)
    def on_task_failed(self, error: BaseException) -> None:
        self._set_running(False)
        self.cancel_button.setEnabled(True)
        self.progress.setRange(0, 1)
        self.progress.setValue(0)
        text = user_message(error)
        if not isinstance(error, CRMError):
            text += " (nothing more was imported)"
        fields.show_message(self.error, text)
