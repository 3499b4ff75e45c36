"""The whole permission matrix, through the service layer (issue #6).

For every role (each alone, plus ``admin,provider``) and every service
action in ``ACTIONS``, the action is called directly with a real unlocked
session on a real SQLCipher vault: a role holding the permission is allowed
(no ``NotPermitted``), any other is refused with ``NotPermitted`` naming the
missing permission, and on refusal the database, the vault header and the
files around it are unchanged.

Speed: one template vault per role is built once (users, a patient with a
document, appointments, a merge, a backup passphrase...) and each test runs
on its own copy of that folder, so allowed actions may change what they like.

Adding a permission to ``roles.PERMISSIONS`` makes
``test_every_permission_has_an_action`` fail until an action for it is in
``ACTIONS`` (or, while its service is being written, in ``PENDING``).
"""

from __future__ import annotations

import hashlib
import io
import json
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NamedTuple

import pytest
from support.vault_fixtures import ADMIN, ADMIN_PIN, make_vault

from desktop_crm.crypto import totp
from desktop_crm.errors import NotPermitted
from desktop_crm.platform.secret_store import MemorySecretStore
from desktop_crm.services import (
    audit_log,
    backup,
    backup_drill,
    backup_schedule,
    break_glass,
    compliance,
    documents,
    keys,
    patients,
    providers,
    settings,
    status,
    users,
)
from desktop_crm.services import settings_keys as setting_keys
from desktop_crm.services.clock import ManualClock
from desktop_crm.services.exporting import csv_export, fhir_export, pdf_summary
from desktop_crm.services.importing import csv_import, fhir
from desktop_crm.services.patient_model import Patient
from desktop_crm.services.roles import PERMISSIONS
from desktop_crm.services.scheduling import (
    appointments,
    calendar_export,
    communications,
    edits,
    reminders,
    smtp,
)
from desktop_crm.services.scheduling.model import AppointmentRequest
from desktop_crm.services.session import Session
from desktop_crm.services.vault import VaultService
from desktop_crm.storage.writepath import AuditEvent, Mutation

ROLE_SETS = ("admin", "provider", "front-desk", "biller", "auditor", "admin,provider")
USER, PIN = "Rory Role", "864200"
OTHER, OTHER_PIN = "Uma User", "975310"
PASSPHRASE = "correct horse battery staple"
ZONE = "America/Chicago"


# -- the vault each test runs on -------------------------------------------------


@dataclass
class Template:
    """A prepared vault folder for one role set, copied for every test."""

    root: Path
    keyring: dict[str, str]
    now: float
    user_secret: str
    admin_secret: str
    ids: dict[str, str]


@dataclass
class Ctx:
    """What an action needs: the session under test and the vault around it."""

    session: Session
    vault: VaultService
    store: MemorySecretStore
    clock: ManualClock
    tmp: Path
    ids: dict[str, str]
    admin_secret: str
    user_secret: str
    opened: list[Session] = field(default_factory=list)

    def admin(self) -> Session:
        """The setup admin (``admin,provider``), unlocked on the same copy."""
        self.clock.advance(totp.PERIOD)
        code = totp.code_at(self.admin_secret, self.clock.now())
        session = self.vault.unlock(ADMIN, ADMIN_PIN, code)
        self.opened.append(session)
        return session

    def reopen(self, _: object = None) -> None:
        """Unlock the role user again (after the admin changed the header)."""
        self.session.lock()
        self.clock.advance(totp.PERIOD)
        code = totp.code_at(self.user_secret, self.clock.now())
        self.session = self.vault.unlock(USER, PIN, code)


def _book(session: Session, patient_id: str, provider_id: str, **kw: Any) -> str:
    request = AppointmentRequest(
        patient_id, provider_id, datetime(2025, 4, 7, 9, 0), ZONE, 30, **kw
    )
    return appointments.book(session, request, allow_overlap=True)[0]


def _own_provider(session: Session, user_id: str | None) -> str | None:
    found = [p.id for p in providers.list_providers(session) if p.user_id == user_id]
    return found[0] if found else None


