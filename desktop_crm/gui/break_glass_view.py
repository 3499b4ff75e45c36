"""Admin > Break-glass: emergency accesses waiting for review.

Each row is one break-glass grant: when, who, which patient, until when and
the reason they gave.  "Mark reviewed" records the admin's review (audited);
"Show reviewed" lists the ones already done.
"""

from __future__ import annotations

from datetime import datetime

from PySide6.QtCore import Slot
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from desktop_crm.errors import CRMError
from desktop_crm.gui import fields
from desktop_crm.gui.worker import user_message
from desktop_crm.services import break_glass
from desktop_crm.services.break_glass import Grant
from desktop_crm.services.session import Session

COLUMNS = ("Opened", "User", "Patient", "Until", "Reviewed", "Reason")


def _local(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp).astimezone().strftime("%Y-%m-%d %H:%M")


class BreakGlassView(QWidget):
    """The review queue of break-glass accesses (admins).

    Signals: none.
    """

    def __init__(self, session: Session, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._session = session
        self._grants: list[Grant] = []
        self.summary = QLabel()
        self.summary.setObjectName("break_glass_summary")
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setObjectName("break_glass_table")
        self.table.setAccessibleName("Break-glass accesses")
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setWordWrap(True)
        self.table.verticalHeader().hide()
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setStretchLastSection(True)
        self.review_button = QPushButton("&Mark reviewed")
        self.review_button.setEnabled(False)
        self.all_box = QCheckBox("Show &reviewed too")
        self.error = fields.error_label()
        self._build()
        self.review_button.clicked.connect(self.on_review_button_clicked)
        self.all_box.toggled.connect(self.refresh)
        self.table.itemSelectionChanged.connect(self.on_table_selection_changed)
        self.refresh()

    def _build(self) -> None:
        row = QHBoxLayout()
        row.addWidget(self.review_button)
        row.addWidget(self.all_box)
        row.addStretch(1)
        layout = QVBoxLayout(self)
        layout.addWidget(self.summary)
        layout.addLayout(row)
        layout.addWidget(self.table, 1)
        layout.addWidget(self.error)
        layout.addWidget(
            fields.hint_label(
                "A user who lacks a permission for a record may open it for a "
                "limited time by stating a reason. Check each reason with the "
                "user, then mark it reviewed. Both steps are in the audit log."
            )
        )

    @Slot()
    def refresh(self) -> None:
        try:
            self._grants = break_glass.review_queue(
                self._session, include_reviewed=self.all_box.isChecked()
            )
            waiting = break_glass.waiting_count(self._session)
        except CRMError as exc:
            fields.show_message(self.error, user_message(exc))
            return
        self.summary.setText(
            f"{waiting} break-glass access{'es' if waiting != 1 else ''} "
            "waiting for review."
        )
        fields.set_attention(self.summary, waiting > 0)
        self.table.setRowCount(len(self._grants))
        for row, grant in enumerate(self._grants):
            values = (
                _local(grant.opened_at),
                grant.user_name,
                grant.patient_id,
                _local(grant.expires_at),
                "no"
                if grant.reviewed_at is None
                else f"{_local(grant.reviewed_at)} by {grant.reviewed_by}",
                grant.reason,
            )
            for column, value in enumerate(values):
                self.table.setItem(row, column, QTableWidgetItem(value))
        self.on_table_selection_changed()

    def selected_grant(self) -> Grant | None:
        rows = self.table.selectionModel().selectedRows()
        if not rows or rows[0].row() >= len(self._grants):
            return None
        return self._grants[rows[0].row()]

    @Slot()
    def on_table_selection_changed(self) -> None:
        grant = self.selected_grant()
        self.review_button.setEnabled(grant is not None and grant.reviewed_at is None)

    @Slot()
    def on_review_button_clicked(self) -> None:
        grant = self.selected_grant()
        if grant is None:
            return
        try:
            break_glass.mark_reviewed(self._session, grant.id)
        except CRMError as exc:
            fields.show_message(self.error, user_message(exc))
            return
        fields.show_message(self.error, "")
        self.refresh()
