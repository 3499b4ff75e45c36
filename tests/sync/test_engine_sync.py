"""Two vaults syncing through the in-memory test double of the sync server.

Each vault has its own in-memory keyring; they share one manual clock (and
the double uses it for pairing expiry).  What is checked: connect and join,
edits on each side converge, the same field changed on both sides keeps
both values visible, notes keep both versions, a delete against an edit is
flagged and the record kept, a record delivered twice changes nothing,
documents travel as blobs, and the server holds no patient value.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from pathlib import Path

import pytest
from support.sync_double import SyncServerDouble
from support.vault_fixtures import ADMIN, VaultHarness, make_vault

from desktop_crm.crypto import sync_keys, totp
from desktop_crm.crypto.primitives import DecryptionFailed
from desktop_crm.errors import AuthenticationFailed, InvalidInput, NotPermitted
from desktop_crm.platform.secret_store import MemorySecretStore
from desktop_crm.services import backup, patients, sync_service, users
from desktop_crm.services.clock import ManualClock
from desktop_crm.services.patient_model import Patient
from desktop_crm.services.session import Session
from desktop_crm.services.vault import TOTPEnrolmentRequired
from desktop_crm.storage import queries, sync_queries
from desktop_crm.storage.writepath import AuditEvent, Mutation
from desktop_crm.sync.engine import SyncEngine
from desktop_crm.sync.transport import NotAuthorized, ServerUnreachable, SyncError

URL = "https://sync.example.test:8443"
FINGERPRINT = "AB:" * 31 + "AB"
JOIN_PIN = "246813"
CANARY_FAMILY = "Zyxwquartz"
CANARY_NOTE = "canary-note-Qv7Lm2"


@dataclass
class Pair:
    server: SyncServerDouble
    clock: ManualClock
    a: VaultHarness
    sa: Session
    b_root: Path
    b_store: MemorySecretStore
    sb: Session
    recovery_key: str

    def sync_a(self) -> sync_service.SyncResult:
        self.clock.advance(1)
        return sync_service.sync_now(
            self.a.service, self.sa, transport_factory=self.server.transport
        )

    def sync_b(self) -> sync_service.SyncResult:
        self.clock.advance(1)
        service = sync_service.VaultService(self.b_root, self.b_store, self.clock)
        return sync_service.sync_now(
            service, self.sb, transport_factory=self.server.transport
        )

    def both(self) -> None:
        self.sync_a()
        self.sync_b()
        self.sync_a()


@pytest.fixture
def pair(tmp_path: Path) -> Pair:
    clock = ManualClock()
    server = SyncServerDouble(clock=clock.now)
    a = make_vault(tmp_path / "a", MemorySecretStore(), clock)
    sa = a.created.session
    sync_service.connect(
        a.service, sa, URL, FINGERPRINT, transport_factory=server.transport
    )
    code = sync_service.pair_code(a.service, sa, transport_factory=server.transport)
    sync_service.sync_now(a.service, sa, transport_factory=server.transport)
    b_store = MemorySecretStore()
    joined = sync_service.join(
        tmp_path / "b",
        b_store,
        code.code,
        ADMIN,
        JOIN_PIN,
        transport_factory=server.transport,
        clock=clock,
    )
    result = Pair(
        server,
        clock,
        a,
        sa,
        tmp_path / "b",
        b_store,
        joined.session,
        joined.recovery_key,
    )
    yield result
    result.sa.lock()
    result.sb.lock()


def new_patient(session: Session, family: str = "Rivera", **extra: str) -> str:
    return patients.create_patient(
        session,
        Patient(family=family, given="Ana", birth_date="1980-04-02", **extra),
        allow_duplicates=True,
    )


def edit(session: Session, patient_id: str, **changes: str) -> None:
    before = patients.load_patient(session, patient_id)
    patients.update_patient(session, patient_id, replace(before, **changes))


def row(session: Session, patient_id: str) -> dict | None:
    return sync_queries.row(session.database(), "patients", patient_id)


def conflicts(session: Session) -> list[sync_queries.ConflictRow]:
    return sync_queries.conflicts(session.database())


# -- connect and join ------------------------------------------------------------


def test_join_pulls_the_practice_and_sets_up_the_admin(pair: Pair):
    b = pair.sb

    assert b.user_name == ADMIN
    assert b.setting("practice.name", "") == pair.sa.setting("practice.name", "")
    assert b.vault_id != pair.sa.vault_id
    assert b.setting("vault.id", "") == b.vault_id
    assert pair.recovery_key.startswith("RK1-")
    token = pair.b_store.get(sync_service.token_name(b.vault_id))
    assert token and token not in json.dumps(sync_queries.state(b.database()))


def test_joined_admin_unlocks_with_new_pin_and_totp(pair: Pair, tmp_path: Path):
    service = sync_service.VaultService(pair.b_root, pair.b_store, pair.clock)
    secret = pair.sb.totp_secret
    pair.sb.lock()
    pair.clock.advance(totp.PERIOD)

    session = service.unlock(ADMIN, JOIN_PIN, totp.code_at(secret, pair.clock.now()))

    assert session.user_name == ADMIN
    pair.sb = session


def test_token_lives_in_the_keyring_not_the_database(pair: Pair):
    token = pair.a.store.get(sync_service.token_name(pair.sa.vault_id))
    db = pair.sa.database()
    dumped = json.dumps([list(r) for r in db.query("SELECT * FROM sync_state")])

    assert token
    assert token not in dumped


def test_pairing_code_is_single_use(pair: Pair, tmp_path: Path):
    code = sync_service.pair_code(
        pair.a.service, pair.sa, transport_factory=pair.server.transport
    )
    sync_service.join(
        tmp_path / "c",
        MemorySecretStore(),
        code.code,
        ADMIN,
        JOIN_PIN,
        transport_factory=pair.server.transport,
        clock=pair.clock,
    ).session.lock()

    with pytest.raises(NotAuthorized):
        sync_service.join(
            tmp_path / "d",
            MemorySecretStore(),
            code.code,
            ADMIN,
            JOIN_PIN,
            transport_factory=pair.server.transport,
            clock=pair.clock,
        )
    assert not (tmp_path / "d" / "vault.header").exists()


def test_pairing_code_expires_after_ten_minutes(pair: Pair, tmp_path: Path):
    code = sync_service.pair_code(
        pair.a.service, pair.sa, transport_factory=pair.server.transport
    )
    pair.clock.advance(601)

    with pytest.raises(NotAuthorized):
        sync_service.join(
            tmp_path / "c",
            MemorySecretStore(),
            code.code,
            ADMIN,
            JOIN_PIN,
            transport_factory=pair.server.transport,
            clock=pair.clock,
        )


def test_join_with_unknown_admin_leaves_no_vault(pair: Pair, tmp_path: Path):
    code = sync_service.pair_code(
        pair.a.service, pair.sa, transport_factory=pair.server.transport
    )

    with pytest.raises(InvalidInput, match="admin"):
        sync_service.join(
            tmp_path / "c",
            MemorySecretStore(),
            code.code,
            "Nobody",
            JOIN_PIN,
            transport_factory=pair.server.transport,
            clock=pair.clock,
        )
    assert not (tmp_path / "c" / "vault.db").exists()


def test_mistyped_pairing_code_is_refused_before_anything(tmp_path: Path):
    with pytest.raises(InvalidInput, match="pairing code"):
        sync_service.join(
            tmp_path / "c",
            MemorySecretStore(),
            "crm1-AAAAbroken",
            ADMIN,
            JOIN_PIN,
            transport_factory=SyncServerDouble(clock=lambda: 0.0).transport,
        )
    assert not (tmp_path / "c").exists()


@pytest.mark.parametrize("fingerprint", ["", "ab" * 31, "zz" * 32, "ab" * 32 + "00"])
def test_connect_refuses_a_bad_fingerprint(memory_vault: VaultHarness, fingerprint):
    server = SyncServerDouble(clock=memory_vault.clock.now)
    session = memory_vault.created.session

    with pytest.raises(InvalidInput) as caught:
        sync_service.connect(
            memory_vault.service,
            session,
            URL,
            fingerprint,
            transport_factory=server.transport,
        )

    assert caught.value.field == "fingerprint"
    assert not server.workstations
    assert sync_service.status(session).connected is False


@pytest.mark.parametrize(
    "url", ["http://sync.example.test", "ftp://x", "sync.example.test"]
)
def test_connect_refuses_a_plain_url(memory_vault: VaultHarness, url):
    server = SyncServerDouble(clock=memory_vault.clock.now)

    with pytest.raises(InvalidInput, match="server URL"):
        sync_service.connect(
            memory_vault.service,
            memory_vault.created.session,
            url,
            "ab" * 32,
            transport_factory=server.transport,
        )
    assert not server.workstations


def test_connect_needs_keys_manage(memory_vault: VaultHarness):
    session = memory_vault.created.session
    session.roles = ("front-desk",)
    server = SyncServerDouble(clock=memory_vault.clock.now)

    with pytest.raises(NotPermitted):
        sync_service.connect(
            memory_vault.service,
            session,
            URL,
            "ab" * 32,
            transport_factory=server.transport,
        )
    assert not server.workstations


# -- convergence ---------------------------------------------------------------------


def test_edits_on_each_side_converge(pair: Pair):
    from_a = new_patient(pair.sa, "Alvarez")
    pair.both()
    from_b = new_patient(pair.sb, "Baker")

    pair.both()
    edit(pair.sa, from_b, given="Beatriz")
    edit(pair.sb, from_a, pronouns="she/her")
    pair.both()

    for pid in (from_a, from_b):
        assert row(pair.sa, pid) == row(pair.sb, pid)
    assert row(pair.sb, from_b)["given"] == "Beatriz"
    assert row(pair.sa, from_a)["pronouns"] == "she/her"
    assert patients.search(pair.sb, "Alvarez")
    assert conflicts(pair.sa) == conflicts(pair.sb) == []


def test_patients_made_offline_on_both_sides_get_distinct_mrns(pair: Pair):
    from_a = new_patient(pair.sa, "Alvarez")
    from_b = new_patient(pair.sb, "Baker")

    pair.both()

    mrns = {row(pair.sa, from_a)["mrn"], row(pair.sa, from_b)["mrn"]}
    assert len(mrns) == 2 and all(len(m) == 12 for m in mrns)
    assert row(pair.sb, from_a)["mrn"] == row(pair.sa, from_a)["mrn"]
    assert not [c for c in conflicts(pair.sb) if c.field == "__unapplied__"]


def test_a_clashing_unique_value_is_kept_as_a_conflict_not_a_stop(pair: Pair):
    # An MRN typed in (or imported) on both workstations: the second insert
    # clashes; its values stay visible and sync goes on.
    from_a = new_patient(pair.sa, "Alvarez")
    on_b = new_patient(pair.sb, "Baker")
    pair.sb.write(
        AuditEvent("test.same_mrn", "patients", on_b),
        [Mutation("patients", on_b, "update", {"mrn": row(pair.sa, from_a)["mrn"]})],
    )

    pair.both()
    later = new_patient(pair.sa, "Castillo")
    pair.both()

    clashes = [c for c in conflicts(pair.sb) if c.field == "__unapplied__"]
    kept = [c for c in clashes if c.record_id == from_a]
    assert len(kept) == 1 and kept[0].lost_value["family"] == "Alvarez"
    assert row(pair.sb, later)["family"] == "Castillo"


def test_sync_counts_and_idle_round_changes_nothing(pair: Pair):
    new_patient(pair.sa)
    pushed = pair.sync_a()
    pulled = pair.sync_b()
    audit_before = pair.sb.database().scalar("SELECT count(*) FROM audit_log")

    idle = pair.sync_b()

    assert pushed.pushed >= 2 and pulled.pulled == pushed.pushed
    assert idle == sync_service.SyncResult(0, 0, 0)
    assert pair.sb.database().scalar("SELECT count(*) FROM audit_log") == audit_before


def test_applied_changes_are_not_sent_back(pair: Pair):
    new_patient(pair.sa)
    pair.sync_a()
    pair.sync_b()

    assert pair.sync_b().pushed == 0
    assert pair.sync_a().pulled == 0


def test_applied_change_is_audited_with_field_names_only(pair: Pair):
    pid = new_patient(pair.sa, CANARY_FAMILY)
    pair.sync_a()
    pair.sync_b()

    rows = pair.sb.database().query(
        "SELECT action, record_id, fields FROM audit_log WHERE action = 'sync.apply'"
    )
    assert any(r[1] == pid and "family" in json.loads(r[2]) for r in rows)
    assert CANARY_FAMILY not in json.dumps(rows)


def test_same_field_on_both_sides_keeps_both_values_visible(pair: Pair):
    pid = new_patient(pair.sa)
    pair.both()
    edit(pair.sa, pid, given="Anna")
    pair.clock.advance(5)
    edit(pair.sb, pid, given="Annie")

    pair.both()

    assert row(pair.sa, pid)["given"] == row(pair.sb, pid)["given"] == "Annie"
    for side in (pair.sa, pair.sb):
        found = [c for c in conflicts(side) if c.field == "given"]
        assert len(found) == 1
        assert found[0].kept_value == "Annie" and found[0].lost_value == "Anna"


def test_notes_keep_both_versions(pair: Pair):
    pid = new_patient(pair.sa)
    pair.both()
    edit(pair.sa, pid, notes="allergic to penicillin")
    pair.clock.advance(5)
    edit(pair.sb, pid, notes="prefers mornings")

    pair.both()

    merged_a, merged_b = row(pair.sa, pid)["notes"], row(pair.sb, pid)["notes"]
    assert merged_a == merged_b
    assert "allergic to penicillin" in merged_a and "prefers mornings" in merged_a
    assert merged_a.index("prefers mornings") < merged_a.index("allergic")


def test_delete_against_edit_keeps_the_record_and_flags_it(pair: Pair):
    pid = new_patient(pair.sa)
    ident = pair.sa.database().query(
        "SELECT id FROM patient_identifiers WHERE patient_id = ?", (pid,)
    )[0][0]
    pair.both()
    pair.sa.write(
        AuditEvent("test.delete"), [Mutation("patient_identifiers", ident, "delete")]
    )
    pair.clock.advance(5)
    pair.sb.write(
        AuditEvent("test.edit"),
        [Mutation("patient_identifiers", ident, "update", {"label": "Chart"})],
    )

    pair.both()
    pair.both()

    kept_a = sync_queries.row(pair.sa.database(), "patient_identifiers", ident)
    kept_b = sync_queries.row(pair.sb.database(), "patient_identifiers", ident)
    assert kept_a is not None and kept_a == kept_b
    assert kept_b["label"] == "Chart"
    for side in (pair.sa, pair.sb):
        assert any(c.field == "__deleted__" for c in conflicts(side))


def test_a_record_delivered_twice_changes_nothing(pair: Pair):
    pid = new_patient(pair.sa)
    pair.sync_a()
    pair.server.repeat_pulls = True
    pair.sync_b()
    edit(pair.sb, pid, given="Anita")
    pair.sync_b()
    snapshot = row(pair.sb, pid)
    # Every record once more, from the start.
    pair.sb.write(
        AuditEvent("test.rewind"),
        [Mutation("sync_state", "pull_cursor", "upsert", {"value": "0"})],
    )

    again = pair.sync_b()

    assert again.pulled == 0 and again.conflicts == 0
    assert row(pair.sb, pid) == snapshot
    assert conflicts(pair.sb) == []


def test_push_retry_after_lost_answer_is_harmless(pair: Pair):
    new_patient(pair.sa)
    engine = sync_service.engine_for(pair.a.service, pair.sa, pair.server.transport)
    before = sync_queries.state(pair.sa.database())
    pushed = engine.push()
    # The answer was lost: the positions go back and the same records go again.
    pair.sa.write(
        AuditEvent("test.rewind"),
        [
            Mutation("sync_state", k, "upsert", {"value": before[k]})
            for k in ("pushed_change", "push_seq")
        ],
    )
    held = len(pair.server.records)

    assert engine.push() == pushed
    assert len(pair.server.records) == held


def test_seq_numbers_are_gapless_from_one(pair: Pair):
    new_patient(pair.sa)
    pair.sa.write(
        AuditEvent("test.local"),
        [Mutation("settings", "vault.test", "upsert", {"value": "x"})],
    )
    new_patient(pair.sa, "Other")
    pair.sync_a()

    mine = sync_queries.state(pair.sa.database())["workstation_id"]
    seqs = [r[3] for r in pair.server.records if r[2] == mine]
    assert seqs == list(range(1, len(seqs) + 1))


def test_offline_edits_converge_when_the_server_returns(pair: Pair):
    pair.server.online = False
    pid = new_patient(pair.sa)

    with pytest.raises(ServerUnreachable):
        pair.sync_a()
    assert "reach" in sync_service.status(pair.sa).last_error
    assert sync_service.status(pair.sa).pending_changes > 0

    pair.server.online = True
    pair.both()
    assert row(pair.sb, pid) == row(pair.sa, pid)
    assert sync_service.status(pair.sa).last_error == ""


def test_documents_travel_as_sealed_blobs(pair: Pair):
    pid = new_patient(pair.sa)
    content = b"%PDF-1.4 canary-document-body " * 20
    import hashlib

    pair.sa.write(
        AuditEvent("test.document"),
        [
            Mutation(
                "documents",
                "doc-1",
                "insert",
                {
                    "patient_id": pid,
                    "filename": "scan.pdf",
                    "media_type": "application/pdf",
                    "size": len(content),
                    "sha256": hashlib.sha256(content).hexdigest(),
                    "content": content,
                    "created_at": "2027-01-01T00:00:00+00:00",
                },
            )
        ],
    )
    pair.both()

    assert sync_queries.document_content(pair.sb.database(), "doc-1") == content
    assert len(pair.server.blobs) == 1
    assert b"canary-document-body" not in pair.server.stored_bytes()


def test_server_holds_no_patient_value(pair: Pair):
    pid = new_patient(pair.sa, CANARY_FAMILY, notes=CANARY_NOTE)
    edit(pair.sa, pid, given="Quixotica")
    pair.both()

    stored = pair.server.stored_bytes()
    for canary in (CANARY_FAMILY, CANARY_NOTE, "Quixotica", "1980-04-02", ADMIN):
        assert canary.encode() not in stored
        assert canary.lower().encode() not in stored.lower()


def test_a_record_changed_on_the_server_stops_sync_clearly(pair: Pair):
    new_patient(pair.sa)
    pair.sync_a()
    cursor, practice, ws, seq, ct = pair.server.records[-1]
    pair.server.records[-1] = (cursor, practice, ws, seq, ct[:-1] + bytes([ct[-1] ^ 1]))

    with pytest.raises(SyncError, match="failed to open"):
        pair.sync_b()


def test_revoked_workstation_is_refused(pair: Pair):
    b_ws = sync_queries.state(pair.sb.database())["workstation_id"]

    sync_service.revoke(
        pair.a.service, pair.sa, b_ws, transport_factory=pair.server.transport
    )

    with pytest.raises(NotAuthorized):
        pair.sync_b()


def test_resolve_conflict_puts_the_lost_value_back_everywhere(pair: Pair):
    pid = new_patient(pair.sa)
    pair.both()
    edit(pair.sa, pid, given="Anna")
    pair.clock.advance(5)
    edit(pair.sb, pid, given="Annie")
    pair.both()
    found = next(c for c in conflicts(pair.sa) if c.field == "given")

    sync_service.resolve_conflict(pair.sa, found.id, "lost")
    pair.both()

    assert row(pair.sa, pid)["given"] == row(pair.sb, pid)["given"] == "Anna"
    assert not [c for c in conflicts(pair.sa) if c.field == "given"]


@pytest.mark.parametrize("keep", ["", "mine", "KEPT"])
def test_resolve_conflict_refuses_bad_choice(pair: Pair, keep):
    with pytest.raises(InvalidInput, match="keep"):
        sync_service.resolve_conflict(pair.sa, "anything", keep)


def test_resolve_unknown_conflict(pair: Pair):
    with pytest.raises(InvalidInput, match="conflict"):
        sync_service.resolve_conflict(pair.sa, "no-such-id", "kept")


def test_engine_refuses_an_unconnected_vault(memory_vault: VaultHarness):
    server = SyncServerDouble(clock=memory_vault.clock.now)

    with pytest.raises(SyncError, match="not connected"):
        SyncEngine(memory_vault.created.session, server.transport())


def test_status_reports_connection(pair: Pair):
    state = sync_service.status(pair.sa)

    assert state.connected and state.url == URL
    assert state.fingerprint == "ab" * 32
    assert state.open_conflicts == 0


# -- one authenticator entry per user across workstations -----------------------

FRONT_DESK = "Flo Frontdesk"
FRONT_PIN = "864209"
TEMP_PIN = "975310"


def b_service(pair: Pair) -> sync_service.VaultService:
    return sync_service.VaultService(pair.b_root, pair.b_store, pair.clock)


def code_for(pair: Pair, secret: str) -> str:
    pair.clock.advance(totp.PERIOD)
    return totp.code_at(secret, pair.clock.now())


def add_front_desk(pair: Pair) -> str:
    """Add a user on A, sync them to B and approve them there; their secret."""
    enrolment = users.add_user(
        pair.a.service, pair.sa, FRONT_DESK, "front-desk", FRONT_PIN
    )
    pair.both()
    approved = users.reset_user(b_service(pair), pair.sb, FRONT_DESK, TEMP_PIN)
    assert approved is None
    return enrolment.secret


def reenrol_on_a(pair: Pair) -> str:
    """An admin resets the front desk's authenticator on A; they set up a new one."""
    users.reset_totp(pair.a.service, pair.sa, FRONT_DESK)
    with pytest.raises(TOTPEnrolmentRequired) as issued:
        pair.a.service.unlock(FRONT_DESK, FRONT_PIN)
    new = issued.value.enrolment.secret
    pair.a.service.unlock(FRONT_DESK, FRONT_PIN, code_for(pair, new)).lock()
    pair.both()
    return new


