"""FHIR import: partial dates (B26), bad input, NDJSON streaming, dry run, cancel."""

from __future__ import annotations

import dataclasses
import json
import os
import threading
import tracemalloc
from pathlib import Path

import pytest

from desktop_crm.errors import CRMError, NotPermitted
from desktop_crm.services import patients, providers
from desktop_crm.services.importing import import_fhir
from desktop_crm.services.importing.fhir_patient import patient_from_fhir
from desktop_crm.storage import audit, patient_queries, queries, writepath

SYSTEM = "urn:oid:1.2.3.4"
NPI = "http://hl7.org/fhir/sid/us-npi"
BIRTHSEX = "http://hl7.org/fhir/us/core/StructureDefinition/us-core-birthsex"


@pytest.fixture
def session(memory_vault):
    return memory_vault.created.session


def patient(pid: str, family: str, birth: str | None = "1980-01-02", **extra) -> dict:
    resource = {
        "resourceType": "Patient",
        "id": pid,
        "identifier": [{"system": SYSTEM, "value": pid}],
        "name": [{"use": "official", "family": family, "given": ["Ann"]}],
        **extra,
    }
    if birth is not None:
        resource["birthDate"] = birth
    return resource


def encounter(eid: str, subject: str, practitioner: str = "") -> dict:
    resource = {
        "resourceType": "Encounter",
        "id": eid,
        "status": "finished",
        "class": {"code": "VR"},
        "type": [{"coding": [{"display": "Video visit"}]}],
        "subject": {"reference": subject},
        "period": {
            "start": "2024-03-01T09:00:00-05:00",
            "end": "2024-03-01T09:30:00-05:00",
        },
    }
    if practitioner:
        resource["participant"] = [{"individual": {"reference": practitioner}}]
    return resource


def bundle(*resources: dict, kind: str = "collection") -> dict:
    return {
        "resourceType": "Bundle",
        "type": kind,
        "entry": [{"fullUrl": f"urn:uuid:{r['id']}", "resource": r} for r in resources],
    }


def write(tmp_path: Path, name: str, data: object) -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


def counts(session) -> dict[str, int]:
    return queries.table_counts(session.database())


def stored(session, pid: str) -> patients.Patient:
    found = patient_queries.patient_by_identifier(session.database(), SYSTEM, pid)
    assert found is not None, pid
    return patients.load_patient(session, found)


# -- B26 ---------------------------------------------------------------------------


@pytest.fixture
def b26(tmp_path: Path) -> Path:
    names = [
        {"use": "official", "family": "Chalmers", "given": ["Peter", "James"]},
        {"use": "usual", "given": ["Jim"]},
    ]
    return write(
        tmp_path,
        "b26.json",
        bundle(
            patient("year", "Year", "1970", name=names),
            patient("month", "Month", "1970-03"),
            patient("dash", "Dash", "1938-05-"),
            patient("datetime", "Instant", "2019-11-04T23:00:00Z"),
            patient("full", "Full", "1985-07-14"),
        ),
    )


def test_b26_partial_dates_kept_with_their_precision(session, b26):
    report = import_fhir(session, [b26])

    assert (report.patients, len(report.rejected)) == (3, 2)
    assert stored(session, "year").birth_date == "1970"
    assert stored(session, "month").birth_date == "1970-03"
    assert stored(session, "full").birth_date == "1985-07-14"
    assert report.summary_line() == (
        "imported: 3 patients, 0 practitioners, 0 encounters; "
        "unchanged: 0; skipped: 0; rejected: 2"
    )


def test_b26_invalid_date_and_datetime_name_resource_and_field(session, b26):
    report = import_fhir(session, [b26])

    by_entry = {r.entry: r.reason for r in report.rejected}
    assert set(by_entry) == {"entry 3 (Patient/dash)", "entry 4 (Patient/datetime)"}
    assert by_entry["entry 3 (Patient/dash)"].startswith("birthDate: is not a valid")
    assert not any("1938" in r or "2019" in r for r in by_entry.values())
    assert "date-time" in by_entry["entry 4 (Patient/datetime)"]
    assert by_entry["entry 4 (Patient/datetime)"].startswith("birthDate:")
    assert all(r.file == str(b26) for r in report.rejected)


def test_b26_official_name_shown_and_usual_kept_as_alias(session, b26):
    import_fhir(session, [b26])

    record = stored(session, "year")

    assert record.display_name() == "Chalmers, Peter James"
    assert (record.given, record.middle) == ("Peter", "James")
    assert record.preferred_name == "Jim"
    assert [p.id for p in patients.search(session, "jim")] == [record.id]


