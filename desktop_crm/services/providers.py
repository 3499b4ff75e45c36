"""The providers list: practice users with the provider role and imported
practitioners (referring or former clinicians), each with identifiers.

Every change goes through the session's write path.  The read queries at
the bottom of this module belong in ``storage/`` (see the note there).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from desktop_crm.errors import InvalidInput
from desktop_crm.services import settings_keys
from desktop_crm.services.session import Session
from desktop_crm.storage import provider_queries, queries
from desktop_crm.storage.database import Database
from desktop_crm.storage.writepath import AuditEvent, Mutation

log = logging.getLogger(__name__)

NPI_SYSTEM = "http://hl7.org/fhir/sid/us-npi"
PROVIDER_ROLE = "provider"


@dataclass(frozen=True)
class Provider:
    """One line of the providers list."""

    id: str
    display: str
    family: str
    given: str
    npi: str
    timezone: str
    source: str
    user_id: str | None


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _identifier_id(system: str, value: str) -> str:
    return f"{system}|{value}"


def list_providers(session: Session) -> list[Provider]:
    """Practice providers and imported practitioners, by display name."""
    session.require("patients.read")
    return _all_providers(session.database())


def find_by_identifier(session: Session, system: str, value: str) -> str | None:
    """The id of the provider holding identifier ``system|value``, if any."""
    return _provider_by_identifier(session.database(), system, value)


def ensure_user_providers(session: Session) -> list[str]:
    """Give every active user with the provider role a providers row.

    Returns the ids of the rows created (one audited write each).
    """
    session.require("patients.write")
    db = session.database()
    zone = session.setting(settings_keys.PRACTICE_TZ, "")
    have = {p.user_id for p in _all_providers(db) if p.user_id}
    created = []
    for user in queries.all_users(db):
        if not user.active or PROVIDER_ROLE not in user.roles or user.id in have:
            continue
        provider_id = str(uuid.uuid4())
        values = {
            "user_id": user.id,
            "display": user.name,
            "timezone": zone,
            "source": "practice",
            "created_at": _now(),
        }
        session.write(
            AuditEvent("provider.create", "provider", provider_id),
            [Mutation("providers", provider_id, "insert", values)],
        )
        created.append(provider_id)
    return created


def upsert_practitioner(
    session: Session,
    family: str,
    given: str,
    display: str,
    npi: str,
    identifiers: Sequence[tuple[str, str]],
    timezone: str = "",
    *,
    dry_run: bool = False,
) -> tuple[str, bool]:
    """Find an imported practitioner by any identifier, or add one.

    A practitioner already on the list is left as it is.  With ``dry_run``
    nothing is written and a new practitioner gets a placeholder id.

    Returns:
        (provider id, whether it was created).

    Raises:
        InvalidInput: no identifier at all, or no name to show.
    """
    session.require("patients.import")
    wanted = list(dict.fromkeys((s, v) for s, v in identifiers if s and v))
    if npi and (NPI_SYSTEM, npi) not in wanted:
        wanted.insert(0, (NPI_SYSTEM, npi))
    if not wanted:
        raise InvalidInput("identifier", "a practitioner needs an identifier")
    display = display.strip() or " ".join(p for p in (given, family) if p).strip()
    if not display:
        raise InvalidInput("name", "a practitioner needs a name")
    db = session.database()
    for system, value in wanted:
        found = _provider_by_identifier(db, system, value)
        if found:
            return found, False
    provider_id = str(uuid.uuid4())
    if dry_run:
        return f"dry-run:{provider_id}", True
    values = {
        "display": display,
        "family": family,
        "given": given,
        "npi": npi,
        "timezone": timezone,
        "source": "import",
        "created_at": _now(),
    }
    mutations = [Mutation("providers", provider_id, "insert", values)]
    mutations += [
        Mutation(
            "provider_identifiers",
            _identifier_id(system, value),
            "insert",
            {"provider_id": provider_id, "system": system, "value": value},
        )
        for system, value in wanted
    ]
    session.write(AuditEvent("provider.import", "provider", provider_id), mutations)
    log.info("provider %s imported", provider_id)
    return provider_id, True


# -- read queries --------------------------------------------------------------


def _all_providers(db: Database) -> list[Provider]:
    return [
        Provider(r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7])
        for r in provider_queries.all_providers(db)
    ]


def _provider_by_identifier(db: Database, system: str, value: str) -> str | None:
    return provider_queries.provider_by_identifier(db, system, value)
