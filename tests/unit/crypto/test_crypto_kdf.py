"""Argon2id parameters: the production floor, bounds and parsing from files."""

from __future__ import annotations

import time

import pytest

from desktop_crm.crypto import kdf
from desktop_crm.crypto.kdf import KDFParams
from desktop_crm.errors import VaultError


@pytest.fixture
def production(monkeypatch):
    """The process as shipped: the test-only low cost switched off."""
    monkeypatch.delenv(kdf.TEST_KDF_ENV, raising=False)


def test_production_floor_is_64_mib_3_passes_4_lanes(production):
    floor = kdf.floor()

    assert floor == KDFParams(memory_kib=65536, iterations=3, lanes=4)
    assert kdf.default_params() == floor
    assert not kdf.testing_enabled()


def test_production_floor_accepted_from_a_file(production):
    raw = {"alg": 2, "m": 65536, "t": 3, "p": 4}

    params = KDFParams.from_dict(raw)

    assert params == kdf.PRODUCTION
    assert params.to_dict() == raw


@pytest.mark.parametrize(
    "raw",
    [
        {"alg": 2, "m": 64, "t": 1, "p": 1},
        {"alg": 2, "m": 65535, "t": 3, "p": 4},
        {"alg": 2, "m": 65536, "t": 2, "p": 4},
        {"alg": 2, "m": 65536, "t": 3, "p": 3},
    ],
)
def test_below_floor_refused_in_production(production, raw):
    with pytest.raises(VaultError, match="below"):
        KDFParams.from_dict(raw)


def test_test_cost_only_with_the_switch(monkeypatch):
    monkeypatch.setenv(kdf.TEST_KDF_ENV, "1")

    params = KDFParams.from_dict(kdf.TESTING.to_dict())

    assert params == kdf.TESTING
    assert kdf.default_params() == kdf.TESTING


@pytest.mark.parametrize("switch", [False, True])
def test_gigantic_memory_refused_at_once(monkeypatch, switch):
    if switch:
        monkeypatch.setenv(kdf.TEST_KDF_ENV, "1")
    else:
        monkeypatch.delenv(kdf.TEST_KDF_ENV, raising=False)
    started = time.perf_counter()

    with pytest.raises(VaultError, match="outside"):
        KDFParams.from_dict({"alg": 2, "m": 2**30, "t": 3, "p": 4})

    assert time.perf_counter() - started < 0.5


@pytest.mark.parametrize(
    "raw",
    [
        {"alg": 2, "m": 1024 * 1024 + 1, "t": 3, "p": 4},
        {"alg": 2, "m": 65536, "t": 17, "p": 4},
        {"alg": 2, "m": 65536, "t": 3, "p": 17},
        {"alg": 2, "m": 65536, "t": 10**12, "p": 4},
    ],
)
def test_above_ceiling_refused(production, raw):
    with pytest.raises(VaultError, match="outside"):
        KDFParams.from_dict(raw)


def test_argon2id_refuses_gigantic_params_without_running():
    params = KDFParams(memory_kib=2**30, iterations=3, lanes=4)
    started = time.perf_counter()

    with pytest.raises(VaultError):
        kdf.argon2id(b"135790", b"\0" * kdf.SALT_BYTES, params)

    assert time.perf_counter() - started < 0.5


def test_argon2id_refuses_wrong_salt_length():
    with pytest.raises(VaultError, match="salt"):
        kdf.argon2id(b"135790", b"\0" * 15, kdf.TESTING)


@pytest.mark.parametrize(
    "raw",
    [
        {"alg": 2, "m": True, "t": 3, "p": 4},
        {"alg": 2, "m": 65536, "t": True, "p": 4},
        {"alg": 2, "m": 65536, "t": 3, "p": True},
        {"alg": 2, "m": "65536", "t": 3, "p": 4},
        {"alg": 2, "m": 65536.0, "t": 3, "p": 4},
        {"alg": 2, "m": None, "t": 3, "p": 4},
        {"alg": 2, "t": 3, "p": 4},
        {"alg": 2, "m": 65536, "p": 4},
        {"alg": 2, "m": 65536, "t": 3},
    ],
    ids=[
        "bool-m",
        "bool-t",
        "bool-p",
        "str-m",
        "float-m",
        "null-m",
        "missing-m",
        "missing-t",
        "missing-p",
    ],
)
def test_malformed_params_refused(production, raw):
    with pytest.raises(VaultError, match="malformed"):
        KDFParams.from_dict(raw)


@pytest.mark.parametrize(
    "raw",
    [
        {"alg": 1, "m": 65536, "t": 3, "p": 4},
        {"alg": "2", "m": 65536, "t": 3, "p": 4},
        {"alg": None, "m": 65536, "t": 3, "p": 4},
        {"m": 65536, "t": 3, "p": 4},
        None,
        [2, 65536, 3, 4],
        "argon2id",
    ],
)
def test_wrong_algorithm_or_shape_refused(production, raw):
    with pytest.raises(VaultError, match="algorithm"):
        KDFParams.from_dict(raw)


def test_derivation_is_deterministic_and_salted():
    salt_a, salt_b = b"a" * kdf.SALT_BYTES, b"b" * kdf.SALT_BYTES

    first = kdf.argon2id(b"135790", salt_a, kdf.TESTING)

    assert first == kdf.argon2id(b"135790", salt_a, kdf.TESTING)
    assert first != kdf.argon2id(b"135790", salt_b, kdf.TESTING)
    assert first != kdf.argon2id(b"135791", salt_a, kdf.TESTING)
    assert len(first) == kdf.OUTPUT_BYTES
