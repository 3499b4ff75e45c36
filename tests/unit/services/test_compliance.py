"""The compliance report: rendered from the live vault, text read back with pypdf."""

from __future__ import annotations

import io

import pytest
from pypdf import PdfReader

from desktop_crm.errors import NotPermitted
from desktop_crm.services import backup, compliance, patients, settings
from desktop_crm.services import settings_keys as keys
from desktop_crm.services.patient_model import Patient
from desktop_crm.storage import audit

SAFEGUARDS = (
    "164.312(a)(1)",
    "164.312(a)(2)(i)",
    "164.312(a)(2)(ii)",
    "164.312(a)(2)(iii)",
    "164.312(a)(2)(iv)",
    "164.312(b)",
    "164.312(c)(1), (c)(2)",
    "164.312(d)",
    "164.312(e)(1)",
    "164.308(a)(7)(ii)(A)",
    "164.308(a)(7)(ii)(B)",
    "164.308(a)(7)(ii)(C)",
    "164.308(a)(7)(ii)(D)",
    "164.308(a)(7)(ii)(E)",
)


def _text(data: bytes) -> str:
    pages = PdfReader(io.BytesIO(data)).pages
    return " ".join(" ".join(p.extract_text().split()) for p in pages)


def test_renders_every_safeguard_and_the_practice_duties(memory_vault):
    session = memory_vault.created.session

    data = compliance.report(session)

    assert data.startswith(b"%PDF-")
    text = _text(data)
    for cite in SAFEGUARDS:
        assert cite in text, cite
    for duty in ("Risk analysis", "Workforce training", "Business associate"):
        assert duty in text
    assert "SMTP" in text and "backup copies" in text
    assert "Sync not configured" in text
    assert "SQLCipher 4." in text or "SQLCipher" in text
    assert "Argon2id" in text
    assert f"{memory_vault.created.session.vault_id}" in text


def test_text_follows_the_idle_lock_setting(memory_vault):
    session = memory_vault.created.session
    assert "Automatic lock after idle 5 minutes" in _text(compliance.report(session))

    settings.save(session, {keys.IDLE_MINUTES: "17", keys.QUICK_UNLOCK_HOURS: "0"})
    text = _text(compliance.report(session))

    assert "Automatic lock after idle 17 minutes" in text
    assert "Quick re-unlock off" in text


def test_a_user_without_totp_is_named(memory_vault, add_staff):
    session = memory_vault.created.session
    assert "every active user is enrolled" in _text(compliance.report(session))

    add_staff("Fran Desk", "front-desk", "246813")
    text = _text(compliance.report(session))

    assert "Active users without TOTP Fran Desk" in text
    assert "Fran Desk front-desk active NOT enrolled" in text


def test_a_tampered_chain_shows_in_the_report(memory_vault):
    session = memory_vault.created.session
    assert "chain intact" in _text(compliance.report(session))
    db = session.database()
    db.execute("DROP TRIGGER audit_log_no_update")
    db.execute("UPDATE audit_log SET action = 'forged' WHERE seq = 2")

    text = _text(compliance.report(session))

    assert "BROKEN at entry 2: edited" in text
    with pytest.raises(audit.AuditChainBroken):
        audit.verify(db, session.kept_head)


def test_backups_and_the_notes_scope_show(memory_vault, tmp_path):
    session = memory_vault.created.session
    assert "Backup passphrase NOT SET" in _text(compliance.report(session))

    backup.set_backup_passphrase(session, "correct horse battery staple")
    backup.create_backup(session, tmp_path / "one.dcrmbak")
    settings.save(session, {keys.PROVIDER_NOTES_SCOPE: "all"})
    text = _text(compliance.report(session))

    assert "Backup passphrase set" in text
    assert "Last backup result ok" in text
    assert "Provider notes scope all patients" in text


def test_no_patient_data_appears(memory_vault):
    session = memory_vault.created.session
    patients.create_patient(session, Patient(family="Zyxwvut", given="Qopon"))

    text = _text(compliance.report(session))

    assert "Zyxwvut" not in text and "Qopon" not in text


def test_audited_and_refused_without_the_permission(memory_vault, add_staff):
    session = memory_vault.created.session
    compliance.report(session)
    assert audit.entries(session.database(), limit=1)[0].action == "report.compliance"
    staff = add_staff("Fran Desk", "front-desk", "246813")
    desk = memory_vault.service.unlock(
        staff.name, staff.pin, memory_vault.code(staff.secret)
    )
    before = audit.entries(desk.database(), limit=1)[0].seq

    with pytest.raises(NotPermitted, match="reports.compliance"):
        compliance.report(desk)

    assert audit.entries(desk.database(), limit=1)[0].seq == before
    desk.lock()


def test_a_connected_vault_reports_its_sync_server(memory_vault):
    from support.sync_double import SyncServerDouble

    from desktop_crm.services import sync_service

    session = memory_vault.created.session
    server = SyncServerDouble(memory_vault.clock)
    sync_service.connect(
        memory_vault.service,
        session,
        "https://sync.example.test:8443",
        "AB:" * 31 + "AB",
        transport_factory=server.transport,
    )
    sync_service.sync_now(
        memory_vault.service, session, transport_factory=server.transport
    )

    text = _text(compliance.report(session))

    assert "https://sync.example.test:8443, TLS 1.2+, certificate pinned" in text
    assert "ab" * 32 in text.replace(" ", "").lower()
    assert "Last sync error none" in text
