"""The practice-wide communication log: newest first, bounded, audited once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from schedule_extras_support import add_patient
from support.vault_fixtures import ADMIN

from desktop_crm.errors import InvalidInput, NotPermitted
from desktop_crm.services.scheduling import communications as comms
from desktop_crm.services.scheduling.communications import Communication

T0 = datetime(2031, 6, 2, 12, 0, tzinfo=UTC)
SECRET_SUBJECT = "QXSUBJECTMARKERQ"
SECRET_BODY = "QXBODYMARKERQ"


@pytest.fixture
def session(memory_vault):
    return memory_vault.created.session


@pytest.fixture
def logged(session):
    """Three contacts with two patients, an hour apart (oldest first)."""
    rivera, chen = add_patient(session, "Rivera"), add_patient(session, "Chen")
    ids = [
        comms.log_communication(
            session,
            Communication(
                patient_id,
                channel,
                "out",
                subject=f"{SECRET_SUBJECT} {n}",
                body=SECRET_BODY,
                at=T0 + timedelta(hours=n),
            ),
        )
        for n, (patient_id, channel) in enumerate(
            [(rivera, "call"), (chen, "email"), (rivera, "sms")]
        )
    ]
    return {"ids": ids, "rivera": rivera, "chen": chen}


def last_seq(session) -> int:
    return int(session.database().scalar("SELECT max(seq) FROM audit_log"))


def test_newest_first_with_names(session, logged):
    found = comms.recent(session, T0 - timedelta(days=1), T0 + timedelta(days=1))

    assert [f.communication.id for f in found] == logged["ids"][::-1]
    assert [f.patient_name for f in found] == [
        "Rivera, Ana",
        "Chen, Ana",
        "Rivera, Ana",
    ]
    assert {f.user_name for f in found} == {ADMIN}
    assert found[0].communication.channel == "sms"
    assert found[0].communication.at == T0 + timedelta(hours=2)
    assert found[0].communication.body == SECRET_BODY


def test_since_is_included_until_is_not(session, logged):
    found = comms.recent(session, T0 + timedelta(hours=1), T0 + timedelta(hours=2))

    assert [f.communication.id for f in found] == [logged["ids"][1]]


def test_range_outside_returns_nothing(session, logged):
    assert comms.recent(session, T0 - timedelta(days=9), T0 - timedelta(days=1)) == []


def test_limit_keeps_the_newest(session, logged):
    found = comms.recent(session, T0 - timedelta(days=1), T0 + timedelta(days=1), 2)

    assert [f.communication.id for f in found] == logged["ids"][:0:-1]


def test_bad_range_and_limit_are_refused(session, logged):
    before = last_seq(session)
    with pytest.raises(InvalidInput) as caught:
        comms.recent(session, T0, T0 - timedelta(seconds=1))
    assert caught.value.field == "until"
    with pytest.raises(InvalidInput) as caught:
        comms.recent(session, T0, T0 + timedelta(days=1), 0)
    assert caught.value.field == "limit"
    assert last_seq(session) == before


def test_one_practice_read_without_subject_or_body(session, logged):
    before = last_seq(session)

    comms.recent(session, T0 - timedelta(days=1), T0 + timedelta(days=1))

    rows = session.database().query(
        "SELECT action, record_type, record_id, fields FROM audit_log WHERE seq > ?",
        (before,),
    )
    assert [(r[0], r[1], r[2]) for r in rows] == [
        ("communication.list", "practice", None)
    ]
    text = repr(rows)
    assert SECRET_SUBJECT not in text
    assert SECRET_BODY not in text


@pytest.mark.parametrize(
    ("roles", "pin"), [("biller", "864202"), ("auditor", "864204")]
)
def test_biller_and_auditor_are_refused(memory_vault, add_staff, logged, roles, pin):
    staff = add_staff(f"Staff {roles}", roles, pin)
    other = memory_vault.service.unlock(
        staff.name, staff.pin, memory_vault.code(staff.secret)
    )
    try:
        before = last_seq(other)
        with pytest.raises(NotPermitted) as caught:
            comms.recent(other, T0 - timedelta(days=1), T0 + timedelta(days=1))
        assert caught.value.permission == "communications.read"
        assert "communications.read" in str(caught.value)
        refused = other.database().query(
            "SELECT action, record_type FROM audit_log WHERE seq > ?", (before,)
        )
        assert ("communication.list", "practice") not in refused
    finally:
        other.lock()
