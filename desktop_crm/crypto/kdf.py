"""Argon2id key stretching with bounded, versioned parameters."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from desktop_crm.errors import VaultError

#: Environment switch that lets the test suite use a cheap Argon2id cost.
TEST_KDF_ENV = "DESKTOP_CRM_TEST_KDF"

SALT_BYTES = 16
OUTPUT_BYTES = 32


@dataclass(frozen=True)
class KDFParams:
    """Argon2id cost: memory in KiB, passes over memory, and lanes."""

    memory_kib: int
    iterations: int
    lanes: int

    def to_dict(self) -> dict[str, int]:
        return {"alg": 2, "m": self.memory_kib, "t": self.iterations, "p": self.lanes}

    @classmethod
    def from_dict(cls, raw: Any) -> KDFParams:
        """Read parameters from a file, refusing any outside the bounds.

        Raises:
            VaultError: the values are missing, of the wrong type, weaker than
                the floor or costlier than the ceiling.
        """
        if not isinstance(raw, dict) or raw.get("alg") != 2:
            raise VaultError("key file: unknown key-derivation algorithm")
        values = [raw.get("m"), raw.get("t"), raw.get("p")]
        if not all(isinstance(v, int) and not isinstance(v, bool) for v in values):
            raise VaultError("key file: key-derivation parameters are malformed")
        params = cls(*values)  # type: ignore[arg-type]
        check_bounds(params)
        return params


#: The production floor: Argon2id at 64 MiB, 3 passes, 4 lanes.
PRODUCTION = KDFParams(memory_kib=64 * 1024, iterations=3, lanes=4)
#: A cheap cost that only the test suite may use.
TESTING = KDFParams(memory_kib=64, iterations=1, lanes=1)
#: The ceiling for any file: a crafted header cannot demand more than 1 GiB.
CEILING = KDFParams(memory_kib=1024 * 1024, iterations=16, lanes=16)


def testing_enabled() -> bool:
    """Whether the test-only low KDF cost is switched on."""
    return os.environ.get(TEST_KDF_ENV) == "1"


def default_params() -> KDFParams:
    """The cost used for new slots in this process."""
    return TESTING if testing_enabled() else PRODUCTION


def floor() -> KDFParams:
    return TESTING if testing_enabled() else PRODUCTION


def check_bounds(params: KDFParams) -> None:
    """Refuse parameters below the floor or above the ceiling."""
    low, high = floor(), CEILING
    if (
        params.memory_kib < low.memory_kib
        or params.iterations < low.iterations
        or params.lanes < low.lanes
    ):
        raise VaultError("key file: key-derivation cost is below the allowed minimum")
    if (
        params.memory_kib > high.memory_kib
        or params.iterations > high.iterations
        or params.lanes > high.lanes
        or params.memory_kib < 8 * params.lanes
    ):
        raise VaultError("key file: key-derivation cost is outside the allowed range")


def argon2id(secret: bytes, salt: bytes, params: KDFParams) -> bytes:
    """Stretch ``secret`` with Argon2id after checking ``params``."""
    from argon2.low_level import Type, hash_secret_raw  # loaded at first unlock

    check_bounds(params)
    if len(salt) != SALT_BYTES:
        raise VaultError("key file: salt has the wrong length")
    return hash_secret_raw(
        secret,
        salt,
        time_cost=params.iterations,
        memory_cost=params.memory_kib,
        parallelism=params.lanes,
        hash_len=OUTPUT_BYTES,
        type=Type.ID,
    )
