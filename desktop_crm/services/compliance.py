"""The compliance report: one PDF, made from the live vault, for the practice.

For each technical safeguard of the HIPAA Security Rule (45 CFR 164.312) and
each contingency-plan item of 164.308(a)(7) it says what the product does
and the vault's current state as read now: cipher, key-derivation cost,
users and their MFA enrolment, locking and lockout, backups and the last
verified restore drill, the audit chain.  It ends with what the practice
itself must still do.  Only facts about the vault and its staff users
appear: never a patient's data.

A broken audit chain or an unreadable setting is reported in the PDF, not
raised: the report is most needed when something is wrong.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from fpdf import FPDF
from fpdf.enums import XPos, YPos

from desktop_crm import __version__
from desktop_crm.crypto import kdf
from desktop_crm.errors import CRMError, InvalidInput
from desktop_crm.platform.atomic import atomic_write
from desktop_crm.services import attempts, backup, backup_schedule, break_glass
from desktop_crm.services import settings_keys as keys
from desktop_crm.services.backup_drill import DRILL_AT, DRILL_RESULT
from desktop_crm.services.exporting.pdf_summary import (
    FONT,
    _grid,
    _heading,
    _new_pdf,
)
from desktop_crm.services.roles import notes_scope
from desktop_crm.services.session import Session
from desktop_crm.services.status import vault_status
from desktop_crm.storage import audit, break_glass_queries, queries
from desktop_crm.storage.writepath import AuditEvent

log = logging.getLogger(__name__)

TITLE = "Security and compliance report"
Pairs = list[tuple[str, str]]


@dataclass
class Section:
    """One safeguard: its citation, what the product does, and the state now."""

    cite: str
    title: str
    does: str
    state: Pairs = field(default_factory=list)


# -- facts read from the vault -------------------------------------------------


def _kdf_text(params: kdf.KDFParams) -> str:
    return (
        f"Argon2id, {params.memory_kib // 1024} MiB memory"
        if params.memory_kib >= 1024
        else f"Argon2id, {params.memory_kib} KiB memory"
    ) + f", {params.iterations} passes, {params.lanes} lanes"


def _kdf_state(session: Session) -> Pairs:
    found = {slot.kdf for slot in session.header.slots.values()}
    floor = kdf.PRODUCTION
    weak = [
        p
        for p in found
        if p.memory_kib < floor.memory_kib or p.iterations < floor.iterations
    ]
    verdict = (
        "below the production floor (test setting): re-set PINs"
        if weak
        else "at or above the production floor"
    )
    shown = "; ".join(sorted(_kdf_text(p) for p in found)) or "no user slots"
    return [
        ("PIN key derivation", shown),
        ("Production floor", f"{_kdf_text(floor)}; slots are {verdict}"),
        ("Database key generation", str(session.header.dek_generation)),
    ]


def _cipher_state(session: Session) -> Pairs:
    facts = vault_status(session, "not asked")
    return [
        ("SQLCipher", facts.sqlcipher_version),
        ("Cipher", f"{facts.cipher}, HMAC {facts.hmac}, page {facts.page_size} B"),
        ("Crypto library", facts.openssl),
        ("Schema version", str(facts.schema_version)),
    ]


def _user_rows(session: Session) -> list[list[str]]:
    return [
        [
            u.name,
            ", ".join(u.roles),
            "active" if u.active else "deactivated",
            "enrolled" if u.totp_enrolled else "NOT enrolled",
            (u.last_unlock_at or "never")[:16].replace("T", " "),
        ]
        for u in queries.all_users(session.database())
    ]


def _user_summary(session: Session) -> Pairs:
    users = [u for u in queries.all_users(session.database()) if u.active]
    missing = [u.name for u in users if not u.totp_enrolled]
    return [
        ("Active users", str(len(users))),
        (
            "Active users without TOTP",
            ", ".join(missing) if missing else "none: every active user is enrolled",
        ),
    ]


def _locking_state(session: Session) -> Pairs:
    idle = session.setting(keys.IDLE_MINUTES, keys.DEFAULT_IDLE_MINUTES)
    quick = session.setting(keys.QUICK_UNLOCK_HOURS, keys.DEFAULT_QUICK_UNLOCK_HOURS)
    quick_text = "off" if quick in ("0", "") else f"{quick} hours (PIN only)"
    return [
        ("Automatic lock after idle", f"{idle} minutes"),
        ("Quick re-unlock", quick_text),
        (
            "Lockout",
            f"after {attempts.FREE_ATTEMPTS} failures each try waits "
            f"{attempts.FIRST_DELAY} s, doubling up to {attempts.MAX_DELAY // 60} min",
        ),
    ]


def _access_state(session: Session) -> Pairs:
    scope = notes_scope(session)
    unattended = "enabled" if session.header.unattended is not None else "off"
    return [
        ("Provider notes scope", "own patients" if scope == "own" else "all patients"),
        ("Unattended-task key", unattended),
    ]


def _emergency_state(session: Session) -> Pairs:
    waiting = break_glass_queries.unreviewed_count(session.database())
    return [
        ("Break-glass grant lasts", f"{break_glass.hours(session):g} h"),
        ("Grants awaiting review", str(waiting)),
        ("Recovery key", "issued (only its public half is kept in the vault)"),
    ]


def _audit_state(session: Session) -> Pairs:
    try:
        count = audit.verify(session.database(), session.kept_head)
    except audit.AuditChainBroken as exc:
        chain = f"BROKEN at entry {exc.seq}: {exc.reason}"
    except CRMError as exc:
        chain = f"could not be checked: {exc.message}"
    else:
        chain = f"{count} entries, chain intact"
    rows = [("Audit chain", chain)]
    if session.head_problem:
        rows.append(("Outside head marker", f"{session.head_problem} at this unlock"))
    else:
        rows.append(("Outside head marker", "present and matching at this unlock"))
    return rows


def _setting_or(session: Session, key: str, missing: str) -> str:
    value = session.setting(key, "")
    return value.replace("T", " ")[:19] if value else missing


def _backup_state(session: Session, now: float) -> Pairs:
    schedule = backup_schedule.get_schedule(session)
    schedule_text = (
        f"daily at {schedule.at} to {schedule.destination}; keep "
        f"{schedule.keep.daily} daily, {schedule.keep.weekly} weekly, "
        f"{schedule.keep.monthly} monthly"
        if schedule
        else "NOT SET"
    )
    key_set = bool(session.setting(backup.PUBLIC_KEY, ""))
    return [
        ("Backup passphrase", "set" if key_set else "NOT SET: backups cannot run"),
        ("Schedule", schedule_text),
        ("Last backup", _setting_or(session, backup.LAST_AT, "never")),
        ("Last backup result", session.setting(backup.LAST_RESULT, "none")),
        ("Last successful backup", _setting_or(session, backup.LAST_OK_AT, "never")),
        ("Last restore drill", _setting_or(session, DRILL_AT, "never")),
        ("Restore drill result", session.setting(DRILL_RESULT, "none")),
        ("Backup health", backup_schedule.backup_health(session, now).message),
    ]


def _smtp_state(session: Session) -> Pairs:
    host = session.setting("smtp.host", "")
    mode = session.setting("smtp.mode", "starttls")
    if not host:
        return [("Reminder e-mail (SMTP)", "not configured")]
    return [
        ("Reminder e-mail (SMTP)", f"{mode.upper()}, TLS 1.2+, certificate verified")
    ]


def _sync_state(session: Session) -> Pairs:
    from desktop_crm.services import sync_service

    state = sync_service.status(session)
    if not state.connected:
        return [("Sync", "not configured (this workstation works alone)")]
    return [
        ("Sync server", f"{state.url}, TLS 1.2+, certificate pinned"),
        ("Pinned certificate (SHA-256)", state.fingerprint),
        ("Last sync", state.last_sync_at or "never"),
        ("Last sync error", state.last_error or "none"),
    ]


# -- the sections --------------------------------------------------------------


def _access_sections(session: Session) -> list[Section]:
    return [
        Section(
            "164.312(a)(1)",
            "Access control",
            "Patient data is readable only inside an unlocked session. Each user "
            "holds roles (admin, provider, front desk, biller, auditor); every "
            "service action checks its permission (docs/permissions.md).",
            _access_state(session),
        ),
        Section(
            "164.312(a)(2)(i)",
            "Unique user identification",
            "Every user has their own name, PIN, TOTP secret and key slot; no "
            "shared logins. Audit entries name the user and workstation.",
            _user_summary(session),
        ),
        Section(
            "164.312(a)(2)(ii)",
            "Emergency access procedure",
            "Break-glass: a user states a reason to open one record for a limited "
            "time; it is audited and waits in a review queue for an admin. The "
            "recovery key opens the vault when the keyring or every PIN is lost.",
            _emergency_state(session),
        ),
        Section(
            "164.312(a)(2)(iii)",
            "Automatic logoff",
            "The session locks after the idle time set below, on demand and on "
            "user switch: the database closes and the key leaves memory.",
            _locking_state(session),
        ),
        Section(
            "164.312(a)(2)(iv)",
            "Encryption and decryption",
            "The database is encrypted with SQLCipher (AES-256) under a random "
            "256-bit key; that key is sealed per user and unwrapped with Argon2id "
            "of the PIN plus a device secret held in the OS keyring.",
            _cipher_state(session) + _kdf_state(session),
        ),
    ]


def _integrity_sections(session: Session) -> list[Section]:
    return [
        Section(
            "164.312(b)",
            "Audit controls",
            "Every view, change, export, login, failed login, lock, role change, "
            "break-glass, backup and restore is logged with time, user, "
            "workstation and record, never field values. Entries are hash-chained "
            "and the chain head is also kept outside the database.",
            _audit_state(session),
        ),
        Section(
            "164.312(c)(1), (c)(2)",
            "Integrity; mechanism to authenticate ePHI",
            "SQLCipher authenticates every database page with an HMAC, so any "
            "change made outside the application fails to read. Backups are "
            "AES-256-GCM in authenticated chunks; the audit chain shows edits.",
            [
                ("Page authentication", "HMAC on every page (see cipher above)"),
                ("Backup format", "AES-256-GCM chunks; reorder/truncation detected"),
            ],
        ),
        Section(
            "164.312(d)",
            "Person or entity authentication",
            "Unlock needs the user's PIN and a TOTP code (RFC 6238, replay refused); "
            "wrong attempts are slowed. Quick re-unlock (PIN only) is limited to "
            "the same user and workstation for the hours set.",
            _user_summary(session) + _locking_state(session)[1:],
        ),
        Section(
            "164.312(e)(1), (e)(2)(i)-(ii)",
            "Transmission security",
            "Reminder e-mail goes only over TLS 1.2 or newer with a verified "
            "certificate; backups are encrypted before they leave the vault. "
            "Sync uses TLS 1.2 or newer to a server whose certificate "
            "fingerprint is pinned, and every record and document is "
            "encrypted end to end with the practice sync key (AES-256-GCM) "
            "before it is sent.",
            [*_smtp_state(session), *_sync_state(session)],
        ),
    ]


def _contingency_sections(session: Session, now: float) -> list[Section]:
    backups = _backup_state(session, now)
    return [
        Section(
            "164.308(a)(7)(ii)(A)",
            "Data backup plan",
            "Scheduled, encrypted, self-contained backup files with daily, weekly "
            "and monthly retention; each file opens with the backup passphrase "
            "or the recovery key.",
            [*backups[:5], backups[7]],
        ),
        Section(
            "164.308(a)(7)(ii)(B)",
            "Disaster recovery plan",
            "Restore verifies a backup fully before touching anything and gives "
            "the restored vault a new id; the recovery key restores on a new "
            "machine. The written plan (who restores, where, from which copy) "
            "is the practice's.",
            backups[4:7],
        ),
        Section(
            "164.308(a)(7)(ii)(C)",
            "Emergency mode operation plan",
            "Break-glass keeps care going when the usual role is not at hand; the "
            "vault works offline on one laptop. How the practice works during an "
            "outage is its own plan.",
            _emergency_state(session)[:2],
        ),
        Section(
            "164.308(a)(7)(ii)(D)",
            "Testing and revision procedures",
            "After every scheduled backup a restore drill decrypts the new file "
            "into scratch and checks its integrity and row counts.",
            backups[5:7],
        ),
        Section(
            "164.308(a)(7)(ii)(E)",
            "Applications and data criticality analysis",
            "All patient data lives in this one encrypted vault and its backups; "
            "the practice decides how long it can work without it.",
            [("Vault", "one database file plus its key header (vault.header)")],
        ),
    ]


PRACTICE_DUTIES = (
    ("Policies and procedures", "Write and keep the security policies the Rule "
     "requires (164.316), including sanctions for staff who break them."),
    ("Risk analysis", "Carry out and document a risk analysis and a risk "
     "management plan (164.308(a)(1)); review them at least yearly."),
    ("Workforce training", "Train every user on PIN and TOTP care, locking "
     "the screen, break-glass use and phishing; keep a record of training."),
    ("Business associate agreements", "Sign BAAs with vendors that handle "
     "ePHI: the e-mail/SMTP provider used for reminders, the host of backup "
     "copies (cloud storage), and the sync host when sync is used."),
    ("Device and media controls", "Use full-disk encryption and OS account "
     "passwords on every workstation; wipe or destroy disks and backup media "
     "before reuse or disposal (164.310(d))."),
    ("Physical safeguards", "Control who can reach workstations and backup "
     "media; position screens away from patients and visitors (164.310)."),
    ("Offsite backup copies", "Keep at least one recent backup file away from "
     "the office, and the recovery key on paper in a safe place."),
    ("Review", "Have an admin review the audit log and the break-glass queue "
     "regularly, and deactivate users who leave the same day."),
)  # fmt: skip


# -- rendering -----------------------------------------------------------------


def sections(session: Session, now: float) -> list[Section]:
    """Every safeguard section with its state read from the vault now."""
    return (
        _access_sections(session)
        + _integrity_sections(session)
        + _contingency_sections(session, now)
    )


def _paragraph(pdf: FPDF, text: str) -> None:
    pdf.multi_cell(0, 5, text, align="L", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.ln(1)


def _facts(pdf: FPDF, rows: Pairs) -> None:
    """Label and value rows, left-aligned, labels in a narrower column."""
    with pdf.table(
        col_widths=(45, 125), first_row_as_headings=False, text_align="LEFT"
    ) as table:
        for label, value in rows:
            table.row((label, value))


def _section(pdf: FPDF, section: Section) -> None:
    _heading(pdf, f"{section.cite}  {section.title}")
    _paragraph(pdf, section.does)
    _facts(pdf, [(label, value or "none") for label, value in section.state])


def render(session: Session, generated: datetime) -> bytes:
    """The report's PDF bytes (no permission check, no audit)."""
    pdf = _new_pdf(generated)
    pdf.set_title(TITLE)
    pdf.set_font(FONT, "B", 16)
    pdf.cell(0, 10, TITLE, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.set_font(FONT, size=10)
    practice = session.setting(keys.PRACTICE_NAME, "")
    stamp = generated.strftime("%Y-%m-%d %H:%M UTC")
    for line in (
        practice,
        f"Vault {session.vault_id}; Desktop CRM {__version__}",
        f"Generated {stamp} by {session.user_name}",
        "HIPAA Security Rule, 45 CFR 164.312 technical safeguards and "
        "164.308(a)(7) contingency plan. No patient data appears here.",
    ):
        _paragraph(pdf, line)
    for section in sections(session, generated.timestamp()):
        _section(pdf, section)
    _heading(pdf, "Users")
    _grid(
        pdf,
        ("User", "Roles", "State", "TOTP", "Last unlock (UTC)"),
        _user_rows(session),
    )
    _heading(pdf, "What the practice must still do")
    _paragraph(
        pdf,
        "The product covers the technical safeguards above. These duties stay "
        "with the practice:",
    )
    _facts(pdf, list(PRACTICE_DUTIES))
    return bytes(pdf.output())


def report(session: Session, now: float | None = None) -> bytes:
    """Generate the compliance report from the live vault.

    Audited as ``report.compliance``.

    Raises:
        NotPermitted: the user lacks ``reports.compliance``.
    """
    session.require("reports.compliance")
    moment = session.clock.now() if now is None else now
    generated = datetime.fromtimestamp(moment, UTC)
    data = render(session, generated)
    session.write(AuditEvent("report.compliance", "report", None))
    log.info("compliance report generated (%d bytes)", len(data))
    return data


def save_report(session: Session, path: Path) -> Path:
    """Generate the report and write it to ``path`` whole (temp file, rename).

    Raises:
        NotPermitted: the user lacks ``reports.compliance``.
        InvalidInput: the file cannot be written there (named as ``file``).
    """
    data = report(session)
    try:
        atomic_write(path, data)
    except OSError as exc:
        raise InvalidInput(
            "file", f"cannot write {path.name} ({exc.strerror or 'error'})"
        ) from exc
    return path
