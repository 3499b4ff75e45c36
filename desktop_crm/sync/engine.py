"""The workstation's sync engine: push local changes, pull and merge remote ones.

Push reads ``change_log`` after the last pushed entry, turns each entry into
one record (JSON: stamp, device, record type and id, operation, fields,
values, and per field the stamp of the value it replaced), seals it under
the practice's record key with the next number of this workstation's own
gapless sequence, uploads the documents it names first, then the records.

Pull pages through every record after the last cursor, skips this
workstation's own, opens each and merges it per field by hybrid logical
clock (see ``_Merge``).  A remote change is written through the write path
(audited as ``sync.apply`` with field names only) but makes no change record,
so it is never sent back out.  Every applied record is noted in
``sync_inbox`` in the same transaction: a record delivered twice changes
nothing.
"""

from __future__ import annotations

import hashlib
import json
import logging
import uuid
from dataclasses import dataclass, field, replace
from typing import Any

from desktop_crm.crypto.sync_keys import DecryptionFailed, SyncKeys
from desktop_crm.services.clock import iso
from desktop_crm.services.session import Session
from desktop_crm.storage import sync_queries
from desktop_crm.storage.sync_queries import DELETED, ChangeRow
from desktop_crm.storage.tables import TABLES
from desktop_crm.storage.writepath import AuditEvent, Mutation, commit
from desktop_crm.sync.transport import SyncError, Transport

log = logging.getLogger(__name__)

RECORD_VERSION = 1
PAGE = 500

#: Settings that belong to one vault or workstation, never synced.
LOCAL_SETTING_PREFIXES = (
    "vault.",
    "unattended.",
    "restore.",
    "backup.last",
    "backup.schedule.",
    "user.totp_reset.",
    "sync.",
)
#: Columns bound to this workstation's key slots and unlocks, never synced.
LOCAL_FIELDS: dict[str, frozenset[str]] = {
    "users": frozenset(
        {
            "must_change_pin",
            "totp_enrolled",
            "needs_reset",
            "last_totp_step",
            "last_unlock_at",
        }
    ),
}
NOTE_FIELDS = frozenset({"note", "notes"})
#: The conflict "field" of a remote change that could not be applied at all.
UNAPPLIED = "__unapplied__"
NOTE_SEPARATOR = "\n\n--- conflicting version from another workstation ({}) ---\n"

# sync_state keys
URL = "url"
FINGERPRINT = "fingerprint"
PRACTICE_ID = sync_queries.PRACTICE_ID
WORKSTATION_ID = sync_queries.WORKSTATION_ID
PUSHED_CHANGE = "pushed_change"
PUSH_SEQ = "push_seq"
PULL_CURSOR = "pull_cursor"
LAST_SYNC_AT = "last_sync_at"
LAST_ERROR = "last_error"


@dataclass(frozen=True)
class SyncResult:
    pushed: int
    pulled: int
    conflicts: int


def is_local_setting(key: str) -> bool:
    return key.startswith(LOCAL_SETTING_PREFIXES)


def _json_value(value: Any) -> Any:
    if isinstance(value, bytes | bytearray):
        return hashlib.sha256(value).hexdigest()
    return value


def _clock_id(record_type: str, record_id: str, name: str) -> str:
    return f"{record_type}\x1f{record_id}\x1f{name}"


def state_mutations(values: dict[str, str]) -> list[Mutation]:
    return [
        Mutation("sync_state", k, "upsert", {"value": v}) for k, v in values.items()
    ]