def test_joined_admin_keeps_the_authenticator_entry(pair: Pair):
    assert pair.sb.totp_secret == pair.sa.totp_secret


def test_user_approved_on_a_joined_workstation_uses_the_same_entry(pair: Pair):
    secret = add_front_desk(pair)
    service = b_service(pair)

    first = service.unlock(FRONT_DESK, TEMP_PIN, code_for(pair, secret))
    assert first.must_change_pin
    assert users.change_own_pin(service, first, FRONT_PIN) is None
    first.lock()
    again = service.unlock(FRONT_DESK, FRONT_PIN, code_for(pair, secret))

    assert again.totp_secret == secret
    again.lock()


def test_approval_shows_the_admin_no_secret(pair: Pair):
    add_front_desk(pair)
    user = queries.user_by_name(pair.sb.database(), FRONT_DESK)

    assert user is not None and not user.needs_reset and user.must_change_pin
    entry = pair.sb.database().query(
        "SELECT outcome FROM audit_log WHERE action = 'user.reset' "
        "ORDER BY seq DESC LIMIT 1"
    )
    assert entry[0][0] == "approved"


def test_a_new_entry_made_on_one_workstation_works_on_the_other(pair: Pair):
    old = add_front_desk(pair)
    new = reenrol_on_a(pair)
    service = b_service(pair)
    with pytest.raises(AuthenticationFailed):
        service.unlock(FRONT_DESK, TEMP_PIN, code_for(pair, old))

    on_b = service.unlock(FRONT_DESK, TEMP_PIN, code_for(pair, new))
    assert users.change_own_pin(service, on_b, FRONT_PIN) is None
    on_b.lock()
    again = service.unlock(FRONT_DESK, FRONT_PIN, code_for(pair, new))

    assert again.totp_secret == new
    again.lock()


