"""The printable day sheet: content read back from the PDF, reasons, audit."""

from __future__ import annotations

import io
import unicodedata
from datetime import date, datetime

import pytest
from pypdf import PdfReader
from schedule_extras_support import add_patient, add_provider, unlock

from desktop_crm.errors import InvalidInput, NotPermitted
from desktop_crm.services import providers
from desktop_crm.services.scheduling import appointments, day_sheet, edits
from desktop_crm.services.scheduling.model import AppointmentRequest
from desktop_crm.storage import audit

CHI = "America/Chicago"
DAY = date(2031, 6, 2)


def _text(data: bytes) -> str:
    reader = PdfReader(io.BytesIO(data))
    text = "\n".join(page.extract_text() for page in reader.pages)
    return unicodedata.normalize("NFC", text)


def _own_provider(session) -> str:
    [mine] = [
        p for p in providers.list_providers(session) if p.user_id == session.user_id
    ]
    return mine.id


def _book(session, patient, provider, hour, **kw) -> str:
    request = AppointmentRequest(
        patient, provider, datetime(2031, 6, 2, hour, 0), CHI, 30, **kw
    )
    return appointments.book(session, request)[0]


@pytest.fixture
def clinic(memory_vault):
    session = memory_vault.created.session
    mine = _own_provider(session)
    other = add_provider(session, "Okafor", CHI)
    ana = add_patient(session, "Bélanger-Côté", zone="Europe/London")
    ben = add_patient(session, "O'Grady")
    _book(session, ana, mine, 9, reason="knee pain follow-up")
    _book(session, ben, other, 10, modality="in-person", location="Room 2")
    gone = _book(session, ben, mine, 14)
    edits.cancel(session, gone, "patient asked")
    return session, mine, other


def test_practice_day_lists_every_active_appointment(clinic):
    session, _mine, _other = clinic

    text = _text(day_sheet.day_sheet(session, DAY))

    assert "Day sheet" in text
    assert "Monday 02 June 2031" in text and "Whole practice" in text
    assert "Bélanger-Côté, Ana" in text and "O'Grady, Ana" in text
    assert "09:00" in text and "10:00" in text
    assert "14:00" not in text  # cancelled
    assert "Dr Okafor" in text
    # The patient in London sees 15:00 BST beside the 09:00 Chicago start.
    assert "15:00 BST" in text


def test_provider_day_shows_only_theirs_with_reasons_they_may_read(clinic):
    session, mine, _other = clinic

    text = _text(day_sheet.day_sheet(session, DAY, mine))

    assert "Bélanger-Côté" in text and "O'Grady" not in text
    assert "knee pain follow-up" in text


def test_front_desk_sheet_leaves_reasons_out(memory_vault, clinic, add_staff):
    staff = add_staff("Fran Desk", "front-desk", "864213")
    desk = unlock(memory_vault, staff)

    text = _text(day_sheet.day_sheet(desk, DAY))

    assert "Bélanger-Côté" in text
    assert "knee pain" not in text and "Reasons for visit" not in text


def test_printing_is_audited_without_patient_values(clinic):
    session, mine, _other = clinic

    day_sheet.day_sheet(session, DAY, mine)

    entry = audit.entries(session.database(), limit=1)[0]
    assert (entry.action, entry.record_type, entry.record_id) == (
        "schedule.print",
        "provider",
        mine,
    )
    assert entry.outcome == "2031-06-02"
    flat = " ".join(str(v) for v in vars(entry).values())
    assert "Bélanger" not in flat and "knee" not in flat


def test_an_empty_day_says_so(memory_vault):
    session = memory_vault.created.session

    text = _text(day_sheet.day_sheet(session, DAY))

    assert "No appointments" in text


def test_a_bad_zone_is_named(clinic):
    session, _mine, _other = clinic

    with pytest.raises(InvalidInput, match="time zone"):
        day_sheet.day_sheet(session, DAY, zone="Mars/Olympus")


def test_an_auditor_may_not_print_and_nothing_is_audited(memory_vault, add_staff):
    staff = add_staff("Al Auditor", "auditor", "864213")
    auditor = unlock(memory_vault, staff)
    before = audit.entries(auditor.database(), limit=1)[0].seq

    with pytest.raises(NotPermitted):
        day_sheet.day_sheet(auditor, DAY)
    assert audit.entries(auditor.database(), limit=1)[0].seq == before