class SyncEngine:
    """Push and pull for one unlocked session through one transport."""

    def __init__(self, session: Session, transport: Transport, page: int = PAGE):
        self.session = session
        self.transport = transport
        self.page = page
        db = session.database()
        state = sync_queries.state(db)
        key_hex = sync_queries.sync_key_hex(db)
        if key_hex is None or PRACTICE_ID not in state:
            raise SyncError("this vault is not connected to a sync server")
        self.practice_id = state[PRACTICE_ID]
        self.workstation_id = state[WORKSTATION_ID]
        self.keys = SyncKeys.derive(bytes.fromhex(key_hex), self.practice_id)
        newest = sync_queries.newest_field_clock(db)
        if newest is not None:
            # Stamps applied from elsewhere are not in change_log, which the
            # clock was started from: move past them.
            session.actor.clock.observe(newest)

    # -- state -------------------------------------------------------------------
    def _state(self) -> dict[str, str]:
        return sync_queries.state(self.session.database())

    def _write(
        self,
        event: AuditEvent,
        mutations: list[Mutation],
        *,
        record: bool = False,
        extra_events: list[AuditEvent] | None = None,
    ) -> None:
        commit(
            self.session.database(),
            self.session.actor,
            event,
            mutations,
            extra_events or (),
            record_changes=record,
        )

    # -- push ----------------------------------------------------------------------
    def push(self) -> int:
        """Send every local change not sent yet; returns the records sent."""
        sent = 0
        while True:
            state = self._state()
            after = int(state.get(PUSHED_CHANGE, "0"))
            seq = int(state.get(PUSH_SEQ, "0"))
            rows = sync_queries.changes_after(self.session.database(), after, self.page)
            if not rows:
                return sent
            records: list[tuple[int, bytes]] = []
            blobs: dict[str, bytes] = {}
            for row in rows:
                record = self._record(row, blobs)
                if record is None:
                    continue
                seq += 1
                plain = json.dumps(record, sort_keys=True, separators=(",", ":"))
                records.append(
                    (
                        seq,
                        self.keys.seal_record(self.workstation_id, seq, plain.encode()),
                    )
                )
            for blob_id, content in blobs.items():
                self.transport.put_blob(blob_id, self.keys.seal_blob(blob_id, content))
            if records:
                self.transport.push(records)
            self._write(
                AuditEvent("sync.push", outcome=f"{len(records)} records"),
                state_mutations({PUSHED_CHANGE: str(rows[-1].seq), PUSH_SEQ: str(seq)}),
            )
            sent += len(records)

    def _record(self, row: ChangeRow, blobs: dict[str, bytes]) -> dict[str, Any] | None:
        spec = TABLES.get(row.record_type)
        if spec is None or not spec.synced:
            return None
        if row.record_type == "settings" and is_local_setting(row.record_id):
            return None
        local = LOCAL_FIELDS.get(row.record_type, frozenset())
        values = {k: v for k, v in row.data.items() if k not in local}
        if row.op != "delete" and not values:
            return None
        blob_fields = sorted(spec.bulk & set(values))
        for name in blob_fields:
            values[name] = self._blob_for(row, name, blobs)
        return {
            "v": RECORD_VERSION,
            "hlc": row.hlc,
            "device": row.device_id,
            "type": row.record_type,
            "id": row.record_id,
            "op": row.op,
            "fields": sorted(values),
            "values": values,
            "base": self._base(row, values),
            "blobs": blob_fields,
        }

    def _blob_for(self, row: ChangeRow, name: str, blobs: dict[str, bytes]) -> str:
        digest = str(row.data[name])
        blob_id = self.keys.blob_id(bytes.fromhex(digest))
        if row.record_type == "documents" and name == "content":
            content = sync_queries.document_content(
                self.session.database(), row.record_id
            )
            if content is not None and hashlib.sha256(content).hexdigest() == digest:
                blobs[blob_id] = content
        return blob_id

    def _base(self, row: ChangeRow, values: dict[str, Any]) -> dict[str, str]:
        """Per field, the stamp of the value this change replaced here."""
        db = self.session.database()
        prior = sync_queries.local_field_stamps(
            db, row.record_type, row.record_id, before_seq=row.seq
        )
        # A value applied from elsewhere before this change has an older stamp
        # (a newer one would have been applied after it).
        for name, stamp in sync_queries.field_clocks(
            db, row.record_type, row.record_id
        ).items():
            if stamp < row.hlc and stamp > prior.get(name, ""):
                prior[name] = stamp
        if row.op == "delete":
            return {"*": max(prior.values(), default="")}
        return {name: prior[name] for name in values if name in prior}

    # -- pull --------------------------------------------------------------------------
    def pull(self) -> tuple[int, int]:
        """Apply every remote record not applied yet; returns (applied, conflicts)."""
        applied = conflicts = 0
        while True:
            cursor = int(self._state().get(PULL_CURSOR, "0"))
            page = self.transport.pull(cursor, self.page)
            group = _Group(self, cursor)
            with self.session.batch():
                for remote in page.records:
                    if remote.workstation_id != self.workstation_id:
                        self._apply_remote(remote, group)
                group.flush(page.next)
            applied += group.applied
            conflicts += group.conflicts
            if not page.more or page.next == cursor:
                return applied, conflicts

    def _apply_remote(self, remote: Any, group: _Group) -> None:
        """Merge one record into ``group`` unless it was applied already."""
        inbox_id = f"{remote.workstation_id}:{remote.seq}"
        db = self.session.database()
        if inbox_id in group.inbox_ids or sync_queries.applied(db, inbox_id):
            return
        try:
            plain = self.keys.open_record(
                remote.workstation_id, remote.seq, remote.ciphertext
            )
            change = json.loads(plain)
        except (DecryptionFailed, ValueError):
            raise SyncError(
                "a record from the sync server failed to open: it was changed or "
                "is not from this practice (sync stopped; nothing was applied)"
            ) from None
        self.session.actor.clock.observe(change["hlc"])
        merge = _Merge(self, change, inbox_id, remote.workstation_id)
        if (merge._type, merge._id) in group.keys:
            # The merge reads what this record holds now: write the earlier
            # change to it first.
            group.flush(group.cursor)
        merge.run()
        group.add(merge, remote.cursor)

    # -- both ---------------------------------------------------------------
    def sync_now(self) -> SyncResult:
        """Push, then pull; the outcome (or error) is kept in sync_state."""
        try:
            pushed = self.push()
            pulled, conflicts = self.pull()
        except SyncError as exc:
            self._note({LAST_ERROR: exc.message})
            raise
        self._note({LAST_ERROR: "", LAST_SYNC_AT: iso(self.session.clock.now())})
        return SyncResult(pushed, pulled, conflicts)

    def _note(self, values: dict[str, str]) -> None:
        state = self._state()
        changed = {k: v for k, v in values.items() if state.get(k) != v}
        if LAST_SYNC_AT in changed and set(changed) == {LAST_SYNC_AT}:
            # An idle round: note the time at most every five minutes, so a
            # sync every minute does not fill the audit log.
            last = state.get(LAST_SYNC_AT)
            if last and _seconds_between(last, changed[LAST_SYNC_AT]) < 300:
                return
        if changed:
            self._write(AuditEvent("sync.state"), state_mutations(changed))


