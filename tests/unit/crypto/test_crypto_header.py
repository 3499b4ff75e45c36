"""The vault header file: round trip, MAC, and refusal of any altered byte."""

from __future__ import annotations

import json
import os
from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from desktop_crm.crypto import header, primitives, slots
from desktop_crm.crypto.header import VaultHeader
from desktop_crm.crypto.slots import SealedKey, WrappedKey
from desktop_crm.errors import VaultError

VAULT = "0b6f9f3e-1c1a-4bb6-9d7e-3f5f0a4c2d11"


def make_header(names=("Ana Admin",), *, unattended=False) -> tuple[VaultHeader, bytes]:
    dek = os.urandom(32)
    device = os.urandom(32)
    _, rec_public = primitives.new_keypair()
    recovery = SealedKey(
        rec_public, slots.seal_dek(dek, rec_public, VAULT, "recovery", "recovery", 1)
    )
    built = VaultHeader(VAULT, 1, 1, recovery)
    for index, name in enumerate(names):
        slot = slots.new_user_slot(
            vault_id=VAULT,
            user_id=f"user-{index}",
            name=name,
            pin="135790",
            device_secret=device,
            totp_secret="JBSWY3DPEHPK3PXP",
            dek=dek,
            dek_generation=1,
        )
        built = built.with_slot(slot)
    if unattended:
        nonce, wrapped = slots.wrap_unattended(dek, os.urandom(32), VAULT, 1)
        built = replace(built, unattended=WrappedKey(nonce, wrapped))
    return header.sign(built, dek), dek


@pytest.fixture(scope="module")
def signed():
    return make_header()


def test_dump_load_round_trip(signed):
    original, dek = signed

    loaded = header.load(header.dump(original))

    assert loaded == original
    header.verify(loaded, dek)


def test_round_trip_with_unattended_and_pending():
    original, dek = make_header(("Ana", "Bo"), unattended=True)
    slot = replace(original.slots["user-0"], pending_sealed_dek=b"pending")
    signed = header.sign(original.with_slot(slot), dek)

    loaded = header.load(header.dump(signed))

    assert loaded == signed
    header.verify(loaded, dek)


names = st.text(
    alphabet=st.characters(min_codepoint=32, exclude_categories=("Cs",)),
    min_size=1,
    max_size=60,
)


@settings(max_examples=25, deadline=None)
@given(names=st.lists(names, min_size=1, max_size=3, unique=True))
def test_round_trip_any_names(names):
    original, dek = make_header(tuple(names))

    loaded = header.load(header.dump(original))

    assert loaded == original
    assert sorted(s.name for s in loaded.slots.values()) == sorted(names)
    header.verify(loaded, dek)


def test_verify_refuses_another_dek(signed):
    original, _ = signed

    with pytest.raises(VaultError, match="altered"):
        header.verify(original, os.urandom(32))


def test_verify_refuses_unsigned_header(signed):
    original, dek = signed

    with pytest.raises(VaultError):
        header.verify(replace(original, mac=b""), dek)


@pytest.mark.parametrize(
    "change",
    [
        lambda h: replace(h, generation=h.generation + 1),
        lambda h: replace(h, dek_generation=7),
        lambda h: replace(h, vault_id="other"),
        lambda h: h.without_slot("user-0"),
    ],
    ids=["generation", "dek-generation", "vault-id", "slot-removed"],
)
def test_verify_refuses_changed_fields(signed, change):
    original, dek = signed

    with pytest.raises(VaultError):
        header.verify(change(original), dek)


def _accepted(data: bytes, dek: bytes) -> VaultHeader | None:
    try:
        loaded = header.load(data)
        header.verify(loaded, dek)
    except VaultError:
        return None
    return loaded


def test_every_changed_byte_is_refused_or_changes_nothing(signed):
    original, dek = signed
    data = header.dump(original)
    checked = 0

    for position in range(len(data)):
        for mask in (0x01, 0x20, 0x80):
            damaged = bytearray(data)
            damaged[position] ^= mask
            loaded = _accepted(bytes(damaged), dek)
            assert loaded is None or loaded == original, (position, mask)
            checked += 1

    assert checked == 3 * len(data)


def test_every_truncation_is_refused(signed):
    original, dek = signed
    data = header.dump(original)

    for cut in range(0, len(data) - 2, 7):
        assert _accepted(data[:cut], dek) is None, cut


def test_unsupported_version_refused(signed):
    original, _ = signed
    data = header.dump(original).replace(b"HEADER 1\n", b"HEADER 2\n", 1)

    with pytest.raises(VaultError, match="unsupported"):
        header.load(data)


@pytest.mark.parametrize("data", [b"", b"SQLite format 3\x00", b"{}", b"\xff" * 64])
def test_not_a_header_refused(data):
    with pytest.raises(VaultError, match="not a Desktop CRM"):
        header.load(data)


def test_oversize_file_refused(signed):
    original, _ = signed
    data = header.dump(original) + b" " * header.MAX_HEADER_BYTES

    with pytest.raises(VaultError, match="too large"):
        header.load(data)


def _edited(original: VaultHeader, edit) -> bytes:
    data = header.dump(original)
    body = json.loads(data[len(header.MAGIC) :])
    edit(body)
    return header.MAGIC + json.dumps(body).encode()


def test_crafted_gigantic_kdf_in_slot_refused_at_load(signed):
    original, _ = signed
    data = _edited(original, lambda b: b["slots"][0]["kdf"].update(m=2**30))

    with pytest.raises(VaultError, match="outside"):
        header.load(data)


@pytest.mark.parametrize(
    "edit",
    [
        lambda b: b.update(slots=[{}] * (header.MAX_SLOTS + 1)),
        lambda b: b.update(slots="nope"),
        lambda b: b.pop("recovery"),
        lambda b: b.update(generation=-1),
        lambda b: b.update(generation=True),
        lambda b: b.update(vault_id=""),
        lambda b: b.update(vault_id="v" * 201),
        lambda b: b.update(mac="not base64!"),
        lambda b: b["slots"][0].update(salt=None),
        lambda b: b["slots"][0].update(kdf={"alg": 2, "m": 8, "t": 1, "p": 1}),
        lambda b: b.update(unattended=[]),
    ],
    ids=[
        "too-many-slots",
        "slots-not-list",
        "no-recovery",
        "negative-generation",
        "bool-generation",
        "empty-vault-id",
        "long-vault-id",
        "bad-mac",
        "missing-salt",
        "weak-kdf",
        "unattended-list",
    ],
)
def test_malformed_fields_refused_at_load(signed, edit):
    original, _ = signed

    with pytest.raises(VaultError):
        header.load(_edited(original, edit))


def test_json_not_an_object_refused():
    with pytest.raises(VaultError, match="object"):
        header.load(header.MAGIC + b"[1, 2]")


def test_slot_by_name_is_case_insensitive(signed):
    original, _ = signed

    found = original.slot_by_name("ANA ADMIN")

    assert found is not None and found.user_id == "user-0"
    assert original.slot_by_name("Bo") is None
