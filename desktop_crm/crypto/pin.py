"""The PIN policy: 6 to 12 digits, nothing trivially guessable."""

from __future__ import annotations

from desktop_crm.errors import InvalidInput

MIN_LENGTH = 6
MAX_LENGTH = 12


def check_pin(pin: str, field: str = "PIN") -> None:
    """Refuse a PIN that is too short, too long, not digits, or trivial.

    Trivial means one repeated digit or a run going up or down by one
    (123456, 654321, 789012 counts too: the run wraps past 9).
    """
    if not pin:
        raise InvalidInput(field, f"enter {MIN_LENGTH} to {MAX_LENGTH} digits")
    if not pin.isascii() or not pin.isdigit():
        raise InvalidInput(field, "use digits only")
    if not MIN_LENGTH <= len(pin) <= MAX_LENGTH:
        raise InvalidInput(field, f"use {MIN_LENGTH} to {MAX_LENGTH} digits")
    steps = {(int(b) - int(a)) % 10 for a, b in zip(pin, pin[1:], strict=False)}
    if steps == {0}:
        raise InvalidInput(field, "a PIN of one repeated digit is too easy to guess")
    if steps in ({1}, {9}):
        raise InvalidInput(field, "a run of consecutive digits is too easy to guess")