def test_an_entry_replaced_elsewhere_is_adopted_at_the_next_unlock(pair: Pair):
    old = add_front_desk(pair)
    service = b_service(pair)
    first = service.unlock(FRONT_DESK, TEMP_PIN, code_for(pair, old))
    users.change_own_pin(service, first, FRONT_PIN)
    first.lock()
    new = reenrol_on_a(pair)

    adopted = service.unlock(FRONT_DESK, FRONT_PIN, code_for(pair, new))

    assert adopted.totp_secret == new
    adopted.lock()
    with pytest.raises(AuthenticationFailed):
        service.unlock(FRONT_DESK, FRONT_PIN, code_for(pair, old))


def test_shared_secret_is_sealed_to_its_user(pair: Pair):
    add_front_desk(pair)
    db = pair.sb.database()
    front = queries.user_by_name(db, FRONT_DESK)
    admin = queries.user_by_name(db, ADMIN)
    assert front is not None and admin is not None
    sealed = queries.user_totp_sealed(db, front.id)
    assert sealed is not None and FRONT_DESK not in sealed
    key = bytes.fromhex(sync_queries.sync_key_hex(db) or "")
    practice = sync_queries.state(db)["practice_id"]

    with pytest.raises(DecryptionFailed):
        sync_keys.open_totp_secret(key, practice, admin.id, sealed)


