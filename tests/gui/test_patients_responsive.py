"""B12: typing in the search box over thousands of patients never freezes the UI.

Seeds ~5,000 patients (300 of them O'Brien/Obrien variants) in batches
through the write path, types o, o', o'b, o'br with 50 ms between keys and
deletes them again, while a 10 ms QTimer heartbeat on the GUI thread records
the longest gap between its ticks: a stall on the GUI thread shows up as a
long gap.  The search itself runs on the thread pool after the debounce.
"""

from __future__ import annotations

import logging
import random
import time
import uuid
from datetime import date

import pytest
from PySide6.QtCore import QTimer
from PySide6.QtTest import QTest

from desktop_crm.gui.patients.patients_widget import PatientsWidget
from desktop_crm.gui.worker import wait_for_tasks
from desktop_crm.services import patients
from desktop_crm.services.patient_model import Patient
from desktop_crm.storage.writepath import AuditEvent, Mutation

pytestmark = pytest.mark.gui
log = logging.getLogger(__name__)

TOTAL = 5_000
OBRIENS = 300
VARIANTS = ("O'Brien", "Obrien", "O’Brien", "O Brien", "OBrien", "O'Brian")
OTHERS = ("Smith", "García", "Nguyen", "Oakley", "Olsen", "Bryant", "Brown", "Ortiz")
GIVEN = ("Ann", "José", "Zoë", "Liam", "Mary", "Noah", "Siobhán", "Omar")
STALL_LIMIT_S = 0.250  # CI is slow; the suggested budget is ~100 ms
#: The longest stall measured by the last run (also logged and recorded).
measured: dict[str, float] = {}


@pytest.fixture
def session(harness):
    opened = harness.unlock_admin()
    yield opened
    wait_for_tasks()
    opened.lock()


def seed(session) -> None:
    rng = random.Random(12)
    batch: list[Mutation] = []
    now = "2024-01-01T00:00:00+00:00"
    for number in range(TOTAL):
        family = (
            VARIANTS[number % len(VARIANTS)]
            if number < OBRIENS
            else (f"{rng.choice(OTHERS)}{rng.randrange(100)}")
        )
        patient = Patient(
            family=family,
            given=rng.choice(GIVEN),
            birth_date=f"{rng.randrange(1930, 2020)}-0{rng.randrange(1, 10)}-15",
        )
        patient_id, mrn = str(uuid.uuid4()), f"{number + 1:07d}"
        columns = {**patient.to_columns(), "mrn": mrn}
        columns.update(created_at=now, updated_at=now)
        batch.append(Mutation("patients", patient_id, "insert", columns))
        batch.append(
            Mutation(
                "patient_identifiers",
                f"{patients.MRN_SYSTEM}|{mrn}",
                "insert",
                {"patient_id": patient_id, "system": patients.MRN_SYSTEM,
                 "value": mrn, "label": "MRN"},
            )
        )  # fmt: skip
        if len(batch) >= 1_000:
            session.write(AuditEvent("test.seed"), batch)
            batch = []
    if batch:
        session.write(AuditEvent("test.seed"), batch)


class Heartbeat:
    """Ticks every 10 ms on the GUI thread; remembers the longest gap."""

    def __init__(self) -> None:
        self.longest = 0.0
        self._last = time.perf_counter()
        self.timer = QTimer()
        self.timer.setInterval(10)
        self.timer.timeout.connect(self.tick)

    def tick(self) -> None:
        now = time.perf_counter()
        self.longest = max(self.longest, now - self._last)
        self._last = now

    def start(self) -> None:
        self._last = time.perf_counter()
        self.timer.start()


def test_b12_typing_over_5000_patients_never_stalls(
    qtbot, session, record_property
) -> None:
    seed(session)
    assert patients.count(session) == TOTAL
    screen = PatientsWidget(session, today=lambda: date(2025, 6, 1))
    qtbot.addWidget(screen)
    screen.resize(1000, 700)
    screen.show()
    qtbot.waitUntil(lambda: not screen.busy and screen.model.rowCount() > 0)
    box = screen.search_edit
    box.setFocus()
    heartbeat = Heartbeat()
    heartbeat.start()

    for key in "o'br":
        QTest.keyClicks(box, key)
        qtbot.wait(50)
    qtbot.waitUntil(lambda: not screen.busy, timeout=10_000)
    typed_rows = screen.model.rowCount()
    for _ in range(4):
        QTest.keyClick(box, "\b")  # Backspace
        qtbot.wait(50)
    qtbot.waitUntil(lambda: not screen.busy, timeout=10_000)
    qtbot.wait(50)
    heartbeat.timer.stop()

    measured["longest_stall_s"] = heartbeat.longest
    record_property("longest_stall_ms", round(heartbeat.longest * 1000, 1))
    log.warning("B12 longest GUI-thread stall: %.1f ms", heartbeat.longest * 1000)
    expected = patients.search(session, "o'br")
    assert box.text() == ""
    assert typed_rows == len(expected) > 0
    assert heartbeat.longest < STALL_LIMIT_S
    qtbot.waitUntil(lambda: screen.count_label.text() == f"{TOTAL:,} patients")