# -- mapping -----------------------------------------------------------------------


def test_birthsex_extension_wins_over_gender_and_deceased_boolean():
    resource = patient(
        "p",
        "Doe",
        gender="other",
        extension=[{"url": BIRTHSEX, "valueCode": "F"}],
        deceasedBoolean=True,
    )

    record = patient_from_fhir(resource, "")

    assert record.sex_at_birth == "female"
    assert (record.status, record.deceased_date) == ("deceased", None)


def test_deceased_datetime_keeps_the_recorded_local_date():
    resource = patient("p", "Doe", deceasedDateTime="2015-02-14T23:42:00+10:00")

    record = patient_from_fhir(resource, "")

    assert (record.status, record.deceased_date) == ("deceased", "2015-02-14")


def test_maiden_name_telecom_address_language_and_identifier_systems():
    resource = patient(
        "p",
        "Cormier289",
        name=[
            {"use": "official", "family": "Cormier289", "given": ["Margorie48"]},
            {"use": "maiden", "family": "Okuneva707", "given": ["Margorie48"]},
        ],
        telecom=[
            {"system": "phone", "value": "555-720-7127", "use": "home"},
            {"system": "email", "value": "m@example.org"},
            {"system": "fax", "value": "555-720-0000"},
        ],
        address=[
            {"line": ["927 Mann Track"], "city": "Andover", "postalCode": "01810"}
        ],
        communication=[{"language": {"coding": [{"code": "es"}]}}],
    )

    record = patient_from_fhir(resource, "")

    assert record.family == "Cormier289"
    assert [(n.family, n.use) for n in record.previous_names] == [
        ("Okuneva707", "maiden")
    ]
    assert [p.value for p in record.phones] == ["555-720-7127"]
    assert [e.value for e in record.emails] == ["m@example.org"]
    assert record.address == {
        "line1": "927 Mann Track",
        "city": "Andover",
        "postal_code": "01810",
    }
    assert record.language == "es"
    assert [(i.system, i.value) for i in record.identifiers] == [(SYSTEM, "p")]


def test_unusable_phone_is_left_out_with_a_warning_not_a_rejection(session, tmp_path):
    resource = patient("p", "Doe", telecom=[{"system": "phone", "value": "12"}])

    report = import_fhir(session, [write(tmp_path, "p.json", resource)])

    assert report.patients == 1 and report.rejected == []
    assert [w.reason for w in report.warnings] == [
        "telecom: not a usable phone; left out"
    ]
    assert stored(session, "p").phones == ()


# -- references and visits ---------------------------------------------------------


def test_encounters_resolve_urn_uuid_and_conditional_references(session, tmp_path):
    practitioner = {
        "resourceType": "Practitioner",
        "id": "doc",
        "identifier": [{"system": NPI, "value": "9999944793"}],
        "name": [{"family": "Crona259", "given": ["Cythia210"], "prefix": ["Dr."]}],
    }
    first = write(tmp_path, "doc.json", bundle(practitioner, kind="batch"))
    conditional = f"Practitioner?identifier={NPI}|9999944793"
    data = bundle(
        encounter("e1", "urn:uuid:p1", conditional),
        patient("p1", "Doe"),
        kind="transaction",
    )

    import_fhir(session, [first])
    report = import_fhir(session, [write(tmp_path, "p.json", data)])

    visits = patient_queries.visits(session.database(), stored(session, "p1").id)
    assert report.encounters == 1 and report.warnings == []
    assert [(v["class"], v["type"], v["provider"]) for v in visits] == [
        ("VR", "Video visit", "Dr. Cythia210 Crona259")
    ]
    assert visits[0]["start"] == "2024-03-01T14:00:00+00:00"
    assert providers.find_by_identifier(session, NPI, "9999944793") is not None


def test_unresolved_practitioner_is_a_warning_on_the_encounter(session, tmp_path):
    ref = f"Practitioner?identifier={NPI}|123"
    data = bundle(patient("p1", "Doe"), encounter("e1", "urn:uuid:p1", ref))

    report = import_fhir(session, [write(tmp_path, "p.json", data)])

    assert (report.patients, report.encounters, report.rejected) == (1, 1, [])
    assert [(w.entry, ref in w.reason) for w in report.warnings] == [
        ("entry 2 (Encounter/e1)", True)
    ]


