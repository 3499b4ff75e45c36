"""Search as you type (B17): accents, apostrophes, hyphens, dates, phones, ids."""

from __future__ import annotations

import unicodedata

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from desktop_crm.services import patients
from desktop_crm.services.patient_model import ContactPoint, Identifier, Patient
from desktop_crm.storage import folding

SYNTHEA = "https://github.com/synthetichealth/synthea"
SYNTHEA_ID = "a3f1c2d4-5b6e-4f70-8a9b-0c1d2e3f4a5b"
INJECTION = "'; DROP TABLE patients; --"


@pytest.fixture
def session(memory_vault):
    return memory_vault.created.session


def add(session, family: str, given: str = "", **fields) -> str:
    patient = Patient(family=family, given=given, **fields)
    return patients.create_patient(session, patient, allow_duplicates=True)


def found(session, query: str) -> list[str]:
    return [p.id for p in patients.search(session, query)]


@pytest.fixture
def b17(session):
    """The three B17 patients; Bélanger-Côté's surname arrives in NFD form."""
    nfd_surname = unicodedata.normalize("NFD", "Bélanger-Côté")
    ids = {
        "ogrady": add(session, "O'Grady", "Siobhán"),
        "belanger": add(session, nfd_surname, "Zoë"),
        "oneil": add(session, "O’Neil", "Mary"),
    }
    return session, ids


@pytest.mark.parametrize(
    ("query", "who"),
    [
        ("o'grady", "ogrady"),
        ("O’Grady", "ogrady"),
        ("ogrady", "ogrady"),
        ("o grady", "ogrady"),
        ("siobhan", "ogrady"),
        ("belanger", "belanger"),
        ("Bélanger", "belanger"),
        ("cote", "belanger"),
        ("zoe belanger-cote", "belanger"),
        ("o'neil", "oneil"),
        ("oneil", "oneil"),
        ("O’NEIL", "oneil"),
    ],
)
def test_b17_names_found_whatever_the_apostrophe_or_accent(b17, query, who):
    session, ids = b17

    result = found(session, query)

    assert result == [ids[who]]


def test_b17_stored_nfc_and_shown_as_entered(b17):
    session, ids = b17

    record = patients.open_patient(session, ids["belanger"])
    summary = patients.search(session, "belanger")[0]
    grady = patients.open_patient(session, ids["ogrady"])

    assert record.family == "Bélanger-Côté"
    assert unicodedata.is_normalized("NFC", record.family)
    assert summary.family == "Bélanger-Côté"
    assert record.given == "Zoë"
    assert grady.family == "O'Grady"
    assert patients.open_patient(session, ids["oneil"]).family == "O’Neil"


def test_b17_injection_finds_nothing_and_breaks_nothing(b17):
    session, _ = b17
    db = session.database()

    result = patients.search(session, INJECTION)

    assert result == []
    assert patients.count(session) == 3
    assert db.scalar("SELECT count(*) FROM patients") == 3
    assert len(patients.search(session, "o")) == 2


@pytest.mark.parametrize(
    "query", ['"', "'", "*", "NEAR(", "a OR b", "^x", "-", "names:x", "(", "a:b"]
)
def test_fts_syntax_in_a_query_is_plain_text(b17, query):
    session, _ = b17

    result = patients.search(session, query)

    assert isinstance(result, list)


@pytest.mark.parametrize(
    ("family", "given", "queries"),
    [
        ("Ordóñez", "José", ["jose", "JOSÉ", "ordonez", "Ordóñez", "jose ordonez"]),
        ("O'Brien", "Pat", ["obrien", "o brien", "O'Brien", "o’brien", "OBRIEN"]),
        ("Smith-Jones", "Kim", ["smithjones", "smith jones", "smith-jones", "jones"]),
    ],
)
def test_issue_equivalences(session, family, given, queries):
    target = add(session, family, given)
    add(session, "Unrelated", "Person")

    results = {q: found(session, q) for q in queries}

    assert results == {q: [target] for q in queries}


def test_exact_word_ranks_before_prefix(session):
    smithson = add(session, "Smithson", "Al")
    smith = add(session, "Smith", "Bo")

    result = found(session, "smith")

    assert result == [smith, smithson]


