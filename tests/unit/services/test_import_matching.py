"""Which existing patient an imported one is: identifiers, two people behind one
identifier, plain sheets with none, and another import storing the same
patient at the same moment."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from desktop_crm.services import patients
from desktop_crm.services.importing import import_csv, import_fhir
from desktop_crm.storage import patient_queries
from desktop_crm.storage.database import VaultBusy

SYSTEM = "urn:example:chart"


@pytest.fixture
def session(memory_vault):
    return memory_vault.created.session


@pytest.fixture
def theirs(memory_vault):
    """A second session on the vault, as another process's import has."""
    other = memory_vault.unlock_admin()
    yield other
    other.lock()


def patient(pid: str, family: str, given: str, birth: str, ident: str | None) -> dict:
    resource: dict = {
        "resourceType": "Patient",
        "id": pid,
        "name": [{"family": family, "given": [given]}],
        "birthDate": birth,
    }
    if ident is not None:
        resource["identifier"] = [{"system": SYSTEM, "value": ident}]
    return resource


def ndjson(tmp_path: Path, name: str, *resources: dict) -> Path:
    path = tmp_path / name
    path.write_text("".join(json.dumps(r) + "\n" for r in resources), encoding="utf-8")
    return path


def test_two_people_behind_one_identifier_the_second_is_rejected(session, tmp_path):
    source = ndjson(
        tmp_path,
        "p.ndjson",
        patient("a1", "Alpha", "Ann", "1980-01-01", "SAME"),
        patient("b1", "Beta", "Bob", "1990-02-02", "SAME"),
    )

    report = import_fhir(session, [source])

    assert (report.patients, report.unchanged) == (1, 0)
    [rejected] = report.rejected
    assert (rejected.file, rejected.entry) == (str(source), "line 2 (Patient/b1)")
    assert "another birth date or name" in rejected.reason
    assert "Beta" not in rejected.reason and "SAME" not in rejected.reason
    assert patients.count(session) == 1


def test_a_changed_family_name_is_still_the_same_person(session, tmp_path):
    import_fhir(
        session,
        [
            ndjson(
                tmp_path, "1.ndjson", patient("a", "Alpha", "Ann", "1980-01-01", "X1")
            )
        ],
    )
    married = patient("a", "Newname", "Ann", "1980-01-01", "X1")

    report = import_fhir(session, [ndjson(tmp_path, "2.ndjson", married)])

    assert (report.patients, report.unchanged, report.rejected) == (0, 1, [])


def test_a_dry_run_names_the_clash_too(session, tmp_path):
    source = ndjson(
        tmp_path,
        "p.ndjson",
        patient("a1", "Alpha", "Ann", "1980-01-01", "SAME"),
        patient("b1", "Beta", "Bob", "1990-02-02", "SAME"),
    )

    report = import_fhir(session, [source], dry_run=True)

    assert report.patients == 1 and len(report.rejected) == 1
    assert patients.count(session) == 0


def test_a_sheet_without_identifiers_imported_twice_adds_nothing(session, tmp_path):
    sheet = tmp_path / "generic.csv"
    sheet.write_text(
        "Last Name,First Name,DOB,Phone,Email\n"
        "Nguyen,Thi,1979-08-08,555-201-3344,thi@example.org\n"
        "Okafor,Chidi,1988-03-04,(555) 777-1212,\n",
        encoding="utf-8",
    )

    first = import_csv(session, sheet)
    again = import_csv(session, sheet)

    assert (first.patients, again.patients, again.unchanged) == (2, 0, 2)
    assert patients.count(session) == 2


def test_without_identifiers_a_namesake_born_another_day_is_a_new_patient(
    session, tmp_path
):
    first = tmp_path / "first.csv"
    first.write_text(
        "Last Name,First Name,DOB\nOkafor,Chidi,1988-03-04\n", encoding="utf-8"
    )
    import_csv(session, first)
    second = tmp_path / "second.csv"
    second.write_text(
        "Last Name,First Name,DOB\n"
        "Okafor,Chidi,1988-03-05\n"  # born another day: another person
        "ÓKAFOR,chidi,1988-03-04\n",  # the same name, typed differently
        encoding="utf-8",
    )

    report = import_csv(session, second)

    assert (report.patients, report.unchanged) == (1, 1)
    assert patients.count(session) == 2


def test_an_mrn_taken_meanwhile_by_another_process_is_numbered_again(
    memory_vault, theirs, monkeypatch
):
    mine = memory_vault.created.session
    real_next = patient_queries.next_mrn
    raced = []

    def next_mrn_taken_right_after(db):
        number = real_next(db)
        if not raced:
            # Between our read of the next MRN and our write, the other
            # process stores a patient under that very number.
            raced.append(number)
            patients.create_patient(theirs, patients.Patient(family="Theirs"))
        return number

    monkeypatch.setattr(patient_queries, "next_mrn", next_mrn_taken_right_after)
    created = patients.create_patient(mine, patients.Patient(family="Mine"))

    [other] = patients.search(mine, "Theirs")
    assert other.mrn == raced[0]
    assert patients.load_patient(mine, created).mrn not in ("", raced[0])
    assert patients.count(mine) == 2


def test_a_patient_stored_meanwhile_by_another_import_is_not_duplicated(
    memory_vault, theirs, tmp_path, monkeypatch
):
    mine = memory_vault.created.session
    resource = patient("a", "Alpha", "Ann", "1980-01-01", "X1")
    real_find = patients.find_duplicates
    raced = []

    def duplicates_then_the_other_import_stores_it(session, candidate):
        if not raced:
            # The other import stores the same patient (same identifier)
            # after our lookup found nobody and before our write.
            raced.append(True)
            import_fhir(theirs, [ndjson(tmp_path, "theirs.ndjson", resource)])
        return real_find(session, candidate)

    monkeypatch.setattr(
        patients, "find_duplicates", duplicates_then_the_other_import_stores_it
    )
    report = import_fhir(mine, [ndjson(tmp_path, "mine.ndjson", resource)])

    assert (report.patients, report.unchanged, report.rejected) == (0, 1, [])
    assert patients.count(mine) == 1


def test_a_sheet_without_identifiers_holds_the_vault_while_it_matches(
    memory_vault, theirs, tmp_path, monkeypatch
):
    # Two imports of the same plain sheet at once made every row twice: the
    # name-and-birth-date check and the write must not let another in between.
    mine = memory_vault.created.session
    theirs.database().execute("PRAGMA busy_timeout = 100")
    sheet = tmp_path / "plain.csv"
    sheet.write_text(
        "Last Name,First Name,DOB\nOkafor,Chidi,1988-03-04\n", encoding="utf-8"
    )
    real_find = patients.find_duplicates
    kept_out = []

    def duplicates_while_the_other_import_tries(session, candidate):
        try:
            import_csv(theirs, sheet)
        except VaultBusy:
            kept_out.append(True)
        return real_find(session, candidate)

    monkeypatch.setattr(
        patients, "find_duplicates", duplicates_while_the_other_import_tries
    )
    report = import_csv(mine, sheet)

    assert kept_out == [True] and report.patients == 1
    monkeypatch.setattr(patients, "find_duplicates", real_find)
    again = import_csv(theirs, sheet)
    assert (again.patients, again.unchanged) == (0, 1)
    assert patients.count(mine) == 1