def _seconds_between(first: str, second: str) -> float:
    from desktop_crm.services.clock import from_iso

    return from_iso(second) - from_iso(first)


@dataclass
class _Merge:
    """One remote record merged into this vault, field by field.

    A field takes the remote value when its stamp is newer than the stamp of
    the value held here (local change or earlier remote one).  When the two
    changes were concurrent (the remote's base is older than the value held
    here, or the held value is the newer one and the remote never saw it) and
    the values differ, a conflict keeps the losing value visible.  Note
    fields are never overwritten by a conflict: both versions stay in the
    field, the newer first.  A delete against a concurrent edit keeps the
    record, flags it and sends the record out again.
    """

    engine: SyncEngine
    change: dict[str, Any]
    inbox_id: str
    source: str
    mutations: list[Mutation] = field(default_factory=list)
    conflicts: int = 0
    resurrect: dict[str, Any] | None = None

    @property
    def _type(self) -> str:
        return str(self.change["type"])

    @property
    def _id(self) -> str:
        return str(self.change["id"])

    def run(self) -> int:
        db = self.engine.session.database()
        spec = TABLES.get(self._type)
        skip = spec is None or not spec.synced
        skip = skip or (self._type == "settings" and is_local_setting(self._id))
        if not skip:
            current = sync_queries.row(db, self._type, self._id)
            stamps = sync_queries.local_field_stamps(db, self._type, self._id)
            for name, stamp in sync_queries.field_clocks(
                db, self._type, self._id
            ).items():
                stamps[name] = max(stamps.get(name, ""), stamp)
            if self.change["op"] == "delete":
                self._delete(current, stamps)
            else:
                self._upsert(current, stamps)
        return self.conflicts

    # -- writes --------------------------------------------------------------
    def _clock(self, name: str, stamp: str) -> None:
        self.mutations.append(
            Mutation(
                "field_clock",
                _clock_id(self._type, self._id, name),
                "upsert",
                {
                    "record_type": self._type,
                    "record_id": self._id,
                    "field": name,
                    "hlc": stamp,
                },
            )
        )

    def _conflict(
        self, name: str, kept: tuple[Any, str], lost: tuple[Any, str, str]
    ) -> None:
        self.conflicts += 1
        self.mutations.append(
            Mutation(
                "sync_conflicts",
                str(uuid.uuid4()),
                "insert",
                {
                    "record_type": self._type,
                    "record_id": self._id,
                    "field": name,
                    "kept_value": json.dumps(_json_value(kept[0])),
                    "kept_hlc": kept[1],
                    "lost_value": json.dumps(_json_value(lost[0])),
                    "lost_hlc": lost[1],
                    "lost_device": lost[2],
                    "created_at": iso(self.engine.session.clock.now()),
                },
            )
        )

    def _inbox(self) -> Mutation:
        return Mutation(
            "sync_inbox",
            self.inbox_id,
            "insert",
            {
                "workstation_id": self.source,
                "seq": int(self.inbox_id.rsplit(":", 1)[1]),
                "hlc": self.change["hlc"],
                "applied_at": iso(self.engine.session.clock.now()),
            },
        )

    def writes(self) -> list[Mutation]:
        """Every row this record writes, its inbox entry last."""
        return [*self.mutations, self._inbox()]

    def event(self) -> AuditEvent:
        """Its ``sync.apply`` audit entry (field names only)."""
        names = sorted(
            {n for m in self.mutations if m.table == self._type for n in m.values}
        )
        return AuditEvent("sync.apply", self._type, self._id, fields=tuple(names))

    def commit(self) -> None:
        """Write this record on its own (a clash becomes a conflict)."""
        try:
            self.engine._write(self.event(), self.writes())
        except sync_queries.integrity_error():
            # The row clashes with a local one (a unique value such as an MRN
            # given out on both workstations): keep the remote values visible
            # as a conflict instead of stopping sync for good.
            log.warning("a remote %s change clashed with a local row", self._type)
            self.mutations, self.conflicts, self.resurrect = [], 0, None
            self._conflict(
                UNAPPLIED,
                (None, ""),
                (
                    self.change.get("values"),
                    str(self.change["hlc"]),
                    str(self.change["device"]),
                ),
            )
            self.engine._write(
                AuditEvent("sync.apply", self._type, self._id, outcome="clash"),
                self.writes(),
            )

    def keep_record(self) -> None:
        if self.resurrect is not None:
            # Keep the record a concurrent delete removed elsewhere: send it
            # out again as a new change, so every workstation has it back.
            self.engine._write(
                AuditEvent("sync.keep_record", self._type, self._id),
                [Mutation(self._type, self._id, "upsert", self.resurrect)],
                record=True,
            )

    # -- upsert / update -------------------------------------------------------------
    def _upsert(self, current: dict[str, Any] | None, stamps: dict[str, str]) -> None:
        remote_hlc = str(self.change["hlc"])
        values: dict[str, Any] = self.change["values"]
        if current is None:
            if self.change["op"] == "update":
                if DELETED in stamps:
                    self._conflict(
                        DELETED,
                        ("deleted", stamps[DELETED]),
                        (values, remote_hlc, str(self.change["device"])),
                    )
                return
            self._insert(values, remote_hlc)
            return
        writes: dict[str, Any] = {}
        base: dict[str, str] = self.change.get("base", {})
        for name, value in values.items():
            if name not in TABLES[self._type].columns or name in LOCAL_FIELDS.get(
                self._type, ()
            ):
                continue
            held = stamps.get(name)
            if held is None or remote_hlc > held:
                self._remote_wins(
                    name, value, current, held, base.get(name, ""), writes
                )
            elif remote_hlc < held:
                self._local_wins(name, value, current, held)
        if writes:
            self.mutations.insert(0, Mutation(self._type, self._id, "update", writes))

    def _insert(self, values: dict[str, Any], remote_hlc: str) -> None:
        spec = TABLES[self._type]
        local = LOCAL_FIELDS.get(self._type, frozenset())
        row = {k: v for k, v in values.items() if k in spec.columns and k not in local}
        row.pop(spec.key, None)
        for name in self.change.get("blobs", []):
            content = self._blob(str(values[name]))
            if content is None:
                log.warning("document content missing on the server; record skipped")
                return
            row[name] = content
        if self._type == "users":
            # No key slot here yet: an admin of this workstation resets them.
            row["needs_reset"] = 1
        self.mutations.insert(0, Mutation(self._type, self._id, "insert", row))
        self._clock(sync_queries.ALL_FIELDS, remote_hlc)

    def _blob(self, blob_id: str) -> bytes | None:
        sealed = self.engine.transport.get_blob(blob_id)
        if sealed is None:
            return None
        try:
            return self.engine.keys.open_blob(blob_id, sealed)
        except DecryptionFailed:
            raise SyncError(
                "a document from the sync server failed to open: it was changed "
                "or is not from this practice (sync stopped)"
            ) from None

    def _remote_wins(
        self,
        name: str,
        value: Any,
        current: dict[str, Any],
        held: str | None,
        base: str,
        writes: dict[str, Any],
    ) -> None:
        remote_hlc = str(self.change["hlc"])
        if name in self.change.get("blobs", []):
            content = self._blob(str(value))
            if content is None:
                return
            value = content
        elif held is not None and base < held and current[name] != value:
            self._conflict(
                name, (value, remote_hlc), (current[name], held, _device(held))
            )
            if name in NOTE_FIELDS:
                value = _both_notes(value, current[name], held)
        writes[name] = value
        self._clock(name, remote_hlc)

    def _local_wins(
        self, name: str, value: Any, current: dict[str, Any], held: str
    ) -> None:
        if name in self.change.get("blobs", []) or current[name] == value:
            return
        remote_hlc, device = str(self.change["hlc"]), str(self.change["device"])
        self._conflict(name, (current[name], held), (value, remote_hlc, device))
        if name in NOTE_FIELDS:
            merged = _both_notes(current[name], value, remote_hlc)
            self.mutations.insert(
                0, Mutation(self._type, self._id, "update", {name: merged})
            )
            self._clock(name, held)

    # -- delete ---------------------------------------------------------------------
    def _delete(self, current: dict[str, Any] | None, stamps: dict[str, str]) -> None:
        remote_hlc = str(self.change["hlc"])
        if current is None:
            self._clock(DELETED, remote_hlc)
            return
        base = str(self.change.get("base", {}).get("*", ""))
        edits = {k: v for k, v in stamps.items() if k != DELETED}
        newest = max(edits.values(), default="")
        if newest > base:
            self._conflict(
                DELETED,
                ("kept", newest),
                ("deleted", remote_hlc, str(self.change["device"])),
            )
            spec = TABLES[self._type]
            local = LOCAL_FIELDS.get(self._type, frozenset())
            self.resurrect = {
                k: v
                for k, v in current.items()
                if k != spec.key and k in spec.columns and k not in local
            }
            return
        self.mutations.insert(0, Mutation(self._type, self._id, "delete"))
        self._clock(DELETED, remote_hlc)


