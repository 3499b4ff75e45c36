"""The import's JSON parser: what the json module gives, faster, safe on deep input."""

from __future__ import annotations

import gc
import json
import math
import threading

import pytest
from hypothesis import given
from hypothesis import strategies as st

from desktop_crm.services.importing.json_input import NotJSON, parse

# What FHIR JSON holds: objects, arrays, text (any Unicode a file can carry),
# integers within 64 bits, finite numbers, booleans and null.
_TEXT = st.text(st.characters(exclude_categories=("Cs",)))
_LEAVES = (
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | _TEXT
)
_DOCUMENTS = st.recursive(
    _LEAVES,
    lambda inner: (
        st.lists(inner, max_size=5) | st.dictionaries(_TEXT, inner, max_size=5)
    ),
    max_leaves=40,
)


@given(_DOCUMENTS, st.booleans(), st.booleans())
def test_gives_what_the_json_module_gives(document, ascii_only, with_bom):
    raw = json.dumps(document, ensure_ascii=ascii_only).encode("utf-8")
    if with_bom:
        raw = b"\xef\xbb\xbf" + raw

    assert parse(raw) == json.loads(raw.decode("utf-8-sig"))


def test_what_only_the_json_module_accepts_is_still_accepted():
    assert math.isnan(parse(b'{"a": NaN}')["a"])
    assert parse(b'"\\ud800"') == "\ud800"  # a lone surrogate, as before
    assert parse(b'{"a": 1, "a": 2}') == {"a": 2}  # the last duplicate wins


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b'{"resourceType": "Patient",\n "id": ', "not valid JSON (line 2, column 8)"),
        (b"{'single': 'quotes'}", "not valid JSON (line 1, column 2)"),
        (b'{"a": 1} trailing', "not valid JSON (line 1, column 10): Extra data"),
        (b'{"name": "M\xfcller"}', "not UTF-8 text, so not FHIR JSON"),
        (
            b"[" * 2000 + b"]" * 2000,
            "not valid JSON: nested more than 1,024 levels deep",
        ),
    ],
)
def test_refusals_name_what_is_wrong_and_where(raw, reason):
    with pytest.raises(NotJSON) as caught:
        parse(raw)
    assert caught.value.reason.startswith(reason)


def test_the_collector_is_running_again_afterwards_even_after_an_error():
    assert gc.isenabled()
    parse(b'{"a": [1, 2, 3]}')
    assert gc.isenabled()
    with pytest.raises(NotJSON):
        parse(b"{")
    assert gc.isenabled()


def test_a_collector_paused_by_someone_else_stays_paused():
    gc.disable()
    try:
        parse(b"[1]")
        with pytest.raises(NotJSON):
            parse(b"[")
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_parses_from_several_threads_leave_the_collector_running():
    document = json.dumps({"entry": [{"n": n} for n in range(2000)]}).encode()
    errors: list[BaseException] = []

    def work() -> None:
        try:
            for _ in range(50):
                assert len(parse(document)["entry"]) == 2000
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == [] and gc.isenabled()
