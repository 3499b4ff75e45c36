"""Facts about an unlocked vault for `desktop-crm status` and the About box."""

from __future__ import annotations

from dataclasses import dataclass

from desktop_crm.services.session import Session
from desktop_crm.storage import migrations, queries


@dataclass(frozen=True)
class VaultStatus:
    """What `status` prints."""

    vault_id: str
    sqlcipher_version: str
    cipher: str
    hmac: str
    page_size: int
    openssl: str
    schema_version: int
    users: int
    active_users: int
    keyring_backend: str


def vault_status(session: Session, keyring_backend: str) -> VaultStatus:
    session.require("vault.status")
    db = session.database()
    users = queries.all_users(db)
    return VaultStatus(
        vault_id=session.vault_id,
        sqlcipher_version=str(db.pragma("cipher_version")),
        cipher=str(db.pragma("cipher")),
        hmac=str(db.pragma("cipher_hmac_algorithm")),
        page_size=int(db.pragma("cipher_page_size")),
        openssl=str(db.pragma("cipher_provider_version")),
        schema_version=migrations.schema_version(db),
        users=len(users),
        active_users=sum(1 for u in users if u.active),
        keyring_backend=keyring_backend,
    )
