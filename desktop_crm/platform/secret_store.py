"""The OS keyring behind a small interface, with an in-memory twin for tests.

The real store never falls back to a file: a plaintext or file-based keyring
backend counts as "no keyring", and the user is told what to install.
"""

from __future__ import annotations

import logging
from typing import Protocol

from desktop_crm.errors import KeyringUnavailable

log = logging.getLogger(__name__)

SERVICE = "desktop-crm"
#: Keep secrets well under Windows Credential Manager's 2,560-byte blob limit
#: (UTF-16, so about 1,280 characters); ours are 64-character hex strings.
MAX_SECRET_CHARS = 1000

_REFUSED_BACKENDS = ("fail", "null", "keyrings.alt", "plaintext", "file")

NO_BACKEND_MESSAGE = (
    "no usable OS keyring: Desktop CRM keeps its device key in the Secret Service "
    "(GNOME Keyring or KWallet on Linux, Keychain on macOS, Credential Locker on "
    "Windows). On Linux install gnome-keyring and run inside a desktop session "
    "(over SSH start one with dbus-run-session and unlock gnome-keyring-daemon)"
)
LOCKED_MESSAGE = (
    "the OS keyring is locked or access was refused: unlock it (log in to the "
    "desktop session or answer the keyring prompt) and try again"
)


class SecretStore(Protocol):
    """Named secrets kept by the operating system for this OS account."""

    def get(self, name: str) -> str | None: ...

    def set(self, name: str, value: str) -> None: ...

    def delete(self, name: str) -> None: ...

    def backend_name(self) -> str: ...


class MemorySecretStore:
    """A dictionary posing as a keyring, for fast unit tests only."""

    def __init__(self) -> None:
        self.values: dict[str, str] = {}

    def get(self, name: str) -> str | None:
        return self.values.get(name)

    def set(self, name: str, value: str) -> None:
        _check_size(value)
        self.values[name] = value

    def delete(self, name: str) -> None:
        self.values.pop(name, None)

    def backend_name(self) -> str:
        return "memory (tests only)"


def _check_size(value: str) -> None:
    if len(value) > MAX_SECRET_CHARS:
        raise ValueError(
            f"secret too large for the OS keyring ({len(value)} characters, "
            f"limit {MAX_SECRET_CHARS})"
        )


class KeyringSecretStore:
    """The real OS keyring through the ``keyring`` library."""

    def __init__(self) -> None:
        import keyring

        self._keyring = keyring
        self._backend = keyring.get_keyring()
        name = self.backend_name()
        if _is_refused(self._backend, name):
            log.info("keyring backend refused: %s", name)
            raise KeyringUnavailable(NO_BACKEND_MESSAGE)

    def backend_name(self) -> str:
        backend = self._backend
        return f"{type(backend).__module__}.{type(backend).__qualname__}"

    def get(self, name: str) -> str | None:
        try:
            return self._backend.get_password(SERVICE, name)
        except Exception as exc:  # the backends raise many unrelated types
            raise _translate(exc) from exc

    def set(self, name: str, value: str) -> None:
        _check_size(value)
        try:
            self._backend.set_password(SERVICE, name, value)
        except Exception as exc:  # the backends raise many unrelated types
            raise _translate(exc) from exc

    def delete(self, name: str) -> None:
        try:
            if self._backend.get_password(SERVICE, name) is not None:
                self._backend.delete_password(SERVICE, name)
        except Exception as exc:  # the backends raise many unrelated types
            raise _translate(exc) from exc


def _is_refused(backend: object, name: str) -> bool:
    lowered = name.lower()
    if any(part in lowered for part in _REFUSED_BACKENDS):
        return True
    if "chainer" in lowered:
        return not getattr(backend, "backends", ())
    return False


def _translate(exc: Exception) -> KeyringUnavailable:
    """Turn a backend failure into one of our two keyring messages."""
    text = f"{type(exc).__name__}: {exc}".lower()
    log.warning("keyring call failed: %s", type(exc).__name__)
    if any(word in text for word in ("locked", "dismissed", "denied", "prompt")):
        return KeyringUnavailable(LOCKED_MESSAGE)
    return KeyringUnavailable(f"{NO_BACKEND_MESSAGE} ({type(exc).__name__})")