#: Documents a group holds in memory before it is written.
GROUP_BLOB_BYTES = 16 * 1024 * 1024


@dataclass
class _Group:
    """Merged records of one page written together, with the pull cursor.

    One transaction for many records instead of one each (the commit is
    most of the cost of a small record); each record keeps its own
    ``sync.apply`` audit entry, and the cursor moves in the same transaction
    past the records written.  A record is merged only after any earlier
    record of the same row is written (``keys``).  When the group clashes
    with a local row, its records are written one by one, as a lone record
    would be.
    """

    engine: SyncEngine
    cursor: int
    merges: list[_Merge] = field(default_factory=list)
    keys: set[tuple[str, str]] = field(default_factory=set)
    inbox_ids: set[str] = field(default_factory=set)
    blob_bytes: int = 0
    applied: int = 0  # records written, and the conflicts they kept
    conflicts: int = 0

    def add(self, merge: _Merge, cursor: int) -> None:
        self.merges.append(merge)
        self.keys.add((merge._type, merge._id))
        self.inbox_ids.add(merge.inbox_id)
        self.cursor = cursor
        self.blob_bytes += sum(
            len(m.values[name])
            for m in merge.mutations
            for name in merge.change.get("blobs", [])
            if isinstance(m.values.get(name), bytes | bytearray)
        )
        if merge.resurrect is not None or self.blob_bytes > GROUP_BLOB_BYTES:
            self.flush(cursor)

    def flush(self, cursor: int) -> None:
        """Write the records merged so far and move the cursor to ``cursor``."""
        merges, self.merges = self.merges, []
        self.keys, self.inbox_ids, self.blob_bytes = set(), set(), 0
        moved = cursor != int(self.engine._state().get(PULL_CURSOR, "0"))
        if not merges and not moved:
            return
        event = AuditEvent("sync.pull", outcome=f"cursor {cursor}")
        state = state_mutations({PULL_CURSOR: str(cursor)}) if moved else []
        try:
            self.engine._write(
                event,
                [*(w for m in merges for w in m.writes()), *state],
                extra_events=[_full_event(m) for m in merges],
            )
        except sync_queries.integrity_error():
            for merge in merges:
                merge.commit()
            if moved:
                self.engine._write(event, state)
        for merge in merges:
            merge.keep_record()
            self.applied += 1
            self.conflicts += merge.conflicts


def _full_event(merge: _Merge) -> AuditEvent:
    """The record's audit entry as its own commit would have written it."""
    own = merge.event()
    names = {n for m in merge.writes() for n in m.values}
    return replace(own, fields=tuple(sorted(names | set(own.fields))))


def _device(stamp: str) -> str:
    return stamp.split(".", 2)[2] if stamp.count(".") >= 2 else ""


def _both_notes(newer: Any, older: Any, older_stamp: str) -> str:
    """Both versions of a note, the newer first; the same text on every side."""
    header = NOTE_SEPARATOR.format(_device(older_stamp))
    return f"{newer or ''}{header}{older or ''}"
