"""Versions of the product and its security-relevant parts (no vault needed)."""

from __future__ import annotations

from dataclasses import dataclass

from desktop_crm import __version__
from desktop_crm.errors import CRMError


@dataclass(frozen=True)
class Versions:
    """What `--version` and the About box show."""

    product: str
    sqlcipher: str
    openssl: str
    keyring_backend: str

    def lines(self) -> list[str]:
        return [
            f"desktop-crm {self.product}",
            f"sqlcipher {self.sqlcipher}, {self.openssl}",
            f"keyring {self.keyring_backend}",
        ]


def versions() -> Versions:
    """Ask the database driver and the keyring; never fails."""
    from desktop_crm.platform.secret_store import KeyringSecretStore
    from desktop_crm.storage.database import driver_versions

    try:
        sqlcipher, openssl = driver_versions()
    except CRMError as exc:
        sqlcipher, openssl = f"unavailable ({exc.message})", "OpenSSL unknown"
    try:
        backend = KeyringSecretStore().backend_name()
    except CRMError:
        backend = "none available"
    return Versions(__version__, sqlcipher, openssl, backend)