def _records(
    vault: VaultService, session: Session, ids: dict[str, str], user_id: str
) -> None:
    """Patients, a document, appointments, a merge and settings to act on."""
    ids["patient"] = patients.create_patient(session, Patient(family="Rivera"))
    ids["other"] = patients.create_patient(session, Patient(family="Okafor"))
    kept = patients.create_patient(session, Patient(family="Ngata"))
    retired = patients.create_patient(session, Patient(family="Ngata", given="K"))
    ids["merge"] = patients.merge(session, kept, retired)
    ids["document"] = documents.attach(
        session, ids["patient"], "letter.pdf", b"%PDF-1.4\n%%EOF\n"
    )
    # The role user's own provider row when they have one, so the reason of
    # this appointment is within a provider's own notes scope.
    provider = _own_provider(session, user_id) or _own_provider(
        session, session.user_id
    )
    assert provider is not None
    ids["provider"] = provider
    ids["appointment"] = _book(session, ids["patient"], provider, reason="grief")
    users.add_user(vault, session, OTHER, "front-desk", OTHER_PIN)
    pending = [_user_id(session, OTHER)]
    session.write(
        AuditEvent("test.setup", "settings", backup.PENDING_USERS),
        [
            Mutation(
                "settings",
                backup.PENDING_USERS,
                "upsert",
                {"value": json.dumps(pending)},
            )
        ],
    )
    backup.set_backup_passphrase(session, PASSPHRASE)


def _user_id(session: Session, name: str) -> str:
    return next(u.id for u in users.list_users(session) if u.name == name)


def _build(root: Path, roles: str) -> Template:
    store, clock = MemorySecretStore(), ManualClock()
    harness = make_vault(root / "vault", store, clock)
    session = harness.created.session
    enrolment = users.add_user(harness.service, session, USER, roles, PIN)
    providers.ensure_user_providers(session)
    ids: dict[str, str] = {}
    _records(harness.service, session, ids, _user_id(session, USER))
    session.lock()
    return Template(
        root / "vault",
        dict(store.values),
        clock.now(),
        enrolment.secret,
        harness.admin_secret,
        ids,
    )


_TEMPLATES: dict[str, Template] = {}


@pytest.fixture
def ctx(request, tmp_path_factory, tmp_path):
    roles = request.node.callspec.params["roles"]
    if roles not in _TEMPLATES:
        _TEMPLATES[roles] = _build(tmp_path_factory.mktemp("matrix"), roles)
    template = _TEMPLATES[roles]
    shutil.copytree(template.root, tmp_path / "vault")
    store = MemorySecretStore()
    store.values = dict(template.keyring)
    clock = ManualClock(template.now + totp.PERIOD)
    vault = VaultService(tmp_path / "vault", store, clock)
    code = totp.code_at(template.user_secret, clock.now())
    session = vault.unlock(USER, PIN, code)
    work = tmp_path / "work"
    work.mkdir()
    made = Ctx(
        session,
        vault,
        store,
        clock,
        work,
        dict(template.ids),
        template.admin_secret,
        template.user_secret,
    )
    yield made
    for opened in [made.session, *made.opened]:
        opened.lock()


# -- the actions -------------------------------------------------------------------


class Action(NamedTuple):
    """One service action: the permission it needs and how to call it.

    ``call(ctx, prepared)`` runs as the role under test; ``prepare(ctx)``, if
    given, runs first as the setup admin (and before the snapshot) to make
    what the action needs.  ``needs`` lists every permission the action
    checks, in the order it checks them, when that is more than one.
    """

    permission: str
    call: Callable[[Ctx, Any], object]
    prepare: Callable[[Ctx], Any] | None = None
    needs: tuple[str, ...] = ()


def _write_file(ctx: Ctx, name: str, text: str) -> Path:
    path = ctx.tmp / name
    path.write_text(text, encoding="utf-8")
    return path


_FHIR_BUNDLE = json.dumps(
    {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [
            {
                "resource": {
                    "resourceType": "Patient",
                    "id": "p1",
                    "name": [{"family": "Imported", "given": ["Ida"]}],
                }
            }
        ],
    }
)


def _reason(ctx: Ctx, _: object) -> object:
    """Reading a visit reason: the field is hidden without ``visits.notes``.

    (Through the unaudited list: ``get`` audits the view, which is no change
    of data but would blur the refused case's "nothing changed" check.)
    """
    listed = appointments.patient_appointments(ctx.session, ctx.ids["patient"])
    [shown] = [a for a in listed if a.id == ctx.ids["appointment"]]
    if shown.reason is None:
        raise NotPermitted("visits.notes")
    return shown.reason


def _made_backup(ctx: Ctx) -> backup.BackupResult:
    return backup.create_backup(ctx.admin(), ctx.tmp / "made", keep_content_key=True)


def _scheduled(ctx: Ctx) -> None:
    backup_schedule.set_schedule(
        ctx.admin(),
        backup_schedule.Schedule("02:00", ctx.tmp / "scheduled"),
        ctx.clock.now(),
    )
    (ctx.tmp / "scheduled").mkdir()


def _s(ctx: Ctx) -> Session:
    return ctx.session


