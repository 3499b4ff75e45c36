"""Admin settings: ranges, permission, and the audited write."""

from __future__ import annotations

import pytest

from desktop_crm.errors import InvalidInput
from desktop_crm.services import settings
from desktop_crm.services import settings_keys as keys
from desktop_crm.storage import queries


def test_saves_values_in_range(memory_vault):
    session = memory_vault.created.session

    settings.save(session, {keys.IDLE_MINUTES: "15", keys.QUICK_UNLOCK_HOURS: "0"})

    assert queries.setting(session.database(), keys.IDLE_MINUTES) == "15"
    assert queries.setting(session.database(), keys.QUICK_UNLOCK_HOURS) == "0"


@pytest.mark.parametrize(
    ("name", "value", "fragment"),
    [
        (keys.IDLE_MINUTES, "0", "between 1 and 240"),
        (keys.QUICK_UNLOCK_HOURS, "25", "between 0 and 24"),
        (keys.IDLE_MINUTES, "five", "whole number"),
        ("vault.id", "x", "not a setting that can be changed"),
    ],
)
def test_refuses_bad_values_and_keeps_the_old_ones(memory_vault, name, value, fragment):
    session = memory_vault.created.session
    before = queries.setting(session.database(), keys.IDLE_MINUTES)

    with pytest.raises(InvalidInput, match=fragment):
        settings.save(session, {keys.IDLE_MINUTES: "30", name: value})

    assert queries.setting(session.database(), keys.IDLE_MINUTES) == before
