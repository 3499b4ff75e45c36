"""Pieces the scheduling screens share: labels, inline field errors, and the
"ask first" questions (double-booking, outside hours, a time that occurs twice)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from PySide6.QtWidgets import (
    QFormLayout,
    QLabel,
    QMessageBox,
    QVBoxLayout,
    QWidget,
)

from desktop_crm.errors import CRMError, InvalidInput
from desktop_crm.gui import fields
from desktop_crm.gui.worker import user_message
from desktop_crm.services.scheduling import working_hours
from desktop_crm.services.scheduling.model import (
    MODALITY_LABELS,
    STATUS_LABELS,
    Overlap,
)
from desktop_crm.services.scheduling.timezones import AmbiguousTime, Fold

STATUS_TEXT = STATUS_LABELS
MODALITY_TEXT = MODALITY_LABELS
SCOPE_TEXT = (
    ("this", "This appointment only"),
    ("following", "This and following"),
    ("all", "All in the series"),
)
INVALID_STYLE = "border: 2px solid #b00020;"


def status_text(status: str) -> str:
    return STATUS_TEXT.get(status, status)


def name_object(widget: QWidget, name: str, accessible: str) -> QWidget:
    """Give ``widget`` an object name and an accessible name; returns it."""
    widget.setObjectName(name)
    widget.setAccessibleName(accessible)
    return widget


@dataclass
class _Field:
    title: QLabel
    widget: QWidget
    error: QLabel


class FieldErrors:
    """Rows of a form whose errors show under the field they name.

    ``add_row`` puts the input and a hidden ErrorLabel in the form;
    ``show`` finds the row for an InvalidInput's field (or a general line).
    """

    def __init__(self, form: QFormLayout, general: QLabel) -> None:
        self._form = form
        self._general = general
        self._rows: dict[str, _Field] = {}

    def add_row(
        self, title: str, widget: QWidget, *names: str, container: QWidget | None = None
    ) -> QLabel:
        label = QLabel(title)
        label.setBuddy(widget)
        error = fields.error_label(f"{title.strip('&:')} error")
        error.setObjectName(f"{widget.objectName()}_error")
        box = QWidget()
        column = QVBoxLayout(box)
        column.setContentsMargins(0, 0, 0, 0)
        column.setSpacing(2)
        column.addWidget(container or widget)
        column.addWidget(error)
        self._form.addRow(label, box)
        for name in names:
            self._rows[name] = _Field(label, widget, error)
        return label

    def clear(self) -> None:
        fields.show_message(self._general, "")
        for row in self._rows.values():
            fields.show_message(row.error, "")
            fields.set_attention(row.title, False)
            row.widget.setStyleSheet("")

    def show(self, error: BaseException) -> None:
        """Show ``error`` beside its field (focused) or on the general line."""
        self.clear()
        row = self._rows.get(error.field) if isinstance(error, InvalidInput) else None
        if row is None:
            fields.show_message(self._general, user_message(error))
            return
        problem = error.problem if isinstance(error, InvalidInput) else ""
        fields.show_message(row.error, problem[:1].upper() + problem[1:])
        fields.set_attention(row.title, True)
        row.widget.setStyleSheet(f"{type(row.widget).__name__} {{ {INVALID_STYLE} }}")
        row.widget.setFocus()

    def text_of(self, field: str) -> str:
        row = self._rows.get(field)
        return row.error.text() if row and row.error.isVisible() else ""


@dataclass
class Allowances:
    """What the user agreed to after being asked."""

    overlap: bool = False
    outside: bool = False
    fold: Fold | None = None


Attempt = Callable[[Allowances], object]


class AskFirst:
    """Run a booking or a move; on a warning, ask, and run again if agreed.

    ``attempt(allowances)`` performs the change and returns its result;
    ``on_done(result)`` runs after it succeeded and ``on_error(exc)`` for an
    error nobody can agree away (a DST gap, a bad field).  The open question
    box is ``self.question`` (tests click its buttons).
    """

    def __init__(
        self,
        parent: QWidget,
        attempt: Attempt,
        on_done: Callable[[object], None],
        on_error: Callable[[BaseException], None],
        *,
        verb: str = "Book",
        zone: str = "UTC",
    ) -> None:
        self._parent = parent
        self._attempt = attempt
        self._on_done = on_done
        self._on_error = on_error
        self._verb = verb
        self._zone = zone
        self.allowances = Allowances()
        self.question: QMessageBox | None = None

    def run(self) -> None:
        try:
            result = self._attempt(self.allowances)
        except Overlap as exc:
            self._ask_overlap(exc)
        except working_hours.OutsideWorkingHours as exc:
            self._ask_outside(exc)
        except AmbiguousTime as exc:
            self._ask_fold(exc)
        except CRMError as exc:
            self._on_error(exc)
        else:
            self._on_done(result)

    def _confirm(self, title: str, text: str, yes: str, agree: Callable[[], None]):
        def agreed() -> None:
            self.question = None
            agree()
            self.run()

        self.question = fields.confirm(self._parent, title, text, yes, agreed)
        self.question.setObjectName("schedule_question")

    def _ask_overlap(self, exc: Overlap) -> None:
        times = ", ".join(c.time_in(self._zone) for c in exc.clashes[:5])
        count = len(exc.clashes)
        what = "another appointment" if count == 1 else f"{count} appointments"
        text = (
            f"The provider already has {what} then ({times}). "
            f"{self._verb} this one anyway?"
        )

        def agree() -> None:
            self.allowances.overlap = True

        self._confirm("Double booking", text, f"{self._verb} anyway", agree)

    def _ask_outside(self, exc: CRMError) -> None:
        text = (
            "This is outside the provider's working hours or on a day off. "
            f"{self._verb} it anyway?"
        )

        def agree() -> None:
            self.allowances.outside = True

        self._confirm("Outside working hours", text, f"{self._verb} anyway", agree)

    def _ask_fold(self, exc: AmbiguousTime) -> None:
        box = QMessageBox(
            QMessageBox.Icon.Question,
            "Time occurs twice",
            exc.problem[:1].upper() + exc.problem[1:],
            parent=self._parent,
        )
        earlier = box.addButton("Earlier", QMessageBox.ButtonRole.AcceptRole)
        earlier.setObjectName("fold_earlier")
        later = box.addButton("Later", QMessageBox.ButtonRole.AcceptRole)
        later.setObjectName("fold_later")
        box.addButton(QMessageBox.StandardButton.Cancel)
        box.setObjectName("schedule_question")

        def finished() -> None:
            clicked = box.clickedButton()
            self.question = None
            box.deleteLater()
            if clicked in (earlier, later):
                self.allowances.fold = "earlier" if clicked is earlier else "later"
                self.run()

        box.finished.connect(finished)
        self.question = box
        box.open()


def local_naive(moment: datetime, zone) -> datetime:
    """``moment`` as a naive wall-clock time in ``zone``."""
    return moment.astimezone(zone).replace(tzinfo=None)
