"""Import of every bundle and CSV set in ../shared/data, checked against the files.

Expectations are computed from the files themselves (names, birth dates,
identifiers, deceased dates), not written down by hand.  The 24 SMART
bundles are imported once for the module.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from support.vault_fixtures import make_vault

from desktop_crm.platform.secret_store import MemorySecretStore
from desktop_crm.services import patients
from desktop_crm.services.importing import import_csv, import_fhir
from desktop_crm.storage import patient_queries, queries

DATA = Path(__file__).resolve().parents[3] / "shared" / "data"
SMART = DATA / "synthea-fhir" / "smart-generated-sample-data-r4"
JIJONES = DATA / "synthea-fhir" / "synthea-3.x-jijones12"
JIJONES_CSV = DATA / "synthea-csv" / "synthea-3.x-jijones12" / "patients.csv"
DBT_CSV = DATA / "synthea-csv" / "dbt-synthea-seed-v3.0.0" / "patients.csv"
EXAMPLES = DATA / "fhir-examples" / "r4-4.0.1"
SYNTHEA = "https://github.com/synthetichealth/synthea"

pytestmark = pytest.mark.skipif(not DATA.is_dir(), reason="shared test data missing")


def _vault(tmp_path_factory: pytest.TempPathFactory):
    return make_vault(tmp_path_factory.mktemp("import") / "vault", MemorySecretStore())


@pytest.fixture
def session(tmp_path_factory):
    harness = _vault(tmp_path_factory)
    yield harness.created.session
    harness.created.session.lock()


@pytest.fixture(scope="module")
def smart(tmp_path_factory):
    """A vault with the 24 SMART bundles imported, and that first report."""
    harness = _vault(tmp_path_factory)
    session = harness.created.session
    report = import_fhir(session, [SMART])
    yield session, report
    session.lock()


def patient_resources(folder: Path) -> list[dict]:
    found = []
    for path in sorted(folder.glob("*.json")):
        bundle = json.loads(path.read_text(encoding="utf-8"))
        found += [
            e["resource"]
            for e in bundle.get("entry", [])
            if e["resource"]["resourceType"] == "Patient"
        ]
    return found


def synthea_id(resource: dict) -> str:
    return next(i["value"] for i in resource["identifier"] if i["system"] == SYNTHEA)


def official(resource: dict) -> dict:
    return next(n for n in resource["name"] if n.get("use") == "official")


def by_synthea_id(session, value: str):
    patient_id = patient_queries.patient_by_identifier(
        session.database(), SYNTHEA, value
    )
    assert patient_id is not None, value
    return patients.load_patient(session, patient_id)


def table_counts(session) -> dict[str, int]:
    counts = queries.table_counts(session.database())
    return {t: counts[t] for t in ("patients", "patient_identifiers", "visits")}


def assert_matches_fhir(session, resource: dict) -> None:
    stored = by_synthea_id(session, synthea_id(resource))
    name = official(resource)
    assert stored.family == name["family"]
    assert [stored.given, *stored.middle.split()] == name["given"]
    assert stored.birth_date == resource["birthDate"]
    deceased = resource.get("deceasedDateTime")
    assert stored.deceased_date == (deceased[:10] if deceased else None)
    assert stored.status == ("deceased" if deceased else "active")
    kept = {(i.system, i.value) for i in stored.identifiers}
    assert {(i["system"], i["value"]) for i in resource["identifier"]} <= kept


# -- SMART bundles -------------------------------------------------------------------


def test_smart_bundles_give_exactly_their_patients(smart):
    session, report = smart
    resources = patient_resources(SMART)

    assert len(resources) == 24
    assert report.patients == 24
    assert report.rejected == []
    assert patients.count(session) == 24
    for resource in resources:
        assert_matches_fhir(session, resource)


def test_smart_deceased_and_non_ascii_names_kept(smart):
    session, _ = smart
    resources = patient_resources(SMART)
    deceased = [r for r in resources if "deceasedDateTime" in r]
    accented = [r for r in resources if not official(r)["family"].isascii()]

    assert len(deceased) == 5
    assert accented
    for resource in deceased + accented:
        assert_matches_fhir(session, resource)


def test_smart_encounters_become_visits_with_their_practitioner(smart):
    session, report = smart
    encounters = [
        e["resource"]
        for path in SMART.glob("*.json")
        for e in json.loads(path.read_text(encoding="utf-8"))["entry"]
        if e["resource"]["resourceType"] == "Encounter"
    ]
    with_participant = [r for r in encounters if r.get("participant")]
    linked = session.database().scalar(
        "SELECT count(*) FROM visits WHERE provider_id IS NOT NULL"
    )

    assert report.encounters == len(encounters)
    # Synthea 2.4's "Death Certification" encounters name no participant.
    assert linked == len(with_participant) < len(encounters)
    assert report.practitioners > 0
    assert report.warnings == []


def test_second_smart_import_adds_nothing(smart):
    session, _ = smart
    before = table_counts(session)

    again = import_fhir(session, [SMART])

    assert again.unchanged == 24
    assert (again.patients, again.practitioners, again.encounters) == (0, 0, 0)
    assert table_counts(session) == before


# -- Synthea 3.x: FHIR, CSV and conditional references -----------------------------


def test_jijones_info_bundles_first_resolve_practitioners(session):
    info = sorted(JIJONES.glob("*Information*.json"))
    people = sorted(p for p in JIJONES.glob("*.json") if p not in info)

    report = import_fhir(session, [*info, *people])

    unlinked = session.database().scalar(
        "SELECT count(*) FROM visits WHERE provider_id IS NULL"
    )
    assert report.patients == 7
    assert report.encounters > 0
    assert unlinked == 0
    assert report.rejected == []
    assert report.warnings == []


def test_jijones_without_info_bundles_warns_and_rejects_nothing(session):
    people = sorted(p for p in JIJONES.glob("*.json") if "Information" not in p.name)

    report = import_fhir(session, people)

    assert report.patients == 7
    assert report.rejected == []
    assert len(report.warnings) == report.encounters
    assert all("Practitioner?identifier=" in w.reason for w in report.warnings)
    for resource in patient_resources(JIJONES):
        assert_matches_fhir(session, resource)


def test_jijones_folder_links_practitioners_whatever_the_file_order(session):
    report = import_fhir(session, [JIJONES])

    assert report.patients == 7
    assert report.practitioners == 47
    assert [w.entry for w in report.warnings] == ["file"]  # metadata/*.json
    assert (
        session.database().scalar(
            "SELECT count(*) FROM visits WHERE provider_id IS NULL"
        )
        == 0
    )


def test_csv_and_fhir_of_one_synthea_run_converge(session):
    with JIJONES_CSV.open(encoding="utf-8", newline="") as stream:
        rows = list(csv.DictReader(stream))

    fhir = import_fhir(session, [JIJONES])
    from_csv = import_csv(session, JIJONES_CSV)

    assert (fhir.patients, len(rows)) == (7, 8)
    assert from_csv.patients == 1
    assert from_csv.unchanged + from_csv.updated == 7
    assert patients.count(session) == 8
    for row in rows:
        stored = by_synthea_id(session, row["Id"])
        assert (stored.family, stored.given) == (row["LAST"], row["FIRST"])
        assert stored.birth_date == row["BIRTHDATE"]
        assert stored.deceased_date == (row["DEATHDATE"] or None)


def test_csv_then_fhir_also_converges(session):
    import_csv(session, JIJONES_CSV)

    fhir = import_fhir(session, [JIJONES])

    assert fhir.patients == 0
    assert fhir.unchanged + fhir.updated == 7
    assert patients.count(session) == 8
    for resource in patient_resources(JIJONES):
        assert_matches_fhir(session, resource)


def test_dbt_csv_set_and_its_second_import(session):
    with DBT_CSV.open(encoding="utf-8", newline="") as stream:
        rows = list(csv.DictReader(stream))

    first = import_csv(session, DBT_CSV)
    second = import_csv(session, DBT_CSV)

    assert first.patients == len(rows) == 18
    assert first.rejected == []
    assert second.unchanged == 18 and second.patients == 0
    assert any(r["DEATHDATE"] for r in rows)
    for row in rows:
        stored = by_synthea_id(session, row["Id"])
        assert (stored.family, stored.given) == (row["LAST"], row["FIRST"])
        assert stored.birth_date == row["BIRTHDATE"]
        assert stored.deceased_date == (row["DEATHDATE"] or None)
        assert stored.sex_at_birth == {"M": "male", "F": "female"}[row["GENDER"]]
        assert ("http://hl7.org/fhir/sid/us-ssn", row["SSN"]) in {
            (i.system, i.value) for i in stored.identifiers
        }


# -- HL7 examples ----------------------------------------------------------------------


def example_patients() -> int:
    count = 0
    for path in EXAMPLES.glob("*.json"):
        data = json.loads(path.read_text(encoding="utf-8"))
        resources = [e.get("resource", {}) for e in data.get("entry", [])] or [data]
        count += sum(1 for r in resources if r.get("resourceType") == "Patient")
    return count


def test_hl7_examples_import_or_are_rejected_with_a_reason(session):
    patient_files = sorted(EXAMPLES.glob("Patient-*.json"))

    report = import_fhir(session, [EXAMPLES])
    again = import_fhir(session, [EXAMPLES])

    rejected = {Path(r.file).name for r in report.rejected}
    assert all(r.reason and r.entry for r in report.rejected)
    for path in patient_files:
        resource = json.loads(path.read_text(encoding="utf-8"))
        identified = [
            i
            for i in resource.get("identifier", [])
            if i.get("system") and i.get("value")
        ]
        if path.name in rejected:
            continue
        for ident in identified:
            owner = patient_queries.patient_by_identifier(
                session.database(), ident["system"], ident["value"]
            )
            assert owner is not None, path.name
    handled = report.patients + report.unchanged + report.updated
    assert handled + len(report.rejected) == example_patients()
    assert again.patients == 0 and again.encounters == 0
    assert again.unchanged == report.patients + report.unchanged
