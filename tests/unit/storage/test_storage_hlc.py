"""Hybrid logical clock stamps: monotonic, move past remote stamps, sort as text."""

from __future__ import annotations

import pytest

from desktop_crm.storage import hlc
from desktop_crm.storage.hlc import HybridLogicalClock


def clock_from(values, device="dev-a", last=None) -> HybridLogicalClock:
    readings = iter(values)
    return HybridLogicalClock(device, lambda: next(readings), last)


def test_monotonic_when_wall_clock_goes_backwards():
    clock = clock_from([5000, 6000, 4000, 4000, 7000, 1000])

    stamps = [clock.tick() for _ in range(6)]

    assert stamps == sorted(stamps)
    assert len(set(stamps)) == 6
    parsed = [hlc.parse(s)[:2] for s in stamps]
    assert parsed[2] == (6000, 1) and parsed[3] == (6000, 2) and parsed[5] == (7000, 1)


def test_observe_moves_past_remote_stamp():
    clock = clock_from([1000, 1000])
    remote = HybridLogicalClock("dev-b", lambda: 9000).tick()

    clock.observe(remote)
    after = clock.tick()

    assert after > remote
    assert hlc.parse(after)[:2] == (9000, 1)


def test_observe_ignores_older_remote_stamp():
    clock = clock_from([9000, 9000])
    first = clock.tick()

    clock.observe("0000000001000.00003.dev-b")

    assert clock.tick() > first


def test_resumes_after_last_stamp():
    clock = clock_from([10], last="0000000005000.00007.dev-a")

    stamp = clock.tick()

    assert hlc.parse(stamp) == (5000, 8, "dev-a")


def test_stamps_sort_as_text_in_time_order():
    walls = [9, 10, 99, 100, 1_000, 1_700_000_000_000, 9_999_999_999_999]
    stamps = [HybridLogicalClock("d", lambda w=w: w).tick() for w in walls]

    shuffled = sorted(reversed(stamps))

    assert shuffled == stamps
    assert all(len(s) == len(stamps[0]) for s in stamps)


def test_counter_sorts_as_text():
    clock = clock_from([5] * 12)

    stamps = [clock.tick() for _ in range(12)]

    assert sorted(stamps) == stamps


@pytest.mark.parametrize("bad", ["", "123.45.d", "abc", "0000000001000.00001."])
def test_parse_refuses_malformed_stamps(bad):
    with pytest.raises(ValueError):
        hlc.parse(bad)
