"""User slots and sealed DEKs: round trips and every way a slot must not open."""

from __future__ import annotations

import dataclasses
import os

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from desktop_crm.crypto import kdf, primitives, slots
from desktop_crm.crypto.kdf import KDFParams
from desktop_crm.crypto.primitives import DecryptionFailed
from desktop_crm.errors import VaultError

VAULT = "vault-1"
USER = "user-1"
PIN = "135790"
TOTP_SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"

pins = st.text(alphabet="0123456789", min_size=6, max_size=12)
totp_secrets = st.text(
    alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", min_size=16, max_size=64
)
keys32 = st.binary(min_size=32, max_size=32)
few = settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)


def make_slot(device: bytes, dek: bytes, kdf_params: KDFParams | None = None):
    return slots.new_user_slot(
        vault_id=VAULT,
        user_id=USER,
        name="Ana Admin",
        pin=PIN,
        device_secret=device,
        totp_secret=TOTP_SECRET,
        dek=dek,
        dek_generation=1,
        kdf=kdf_params,
    )


@pytest.fixture
def device():
    return os.urandom(slots.DEVICE_SECRET_BYTES)


@pytest.fixture
def dek():
    return os.urandom(slots.DEK_BYTES)


@pytest.fixture
def slot(device, dek):
    return make_slot(device, dek)


@few
@given(pin=pins, secret=totp_secrets, device=keys32, dek=keys32)
def test_user_slot_round_trip(pin, secret, device, dek):
    slot = slots.new_user_slot(
        vault_id=VAULT,
        user_id=USER,
        name="Bo",
        pin=pin,
        device_secret=device,
        totp_secret=secret,
        dek=dek,
        dek_generation=3,
    )

    opened = slots.open_user_slot(slot, VAULT, pin, device)

    assert opened.totp_secret == secret
    unsealed = slots.unseal_dek(
        slot.sealed_dek, opened.private_key, VAULT, USER, "user", 3
    )
    assert bytes(unsealed) == dek


@few
@given(dek=keys32, owner=st.text(min_size=1, max_size=40), gen=st.integers(1, 10**6))
def test_seal_unseal_round_trip(dek, owner, gen):
    private, public = primitives.new_keypair()
    sealed = slots.seal_dek(dek, public, VAULT, owner, "recovery", gen)

    unsealed = slots.unseal_dek(sealed, private, VAULT, owner, "recovery", gen)

    assert bytes(unsealed) == dek


def test_every_wrap_uses_fresh_salt_and_nonce(slot, device):
    opened = slots.open_user_slot(slot, VAULT, PIN, device)

    again = slots.rewrap_user_slot(
        slot, VAULT, opened.private_key, opened.totp_secret, PIN, device
    )

    assert again.salt != slot.salt
    assert again.nonce != slot.nonce
    assert again.wrapped != slot.wrapped


def test_wrong_pin_refused(slot, device):
    with pytest.raises(DecryptionFailed):
        slots.open_user_slot(slot, VAULT, "135791", device)


def test_wrong_device_secret_refused(slot):
    with pytest.raises(DecryptionFailed):
        slots.open_user_slot(slot, VAULT, PIN, os.urandom(32))


def test_wrong_vault_id_refused(slot, device):
    with pytest.raises(DecryptionFailed):
        slots.open_user_slot(slot, "vault-2", PIN, device)


def test_slot_moved_to_another_user_refused(slot, device):
    moved = dataclasses.replace(slot, user_id="user-2")

    with pytest.raises(DecryptionFailed):
        slots.open_user_slot(moved, VAULT, PIN, device)


def test_slot_with_swapped_public_key_refused(slot, device):
    _, other_public = primitives.new_keypair()
    swapped = dataclasses.replace(slot, public_key=other_public)

    with pytest.raises(DecryptionFailed):
        slots.open_user_slot(swapped, VAULT, PIN, device)


STRONGER = KDFParams(memory_kib=128, iterations=2, lanes=1)


