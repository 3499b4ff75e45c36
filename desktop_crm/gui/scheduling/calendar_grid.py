"""The painted time grid of the calendar: columns of 15-minute slots with
appointment blocks, shading outside working hours, a keyboard cursor, and
drag to move or resize."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from PySide6.QtCore import QPointF, QRectF, QSize, Qt, Signal
from PySide6.QtGui import (
    QBrush,
    QColor,
    QFont,
    QKeyEvent,
    QMouseEvent,
    QPainter,
    QPaintEvent,
    QPen,
)
from PySide6.QtWidgets import QSizePolicy, QWidget

from desktop_crm.gui.scheduling.common import MODALITY_TEXT, status_text
from desktop_crm.services.scheduling.schedule_view import Entry

SLOT_MIN = 15
SLOT_PX = 16
GUTTER = 58
HEADER = 34
EDGE_PX = 6
NARROW_PX = 120
TEXT = QColor(20, 20, 20)
GRID_LINE = QColor(218, 218, 218)
HOUR_LINE = QColor(180, 180, 180)
SHADE = QColor(226, 226, 226)
HEADER_FILL = QColor(244, 244, 244)
CURSOR = QColor(25, 90, 200)
FLAG = QColor(176, 0, 32)
#: Fill and border per status; dark text stays readable on each fill.
COLOURS = {
    "proposed": (QColor(255, 241, 204), QColor(160, 110, 0)),
    "booked": (QColor(214, 230, 255), QColor(45, 95, 200)),
    "arrived": (QColor(214, 242, 218), QColor(40, 120, 50)),
    "checked-in": (QColor(214, 242, 218), QColor(40, 120, 50)),
    "fulfilled": (QColor(236, 236, 236), QColor(110, 110, 110)),
    "noshow": (QColor(252, 222, 218), QColor(176, 40, 40)),
}


@dataclass
class Column:
    """One column: a provider's day (day view) or a day (week view)."""

    title: str
    day: date
    provider_id: str | None
    shaded: list[tuple[datetime, datetime]] = field(default_factory=list)


@dataclass
class Block:
    """An appointment laid out in a column (x is worked out when painting)."""

    entry: Entry
    column: int
    top_min: int
    length_min: int
    lane: int = 0
    lanes: int = 1
    flagged: bool = False

    @property
    def id(self) -> str:
        return self.entry.appointment.id


@dataclass
class _Drag:
    block: Block
    grab_min: int
    resize: bool
    column: int
    top_min: int
    length_min: int
    moved: bool = False


def _lanes(blocks: list[Block]) -> None:
    """Side by side lanes for blocks of one column that overlap."""
    blocks.sort(key=lambda b: (b.top_min, -b.length_min))
    cluster: list[Block] = []
    ends: list[int] = []
    cluster_end = -1

    def close() -> None:
        for b in cluster:
            b.lanes = len(ends)

    for block in blocks:
        if block.top_min >= cluster_end and cluster:
            close()
            cluster, ends = [], []
        for lane, end in enumerate(ends):
            if end <= block.top_min:
                block.lane = lane
                ends[lane] = block.top_min + block.length_min
                break
        else:
            block.lane = len(ends)
            ends.append(block.top_min + block.length_min)
        cluster.append(block)
        cluster_end = max(cluster_end, block.top_min + block.length_min)
    if cluster:
        close()