def test_exact_given_name_ranks_before_alphabetically_earlier_prefix(session):
    prefix_only = add(session, "Adams", "Leeann")
    exact = add(session, "Zane", "Lee")

    result = found(session, "lee")

    assert result == [exact, prefix_only]


@pytest.mark.parametrize("typed", ["03/14/1985", "3/14/85", "1985-03-14", "3/14/1985"])
def test_birth_date_typed_three_ways(session, typed):
    target = add(session, "Dob", "Pi", birth_date="1985-03-14")
    add(session, "Dob", "Other", birth_date="1985-04-03")

    result = found(session, typed)

    assert result == [target]


@pytest.mark.parametrize(
    "typed",
    ["(555) 010-0142", "555.010.0142", "+1 555 010 0142", "5550100142", "555 010 014"],
)
def test_phone_in_any_format(session, typed):
    target = add(session, "Phone", "Pat", phones=(ContactPoint("555-010-0142"),))
    add(session, "Phone", "Other", phones=(ContactPoint("(555) 010-0199"),))

    result = found(session, typed)

    assert result == [target]


@pytest.mark.parametrize("typed", ["jane.doe@example.com", "JANE.DOE@example.com"])
def test_email_full_address(session, typed):
    target = add(session, "Doe", "Jane", emails=(ContactPoint("jane.doe@example.com"),))
    add(session, "Doe", "John", emails=(ContactPoint("john@example.org"),))

    result = found(session, typed)

    assert result == [target]


def test_mrn_found(session):
    first = add(session, "Mrn", "One")
    second = add(session, "Mrn", "Two")
    mrn = patients.open_patient(session, second).mrn

    result = found(session, mrn)

    assert mrn and result == [second] and first not in result


def test_simple_imported_identifier_found(session):
    target = add(session, "Ident", "Ann", identifiers=(Identifier("urn:x", "ZX99817"),))

    result = found(session, "zx99817")

    assert result == [target]


@pytest.mark.parametrize("typed", [SYNTHEA_ID, "123-45-6789"])
def test_hyphenated_identifier_found(session, typed):
    idents = (Identifier(SYNTHEA, SYNTHEA_ID), Identifier("urn:ssn", "123-45-6789"))
    target = add(session, "Ident", "Hy", identifiers=idents)
    add(session, "Ident", "Other", identifiers=(Identifier(SYNTHEA, "b0"),))

    result = found(session, typed)

    assert result == [target]


def test_previous_and_preferred_names_found(session):
    from desktop_crm.services.patient_model import HumanName

    target = add(
        session,
        "Married",
        "Elizabeth",
        preferred_name="Liz",
        previous_names=(HumanName("Maidenová", "Elizabeth"),),
    )

    results = [found(session, q) for q in ("liz", "maidenova", "married")]

    assert results == [[target]] * 3


# -- property: a patient is found by its own family name, folded ------------------

_LETTERS = st.characters(categories=("Lu", "Ll"), max_codepoint=0x24F)
_SEPARATORS = st.sampled_from(["'", "’", "-", " ", "ʼ"])
_WORD = st.text(_LETTERS, min_size=1, max_size=8)
FAMILY = st.builds(
    lambda first, rest: first + "".join(sep + word for sep, word in rest),
    _WORD,
    st.lists(st.tuples(_SEPARATORS, _WORD), max_size=3),
)


@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(family=FAMILY, given_name=_WORD)
def test_found_by_own_family_name_folded(session, family, given_name):
    patient_id = add(session, family, given_name)
    query = folding.strip_accents(family).lower()

    result = found(session, query)

    assert patient_id in result


@pytest.mark.parametrize("typed", ["1987-04", "04/1987", "4/1987"])
def test_year_and_month_find_full_and_partial_birth_dates(session, typed):
    full = patients.create_patient(
        session, Patient(family="Cormier", given="Ann", birth_date="1987-04-27")
    )
    partial = patients.create_patient(
        session, Patient(family="Dahl", given="Bo", birth_date="1987-04")
    )
    patients.create_patient(
        session, Patient(family="Other", given="Cy", birth_date="1987-05-01")
    )

    found = {p.id for p in patients.search(session, typed)}

    assert found == {full, partial}
