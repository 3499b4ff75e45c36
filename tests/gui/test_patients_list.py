"""The Patients screen list: search as you type and lazy paging."""

from __future__ import annotations

import uuid

import pytest
from PySide6.QtCore import Qt

from desktop_crm.gui.patients.list_model import PAGE_SIZE
from desktop_crm.gui.patients.patients_widget import SEARCH_PLACEHOLDER, PatientsWidget
from desktop_crm.gui.worker import wait_for_tasks
from desktop_crm.services import patients
from desktop_crm.services.patient_model import ContactPoint, Patient
from desktop_crm.storage import audit
from desktop_crm.storage.writepath import AuditEvent, Mutation

pytestmark = pytest.mark.gui

PEOPLE = (
    Patient(family="O'Grady", given="Siobhán", birth_date="1979-05-02"),
    Patient(family="Bélanger-Côté", given="Zoë", birth_date="1990"),
    Patient(
        family="Okafor",
        given="Ben",
        birth_date="1985-03-14",
        phones=(ContactPoint("(555) 010-0199"),),
    ),
    Patient(family="Grady", given="Olive", birth_date="1960-07-07"),
)


@pytest.fixture
def session(harness):
    opened = harness.unlock_admin()
    for person in PEOPLE:
        patients.create_patient(opened, person, allow_duplicates=True)
    yield opened
    wait_for_tasks()
    opened.lock()


@pytest.fixture
def screen(qtbot, session):
    widget = PatientsWidget(session, debounce_ms=5)
    qtbot.addWidget(widget)
    widget.resize(1000, 600)
    widget.show()
    return widget


def audit_count(session) -> int:
    return len(audit.entries(session.database(), limit=10_000))


def names(screen: PatientsWidget) -> list[str]:
    model = screen.model
    return [model.index(r, 0).data() for r in range(model.rowCount())]


def type_search(qtbot, screen: PatientsWidget, text: str) -> None:
    screen.search_edit.clear()
    if text.isascii():
        qtbot.keyClicks(screen.search_edit, text)
    else:
        # QTest cannot type characters outside Latin-1; insert them instead.
        screen.search_edit.insert(text)
    qtbot.waitUntil(lambda: not screen.busy)


def test_the_list_shows_every_patient_and_the_count(qtbot, screen) -> None:
    qtbot.waitUntil(lambda: screen.count_label.text() == "4 patients")
    qtbot.waitUntil(lambda: not screen.busy)

    shown = names(screen)

    assert screen.search_edit.placeholderText() == SEARCH_PLACEHOLDER
    assert shown == [
        "Bélanger-Côté, Zoë",
        "Grady, Olive",
        "O'Grady, Siobhán",
        "Okafor, Ben",
    ]
    assert screen.model.index(0, 1).data() == "~1990"


@pytest.mark.parametrize("query", ["ogrady", "o'gr", "O’Grady", "o grady"])
def test_search_as_you_type_finds_o_grady(qtbot, screen, session, query) -> None:
    before = audit_count(session)

    type_search(qtbot, screen, query)

    assert names(screen) == ["O'Grady, Siobhán"]
    assert screen.model.rowCount() == len(patients.search(session, query))
    assert screen.count_label.text() == "1 match"
    assert audit_count(session) == before


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("belanger", ["Bélanger-Côté, Zoë"]),
        ("03/14/1985", ["Okafor, Ben"]),
        ("555-010-0199", ["Okafor, Ben"]),
        ("'; DROP TABLE patients; --", []),
    ],
)
def test_search_matches_the_service(qtbot, screen, session, query, expected) -> None:
    type_search(qtbot, screen, query)

    assert names(screen) == expected
    assert screen.model.rowCount() == len(patients.search(session, query))


def test_clearing_the_search_shows_everyone_again(qtbot, screen) -> None:
    type_search(qtbot, screen, "okafor")

    screen.search_edit.clear()

    qtbot.waitUntil(lambda: screen.model.rowCount() == len(PEOPLE))
    assert not screen.model.searching


def test_enter_opens_the_record_and_audits_it(qtbot, screen, session) -> None:
    type_search(qtbot, screen, "okafor")
    qtbot.keyClick(screen.search_edit, Qt.Key.Key_Return)
    qtbot.waitUntil(screen.table.hasFocus)

    with qtbot.waitSignal(screen.patient_opened):
        qtbot.keyClick(screen.table, Qt.Key.Key_Return)

    assert screen.record.name_label.text() == "Okafor, Ben"
    newest = audit.entries(session.database(), limit=1)[0]
    assert newest.action == "patient.view"
    assert newest.record_id == screen.record.patient.id


def _seed(session, how_many: int) -> None:
    mutations = []
    for n in range(how_many):
        person = Patient(family=f"Family{n:05d}", given="Test", birth_date="1970-01-01")
        columns = {
            **person.to_columns(),
            "mrn": f"9{n:06d}",
            "created_at": "2025-01-01T00:00:00+00:00",
            "updated_at": "2025-01-01T00:00:00+00:00",
        }
        mutations.append(Mutation("patients", str(uuid.uuid4()), "insert", columns))
    session.write(AuditEvent("test.seed"), mutations)


def test_the_model_fetches_a_page_at_a_time(qtbot, session) -> None:
    _seed(session, 5000)
    widget = PatientsWidget(session, debounce_ms=5)
    qtbot.addWidget(widget)
    widget.resize(1000, 600)
    widget.show()
    model = widget.model
    qtbot.waitUntil(lambda: widget.count_label.text() == "5,004 patients")
    qtbot.waitUntil(lambda: not model.loading)
    shown = model.rowCount()

    model.fetchMore()

    qtbot.waitUntil(lambda: not model.loading)
    assert 0 < shown <= 2 * PAGE_SIZE
    assert model.rowCount() == shown + PAGE_SIZE
    assert model.canFetchMore()
