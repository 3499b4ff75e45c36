"""Canaries: names, PINs and TOTP secrets never reach the vault folder in the clear."""

from __future__ import annotations

from pathlib import Path

import pytest
from support.vault_fixtures import ADMIN_PIN

from desktop_crm.services import users
from desktop_crm.storage.writepath import AuditEvent, Mutation

MARKER = "QXMARKERZQ"
MARKER_PIN = "975319"


def encodings(text: str) -> list[bytes]:
    return [text.encode("utf-8"), text.encode("utf-16-le")]


def files_holding(root: Path, text: str) -> list[str]:
    """Every file under ``root`` containing ``text`` in UTF-8 or UTF-16-LE."""
    found = []
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        data = path.read_bytes()
        if any(needle in data for needle in encodings(text)):
            found.append(path.name)
    return found


@pytest.fixture
def marked(memory_vault):
    """A vault where the marker is a user's name and a setting's value."""
    session = memory_vault.created.session
    enrolment = users.add_user(
        memory_vault.service, session, MARKER, "provider", MARKER_PIN
    )
    session.write(
        AuditEvent("settings.change", "settings", "practice.note"),
        [Mutation("settings", "practice.note", "upsert", {"value": MARKER + "-NOTE"})],
    )
    return memory_vault, enrolment.secret


@pytest.mark.parametrize("locked", [False, True], ids=["unlocked", "locked"])
def test_secrets_and_values_never_on_disk(marked, locked):
    harness, new_secret = marked
    if locked:
        harness.created.session.lock()

    secrets = [
        MARKER + "-NOTE",
        ADMIN_PIN,
        MARKER_PIN,
        harness.admin_secret,
        new_secret,
    ]

    leaks = {text: files_holding(harness.root, text) for text in secrets}
    assert leaks == {text: [] for text in secrets}


def test_user_name_only_in_the_header(marked):
    harness, _ = marked
    harness.created.session.lock()

    holding = files_holding(harness.root, MARKER)

    # Staff names are in the header by design: the lock screen lists them
    # before any key is available.  No other file may hold them.
    assert holding == ["vault.header"]


def test_database_files_are_not_plaintext(marked):
    harness, _ = marked

    heads = [p.read_bytes()[:16] for p in harness.root.rglob("*.db")]

    assert heads and all(h != b"SQLite format 3\x00" for h in heads)


def test_session_connection_keeps_temp_storage_in_memory(memory_vault):
    unlocked = memory_vault.unlock_admin()

    temp_stores = [
        memory_vault.created.session.database().pragma("temp_store"),
        unlocked.database().pragma("temp_store"),
    ]

    unlocked.lock()
    assert temp_stores == [2, 2]
