"""Sync cryptography: sealed records and blobs, key wrap, pairing code, fingerprint."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from desktop_crm.crypto import sync_keys
from desktop_crm.crypto.sync_keys import DecryptionFailed, PairingCode, SyncKeys
from desktop_crm.errors import InvalidInput

KEY = bytes(range(32))
PRACTICE = "9a1f0c2e-practice"
FINGERPRINT = "ab" * 32


def keys(key: bytes = KEY, practice: str = PRACTICE) -> SyncKeys:
    return SyncKeys.derive(key, practice)


def test_sync_key_is_32_random_bytes():
    first, second = sync_keys.new_sync_key(), sync_keys.new_sync_key()

    assert len(first) == 32
    assert first != second


def test_record_and_blob_keys_differ_and_follow_the_protocol_info():
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.kdf.hkdf import HKDF

    derived = keys()
    expected = HKDF(
        algorithm=hashes.SHA256(),
        length=32,
        salt=None,
        info=b"desktop-crm sync records v1",
    ).derive(KEY)

    assert derived.record_key == expected
    assert derived.record_key != derived.blob_key


@settings(max_examples=100, deadline=None)
@given(plain=st.binary(max_size=2000), seq=st.integers(1, 2**40))
def test_record_round_trip(plain, seq):
    sealed = keys().seal_record("ws-1", seq, plain)

    assert keys().open_record("ws-1", seq, sealed) == plain
    assert len(sealed) == 12 + len(plain) + 16


@settings(max_examples=100, deadline=None)
@given(plain=st.binary(max_size=300), data=st.data())
def test_any_changed_byte_fails(plain, data):
    sealed = bytearray(keys().seal_record("ws-1", 7, plain))
    index = data.draw(st.integers(0, len(sealed) - 1))
    flip = data.draw(st.integers(1, 255))
    sealed[index] ^= flip

    with pytest.raises(DecryptionFailed):
        keys().open_record("ws-1", 7, bytes(sealed))


@settings(max_examples=50, deadline=None)
@given(
    plain=st.binary(max_size=200),
    where=st.sampled_from(["practice", "workstation", "seq"]),
)
def test_a_record_moved_anywhere_fails(plain, where):
    sealed = keys().seal_record("ws-1", 7, plain)
    practice, workstation, seq = PRACTICE, "ws-1", 7
    if where == "practice":
        practice = "another-practice"
    elif where == "workstation":
        workstation = "ws-2"
    else:
        seq = 8

    with pytest.raises(DecryptionFailed):
        keys(practice=practice).open_record(workstation, seq, sealed)


@settings(max_examples=50, deadline=None)
@given(plain=st.binary(max_size=200), other=st.binary(min_size=32, max_size=32))
def test_wrong_key_fails(plain, other):
    sealed = keys().seal_record("ws-1", 1, plain)
    if other == KEY:
        return

    with pytest.raises(DecryptionFailed):
        keys(other).open_record("ws-1", 1, sealed)


def test_truncated_ciphertext_fails():
    with pytest.raises(DecryptionFailed):
        keys().open_record("ws-1", 1, b"short")


@settings(max_examples=50, deadline=None)
@given(content=st.binary(max_size=5000))
def test_blob_round_trip_and_id(content):
    derived = keys()
    blob_id = derived.blob_id_of(content)
    sealed = derived.seal_blob(blob_id, content)

    assert sync_keys.is_blob_id(blob_id)
    assert derived.open_blob(blob_id, sealed) == content
    assert len(content) < 16 or content not in sealed


def test_blob_under_another_id_fails():
    derived = keys()
    first, second = b"first document", b"second document"
    id_first, id_second = derived.blob_id_of(first), derived.blob_id_of(second)
    sealed = derived.seal_blob(id_first, first)

    with pytest.raises(DecryptionFailed):
        derived.open_blob(id_second, sealed)


def test_blob_id_depends_on_the_practice_key_not_only_the_content():
    content = b"the same scan"

    assert keys().blob_id_of(content) != keys(bytes(32)).blob_id_of(content)
    assert keys().blob_id_of(content) == keys().blob_id_of(content)


@settings(max_examples=50, deadline=None)
@given(sync_key=st.binary(min_size=32, max_size=32))
def test_wrap_unwrap_sync_key(sync_key):
    one_use = sync_keys.new_token()
    wrapped = sync_keys.wrap_sync_key(sync_key, one_use, PRACTICE)

    assert sync_keys.unwrap_sync_key(wrapped, one_use, PRACTICE) == sync_key
    with pytest.raises(DecryptionFailed):
        sync_keys.unwrap_sync_key(wrapped, sync_keys.new_token(), PRACTICE)
    with pytest.raises(DecryptionFailed):
        sync_keys.unwrap_sync_key(wrapped, one_use, "other-practice")


codes = st.builds(
    PairingCode,
    url=st.text(
        st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=1, max_size=200
    ).map(lambda s: "https://" + s),
    fingerprint=st.binary(min_size=32, max_size=32).map(bytes.hex),
    practice_id=st.uuids().map(str),
    enrolment_token=st.binary(min_size=32, max_size=32),
    one_use_key=st.binary(min_size=32, max_size=32),
)


@settings(max_examples=200, deadline=None)
@given(code=codes)
def test_pairing_code_round_trip(code):
    text = code.encode()

    assert text.startswith("crm1-")
    assert PairingCode.decode(text) == code
    assert PairingCode.decode(f"  pair-code: {text[:20]}\n{text[20:]}  ") == code


ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"


@settings(max_examples=300, deadline=None)
@given(code=codes, data=st.data())
def test_pairing_code_typo_is_caught_with_a_clear_message(code, data):
    text = code.encode()
    index = data.draw(st.integers(len("crm1-"), len(text) - 1))
    other = data.draw(st.sampled_from(ALPHABET).filter(lambda c: c != text[index]))
    typo = text[:index] + other + text[index + 1 :]

    with pytest.raises(InvalidInput) as caught:
        PairingCode.decode(typo)

    assert caught.value.field == "pairing code"
    assert "mistyped" in caught.value.message


@settings(max_examples=100, deadline=None)
@given(code=codes, data=st.data())
def test_pairing_code_cut_short_is_caught(code, data):
    text = code.encode()
    cut = data.draw(st.integers(len("crm1-"), len(text) - 1))

    with pytest.raises(InvalidInput, match="pairing code"):
        PairingCode.decode(text[:cut])


@pytest.mark.parametrize("text", ["", "crm2-abc", "hello", "https://x"])
def test_pairing_code_without_prefix(text):
    with pytest.raises(InvalidInput, match="must start with 'crm1-'"):
        PairingCode.decode(text)


@pytest.mark.parametrize(
    "text",
    [
        "AB" * 32,
        "ab" * 32,
        ":".join(["Ab"] * 32),
        "  " + "0f" * 32 + "\n",
    ],
)
def test_fingerprint_forms_accepted(text):
    assert sync_keys.parse_fingerprint(text) == text.strip().replace(":", "").lower()


@pytest.mark.parametrize(
    "text",
    ["", "ab" * 31, "ab" * 33, "gg" * 32, "ab-" * 32, "sha256:" + "ab" * 32],
)
def test_fingerprint_refused_names_the_field(text):
    with pytest.raises(InvalidInput) as caught:
        sync_keys.parse_fingerprint(text)

    assert caught.value.field == "fingerprint"
