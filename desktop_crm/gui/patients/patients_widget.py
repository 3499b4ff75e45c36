"""The Patients screen: search as you type over a lazy list, and the open record."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import date

from PySide6.QtCore import QModelIndex, Qt, QTimer, Signal, Slot
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDialog,
    QFrame,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPushButton,
    QSplitter,
    QStackedWidget,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from desktop_crm.errors import CRMError
from desktop_crm.gui import fields
from desktop_crm.gui.clipboard import SensitiveClipboard
from desktop_crm.gui.patients.documents_view import (
    OpenChooser,
    SaveChooser,
    choose_open_file,
    choose_save_file,
)
from desktop_crm.gui.patients.import_dialog import (
    Chooser,
    ImportDialog,
    choose_sources,
)
from desktop_crm.gui.patients.list_model import PatientListModel
from desktop_crm.gui.patients.new_patient_dialog import NewPatientDialog
from desktop_crm.gui.patients.record_view import RecordView
from desktop_crm.gui.worker import run_task, user_message
from desktop_crm.services import patients
from desktop_crm.services.roles import allows
from desktop_crm.services.session import Session

log = logging.getLogger(__name__)

SEARCH_PLACEHOLDER = "Search name, date of birth, phone, e-mail or MRN"
DEBOUNCE_MS = 200


def _count_text(count: int, searching: bool) -> str:
    if not searching:
        return "1 patient" if count == 1 else f"{count:,} patients"
    if count >= patients.SEARCH_LIMIT:
        return f"First {count} matches shown; type more to narrow the search"
    return {0: "No matches", 1: "1 match"}.get(count, f"{count} matches")


class PatientsWidget(QWidget):
    """Search box and patient list on the left, the open record on the right.

    The search runs after a short pause in typing, on the thread pool: a
    broad prefix such as "o" takes 20-40 ms at 10,000 patients (measured),
    more at 100,000, so it must not run on the GUI thread.  Each search gets
    a number, and results of any but the newest are dropped.

    Signals:
        patient_opened(str): a record was opened (and audited).
    """

    patient_opened = Signal(str)

    def __init__(
        self,
        session: Session,
        clipboard: SensitiveClipboard | None = None,
        *,
        debounce_ms: int = DEBOUNCE_MS,
        today: Callable[[], date] = date.today,
        choose_open: OpenChooser = choose_open_file,
        choose_save: SaveChooser = choose_save_file,
        choose_import: Chooser = choose_sources,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setObjectName("page_patients")
        self._session = session
        self._choose_import = choose_import
        # Merges done in this session, by surviving record: the History tab
        # offers their undo at once, before it reads the newest merge not
        # undone (whichever session made it) from the vault.
        self._merges: dict[str, str] = {}
        self._last_merge: str | None = None
        self._search_number = 0
        self._searching = False
        self._select_first = False
        self.dialog: QDialog | None = None
        self.search_edit = QLineEdit()
        self.search_edit.setObjectName("patient_search")
        self.search_edit.setAccessibleName("Search patients")
        self.search_edit.setPlaceholderText(SEARCH_PLACEHOLDER)
        self.search_edit.setClearButtonEnabled(True)
        self.new_button = QPushButton("&New patient…")
        self.new_button.setEnabled(allows(session.roles, "patients.write"))
        self.import_button = QPushButton("&Import…")
        self.import_button.setVisible(allows(session.roles, "patients.import"))
        self.count_label = QLabel()
        self.count_label.setObjectName("patient_count")
        self.count_label.setAccessibleName("Number of patients")
        self.error = fields.error_label("Patients error")
        self.model = PatientListModel(self._fetch_page, parent=self)
        self.table = self._make_table()
        self.placeholder = QLabel("Search for a patient, then open the record.")
        self.placeholder.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.placeholder.setStyleSheet("color: palette(placeholder-text);")
        self.record = RecordView(session, clipboard, today, choose_open, choose_save)
        self.right = QStackedWidget()
        self.right.addWidget(self.placeholder)
        self.right.addWidget(self.record)
        self.undo_bar, self.undo_label, self.undo_button = self._make_undo_bar()
        self.timer = QTimer(self)
        self.timer.setSingleShot(True)
        self.timer.setInterval(debounce_ms)
        self._build()
        self._connect()
        self.show_all()

    # -- building ------------------------------------------------------------------
    def _make_table(self) -> QTableView:
        table = QTableView()
        table.setObjectName("patient_list")
        table.setAccessibleName("Patients")
        table.setModel(self.model)
        table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        table.setAlternatingRowColors(True)
        table.setWordWrap(False)
        table.verticalHeader().hide()
        # Fixed row heights and column widths: the view never measures rows
        # it has not shown, which keeps long lists cheap.
        table.verticalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Fixed)
        table.verticalHeader().setDefaultSectionSize(table.fontMetrics().height() + 8)
        header = table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        for column, width in ((1, 100), (2, 80), (3, 70)):
            table.setColumnWidth(column, width)
        return table

    def _make_undo_bar(self) -> tuple[QFrame, QLabel, QPushButton]:
        bar = QFrame()
        bar.setObjectName("undo_bar")
        bar.setFrameShape(QFrame.Shape.StyledPanel)
        label = QLabel()
        label.setAccessibleName("Merge message")
        button = QPushButton("&Undo merge")
        close = QPushButton("Dismiss")
        close.clicked.connect(bar.hide)
        row = QHBoxLayout(bar)
        row.setContentsMargins(8, 4, 8, 4)
        row.addWidget(label, 1)
        row.addWidget(button)
        row.addWidget(close)
        bar.hide()
        return bar, label, button

    def _build(self) -> None:
        top = QHBoxLayout()
        top.addWidget(self.new_button)
        top.addWidget(self.import_button)
        top.addStretch(1)
        left = QWidget()
        box = QVBoxLayout(left)
        box.setContentsMargins(8, 8, 0, 8)
        box.addLayout(top)
        box.addWidget(self.search_edit)
        box.addWidget(self.count_label)
        box.addWidget(self.table, 1)
        box.addWidget(self.error)
        splitter = QSplitter()
        splitter.setChildrenCollapsible(False)
        splitter.addWidget(left)
        splitter.addWidget(self.right)
        splitter.setStretchFactor(0, 2)
        splitter.setStretchFactor(1, 3)
        splitter.setSizes([360, 540])
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(splitter, 1)
        layout.addWidget(self.undo_bar)

    def _connect(self) -> None:
        self.search_edit.textChanged.connect(self.on_search_edit_text_changed)
        self.search_edit.returnPressed.connect(self.on_search_edit_return_pressed)
        self.timer.timeout.connect(self.on_timer_timeout)
        self.table.activated.connect(self.on_table_activated)
        self.new_button.clicked.connect(self.on_new_button_clicked)
        self.import_button.clicked.connect(self.on_import_button_clicked)
        self.undo_button.clicked.connect(self.on_undo_button_clicked)
        self.record.patient_changed.connect(self.on_record_patient_changed)
        self.record.patients_merged.connect(self.on_record_patients_merged)
        self.record.undo_merge_requested.connect(self.undo_merge)

    # -- the list ----------------------------------------------------------------
    def _fetch_page(self, offset: int, limit: int) -> list[patients.PatientSummary]:
        return patients.page(self._session, offset, limit)

    def show_all(self) -> None:
        """The whole list, a page at a time; the count comes off-thread."""
        self.model.show_all()
        session = self._session
        run_task(
            lambda: patients.count(session), self.on_count_loaded, self.on_task_failed
        )

    @property
    def busy(self) -> bool:
        """Whether typed text still waits for its results (pause or query)."""
        return self.timer.isActive() or self._searching or self.model.loading

    def search_now(self) -> None:
        """Start the pending search at once (Enter, or the pause ran out)."""
        self.timer.stop()
        self._search_number += 1
        text = self.search_edit.text().strip()
        if not text:
            self._searching = False
            self.show_all()
            return
        self._searching = True
        number = self._search_number
        # An indexed search takes a few milliseconds even at 100,000 patients
        # (benchmarks/patients.py), less than the hop to a worker thread and
        # back, so it runs here; the debounce keeps typing smooth.
        try:
            found = patients.search(self._session, text)
        except CRMError as exc:
            self.on_search_failed(exc)
            return
        self.on_search_finished((number, found))

    def refresh(self) -> None:
        """Read the list again after a change (same search, or all patients)."""
        if self.search_edit.text().strip():
            self.search_now()
        else:
            self.show_all()

    def open_patient(self, patient_id: str) -> None:
        """Open a record off-thread; ``open_patient`` writes the view entry."""
        session = self._session
        run_task(
            lambda: patients.open_patient(session, patient_id),
            self.on_patient_loaded,
            self.on_task_failed,
        )

    def undo_merge(self, merge_id: str) -> None:
        session = self._session
        run_task(
            lambda: (merge_id, patients.undo_merge(session, merge_id)),
            self.on_merge_undone,
            self.on_task_failed,
        )

    def _open(self, dialog: QDialog) -> None:
        dialog.finished.connect(dialog.deleteLater)
        self.dialog = dialog
        dialog.open()

    # -- slots -------------------------------------------------------------------
    @Slot(str)
    def on_search_edit_text_changed(self, _text: str) -> None:
        self.timer.start()

    @Slot()
    def on_timer_timeout(self) -> None:
        self.search_now()

    @Slot()
    def on_search_edit_return_pressed(self) -> None:
        self._select_first = True
        self.search_now()

    @Slot(object)
    def on_search_finished(self, result: tuple[int, list]) -> None:
        number, found = result
        if number != self._search_number:
            return
        self._searching = False
        fields.show_message(self.error, "")
        self.model.show_results(found)
        self.count_label.setText(_count_text(len(found), searching=True))
        if self._select_first and found:
            self.table.setFocus()
            self.table.selectRow(0)
        self._select_first = False

    @Slot(object)
    def on_search_failed(self, error: BaseException) -> None:
        self._searching = False
        fields.show_message(self.error, user_message(error))

    @Slot(object)
    def on_count_loaded(self, count: int) -> None:
        if not self.model.searching:
            self.count_label.setText(_count_text(count, searching=False))

    @Slot(QModelIndex)
    def on_table_activated(self, index: QModelIndex) -> None:
        item = self.model.summary(index.row())
        if item is not None:
            self.open_patient(item.id)

    @Slot(object)
    def on_patient_loaded(self, patient: patients.Patient) -> None:
        if self._session.locked:
            return  # loaded just as the vault locked: show nothing
        self.record.show_patient(patient, self._merges.get(patient.id))
        self.right.setCurrentWidget(self.record)
        self.patient_opened.emit(patient.id)

    @Slot(object)
    def on_task_failed(self, error: BaseException) -> None:
        fields.show_message(self.error, user_message(error))

    @Slot()
    def on_new_button_clicked(self) -> None:
        dialog = NewPatientDialog(self._session, self)
        dialog.patient_created.connect(self.on_dialog_patient_created)
        dialog.open_requested.connect(self.open_patient)
        self._open(dialog)

    @Slot()
    def on_import_button_clicked(self) -> None:
        dialog = ImportDialog(self._session, self._choose_import, self)
        dialog.import_finished.connect(self.on_dialog_import_finished)
        self._open(dialog)

    @Slot(object)
    def on_dialog_import_finished(self, _report: object) -> None:
        self.refresh()

    @Slot(str)
    def on_dialog_patient_created(self, patient_id: str) -> None:
        self.refresh()
        self.open_patient(patient_id)

    @Slot(str)
    def on_record_patient_changed(self, _patient_id: str) -> None:
        self.refresh()

    @Slot(str, str, str)
    def on_record_patients_merged(
        self, merge_id: str, survivor_id: str, _retired_id: str
    ) -> None:
        self._merges[survivor_id] = merge_id
        self._last_merge = merge_id
        self.undo_label.setText("The records were merged.")
        self.undo_button.show()
        self.undo_bar.show()
        self.refresh()
        self.open_patient(survivor_id)

    @Slot()
    def on_undo_button_clicked(self) -> None:
        if self._last_merge is not None:
            self.undo_merge(self._last_merge)

    @Slot(object)
    def on_merge_undone(self, result: tuple[str, None]) -> None:
        merge_id = result[0]
        self._merges = {s: m for s, m in self._merges.items() if m != merge_id}
        if self._last_merge == merge_id:
            self._last_merge = None
        self.undo_label.setText("The merge was undone; both records are active again.")
        self.undo_button.hide()
        self.undo_bar.show()
        self.refresh()
        if self.record.patient is not None:
            self.open_patient(self.record.patient.id)
