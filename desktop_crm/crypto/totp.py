"""TOTP (RFC 6238) secrets, otpauth URIs and replay-safe verification.

Fixed at SHA-1, 6 digits and 30-second steps: the settings every common
authenticator app honours (some ignore other values silently).
"""

from __future__ import annotations

import base64
import binascii
import functools
import re
from typing import Any
from urllib.parse import quote

from desktop_crm.errors import AuthenticationFailed, InvalidInput

DIGITS = 6
PERIOD = 30
ALGORITHM = "SHA1"
DRIFT_STEPS = 1
SKEW_SEARCH_STEPS = 10

_BASE32 = re.compile(r"^[A-Z2-7]+$")


def new_secret() -> str:
    """A fresh 160-bit secret in base32 (pyotp draws it from ``secrets``)."""
    import pyotp

    return str(pyotp.random_base32())


def normalise_secret(text: str) -> str:
    """Accept a typed secret: spaces and hyphens dropped, any case, no padding.

    Raises:
        InvalidInput: the text is not base32 or too short to be a secret.
    """
    cleaned = re.sub(r"[\s-]+", "", text).upper().rstrip("=")
    if not cleaned or not _BASE32.match(cleaned):
        raise InvalidInput("TOTP secret", "only letters A-Z and digits 2-7 are allowed")
    padded = cleaned + "=" * (-len(cleaned) % 8)
    try:
        raw = base64.b32decode(padded)
    except binascii.Error as exc:
        raise InvalidInput("TOTP secret", "not a valid base32 secret") from exc
    if len(raw) < 10:
        raise InvalidInput("TOTP secret", "too short: at least 16 characters")
    return cleaned


def provisioning_uri(secret: str, account: str, issuer: str) -> str:
    """An ``otpauth://`` URI, percent-encoded (space is %20, never '+')."""
    label = f"{quote(issuer, safe='')}:{quote(account, safe='')}"
    query = (
        f"secret={secret}&issuer={quote(issuer, safe='')}"
        f"&algorithm={ALGORITHM}&digits={DIGITS}&period={PERIOD}"
    )
    return f"otpauth://totp/{label}?{query}"


def time_step(now: float) -> int:
    return int(now // PERIOD)


@functools.cache
def _totp_class() -> Any:
    """pyotp's TOTP, accepting the 80-bit secrets older authenticators issued.

    pyotp refuses secrets under 112 bits; ours are 160 bits, but a secret
    typed in from another system may be 80 bits (16 base32 characters), which
    ``normalise_secret`` accepts, so both must agree on the floor.  pyotp is
    imported here, at first use, to keep start-up light.
    """
    import pyotp

    class _TOTP(pyotp.TOTP):
        min_secret_length_bits = 80

    return _TOTP


def _totp(secret: str) -> Any:
    return _totp_class()(secret, digits=DIGITS, interval=PERIOD)


def _clean_code(code: str) -> str | None:
    cleaned = re.sub(r"\s+", "", code)
    if len(cleaned) != DIGITS or not cleaned.isdigit():
        return None
    return cleaned


def verify(secret: str, code: str, now: float, last_step: int) -> int:
    """Check ``code`` within one step of ``now`` and return its time step.

    Only a step later than ``last_step`` (the last one accepted for this
    user) counts, so a code cannot be used twice.

    Raises:
        AuthenticationFailed: wrong, malformed or replayed code.
    """
    cleaned = _clean_code(code)
    if cleaned is not None:
        totp = _totp(secret)
        current = time_step(now)
        for offset in (0, -DRIFT_STEPS, DRIFT_STEPS):
            step = current + offset
            if step > last_step and totp.verify(cleaned, for_time=step * PERIOD):
                return step
    raise AuthenticationFailed


def skew_steps(secret: str, code: str, now: float) -> int | None:
    """How many steps away a code outside the accepted window matches, if any."""
    cleaned = _clean_code(code)
    if cleaned is None:
        return None
    totp = _totp(secret)
    current = time_step(now)
    for distance in range(DRIFT_STEPS + 1, SKEW_SEARCH_STEPS + 1):
        for step in (current - distance, current + distance):
            if totp.verify(cleaned, for_time=step * PERIOD):
                return step - current
    return None


def code_at(secret: str, now: float) -> str:
    """The code an authenticator shows at ``now`` (for tests and enrolment)."""
    return str(_totp(secret).at(now))
