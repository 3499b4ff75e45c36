"""The recovery key's text form: round trip, forgiving input, checksum."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from desktop_crm.crypto import recovery_key
from desktop_crm.errors import InvalidInput

ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
FIXED_KEYS = [bytes(range(32)), bytes(range(100, 132)), b"\xff" * 32, b"\x00" * 32]


@settings(max_examples=200, deadline=None)
@given(key=st.binary(min_size=32, max_size=32))
def test_encode_decode_round_trip(key):
    text = recovery_key.encode(key)

    decoded = recovery_key.decode(text)

    assert decoded == key
    assert text.startswith("RK1-")
    assert [len(g) for g in recovery_key.groups(text)] == [5] * 11


@settings(max_examples=50, deadline=None)
@given(key=st.binary(min_size=32, max_size=32))
def test_lowercase_spaces_and_look_alikes_tolerated(key):
    text = recovery_key.encode(key)
    typed = " ".join(recovery_key.groups(text)).lower().replace("o", "0")
    typed = "rk1 " + typed.replace("i", "1") + "\n"

    decoded = recovery_key.decode(typed)

    assert decoded == key


@pytest.mark.parametrize("length", [0, 31, 33])
def test_encode_refuses_wrong_key_length(length):
    with pytest.raises(ValueError):
        recovery_key.encode(b"k" * length)


@pytest.mark.parametrize(
    "text",
    ["", "RK2-AAAAA", "AAAQE-AYEAU", "RK1-", "RK1-AAAAA-AAAAA", "RK1-" + "8" * 55],
)
def test_malformed_text_refused(text):
    with pytest.raises(InvalidInput) as caught:
        recovery_key.decode(text)

    assert caught.value.field == "recovery key"


def _replacements(char: str) -> list[str]:
    """Base32 letters that really differ from ``char`` (not a 0/O or 1/I twin)."""
    return [c for c in ALPHABET if c != char]


@pytest.mark.parametrize("key", FIXED_KEYS, ids=["ramp", "ramp100", "ones", "zeros"])
def test_one_changed_character_fails_the_checksum(key):
    text = recovery_key.encode(key)
    body = text[len("RK1-") :]
    changed = 0

    for index, char in enumerate(body[:-1]):
        if char == "-":
            continue
        for other in _replacements(char)[::7]:
            typo = "RK1-" + body[:index] + other + body[index + 1 :]
            with pytest.raises(InvalidInput, match="checksum"):
                recovery_key.decode(typo)
            changed += 1

    assert changed > 200


@pytest.mark.parametrize("key", FIXED_KEYS, ids=["ramp", "ramp100", "ones", "zeros"])
def test_changed_last_character_is_refused(key):
    text = recovery_key.encode(key)
    accepted = []

    for other in _replacements(text[-1]):
        try:
            recovery_key.decode(text[:-1] + other)
        except InvalidInput:
            continue
        accepted.append(other)

    assert accepted == []


def test_text_that_is_no_recovery_key_is_called_so():
    with pytest.raises(InvalidInput) as caught:
        recovery_key.decode("my-password-123")

    assert str(caught.value).startswith("recovery key: not a recovery key")
    assert "my-password-123" not in str(caught.value)