def _i(ctx: Ctx, key: str) -> str:
    return ctx.ids[key]


ACTIONS: dict[str, Action] = {
    # -- patients (demographics) -----------------------------------------------
    "patients.open_patient": Action(
        "patients.read", lambda c, _: patients.open_patient(_s(c), _i(c, "patient"))
    ),
    "patients.count": Action("patients.read", lambda c, _: patients.count(_s(c))),
    "patients.page": Action("patients.read", lambda c, _: patients.page(_s(c), 0, 10)),
    "patients.search": Action(
        "patients.read", lambda c, _: patients.search(_s(c), "Rivera")
    ),
    "patients.history": Action(
        "patients.read", lambda c, _: patients.history(_s(c), _i(c, "patient"))
    ),
    "patients.merges_of": Action(
        "patients.read", lambda c, _: patients.merges_of(_s(c), _i(c, "patient"))
    ),
    "providers.list_providers": Action(
        "patients.read", lambda c, _: providers.list_providers(_s(c))
    ),
    "patients.create_patient": Action(
        "patients.write",
        lambda c, _: patients.create_patient(_s(c), Patient(family="Adeyemi")),
    ),
    "patients.update_patient": Action(
        "patients.write",
        lambda c, _: patients.update_patient(
            _s(c), _i(c, "patient"), Patient(family="Rivera", given="Ana")
        ),
    ),
    "providers.ensure_user_providers": Action(
        "patients.write", lambda c, _: providers.ensure_user_providers(_s(c))
    ),
    "patients.merge": Action(
        "patients.merge",
        lambda c, _: patients.merge(_s(c), _i(c, "patient"), _i(c, "other")),
    ),
    "patients.undo_merge": Action(
        "patients.merge", lambda c, _: patients.undo_merge(_s(c), _i(c, "merge"))
    ),
    # -- import and export -------------------------------------------------------
    "providers.upsert_practitioner": Action(
        "patients.import",
        lambda c, _: providers.upsert_practitioner(
            _s(c), "Lee", "Sam", "Dr Lee", "", [("urn:test", "lee")]
        ),
    ),
    "csv_import.save_mapping": Action(
        "patients.import",
        lambda c, _: csv_import.save_mapping(_s(c), "ours", {"family": "Last"}),
    ),
    "csv_import.load_saved_mappings": Action(
        "patients.import", lambda c, _: csv_import.load_saved_mappings(_s(c))
    ),
    "csv_import.import_csv": Action(
        "patients.import",
        lambda c, path: csv_import.import_csv(_s(c), path),
        prepare=lambda c: _write_file(c, "in.csv", "family,given\nDoe,Jane\n"),
    ),
    "fhir.import_fhir": Action(
        "patients.import",
        lambda c, path: fhir.import_fhir(_s(c), [path]),
        prepare=lambda c: _write_file(c, "in.json", _FHIR_BUNDLE),
    ),
    "fhir_export.patient_bundle": Action(
        "patients.export",
        lambda c, _: fhir_export.patient_bundle(_s(c), _i(c, "patient")),
    ),
    "csv_export.write_patients_csv": Action(
        "patients.export",
        lambda c, _: csv_export.write_patients_csv(_s(c), io.StringIO()),
        needs=("patients.export", "patients.read"),
    ),
    "pdf_summary.patient_pdf": Action(
        "patients.export",
        lambda c, _: pdf_summary.patient_pdf(_s(c), _i(c, "patient")),
    ),
    # -- documents ---------------------------------------------------------------
    "documents.attach": Action(
        "documents.write",
        lambda c, _: documents.attach(
            _s(c), _i(c, "patient"), "b.pdf", b"%PDF-1.4\n%%EOF\n"
        ),
    ),
    "documents.list_documents": Action(
        "documents.read",
        lambda c, _: documents.list_documents(_s(c), _i(c, "patient")),
    ),
    "documents.open_document": Action(
        "documents.read",
        lambda c, _: documents.open_document(_s(c), _i(c, "document")),
    ),
    "documents.save_document": Action(
        "documents.read",
        lambda c, _: documents.save_document(
            _s(c), _i(c, "document"), c.tmp / "saved.pdf"
        ),
    ),
    # -- scheduling --------------------------------------------------------------
    "appointments.between": Action(
        "appointments.read",
        lambda c, _: appointments.between(
            _s(c), datetime(2025, 4, 1, tzinfo=UTC), datetime(2025, 5, 1, tzinfo=UTC)
        ),
    ),
    "appointments.get": Action(
        "appointments.read",
        lambda c, _: appointments.get(_s(c), _i(c, "appointment")),
    ),
    "appointments.patient_appointments": Action(
        "appointments.read",
        lambda c, _: appointments.patient_appointments(_s(c), _i(c, "patient")),
    ),
    "reminders.for_appointment": Action(
        "appointments.read",
        lambda c, _: reminders.for_appointment(_s(c), _i(c, "appointment")),
    ),
    "appointments.reason": Action(
        "visits.notes", _reason, needs=("appointments.read", "visits.notes")
    ),
    "appointments.book": Action(
        "appointments.write",
        lambda c, _: _book(_s(c), _i(c, "other"), _i(c, "provider")),
    ),
    "edits.set_status": Action(
        "appointments.write",
        lambda c, _: edits.set_status(_s(c), _i(c, "appointment"), "arrived"),
    ),
    "edits.cancel": Action(
        "appointments.write",
        lambda c, _: edits.cancel(_s(c), _i(c, "appointment"), "patient unwell"),
    ),
    "edits.reschedule": Action(
        "appointments.write",
        lambda c, _: edits.reschedule(
            _s(c), _i(c, "appointment"), datetime(2025, 4, 8, 10, 0)
        ),
    ),
    "communications.log_communication": Action(
        "communications.write",
        lambda c, _: communications.log_communication(
            _s(c), communications.Communication(_i(c, "patient"), "call", "in")
        ),
    ),
    "communications.for_patient": Action(
        "communications.read",
        lambda c, _: communications.for_patient(_s(c), _i(c, "patient")),
    ),
    "reminders.run": Action(
        "reminders.run", lambda c, _: reminders.run(_s(c), c.store, clock=c.clock)
    ),
    "calendar_export.provider_calendar": Action(
        "calendar.export",
        lambda c, _: calendar_export.provider_calendar(_s(c), _i(c, "provider")),
    ),
    # -- practice administration -------------------------------------------------
    "users.add_user": Action(
        "users.manage",
        lambda c, _: users.add_user(c.vault, _s(c), "Nia New", "biller", "112358"),
    ),
    "users.reset_user": Action(
        "users.manage",
        lambda c, _: users.reset_user(c.vault, _s(c), OTHER, "314159"),
    ),
    "backup.confirm_user": Action(
        "users.manage", lambda c, _: backup.confirm_user(_s(c), OTHER)
    ),
    "settings.save": Action(
        "settings.manage",
        lambda c, _: settings.save(_s(c), {setting_keys.IDLE_MINUTES: "12"}),
    ),
    "smtp.save_config": Action(
        "settings.manage",
        lambda c, _: smtp.save_config(
            _s(c),
            smtp.SMTPConfig(
                "smtp.example.org", 587, "starttls", "desk", "clinic@example.org"
            ),
            c.store,
            password="app-password",
        ),
    ),
    "reminders.save_settings": Action(
        "settings.manage",
        lambda c, _: reminders.save_settings(_s(c), offsets_hours="24"),
    ),
    "keys.rotate_dek": Action(
        "keys.manage", lambda c, _: keys.rotate_dek(c.vault, _s(c))
    ),
    "keys.new_recovery_key": Action(
        "keys.manage", lambda c, _: keys.new_recovery_key(c.vault, _s(c))
    ),
    "keys.enable_unattended": Action(
        "keys.manage", lambda c, _: keys.enable_unattended(c.vault, _s(c))
    ),
    "keys.disable_unattended": Action(
        "keys.manage",
        lambda c, _: keys.disable_unattended(c.vault, _s(c)),
        prepare=lambda c: c.reopen(keys.enable_unattended(c.vault, c.admin())),
    ),
    "status.vault_status": Action(
        "vault.status", lambda c, _: status.vault_status(_s(c), "memory")
    ),
    # -- backups -----------------------------------------------------------------
    "backup.create_backup": Action(
        "backup.create", lambda c, _: backup.create_backup(_s(c), c.tmp / "b.dcrmbak")
    ),
    "backup_drill.run_drill": Action(
        "backup.create",
        lambda c, made: backup_drill.run_drill(_s(c), made, c.clock.now()),
        prepare=_made_backup,
    ),
    "backup_schedule.run_scheduled": Action(
        "backup.create",
        lambda c, _: backup_schedule.run_scheduled(_s(c), c.clock.now(), force=True),
        prepare=_scheduled,
    ),
    "backup.set_backup_passphrase": Action(
        "backup.manage",
        lambda c, _: backup.set_backup_passphrase(_s(c), "another long passphrase"),
    ),
    "backup_schedule.set_schedule": Action(
        "backup.manage",
        lambda c, _: backup_schedule.set_schedule(
            _s(c), backup_schedule.Schedule("03:00", c.tmp), c.clock.now()
        ),
    ),
    "backup_schedule.clear_schedule": Action(
        "backup.manage",
        lambda c, _: backup_schedule.clear_schedule(_s(c)),
        prepare=_scheduled,
    ),
    # -- audit, break-glass and reports ------------------------------------------
    "compliance.report": Action(
        "reports.compliance", lambda c, _: compliance.report(_s(c))
    ),
    "audit_log.page": Action(
        "audit.read", lambda c, _: audit_log.page(_s(c), audit_log.AuditQuery())
    ),
    "audit_log.count": Action(
        "audit.read", lambda c, _: audit_log.count(_s(c), audit_log.AuditQuery())
    ),
    "audit_log.accounting": Action(
        "audit.read", lambda c, _: audit_log.accounting(_s(c), _i(c, "patient"))
    ),
    "audit_log.user_names": Action(
        "audit.read", lambda c, _: audit_log.user_names(_s(c))
    ),
    "audit_log.write_csv": Action(
        "audit.export",
        lambda c, _: audit_log.write_csv(_s(c), audit_log.AuditQuery(), io.StringIO()),
        needs=("audit.read", "audit.export"),
    ),
    "audit_log.export_pdf": Action(
        "audit.export",
        lambda c, _: audit_log.export_pdf(_s(c), audit_log.AuditQuery()),
        needs=("audit.read", "audit.export"),
    ),
    "break_glass.review_queue": Action(
        "break_glass.review", lambda c, _: break_glass.review_queue(_s(c))
    ),
    "break_glass.waiting_count": Action(
        "break_glass.review", lambda c, _: break_glass.waiting_count(_s(c))
    ),
    "users.change_roles": Action(
        "users.manage",
        lambda c, _: users.change_roles(c.vault, _s(c), OTHER, "biller"),
    ),
    "users.deactivate_user": Action(
        "users.manage", lambda c, _: users.deactivate_user(c.vault, _s(c), OTHER)
    ),
    "users.reset_totp": Action(
        "users.manage", lambda c, _: users.reset_totp(c.vault, _s(c), OTHER)
    ),
    "users.unlock_user": Action(
        "users.manage", lambda c, _: users.unlock_user(c.vault, _s(c), OTHER)
    ),
}

