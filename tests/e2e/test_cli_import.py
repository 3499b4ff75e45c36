"""`desktop-crm import fhir|csv` through the real command and keyring."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
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


def test_ctrl_c_stops_an_import_with_its_summary_and_a_rerun_completes(cli: CLI):
    secret, _ = cli.init()
    count = 4000
    path = Path(cli.file("many.ndjson", ""))
    with path.open("w", encoding="utf-8") as out:
        for number in range(count):
            one = patient(
                f"p{number}", f"19{40 + number % 60}-0{1 + number % 9}-1{number % 9}"
            )
            one["name"] = [{"family": f"Family{number}", "given": [f"Given{number}"]}]
            out.write(json.dumps(one) + "\n")
    assert (
        cli.as_user("Ana Admin", PIN, cli.code(secret), "patients", "count").code == 0
    )
    pin_file = cli.file("ana.pin", PIN)
    command = [sys.executable, "-m", "desktop_crm", "import", "fhir", str(path),
               "--data-dir", str(cli.data_dir), "--user", "Ana Admin",
               "--pin-file", pin_file]  # fmt: skip
    wal = cli.data_dir / "vault.db-wal"
    started = wal.stat().st_size if wal.exists() else 0
    with subprocess.Popen(
        command, env=cli.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    ) as running:
        deadline = time.monotonic() + 60
        # Wait until patients are being written, then press Ctrl-C.
        while (wal.stat().st_size if wal.exists() else 0) < started + 400_000:
            assert running.poll() is None and time.monotonic() < deadline
            time.sleep(0.02)
        running.send_signal(signal.SIGINT)
        out, err = running.communicate(timeout=60)

    assert running.returncode == 130, err
    summary = out.splitlines()[-1]
    done = int(summary.split("imported: ")[1].split(" patients")[0])
    assert 0 < done < count
    assert "run the same command again" in err and "Traceback" not in err
    stored = cli.as_user("Ana Admin", PIN, None, "patients", "count")
    assert stored.out.strip() == f"patients: {done}"  # nothing half-written
    again = cli.as_user("Ana Admin", PIN, None, "import", "fhir", str(path))
    assert again.code == 0, again.err
    assert f"unchanged: {done};" in again.out.splitlines()[-1]
    total = cli.as_user("Ana Admin", PIN, None, "patients", "count")
    assert total.out.strip() == f"patients: {count}"