def test_encounter_of_a_patient_not_imported_is_skipped_with_a_warning(
    session, tmp_path
):
    data = encounter("e1", "Patient/nobody")

    report = import_fhir(session, [write(tmp_path, "e.json", data)])

    assert (report.encounters, report.skipped) == (0, 1)
    assert "Patient/nobody" in report.warnings[0].reason


# -- bad input ---------------------------------------------------------------------


def test_truncated_json_is_rejected_and_other_files_still_import(session, tmp_path):
    text = json.dumps(bundle(patient("a", "Able"), patient("b", "Baker")))
    truncated = tmp_path / "truncated.json"
    truncated.write_text(text[: len(text) // 2], encoding="utf-8")
    good = write(tmp_path, "good.json", patient("c", "Charlie"))

    report = import_fhir(session, [truncated, good])

    assert report.patients == 1
    assert [(r.file, r.entry) for r in report.rejected] == [(str(truncated), "file")]
    assert report.rejected[0].reason.startswith("not valid JSON (line 1, column")
    assert patients.count(session) == 1


def test_one_broken_patient_among_good_ones(session, tmp_path):
    broken = patient("bad", "Broken", "1990-02-30")
    data = bundle(
        patient("a", "Able"),
        broken,
        encounter("e-bad", "urn:uuid:bad"),
        patient("b", "Baker"),
        kind="transaction",
    )

    report = import_fhir(session, [write(tmp_path, "b.json", data)])

    assert report.patients == 2
    assert [(r.entry, r.reason.split(":")[0]) for r in report.rejected] == [
        ("entry 2 (Patient/bad)", "birthDate")
    ]
    assert "Broken" not in report.rejected[0].reason
    assert (
        patient_queries.patient_by_identifier(session.database(), SYSTEM, "bad") is None
    )
    assert report.encounters == 0 and report.skipped == 1


def test_empty_file_is_rejected_with_a_clear_reason(session, tmp_path):
    empty = tmp_path / "empty.json"
    empty.write_bytes(b"")

    report = import_fhir(session, [empty])

    assert [(r.entry, r.reason) for r in report.rejected] == [
        ("file", "the file is empty")
    ]


def test_deeply_nested_json_is_rejected_not_a_crash(session, tmp_path):
    # The json module alone overflowed the stack on this and ended the run.
    deep = tmp_path / "deep.json"
    deep.write_text("[" * 100_000 + "]" * 100_000, encoding="utf-8")
    lines = tmp_path / "deep.ndjson"
    lines.write_text(
        json.dumps(patient("n", "Nested")) + "\n" + "{" * 5000 + "\n", encoding="utf-8"
    )
    good = write(tmp_path, "good.json", patient("c", "Charlie"))

    report = import_fhir(session, [deep, lines, good])

    assert [(r.file, r.entry, r.reason) for r in report.rejected] == [
        (str(deep), "file", "not valid JSON: nested more than 1,024 levels deep"),
        (str(lines), "line 2", "not valid JSON"),
    ]
    assert report.patients == 2 and patients.count(session) == 2


def test_json_beyond_the_standard_still_imports_as_before(session, tmp_path):
    # NaN and a byte order mark were accepted before the faster parser came
    # in; they still are, and the patient's text is kept exactly.
    odd = tmp_path / "odd.json"
    text = json.dumps(patient("o", "Ordóñez", extension_value=float("nan")))
    odd.write_bytes(b"\xef\xbb\xbf" + text.encode("utf-8"))
    latin = tmp_path / "latin.json"
    latin.write_bytes(
        json.dumps(patient("l", "Müller"), ensure_ascii=False).encode("cp1252")
    )

    report = import_fhir(session, [odd, latin])

    assert report.patients == 1
    assert stored(session, "o").family == "Ordóñez"
    assert [(r.file, r.reason) for r in report.rejected] == [
        (str(latin), "not UTF-8 text, so not FHIR JSON")
    ]


def test_a_folder_that_cannot_be_listed_is_reported_not_skipped(
    session, tmp_path, monkeypatch
):
    folder = tmp_path / "export"
    (folder / "locked").mkdir(parents=True)
    write(folder / "locked", "hidden.json", patient("h", "Hidden"))
    write(folder, "seen.json", patient("s", "Seen"))
    real_scandir = os.scandir

    def scandir(path):
        # Tests run as root, whom chmod 000 does not stop: refuse as the
        # kernel does for anyone else.
        if Path(path) == folder / "locked":
            raise PermissionError(13, "Permission denied", str(path))
        return real_scandir(path)

    monkeypatch.setattr(os, "scandir", scandir)
    report = import_fhir(session, [folder])

    assert report.patients == 1
    assert [(r.file, r.entry, r.reason) for r in report.rejected] == [
        (str(folder / "locked"), "folder", "cannot be read (Permission denied)")
    ]


def test_a_fifo_is_rejected_or_skipped_never_waited_on(session, tmp_path):
    # A read of a FIFO waits for a writer that never comes.
    given = tmp_path / "pipe.json"
    os.mkfifo(given)
    folder = tmp_path / "export"
    folder.mkdir()
    os.mkfifo(folder / "inner.ndjson")
    write(folder, "good.json", patient("g", "Good"))

    report = import_fhir(session, [given, folder])

    assert [(r.file, r.entry, r.reason) for r in report.rejected] == [
        (str(given), "file", "not a regular file (a FIFO, device or socket)")
    ]
    assert (report.patients, report.skipped) == (1, 1)


def test_a_file_removed_while_the_import_runs_is_reported_and_the_rest_go_in(
    session, tmp_path
):
    folder = tmp_path / "export"
    folder.mkdir()
    for number in range(4):
        (folder / f"part{number}.ndjson").write_text(
            json.dumps(patient(f"p{number}", f"Part{number}")) + "\n", encoding="utf-8"
        )

    def remove_part2(done: int, total: int) -> None:
        (folder / "part2.ndjson").unlink(missing_ok=True)

    report = import_fhir(session, [folder], progress=remove_part2)

    assert [(r.file, r.reason) for r in report.rejected] == [
        (str(folder / "part2.ndjson"), "no such file or folder")
    ]
    assert report.patients == 3


def test_a_file_in_a_folder_that_cannot_be_entered_is_rejected(
    session, tmp_path, monkeypatch
):
    hidden = tmp_path / "locked" / "x.json"
    hidden.parent.mkdir()
    write(hidden.parent, "x.json", patient("x", "Hidden"))
    real_stat = Path.stat

    def stat(self, *args, **kwargs):
        # As for anyone but root after chmod 000 on the folder.
        if self == hidden:
            raise PermissionError(13, "Permission denied", str(self))
        return real_stat(self, *args, **kwargs)

    monkeypatch.setattr(Path, "stat", stat)
    report = import_fhir(session, [hidden])

    assert [(r.entry, r.reason) for r in report.rejected] == [
        ("file", "cannot be read (Permission denied)")
    ]


def test_folder_with_unrelated_files_skips_them(session, tmp_path):
    folder = tmp_path / "export"
    (folder / "sub").mkdir(parents=True)
    (folder / "notes.txt").write_text("not data", encoding="utf-8")
    (folder / "logo.png").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(64))
    write(folder, "settings.json", {"theme": "dark"})
    write(folder / "sub", "patient.json", patient("a", "Able"))

    report = import_fhir(session, [folder])

    assert (report.patients, report.skipped, report.rejected) == (1, 3, [])


def test_missing_path_is_rejected_not_a_crash(session, tmp_path):
    report = import_fhir(session, [tmp_path / "nope.json"])

    assert [r.reason for r in report.rejected] == ["no such file or folder"]


def test_patient_and_identifiers_are_one_transaction(session, tmp_path, monkeypatch):
    original = writepath.INDEXERS["patient_identifiers"]

    def failing(db, mutation, *rest):
        if mutation.values.get("value") == "b":
            raise RuntimeError("disk full")
        return original(db, mutation, *rest)

    monkeypatch.setitem(writepath.INDEXERS, "patient_identifiers", failing)
    data = bundle(patient("a", "Able"), patient("b", "Baker"))

    with pytest.raises(RuntimeError):
        import_fhir(session, [write(tmp_path, "b.json", data)])

    db = session.database()
    assert patients.count(session) == 1
    assert db.scalar("SELECT count(*) FROM patients WHERE family = 'Baker'") == 0
    assert (
        db.scalar(
            "SELECT count(*) FROM patients p WHERE NOT EXISTS (SELECT 1 FROM "
            "patient_identifiers i WHERE i.patient_id = p.id AND i.system = ?)",
            (SYSTEM,),
        )
        == 0
    )


def test_a_full_disk_stops_the_import_with_a_clear_message_and_a_rerun_completes(
    memory_vault, session, tmp_path
):
    people = [patient(f"p{n}", f"Family{n}") for n in range(300)]
    path = write(tmp_path, "many.json", bundle(*people))
    db = session.database()
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.execute(f"PRAGMA max_page_count = {db.pragma('page_count') + 12}")

    with pytest.raises(CRMError, match="disk holding the vault is full") as caught:
        import_fhir(session, [path])

    assert "Family" not in str(caught.value)
    kept = patients.count(session)
    assert kept < len(people)
    assert (
        db.scalar(
            "SELECT count(*) FROM patients p WHERE NOT EXISTS (SELECT 1 FROM "
            "patient_identifiers i WHERE i.patient_id = p.id)"
        )
        == 0
    )
    # The audit head kept outside the vault names the newest stored entry,
    # not one of the lost group's.
    seq, digest = queries.audit_head(db)
    assert memory_vault.service.files.read_head() == writepath.ChainHead(seq, digest)
    session.lock()
    again = memory_vault.unlock_admin()
    try:
        assert again.head_problem is None
        report = import_fhir(again, [path])
        assert report.patients == len(people) - kept
        assert patients.count(again) == len(people)
    finally:
        again.lock()


def test_the_screens_keep_working_while_an_import_runs_in_another_thread(
    memory_vault, session, tmp_path
):
    first = patients.create_patient(
        session, patients.Patient(family="Early", given="Eve")
    )
    people = [patient(f"p{n}", f"Family{n}") for n in range(400)]
    path = write(tmp_path, "many.json", bundle(*people))
    done = threading.Event()
    outcome: list[object] = []

    def run() -> None:
        try:
            outcome.append(import_fhir(session, [path]))
        except BaseException as exc:  # noqa: BLE001 - checked below
            outcome.append(exc)
        finally:
            done.set()

    worker = threading.Thread(target=run)
    worker.start()
    views = 0
    while not done.is_set() or views < 5:
        patients.open_patient(session, first)  # an audited write
        patients.search(session, "family1")
        views += 1
    worker.join(30)

    assert [type(o).__name__ for o in outcome] == ["ImportReport"]
    assert patients.count(session) == len(people) + 1
    db = session.database()
    assert (
        db.scalar("SELECT count(*) FROM audit_log WHERE action = 'patient.view'")
        == views
    )
    kept = memory_vault.service.files.read_head()
    assert audit.verify(db, kept) == queries.audit_head(db)[0]


# -- NDJSON, dry run, progress, cancel ---------------------------------------------


def test_ndjson_streams_in_bounded_memory(session, tmp_path):
    path = tmp_path / "Observation.ndjson"
    filler = {"resourceType": "Observation", "status": "final", "note": "x" * 300}
    with path.open("w", encoding="utf-8") as stream:
        stream.write(json.dumps(patient("a", "Able")) + "\n")
        line = json.dumps(filler) + "\n"
        for _ in range(15_000):
            stream.write(line)
        stream.write("{not json\n")
    size = path.stat().st_size

    tracemalloc.start()
    try:
        report = import_fhir(session, [path])
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert (report.patients, report.skipped) == (1, 15_000)
    assert [r.entry for r in report.rejected] == ["line 15002"]
    assert size > 5_000_000
    assert peak < size // 5


def test_dry_run_counts_without_writing(session, tmp_path, b26):
    before = counts(session)

    report = import_fhir(session, [b26], dry_run=True)

    assert (report.patients, len(report.rejected)) == (3, 2)
    assert counts(session) == before


def test_progress_reaches_the_total_and_cancel_stops_between_patients(
    session, tmp_path
):
    path = tmp_path / "Patient.ndjson"
    path.write_text(
        "".join(json.dumps(patient(f"p{i}", f"Name{i}")) + "\n" for i in range(5)),
        encoding="utf-8",
    )
    seen: list[tuple[int, int]] = []
    asked = iter(range(100))

    full = import_fhir(
        session, [path], dry_run=True, progress=lambda d, t: seen.append((d, t))
    )
    cut = import_fhir(session, [path], cancel=lambda: next(asked) >= 2)

    assert seen[-1] == (path.stat().st_size, path.stat().st_size)
    assert [d for d, _ in seen] == sorted(d for d, _ in seen)
    assert full.patients == 5
    assert cut.cancelled and cut.patients == 2
    assert patients.count(session) == 2


def test_import_needs_the_import_permission(session, tmp_path):
    biller = dataclasses.replace(session, roles=("biller",))

    with pytest.raises(NotPermitted):
        import_fhir(biller, [write(tmp_path, "p.json", patient("a", "Able"))])


def test_audit_names_the_action_never_patient_values(session, tmp_path):
    import_fhir(session, [write(tmp_path, "p.json", patient("a", "Zebediah"))])

    rows = session.database().query("SELECT action, record_id, fields FROM audit_log")

    assert "patient.import" in {r[0] for r in rows}
    assert not any("Zebediah" in str(r) for r in rows)
