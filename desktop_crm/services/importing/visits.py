"""Imported encounters as past visits, written per patient through the write path.

A visit's ``source_key`` ("fhir:" + fullUrl or resource id) makes a re-import
idempotent.  A provider reference that cannot be resolved when the visit is
written is tried again at the end of the run (the practitioners may come in a
later file); what is still unresolved then becomes a warning on that encounter.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

from desktop_crm.services.importing.report import ImportReport
from desktop_crm.services.session import Session
from desktop_crm.storage import provider_queries
from desktop_crm.storage.database import Database
from desktop_crm.storage.writepath import AuditEvent, Mutation

ACTION = "visit.import"
BATCH = 500

ProviderResolver = Callable[[str], str | None]


@dataclass(frozen=True)
class VisitDraft:
    """An encounter read from a file, before its references are resolved."""

    file: str
    entry: str
    source_key: str
    subject_ref: str
    start: str | None
    end: str | None
    klass: str
    type: str
    status: str
    provider_ref: str
    provider_display: str


@dataclass
class _Pending:
    """A visit whose provider reference did not resolve when it was written."""

    visit_id: str
    patient_id: str
    draft: VisitDraft


@dataclass
class VisitWriter:
    """Buffers the visits of one patient at a time and writes them in one go."""

    session: Session
    report: ImportReport
    resolve_provider: ProviderResolver
    dry_run: bool = False
    _patient: str | None = None
    _buffer: list[VisitDraft] = field(default_factory=list)
    _pending: list[_Pending] = field(default_factory=list)

    def add(self, patient_id: str, draft: VisitDraft) -> None:
        if patient_id != self._patient or len(self._buffer) >= BATCH:
            self.flush()
            self._patient = patient_id
        self._buffer.append(draft)

    def flush(self) -> None:
        """Write the buffered visits of the current patient (one transaction)."""
        if self._patient is None or not self._buffer:
            self._buffer = []
            return
        patient_id, drafts = self._patient, self._buffer
        self._buffer = []
        mutations: list[Mutation] = []
        seen: set[str] = set()
        for draft in drafts:
            if draft.source_key in seen:
                continue
            seen.add(draft.source_key)
            mutations += self._mutations(patient_id, draft)
        if mutations and not self.dry_run and not patient_id.startswith("dry-run:"):
            self.session.write(
                AuditEvent(ACTION, "patient", patient_id, fields=("visits",)),
                mutations,
            )

    def _mutations(self, patient_id: str, draft: VisitDraft) -> list[Mutation]:
        existing = _visit_by_source_key(self.session.database(), draft.source_key)
        provider_id = (
            self.resolve_provider(draft.provider_ref) if draft.provider_ref else None
        )
        if existing is not None:
            visit_id, _owner, current_provider = existing
            if current_provider is None and provider_id is not None:
                return [
                    Mutation("visits", visit_id, "update", {"provider_id": provider_id})
                ]
            if current_provider is None and draft.provider_ref:
                self._pending.append(_Pending(visit_id, patient_id, draft))
            return []
        visit_id = str(uuid.uuid4())
        self.report.encounters += 1
        if draft.provider_ref and provider_id is None:
            self._pending.append(_Pending(visit_id, patient_id, draft))
        values = {
            "patient_id": patient_id,
            "start": draft.start,
            "end": draft.end,
            "class": draft.klass,
            "type": draft.type,
            "status": draft.status,
            "provider_id": provider_id,
            "provider_ref": draft.provider_display or draft.provider_ref,
            "source_key": draft.source_key,
        }
        return [Mutation("visits", visit_id, "insert", values)]

    def finish(self) -> None:
        """Flush, then link providers that arrived later in the run or warn."""
        self.flush()
        links: dict[str, list[Mutation]] = {}
        for item in self._pending:
            provider_id = self.resolve_provider(item.draft.provider_ref)
            if provider_id is None:
                self.report.warn(
                    item.draft.file,
                    item.draft.entry,
                    f"participant.individual: {item.draft.provider_ref} not found; "
                    "visit kept without its provider",
                )
                continue
            links.setdefault(item.patient_id, []).append(
                Mutation(
                    "visits", item.visit_id, "update", {"provider_id": provider_id}
                )
            )
        self._pending = []
        if self.dry_run:
            return
        for patient_id, mutations in links.items():
            if patient_id.startswith("dry-run:"):
                continue
            self.session.write(
                AuditEvent(ACTION, "patient", patient_id, fields=("visits",)),
                mutations,
            )


def _visit_by_source_key(
    db: Database, source_key: str
) -> tuple[str, str, str | None] | None:
    return provider_queries.visit_by_source_key(db, source_key)