def test_new_user_slot_honours_given_kdf_params(device, dek):
    slot = make_slot(device, dek, STRONGER)

    assert slot.kdf == STRONGER


def test_downgraded_kdf_params_refused(slot, device):
    opened = slots.open_user_slot(slot, VAULT, PIN, device)
    stronger = slots.rewrap_user_slot(
        slot, VAULT, opened.private_key, TOTP_SECRET, PIN, device, STRONGER
    )
    downgraded = dataclasses.replace(stronger, kdf=kdf.TESTING)

    with pytest.raises(DecryptionFailed):
        slots.open_user_slot(downgraded, VAULT, PIN, device)


def test_below_floor_kdf_params_refused_before_deriving(slot, device):
    weak = dataclasses.replace(slot, kdf=KDFParams(memory_kib=8, iterations=1, lanes=1))

    with pytest.raises(VaultError):
        slots.open_user_slot(weak, VAULT, PIN, device)


def _flipped(data: bytes, position: int) -> bytes:
    mutable = bytearray(data)
    mutable[position] ^= 0x01
    return bytes(mutable)


def _positions(length: int) -> list[int]:
    return sorted({0, 1, length // 3, length // 2, length - 2, length - 1})


@pytest.mark.parametrize("field", ["wrapped", "nonce", "salt"])
def test_flipped_byte_in_wrapped_secrets_refused(slot, device, field):
    data = getattr(slot, field)

    for position in _positions(len(data)):
        damaged = dataclasses.replace(slot, **{field: _flipped(data, position)})

        with pytest.raises(DecryptionFailed):
            slots.open_user_slot(damaged, VAULT, PIN, device)


def test_truncated_wrapped_secrets_refused(slot, device):
    for cut in (0, 1, 16, len(slot.wrapped) - 1):
        damaged = dataclasses.replace(slot, wrapped=slot.wrapped[:cut])

        with pytest.raises(DecryptionFailed):
            slots.open_user_slot(damaged, VAULT, PIN, device)


def test_flipped_byte_in_sealed_dek_refused(slot, device):
    opened = slots.open_user_slot(slot, VAULT, PIN, device)

    for position in _positions(len(slot.sealed_dek)):
        damaged = _flipped(slot.sealed_dek, position)

        with pytest.raises(DecryptionFailed):
            slots.unseal_dek(damaged, opened.private_key, VAULT, USER, "user", 1)


@pytest.mark.parametrize(
    ("vault", "owner", "kind", "gen"),
    [
        ("vault-2", USER, "user", 1),
        (VAULT, "user-2", "user", 1),
        (VAULT, USER, "recovery", 1),
        (VAULT, USER, "user", 2),
    ],
)
def test_sealed_dek_bound_to_vault_owner_kind_and_generation(
    slot, device, vault, owner, kind, gen
):
    opened = slots.open_user_slot(slot, VAULT, PIN, device)

    with pytest.raises(DecryptionFailed):
        slots.unseal_dek(slot.sealed_dek, opened.private_key, vault, owner, kind, gen)


def test_unattended_wrap_round_trip_and_binding(dek):
    key = os.urandom(32)
    nonce, wrapped = slots.wrap_unattended(dek, key, VAULT, 4)

    unwrapped = slots.unwrap_unattended(nonce, wrapped, key, VAULT, 4)

    assert bytes(unwrapped) == dek
    with pytest.raises(DecryptionFailed):
        slots.unwrap_unattended(nonce, wrapped, key, VAULT, 5)
    with pytest.raises(DecryptionFailed):
        slots.unwrap_unattended(nonce, wrapped, os.urandom(32), VAULT, 4)
    with pytest.raises(DecryptionFailed):
        slots.unwrap_unattended(nonce, _flipped(wrapped, 0), key, VAULT, 4)


def test_opened_slot_wipe_zeroes_private_key(slot, device):
    opened = slots.open_user_slot(slot, VAULT, PIN, device)

    opened.wipe()

    assert opened.private_key == bytearray(32)