#: Permissions whose service actions other engineers are writing right now
#: (issue #6).  Each must leave this set in the same change that adds its
#: action to ACTIONS; ``test_pending_permissions_have_no_action_yet`` fails
#: otherwise, and any other permission without an action fails at once.
PENDING: dict[str, str] = {}


# -- the tests ---------------------------------------------------------------------


def test_every_permission_has_an_action():
    covered = {action.permission for action in ACTIONS.values()}
    missing = set(PERMISSIONS) - covered - set(PENDING)
    assert not missing, f"add an action to ACTIONS for: {sorted(missing)}"


def test_pending_permissions_have_no_action_yet():
    covered = {action.permission for action in ACTIONS.values()}
    assert not covered & set(PENDING), "now covered: remove it from PENDING"
    assert set(PENDING) <= set(PERMISSIONS)


def _roles_of(roles: str) -> set[str]:
    return set(roles.split(","))


def _missing(action: Action, roles: str) -> str | None:
    """The permission the role set lacks first, in the action's check order."""
    for permission in action.needs or (action.permission,):
        if not PERMISSIONS[permission] & _roles_of(roles):
            return permission
    return None


def _snapshot(ctx: Ctx) -> tuple[str, bytes, list[str]]:
    """A digest of every table, the header's bytes and the files made."""
    db = ctx.session.database()
    digest = hashlib.sha256()
    tables = db.query("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY 1")
    for (table,) in tables:
        rows = sorted(repr(r) for r in db.query(f'SELECT * FROM "{table}"'))
        digest.update(f"{table}:{len(rows)}:{''.join(rows)}".encode())
    header = ctx.vault.files.header.read_bytes()
    made = sorted(str(p.relative_to(ctx.tmp)) for p in ctx.tmp.rglob("*"))
    return digest.hexdigest(), header, made


@pytest.mark.parametrize("name", sorted(ACTIONS))
@pytest.mark.parametrize("roles", ROLE_SETS)
def test_matrix(ctx, roles, name):
    action = ACTIONS[name]
    prepared = action.prepare(ctx) if action.prepare else None
    missing = _missing(action, roles)
    if missing is None:
        action.call(ctx, prepared)  # allowed: no NotPermitted
        return
    before = _snapshot(ctx)
    with pytest.raises(NotPermitted) as caught:
        action.call(ctx, prepared)
    assert missing in caught.value.message
    assert _snapshot(ctx) == before
