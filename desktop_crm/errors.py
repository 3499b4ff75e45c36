"""Exception families shared by every layer.

Two families, as the style guide asks: ``CRMError`` subclasses are expected or
environmental problems that carry a message safe to show a user (never a
patient value, never a secret) and the command line's exit code.  Anything
else escaping a service is a bug and goes to the crash path.
"""

from __future__ import annotations


class CRMError(Exception):
    """An expected failure with a message fit for the user."""

    exit_code = 1

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidInput(CRMError):
    """Input that breaks a rule; the message names the field."""

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"{field}: {problem}")
        self.field = field
        self.problem = problem


class UsageError(CRMError):
    """The command was called the wrong way."""

    exit_code = 2


class AuthenticationFailed(CRMError):
    """Wrong PIN, wrong code or replayed code: one message for all of them."""

    exit_code = 3
    GENERIC = "PIN or code not accepted"

    def __init__(self, message: str = GENERIC) -> None:
        super().__init__(message)


class TOTPRequired(CRMError):
    """A one-time code is needed and none was given."""

    exit_code = 3

    def __init__(self) -> None:
        super().__init__("TOTP code required")


class LockedOut(CRMError):
    """Too many failed attempts; the user must wait."""

    exit_code = 4

    def __init__(self, seconds: int) -> None:
        seconds = max(1, int(seconds))
        super().__init__(
            f"too many failed attempts: try again in {_human_seconds(seconds)}"
        )
        self.seconds = seconds


class KeyringUnavailable(CRMError):
    """No usable OS keyring, or it is locked or refused access."""

    exit_code = 5


class DeviceSecretMissing(KeyringUnavailable):
    """The keyring works but holds no device secret for this account."""

    def __init__(self) -> None:
        super().__init__(
            "this computer's keyring holds no device key for this vault (new machine "
            "or keyring reset): recover access with the recovery key "
            "(desktop-crm recover --user NAME --recovery-key-file FILE "
            "--new-pin-file FILE)"
        )


class NotPermitted(CRMError):
    """The user's roles do not allow the action."""

    exit_code = 6

    def __init__(self, permission: str) -> None:
        super().__init__(f"not permitted: this needs the '{permission}' permission")
        self.permission = permission


class VaultError(CRMError):
    """The vault is missing, damaged, tampered with or from a newer version."""


def _human_seconds(seconds: int) -> str:
    minutes, secs = divmod(seconds, 60)
    if minutes and secs:
        return f"{minutes} min {secs} s"
    if minutes:
        return f"{minutes} min"
    return f"{secs} s"
