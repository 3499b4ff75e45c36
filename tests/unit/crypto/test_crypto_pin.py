"""The PIN policy: length, digits only, no repeated digit, no consecutive run."""

from __future__ import annotations

import pytest

from desktop_crm.crypto import pin
from desktop_crm.errors import InvalidInput

ACCEPTED = [
    "135790",
    "246813",
    "902468",
    "112233",
    "135792468024",
    "1357924",
]
REFUSED = [
    ("13579", "5 digits"),
    ("1357924680246", "13 digits"),
    ("", "empty"),
    ("13579a", "letter"),
    ("abcdef", "letters"),
    ("135 790", "space"),
    ("-13579", "sign"),
    ("111111", "repeated"),
    ("000000000000", "repeated 12"),
    ("123456", "ascending run"),
    ("654321", "descending run"),
    ("890123", "ascending run wrapping past 9"),
    ("210987", "descending run wrapping past 0"),
    ("\u0661\u0662\u0663\u0664\u0665\u0666", "arabic-indic digits"),
    ("\uff11\uff13\uff15\uff17\uff19\uff10", "fullwidth digits"),
    ("\u00b9\u00b2\u00b3\u00b9\u00b2\u00b3", "superscripts"),
]


@pytest.mark.parametrize("value", ACCEPTED)
def test_accepted_pins(value):
    pin.check_pin(value)


@pytest.mark.parametrize(("value", "why"), REFUSED, ids=[w for _, w in REFUSED])
def test_refused_pins(value, why):
    with pytest.raises(InvalidInput) as caught:
        pin.check_pin(value)

    assert caught.value.field == "PIN", why


def test_refusal_names_the_given_field():
    with pytest.raises(InvalidInput) as caught:
        pin.check_pin("123456", field="new PIN")

    assert caught.value.message.startswith("new PIN:")
