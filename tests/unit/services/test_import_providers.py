"""The providers list: practice users with the provider role and imported ones."""

from __future__ import annotations

import pytest
from support.vault_fixtures import ZONE

from desktop_crm.errors import InvalidInput
from desktop_crm.services import providers
from desktop_crm.storage import queries

NPI = providers.NPI_SYSTEM
OTHER = "urn:oid:2.16.528.1.1007.3.1"


@pytest.fixture
def session(memory_vault):
    return memory_vault.created.session


def test_users_with_the_provider_role_join_the_list_once(session):
    created = providers.ensure_user_providers(session)
    again = providers.ensure_user_providers(session)

    assert (created, again) == ([], [])  # setup already listed its admin
    assert [p.display for p in providers.list_providers(session)] == ["Ana Admin"]


def test_adding_a_provider_user_puts_them_on_the_list(session, add_staff):
    add_staff("Dana Doctor", "provider", "246813")
    add_staff("Frank Front", "front-desk", "246813")

    again = providers.ensure_user_providers(session)

    listed = providers.list_providers(session)
    assert again == []  # add_user already did it
    assert [(p.display, p.source, p.timezone) for p in listed] == [
        ("Ana Admin", "practice", ZONE),
        ("Dana Doctor", "practice", ZONE),
    ]
    assert all(p.user_id for p in listed)


def test_practitioner_is_found_again_by_any_identifier(session):
    first, created = providers.upsert_practitioner(
        session, "Crona259", "Cythia210", "Dr. Cythia210 Crona259", "9999944793",
        [(OTHER, "938273695")], ""
    )  # fmt: skip

    again, created_again = providers.upsert_practitioner(
        session, "Crona", "Cythia", "", "", [(OTHER, "938273695")]
    )

    assert (created, created_again, again) == (True, False, first)
    assert providers.find_by_identifier(session, NPI, "9999944793") == first
    assert [
        (p.display, p.npi, p.source) for p in providers.list_providers(session)
    ] == [
        ("Ana Admin", "", "practice"),
        ("Dr. Cythia210 Crona259", "9999944793", "import"),
    ]


def test_practitioner_needs_an_identifier_and_a_name(session):
    with pytest.raises(InvalidInput, match="identifier"):
        providers.upsert_practitioner(session, "Doe", "Jo", "", "", [])
    with pytest.raises(InvalidInput, match="name"):
        providers.upsert_practitioner(session, "", "", "", "123", [])


def test_dry_run_writes_nothing(session):
    before = queries.table_counts(session.database())

    found, created = providers.upsert_practitioner(
        session, "Doe", "Jo", "", "123", [], dry_run=True
    )

    assert created and found.startswith("dry-run:")
    assert queries.table_counts(session.database()) == before
