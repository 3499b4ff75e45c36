"""One patient's record: details, history, appointments and documents, with
Edit, Merge and, when the user's role leaves part of it closed, Emergency
access (break-glass)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from zoneinfo import ZoneInfo

from PySide6.QtCore import Qt, Signal, Slot
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from desktop_crm.gui import fields
from desktop_crm.gui.clipboard import SensitiveClipboard
from desktop_crm.gui.patients import formatting
from desktop_crm.gui.patients.details_view import DetailsView
from desktop_crm.gui.patients.documents_view import (
    DocumentsView,
    OpenChooser,
    SaveChooser,
    choose_open_file,
    choose_save_file,
)
from desktop_crm.gui.patients.edit_dialog import PatientEditDialog
from desktop_crm.gui.patients.emergency_dialog import EmergencyAccessDialog
from desktop_crm.gui.patients.history_view import HistoryView
from desktop_crm.gui.patients.merge_dialog import MergeDialog
from desktop_crm.gui.patients.patient_form import field_label
from desktop_crm.gui.sync_view import ConflictBanner
from desktop_crm.gui.worker import run_task, user_message
from desktop_crm.services import break_glass, patients
from desktop_crm.services.patient_model import Patient
from desktop_crm.services.roles import allows, may_read_notes
from desktop_crm.services.scheduling import appointments, schedule_view
from desktop_crm.services.scheduling.model import (
    MODALITY_LABELS,
    STATUS_LABELS,
    Appointment,
)
from desktop_crm.services.session import Session

APPOINTMENT_COLUMNS = ("When", "Provider", "Modality", "Status", "Reason")
NOT_SHOWN = "Not shown (clinical)"


def appointments_table() -> QTableWidget:
    table = QTableWidget(0, len(APPOINTMENT_COLUMNS))
    table.setObjectName("record_appointments")
    table.setAccessibleName("Appointments")
    table.setHorizontalHeaderLabels(list(APPOINTMENT_COLUMNS))
    table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
    table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
    table.verticalHeader().setVisible(False)
    header = table.horizontalHeader()
    header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
    header.setStretchLastSection(True)
    return table


def load_appointments(
    session: Session, patient_id: str
) -> tuple[str, list[tuple[str, ...]]]:
    """The rows of the Appointments tab (runs on the thread pool)."""
    zone = ZoneInfo(schedule_view.practice_zone(session))
    names = {p.id: p.display for p in schedule_view.providers(session)}
    rows = []
    for appt in reversed(appointments.patient_appointments(session, patient_id)):
        rows.append(_appointment_row(appt, zone, names))
    return patient_id, rows


def _appointment_row(
    appt: Appointment, zone: ZoneInfo, names: dict[str, str]
) -> tuple[str, ...]:
    start = appt.start.astimezone(zone)
    reason = NOT_SHOWN if appt.reason is None else appt.reason or "—"
    return (
        f"{start:%Y-%m-%d %H:%M %Z}",
        names.get(appt.provider_id, ""),
        MODALITY_LABELS.get(appt.modality, appt.modality),
        STATUS_LABELS.get(appt.status, appt.status),
        reason,
    )


class RecordView(QWidget):
    """The open record. Editing and merging happen in dialogs it opens.

    Signals:
        patient_changed(str): the record was edited (its id).
        patients_merged(str, str, str): merge id, surviving id, retired id.
        undo_merge_requested(str): the user asked to undo this merge id.
    """

    patient_changed = Signal(str)
    patients_merged = Signal(str, str, str)
    undo_merge_requested = Signal(str)

    def __init__(
        self,
        session: Session,
        clipboard: SensitiveClipboard | None = None,
        today: Callable[[], date] = date.today,
        choose_open: OpenChooser = choose_open_file,
        choose_save: SaveChooser = choose_save_file,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self._session = session
        self._clipboard = clipboard
        self._today = today
        self.patient: Patient | None = None
        self.dialog: QDialog | None = None
        self.name_label = fields.heading("")
        self.name_label.setTextFormat(Qt.TextFormat.PlainText)
        self.name_label.setAccessibleName("Patient name")
        self.summary_label = QLabel()
        self.summary_label.setTextFormat(Qt.TextFormat.PlainText)
        self.summary_label.setAccessibleName("Record summary")
        self.info = QLabel()
        self.info.setObjectName("record_info")
        self.info.setAccessibleName("Record message")
        self.info.setWordWrap(True)
        # Bold in the palette's own text colour: readable on light and dark.
        info_font = self.info.font()
        info_font.setBold(True)
        self.info.setFont(info_font)
        self.error = fields.error_label("Record error")
        self._make_emergency_widgets()
        self.sync_banner = ConflictBanner(session)
        self.sync_banner.resolved.connect(self.on_sync_banner_resolved)
        self.edit_button = QPushButton("&Edit…")
        self.merge_button = QPushButton("&Merge with…")
        self.copy_mrn_button = QPushButton("Copy MRN")
        self.copy_mrn_button.setToolTip("Copied for 30 seconds, then cleared")
        self.details = DetailsView()
        self.history = HistoryView()
        self.documents = DocumentsView(session, choose_open, choose_save)
        self.appointments = appointments_table()
        self.tabs = QTabWidget()
        self.tabs.addTab(self.details, "&Details")
        self.tabs.addTab(self.history, "&History")
        self.tabs.addTab(self.documents, "D&ocuments")
        if allows(session.roles, "appointments.read"):
            self.tabs.addTab(self.appointments, "&Appointments")
        self._build()
        self.edit_button.setEnabled(allows(session.roles, "patients.write"))
        self.merge_button.setEnabled(allows(session.roles, "patients.merge"))
        self.tabs.setTabEnabled(2, allows(session.roles, "documents.read"))
        self.emergency_button.clicked.connect(self.on_emergency_button_clicked)
        self.edit_button.clicked.connect(self.on_edit_button_clicked)
        self.merge_button.clicked.connect(self.on_merge_button_clicked)
        self.copy_mrn_button.clicked.connect(self.on_copy_mrn_button_clicked)
        self.history.undo_merge_requested.connect(self.undo_merge_requested)
        self.tabs.currentChanged.connect(self.on_tabs_current_changed)

    def _make_emergency_widgets(self) -> None:
        # The error red follows light and dark palettes; bold marks it out.
        self.access_label = fields.ErrorLabel()
        self.access_label.setObjectName("emergency_access_until")
        self.access_label.setAccessibleName("Emergency access")
        bold = self.access_label.font()
        bold.setBold(True)
        self.access_label.setFont(bold)
        self.access_label.hide()
        self.emergency_button = QPushButton("Emer&gency access…")
        self.emergency_button.setObjectName("emergency_access")
        self.emergency_button.setToolTip(
            "Read the parts of this record your role does not cover, "
            "for a limited time, stating why (audited and reviewed)"
        )
        self.emergency_button.hide()

    def _build(self) -> None:
        buttons = QHBoxLayout()
        buttons.addWidget(self.edit_button)
        buttons.addWidget(self.merge_button)
        buttons.addWidget(self.copy_mrn_button)
        buttons.addWidget(self.emergency_button)
        buttons.addStretch(1)
        buttons.addWidget(self.access_label)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(12, 8, 12, 8)
        layout.addWidget(self.name_label)
        layout.addWidget(self.summary_label)
        layout.addLayout(buttons)
        layout.addWidget(self.sync_banner)
        layout.addWidget(self.info)
        layout.addWidget(self.error)
        layout.addWidget(self.tabs, 1)
        self.info.hide()

    # -- content ---------------------------------------------------------------
    def show_patient(self, patient: Patient, undoable_merge: str | None = None) -> None:
        """Show ``patient`` (already opened, and so audited, by the caller).

        Nothing happens once the vault has locked: a load that finishes after
        the lock is dropped (the workspace is on its way out).
        """
        if self._session.locked:
            return
        changed_record = self.patient is None or self.patient.id != patient.id
        self.patient = patient
        preferred = f" “{patient.preferred_name}”" if patient.preferred_name else ""
        self.name_label.setText(patient.display_name() + preferred)
        status = formatting.STATUS_LABELS.get(patient.status, patient.status)
        birth = formatting.birth_date_text(patient.birth_date, self._today())
        self.summary_label.setText(f"MRN {patient.mrn} · {status} · Born {birth}")
        self.details.show_patient(patient, self._today())
        self.history.set_undoable_merge(undoable_merge)
        fields.show_message(self.error, "")
        if changed_record:
            self.show_info("")
            self.documents.show_patient(patient.id)
        else:
            # A merge or its undo may have moved documents to or from here.
            self.documents.refresh()
        self.update_access()
        self.sync_banner.show_record("patients", patient.id)
        self.load_history()
        self.load_appointments()

    def update_access(self) -> None:
        """Documents tab, Emergency access button and its expiry line."""
        if self.patient is None:
            return
        session, patient_id = self._session, self.patient.id
        may_documents = session.allows("documents.read", patient_id)
        self.tabs.setTabEnabled(2, may_documents)
        closed = not may_documents or not may_read_notes(session, patient_id)
        self.emergency_button.setVisible(
            closed and break_glass.needs_break_glass(session, patient_id)
        )
        until = session.break_glass_until(patient_id)
        if until is None:
            self.access_label.hide()
            return
        zone = ZoneInfo(schedule_view.practice_zone(session))
        self.access_label.setText(
            f"Emergency access until {datetime.fromtimestamp(until, zone):%H:%M}"
        )
        self.access_label.show()

    def load_appointments(self) -> None:
        if self.patient is None or self.tabs.indexOf(self.appointments) < 0:
            return
        session, patient_id = self._session, self.patient.id
        run_task(
            lambda: load_appointments(session, patient_id),
            self.on_appointments_loaded,
            self.on_task_failed,
        )

    def show_info(self, text: str) -> None:
        self.info.setText(text)
        self.info.setVisible(bool(text))

    def load_history(self) -> None:
        if self.patient is None:
            return
        session, patient_id = self._session, self.patient.id
        may_undo = allows(session.roles, "patients.merge")

        def load() -> tuple[str, list, patients.MergeInfo | None]:
            rows = patients.history(session, patient_id)
            merge = patients.undoable_merge(session, patient_id) if may_undo else None
            return patient_id, rows, merge

        run_task(load, self.on_history_loaded, self.on_task_failed)

    def reload(self) -> None:
        """Read the record again (no new view entry: it is already open)."""
        if self.patient is None:
            return
        session, patient_id = self._session, self.patient.id
        run_task(
            lambda: patients.load_patient(session, patient_id),
            self.on_record_loaded,
            self.on_task_failed,
        )

    def _open(self, dialog: QDialog) -> None:
        dialog.finished.connect(dialog.deleteLater)
        self.dialog = dialog
        dialog.open()

    # -- slots -------------------------------------------------------------------
    @Slot(object)
    def on_history_loaded(self, result: tuple[str, list, object]) -> None:
        patient_id, rows, merge = result
        if self.patient is not None and patient_id == self.patient.id:
            self.history.show_history(rows)
            if isinstance(merge, patients.MergeInfo):
                self.history.set_undoable_merge(merge.id, merge.merged_at)
            else:
                self.history.set_undoable_merge(None)

    @Slot(object)
    def on_appointments_loaded(self, result: tuple[str, list]) -> None:
        patient_id, rows = result
        if self.patient is None or patient_id != self.patient.id:
            return
        self.appointments.setRowCount(len(rows))
        for row, cells in enumerate(rows):
            for column, text in enumerate(cells):
                self.appointments.setItem(row, column, QTableWidgetItem(text))

    @Slot()
    def on_emergency_button_clicked(self) -> None:
        if self.patient is None:
            return
        dialog = EmergencyAccessDialog(self._session, self.patient.id, self)
        dialog.granted.connect(self.on_emergency_granted)
        self._open(dialog)

    @Slot(object)
    def on_emergency_granted(self, _grant: object) -> None:
        self.show_info("Emergency access opened: it is in the audit log.")
        if self.patient is not None:
            self.documents.show_patient(self.patient.id)
        self.update_access()
        self.reload()

    @Slot(object)
    def on_record_loaded(self, patient: Patient) -> None:
        if self.patient is not None and patient.id == self.patient.id:
            self.show_patient(patient, self.history.merge_id)

    @Slot(object)
    def on_task_failed(self, error: BaseException) -> None:
        fields.show_message(self.error, user_message(error))

    @Slot(int)
    def on_tabs_current_changed(self, index: int) -> None:
        if self.tabs.widget(index) is self.history:
            self.load_history()

    @Slot()
    def on_edit_button_clicked(self) -> None:
        if self.patient is None:
            return
        dialog = PatientEditDialog(self._session, self.patient, self)
        dialog.patient_saved.connect(self.on_dialog_patient_saved)
        self._open(dialog)

    @Slot(list)
    def on_dialog_patient_saved(self, changed: list) -> None:
        if not changed:
            self.show_info("Nothing was changed.")
            return
        names = ", ".join(field_label(c) for c in changed)
        self.show_info(f"Saved. Changed: {names}.")
        self.reload()
        if self.patient is not None:
            self.patient_changed.emit(self.patient.id)

    @Slot()
    def on_sync_banner_resolved(self) -> None:
        self.show_info("Conflict settled.")
        self.reload()
        if self.patient is not None:
            self.patient_changed.emit(self.patient.id)

    @Slot()
    def on_merge_button_clicked(self) -> None:
        if self.patient is None:
            return
        dialog = MergeDialog(self._session, self.patient, self)
        dialog.patients_merged.connect(self.patients_merged)
        self._open(dialog)

    @Slot()
    def on_copy_mrn_button_clicked(self) -> None:
        if self.patient is not None and self._clipboard is not None:
            self._clipboard.copy_sensitive(self.patient.mrn)
            self.show_info("MRN copied; the clipboard is cleared in 30 seconds.")