def test_unconnected_vault_publishes_nothing(memory_vault: VaultHarness):
    session = memory_vault.created.session
    users.add_user(memory_vault.service, session, FRONT_DESK, "front-desk", FRONT_PIN)

    assert session.database().query("SELECT count(*) FROM user_totp")[0][0] == 0


# -- a restored vault rejoins as a new workstation ------------------------------


def restore_a(pair: Pair, tmp_path: Path) -> tuple[sync_service.VaultService, Session]:
    backup.set_backup_passphrase(pair.sa, "correct horse battery staple 42")
    made = tmp_path / "a.dcrmbak"
    backup.create_backup(pair.sa, made)
    store = MemorySecretStore()
    session, enrolment = backup.restore_backup(
        made,
        tmp_path / "restored",
        passphrase="correct horse battery staple 42",
        admin_name=ADMIN,
        new_pin=JOIN_PIN,
        secrets_store=store,
        clock=pair.clock,
    )
    assert enrolment.secret == pair.sa.totp_secret
    return sync_service.VaultService(tmp_path / "restored", store, pair.clock), session


def test_restored_vault_rejoins_and_reconciles(pair: Pair, tmp_path: Path):
    before = new_patient(pair.sa, "Before")
    pair.both()
    service, restored = restore_a(pair, tmp_path)
    after = new_patient(pair.sb, "After")
    offline = new_patient(restored, "Offline")
    with pytest.raises(SyncError, match="rejoin"):
        sync_service.sync_now(
            service, restored, transport_factory=pair.server.transport
        )
    code = sync_service.pair_code(
        b_service(pair), pair.sb, transport_factory=pair.server.transport
    )

    sync_service.rejoin(
        service, restored, code.code, transport_factory=pair.server.transport
    )
    pair.both()

    old_ws = sync_queries.state(pair.sa.database())["workstation_id"]
    assert sync_queries.state(restored.database())["workstation_id"] != old_ws
    assert row(restored, after) is not None and row(restored, before) is not None
    assert row(pair.sa, offline) is not None and row(pair.sb, offline) is not None
    front = [u for u in queries.all_users(pair.sb.database()) if u.name == ADMIN]
    assert front and front[0].active
    restored.lock()


def test_rejoin_refuses_another_practices_code(pair: Pair, tmp_path: Path):
    service, restored = restore_a(pair, tmp_path)
    other = SyncServerDouble(clock=pair.clock.now)
    c = make_vault(tmp_path / "c", MemorySecretStore(), pair.clock)
    sync_service.connect(
        c.service,
        c.created.session,
        URL,
        FINGERPRINT,
        transport_factory=other.transport,
    )
    code = sync_service.pair_code(
        c.service, c.created.session, transport_factory=other.transport
    )

    with pytest.raises(InvalidInput, match="another practice"):
        sync_service.rejoin(
            service, restored, code.code, transport_factory=other.transport
        )
    assert (
        sync_queries.state(restored.database())["workstation_id"]
        == (sync_queries.state(pair.sa.database())["workstation_id"])
    )
    restored.lock()
    c.created.session.lock()
