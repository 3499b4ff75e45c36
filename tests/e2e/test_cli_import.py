"""`desktop-crm import fhir|csv` through the real command and keyring."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from support.cli_harness import CLI, PIN

pytestmark = [pytest.mark.e2e, pytest.mark.keyring]

DATA = Path(__file__).resolve().parents[3] / "shared" / "data"
JIJONES_CSV = DATA / "synthea-csv" / "synthea-3.x-jijones12" / "patients.csv"


def patient(pid: str, birth: str) -> dict:
    return {
        "resourceType": "Patient",
        "id": pid,
        "identifier": [{"system": "urn:oid:1.2.3", "value": pid}],
        "name": [{"use": "official", "family": "Quayle", "given": ["Ida"]}],
        "birthDate": birth,
    }


def test_import_fhir_prints_rejections_and_the_summary(cli: CLI):
    secret, _ = cli.init()
    data = {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [
            {"resource": patient("good", "1970-03")},
            {"resource": patient("bad", "1938-05-")},
        ],
    }
    path = cli.file("bundle.json", json.dumps(data))

    first = cli.as_user("Ana Admin", PIN, cli.code(secret), "import", "fhir", path)
    second = cli.as_user("Ana Admin", PIN, None, "import", "fhir", path)

    assert first.code == 0, first.err
    assert first.out.splitlines()[-1] == (
        "imported: 1 patients, 0 practitioners, 0 encounters; "
        "unchanged: 0; skipped: 0; rejected: 1"
    )
    assert first.err.splitlines() == [
        f"rejected: {path}: entry 2 (Patient/bad): birthDate: is not a valid date "
        "(use YYYY, YYYY-MM or YYYY-MM-DD)"
    ]
    assert "Quayle" not in first.err
    assert second.code == 0, second.err
    assert second.out.splitlines()[-1].startswith("imported: 0 patients")
    assert "unchanged: 1;" in second.out


@pytest.mark.skipif(not JIJONES_CSV.is_file(), reason="shared test data missing")
def test_import_csv_of_synthea_patients(cli: CLI):
    secret, _ = cli.init()

    result = cli.as_user(
        "Ana Admin", PIN, cli.code(secret), "import", "csv", str(JIJONES_CSV)
    )

    assert result.code == 0, result.err
    assert result.out.splitlines() == [
        "imported: 8 patients, 0 practitioners, 0 encounters; "
        "unchanged: 0; skipped: 0; rejected: 0"
    ]


def test_import_csv_with_missing_columns_fails_before_any_row(cli: CLI):
    secret, _ = cli.init()
    path = cli.file("p.csv", "first_name,dob\nAnn,1980-01-01\n")

    result = cli.as_user("Ana Admin", PIN, cli.code(secret), "import", "csv", path)

    assert result.code == 1
    assert "missing required column" in result.err
    assert "imported:" not in result.out