class CalendarGrid(QWidget):
    """Columns of slots with blocks; keyboard: arrows move the cursor, Shift +
    arrows move the selected appointment, Ctrl + Up/Down shorten or lengthen
    it, Enter opens it (or books at the cursor), N books at the cursor.

    Signals:
        activated(str): open this appointment.
        book_requested(object, object): book at this aware start, for this
            provider id (or None).
        move_requested(str, object, int): move this appointment to this aware
            start with this duration in minutes.
        selection_changed(object): the selected Entry, or None.
    """

    activated = Signal(str)
    book_requested = Signal(object, object)
    move_requested = Signal(str, object, int)
    selection_changed = Signal(object)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("calendar_grid")
        self.setAccessibleName("Calendar")
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.setMouseTracking(True)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.zone = ZoneInfo("UTC")
        self.columns: list[Column] = []
        self.blocks: list[Block] = []
        self.first_hour = 7
        self.last_hour = 19
        self.cursor_column = 0
        self.cursor_min = 9 * 60 - self.first_hour * 60
        self.selected: Block | None = None
        self._drag: _Drag | None = None
        self.lock_columns = False

    # -- data ------------------------------------------------------------------------
    def set_data(
        self,
        zone: str,
        columns: list[Column],
        entries: list[Entry],
        flagged: set[str] | frozenset[str] = frozenset(),
        *,
        lock_columns: bool = False,
    ) -> None:
        """Show ``entries`` in ``columns`` (times in ``zone``).

        ``lock_columns``: blocks may not be dragged to another column (the
        columns are providers, and a move keeps the provider).
        """
        self.zone = ZoneInfo(zone)
        self.columns = columns
        self.lock_columns = lock_columns
        selected = self.selected.id if self.selected else None
        old_first = self.first_hour
        self.blocks = self._layout(entries, flagged)
        self._fit_hours()
        self.cursor_min += (old_first - self.first_hour) * 60
        self.cursor_column = min(self.cursor_column, max(len(columns) - 1, 0))
        self.cursor_min = max(0, min(self.cursor_min, self._span_min() - SLOT_MIN))
        self.selected = next((b for b in self.blocks if b.id == selected), None)
        self.setFixedHeight(HEADER + self._span_min() * SLOT_PX // SLOT_MIN + 1)
        self.update()

    def _column_of(self, entry: Entry, local: datetime) -> int | None:
        for index, column in enumerate(self.columns):
            if column.day != local.date():
                continue
            if column.provider_id in (None, entry.appointment.provider_id):
                return index
        return None

    def _layout(self, entries: list[Entry], flagged: set[str] | frozenset[str]):
        per_column: dict[int, list[Block]] = {}
        for entry in entries:
            appt = entry.appointment
            if appt.status == "cancelled":
                continue
            local = appt.start.astimezone(self.zone)
            index = self._column_of(entry, local)
            if index is None:
                continue
            block = Block(
                entry,
                index,
                local.hour * 60 + local.minute,
                max(appt.duration_min, SLOT_MIN),
                flagged=appt.id in flagged,
            )
            per_column.setdefault(index, []).append(block)
        result: list[Block] = []
        for blocks in per_column.values():
            _lanes(blocks)
            result += blocks
        return result

    def _fit_hours(self) -> None:
        first, last = 7, 19
        for b in self.blocks:
            first = min(first, b.top_min // 60)
            last = max(last, min(24, -(-(b.top_min + b.length_min) // 60)))
        self.first_hour, self.last_hour = first, last
        for b in self.blocks:
            b.top_min -= first * 60

    def _span_min(self) -> int:
        return (self.last_hour - self.first_hour) * 60

    # -- geometry --------------------------------------------------------------------
    def sizeHint(self) -> QSize:
        return QSize(720, HEADER + self._span_min() * SLOT_PX // SLOT_MIN)

    def _column_width(self) -> float:
        return (self.width() - GUTTER - 1) / max(len(self.columns), 1)

    def _y(self, minutes: float) -> float:
        return HEADER + minutes * SLOT_PX / SLOT_MIN

    def block_rect(
        self, block: Block, top: int | None = None, length: int | None = None
    ):
        width = self._column_width()
        lane_width = (width - 6) / block.lanes
        x = GUTTER + block.column * width + 2 + block.lane * lane_width
        top = block.top_min if top is None else top
        length = block.length_min if length is None else length
        return QRectF(
            x, self._y(top) + 1, lane_width - 2, length * SLOT_PX / SLOT_MIN - 2
        )

    def slot_at(self, point: QPointF) -> tuple[int, int] | None:
        if point.x() < GUTTER or point.y() < HEADER or not self.columns:
            return None
        column = int((point.x() - GUTTER) // self._column_width())
        minutes = int((point.y() - HEADER) * SLOT_MIN / SLOT_PX)
        column = min(max(column, 0), len(self.columns) - 1)
        minutes = min(
            max(minutes // SLOT_MIN * SLOT_MIN, 0), self._span_min() - SLOT_MIN
        )
        return column, minutes

    def block_at(self, point: QPointF) -> Block | None:
        for block in reversed(self.blocks):
            if self.block_rect(block).contains(point):
                return block
        return None

    def instant(self, column: int, minutes: int) -> datetime:
        """The aware instant of a slot (in the view's zone)."""
        day = self.columns[column].day
        wall = datetime.combine(day, time()) + timedelta(
            minutes=self.first_hour * 60 + minutes
        )
        return wall.replace(tzinfo=self.zone)

    def cursor_start(self) -> datetime:
        return self.instant(self.cursor_column, self.cursor_min)

    def cursor_provider(self) -> str | None:
        return self.columns[self.cursor_column].provider_id if self.columns else None

    # -- painting --------------------------------------------------------------------
    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        exposed = QRectF(event.rect())
        painter.fillRect(self.rect(), QColor(255, 255, 255))
        self._paint_shading(painter)
        self._paint_lines(painter)
        for block in self.blocks:
            if self._drag and self._drag.block is block and self._drag.moved:
                continue
            rect = self.block_rect(block)
            if rect.intersects(exposed):  # only what the scroll area shows
                self._paint_block(painter, block, rect)
        if self._drag and self._drag.moved:
            d = self._drag
            ghost = Block(d.block.entry, d.column, d.top_min, d.length_min)
            painter.setOpacity(0.75)
            self._paint_block(painter, ghost, self.block_rect(ghost))
            painter.setOpacity(1.0)
        self._paint_cursor(painter)
        self._paint_headers(painter)
        painter.end()

    def _paint_shading(self, painter: QPainter) -> None:
        width = self._column_width()
        for index, column in enumerate(self.columns):
            base = datetime.combine(column.day, time()) + timedelta(
                hours=self.first_hour
            )
            for start, end in column.shaded:
                top = start.astimezone(self.zone).replace(tzinfo=None) - base
                bottom = end.astimezone(self.zone).replace(tzinfo=None) - base
                y0 = max(top.total_seconds() / 60, 0)
                y1 = min(bottom.total_seconds() / 60, self._span_min())
                if y1 <= y0:
                    continue
                rect = QRectF(
                    GUTTER + index * width,
                    self._y(y0),
                    width,
                    self._y(y1) - self._y(y0),
                )
                painter.fillRect(rect, SHADE)
                painter.fillRect(
                    rect, QBrush(QColor(205, 205, 205), Qt.BrushStyle.BDiagPattern)
                )

    def _paint_lines(self, painter: QPainter) -> None:
        width = self._column_width()
        painter.setFont(self.font())
        for slot in range(0, self._span_min() + 1, SLOT_MIN):
            y = self._y(slot)
            hour = slot % 60 == 0
            painter.setPen(QPen(HOUR_LINE if hour else GRID_LINE, 1))
            painter.drawLine(QPointF(GUTTER, y), QPointF(self.width(), y))
            if hour and slot < self._span_min():
                painter.setPen(TEXT)
                painter.drawText(
                    QRectF(0, y, GUTTER - 6, 18),
                    Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignTop,
                    f"{self.first_hour + slot // 60:02d}:00",
                )
        painter.setPen(QPen(HOUR_LINE, 1))
        for index in range(len(self.columns) + 1):
            x = GUTTER + index * width
            painter.drawLine(QPointF(x, 0), QPointF(x, self.height()))

    def _paint_headers(self, painter: QPainter) -> None:
        """Column titles on a band that stays at the top of the visible part
        (the scroll area repaints the grid when it scrolls)."""
        width = self._column_width()
        top = self.visibleRegion().boundingRect().top()
        painter.fillRect(QRectF(0, top, self.width(), HEADER), HEADER_FILL)
        painter.setPen(QPen(HOUR_LINE, 1))
        painter.drawLine(QPointF(0, top + HEADER), QPointF(self.width(), top + HEADER))
        font = QFont(self.font())
        font.setBold(True)
        painter.setFont(font)
        painter.setPen(TEXT)
        for index, column in enumerate(self.columns):
            rect = QRectF(GUTTER + index * width + 4, top, width - 8, HEADER)
            text = painter.fontMetrics().elidedText(
                column.title, Qt.TextElideMode.ElideRight, int(rect.width())
            )
            painter.drawText(rect, Qt.AlignmentFlag.AlignCenter, text)

    def _block_lines(
        self, block: Block, viewer: str, narrow: bool = False
    ) -> list[str]:
        """Name first (with its time unless the block is narrow), then how,
        the patient's own time when it differs, and the status."""
        appt = block.entry.appointment
        local = appt.start.astimezone(self.zone)
        name = block.entry.patient_name
        lines = [name if narrow else f"{local:%H:%M} {name}"]
        details = [
            MODALITY_TEXT.get(appt.modality, appt.modality),
            status_text(appt.status),
        ]
        there = block.entry.patient_time_for(viewer)
        if there:
            details.insert(0, f"Patient {there}")
        lines.append(" · ".join(details))
        if block.flagged:
            lines.append("Reminder failed")
        return lines

    def _paint_block(self, painter: QPainter, block: Block, rect: QRectF) -> None:
        fill, border = COLOURS.get(block.entry.appointment.status, COLOURS["booked"])
        selected = self.selected is not None and self.selected.id == block.id
        painter.setPen(QPen(TEXT if selected else border, 3 if selected else 1))
        painter.setBrush(fill)
        painter.drawRoundedRect(rect, 3, 3)
        if block.flagged:
            painter.fillRect(
                QRectF(rect.right() - 6, rect.top(), 6, rect.height()), FLAG
            )
        metrics = painter.fontMetrics()
        line_height = metrics.height()
        inner = rect.adjusted(4, 1, -8 if block.flagged else -3, -1)
        narrow = inner.width() < NARROW_PX
        lines = self._block_lines(block, str(self.zone.key), narrow)
        shown = max(1, int(inner.height() // line_height))
        font = QFont(self.font())
        for number, line in enumerate(lines[:shown]):
            font.setBold(number == 0)
            painter.setFont(font)
            painter.setPen(FLAG if "Reminder failed" in line else TEXT)
            text = painter.fontMetrics().elidedText(
                line, Qt.TextElideMode.ElideRight, int(inner.width())
            )
            painter.drawText(
                QRectF(inner.left(), inner.top() + number * line_height,
                       inner.width(), line_height),
                Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter,
                text,
            )  # fmt: skip
        painter.setFont(self.font())

    def _paint_cursor(self, painter: QPainter) -> None:
        if not self.columns or not self.hasFocus():
            return
        width = self._column_width()
        rect = QRectF(
            GUTTER + self.cursor_column * width + 1,
            self._y(self.cursor_min),
            width - 2,
            SLOT_PX,
        )
        painter.setBrush(Qt.BrushStyle.NoBrush)
        painter.setPen(QPen(CURSOR, 2, Qt.PenStyle.DashLine))
        painter.drawRect(rect)

    # -- selection ---------------------------------------------------------------------
    def _select(self, block: Block | None) -> None:
        if block is self.selected:
            return
        self.selected = block
        if block is None:
            self.setAccessibleDescription("")
        else:
            self.setAccessibleDescription(", ".join(self._block_lines(block, "UTC")))
        self.selection_changed.emit(None if block is None else block.entry)
        self.update()

    def _block_under_cursor(self) -> Block | None:
        for block in self.blocks:
            if block.column == self.cursor_column and (
                block.top_min <= self.cursor_min < block.top_min + block.length_min
            ):
                return block
        return None

    def select_appointment(self, appointment_id: str) -> bool:
        """Select an appointment and put the cursor on it."""
        for block in self.blocks:
            if block.id == appointment_id:
                self.cursor_column, self.cursor_min = block.column, block.top_min
                self._select(block)
                return True
        return False

    def move_cursor(self, columns: int, slots: int) -> None:
        self.cursor_column = min(
            max(self.cursor_column + columns, 0), len(self.columns) - 1
        )
        self.cursor_min = min(
            max(self.cursor_min + slots * SLOT_MIN, 0), self._span_min() - SLOT_MIN
        )
        self._select(self._block_under_cursor())
        self.update()

    # -- keyboard --------------------------------------------------------------------
    def keyPressEvent(self, event: QKeyEvent) -> None:
        key = event.key()
        mods = event.modifiers()
        steps = {
            Qt.Key.Key_Up: (0, -1),
            Qt.Key.Key_Down: (0, 1),
            Qt.Key.Key_Left: (-1, 0),
            Qt.Key.Key_Right: (1, 0),
        }
        if key in steps and self.columns:
            self._arrow(steps[key], mods)
        elif key in (Qt.Key.Key_Return, Qt.Key.Key_Enter) and self.columns:
            if self.selected is not None:
                self.activated.emit(self.selected.id)
            else:
                self.book_requested.emit(self.cursor_start(), self.cursor_provider())
        elif key == Qt.Key.Key_N and self.columns:
            self.book_requested.emit(self.cursor_start(), self.cursor_provider())
        else:
            super().keyPressEvent(event)

    def _arrow(self, step: tuple[int, int], mods: Qt.KeyboardModifier) -> None:
        columns, slots = step
        block = self.selected
        if block is not None and mods & Qt.KeyboardModifier.ShiftModifier:
            if self.lock_columns:
                columns = 0
            column = min(max(block.column + columns, 0), len(self.columns) - 1)
            self._request_move(
                block, column, block.top_min + slots * SLOT_MIN, block.length_min
            )
        elif block is not None and mods & Qt.KeyboardModifier.ControlModifier:
            length = max(SLOT_MIN, block.length_min + slots * SLOT_MIN)
            self._request_move(block, block.column, block.top_min, length)
        else:
            self.move_cursor(columns, slots)

    def _request_move(self, block: Block, column: int, top: int, length: int) -> None:
        if (column, top, length) == (block.column, block.top_min, block.length_min):
            return
        self.move_requested.emit(block.id, self.instant(column, top), length)

    # -- mouse -----------------------------------------------------------------------
    def mousePressEvent(self, event: QMouseEvent) -> None:
        point = event.position()
        slot = self.slot_at(point)
        if slot is None or event.button() != Qt.MouseButton.LeftButton:
            return super().mousePressEvent(event)
        self.setFocus()
        self.cursor_column, self.cursor_min = slot
        block = self.block_at(point)
        self._select(block)
        if block is not None:
            rect = self.block_rect(block)
            resize = rect.bottom() - point.y() <= EDGE_PX
            self._drag = _Drag(
                block, slot[1] - block.top_min, resize, block.column,
                block.top_min, block.length_min,
            )  # fmt: skip
        self.update()
        return None

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        point = event.position()
        block = self.block_at(point)
        near_edge = (
            block is not None and self.block_rect(block).bottom() - point.y() <= EDGE_PX
        )
        self.setCursor(
            Qt.CursorShape.SizeVerCursor if near_edge else Qt.CursorShape.ArrowCursor
        )
        drag, slot = self._drag, self.slot_at(point)
        if drag is None or slot is None:
            return
        column, minutes = slot
        if drag.resize:
            drag.length_min = max(SLOT_MIN, minutes + SLOT_MIN - drag.block.top_min)
        else:
            drag.top_min = max(0, minutes - drag.grab_min)
            drag.column = drag.block.column if self.lock_columns else column
        drag.moved = (drag.column, drag.top_min, drag.length_min) != (
            drag.block.column, drag.block.top_min, drag.block.length_min,
        )  # fmt: skip
        self.update()

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:
        drag, self._drag = self._drag, None
        if drag is not None and drag.moved:
            self._request_move(drag.block, drag.column, drag.top_min, drag.length_min)
        self.update()
        super().mouseReleaseEvent(event)

    def mouseDoubleClickEvent(self, event: QMouseEvent) -> None:
        point = event.position()
        block = self.block_at(point)
        slot = self.slot_at(point)
        self._drag = None
        if block is not None:
            self.activated.emit(block.id)
        elif slot is not None:
            self.cursor_column, self.cursor_min = slot
            self.book_requested.emit(self.cursor_start(), self.cursor_provider())

    def focusInEvent(self, event) -> None:  # noqa: ANN001 - Qt's event
        super().focusInEvent(event)
        self.update()

    def focusOutEvent(self, event) -> None:  # noqa: ANN001 - Qt's event
        super().focusOutEvent(event)
        self.update()
