"""CSV import (B23): BOM and CRLF, Windows-1252, bad rows by number, mappings."""

from __future__ import annotations

import json
import os
import tracemalloc
from pathlib import Path

import pytest

from desktop_crm.errors import InvalidInput
from desktop_crm.services import patients
from desktop_crm.services.importing import import_csv
from desktop_crm.services.importing.csv_import import preview_csv
from desktop_crm.services.importing.csv_source import CsvSource, detect_encoding
from desktop_crm.storage import queries

HEADER = "last_name,first_name,dob,phone,notes"
ROWS = [
    "Müller,Zoë,1984-02-29,(555) 010-0142,Renée – follow-up",
    "Smith,Ann,03/14/1985,,",
]
SYNTHEA_HEADER = (
    "Id,BIRTHDATE,DEATHDATE,SSN,DRIVERS,PASSPORT,PREFIX,FIRST,LAST,SUFFIX,MAIDEN,"
    "MARITAL,RACE,ETHNICITY,GENDER,BIRTHPLACE,ADDRESS,CITY,STATE,COUNTY,ZIP"
)


@pytest.fixture
def session(memory_vault):
    return memory_vault.created.session


def write(tmp_path: Path, lines: list[str], encoding: str, newline: str = "\n") -> Path:
    path = tmp_path / "patients.csv"
    path.write_bytes(newline.join(lines).encode(encoding) + newline.encode())
    return path


def names(session) -> list[tuple[str, str, str | None, str]]:
    found = []
    for summary in patients.page(session, 0, 100):
        record = patients.load_patient(session, summary.id)
        found.append((record.family, record.given, record.birth_date, record.notes))
    return sorted(found)


def test_utf8_bom_and_crlf_map_every_column(session, tmp_path):
    path = write(tmp_path, [HEADER, *ROWS], "utf-8-sig", "\r\n")

    report = import_csv(session, path)

    assert (report.patients, report.rejected) == (2, [])
    assert names(session) == [
        ("Müller", "Zoë", "1984-02-29", "Renée – follow-up"),
        ("Smith", "Ann", "1985-03-14", ""),
    ]
    müller = patients.search(session, "muller")[0]
    assert (
        patients.load_patient(session, müller.id).phones[0].value.endswith("010-0142")
    )


def test_windows_1252_is_detected_and_read_as_unicode(session, tmp_path):
    path = write(tmp_path, [HEADER, *ROWS], "cp1252", "\r\n")
    assert b"\x96" in path.read_bytes()

    report = import_csv(session, path)

    assert detect_encoding(path) == "cp1252"
    assert report.rejected == []
    assert names(session)[0] == ("Müller", "Zoë", "1984-02-29", "Renée – follow-up")


def test_encoding_can_be_given(session, tmp_path):
    path = write(tmp_path, [HEADER, ROWS[0]], "cp1252")

    import_csv(session, path, encoding="windows-1252")

    assert names(session)[0][0] == "Müller"


def test_undecodable_byte_reports_its_row_and_the_rest_go_in(session, tmp_path):
    lines = [HEADER.encode()] + [
        f"Name{i},Ann,1980-01-01,,".encode() for i in range(2, 9)
    ]
    lines[4] = b"M\x81ller,Ann,1980-01-01,,"
    path = tmp_path / "c.csv"
    path.write_bytes(b"\r\n".join(lines) + b"\r\n")

    report = import_csv(session, path)

    assert report.patients == 6
    assert [(r.entry, r.reason) for r in report.rejected] == [
        ("row 5", "last_name: byte 0x81 cannot be read as cp1252")
    ]


def test_bad_date_reports_row_and_column_without_names(session, tmp_path):
    rows = [*ROWS, "Carter,Bea,1985-13-01,,", "Dunn,Cy,,,"]
    path = write(tmp_path, [HEADER, *rows], "utf-8")

    report = import_csv(session, path)

    assert report.patients == 3
    assert [r.entry for r in report.rejected] == ["row 4"]
    reason = report.rejected[0].reason
    assert reason.startswith("dob: ")
    assert "1985-13-01" not in reason  # the patient's own value is never echoed
    assert "Carter" not in reason and "Bea" not in reason


@pytest.mark.slow
def test_sixty_thousand_rows_stream_in_bounded_memory(tmp_path):
    path = tmp_path / "big.csv"
    with path.open("wb") as stream:
        stream.write(HEADER.encode() + b"\r\n")
        for row in range(2, 60_001):
            name = b"M\x81ller" if row == 41_207 else b"M\xfcller"
            stream.write(name + b",Ren\xe9e,1980-01-01,,Ren\xe9e \x96 follow-up\r\n")

    source = CsvSource(path, detect_encoding(path))

    tracemalloc.start()
    try:
        bad = [(r.number, r.bad_bytes) for r in source.rows() if r.bad_bytes]
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert bad == [(41_207, "0x81")]
    assert source.encoding == "cp1252"
    assert peak < 1_000_000 < path.stat().st_size


def test_missing_synthea_columns_stop_before_any_row(session, tmp_path):
    header = SYNTHEA_HEADER.replace(",LAST", "").replace("BIRTHDATE,", "BIRTHDATE,")
    row = "abc,1980-01-01,,999-00-0000,,,,Ann,,,,white,nonhispanic,F,,,,,,"
    path = write(tmp_path, [header, row], "utf-8")

    with pytest.raises(InvalidInput) as caught:
        import_csv(session, path)

    assert caught.value.message.endswith(": LAST")
    assert patients.count(session) == 0


def test_sheet_without_a_family_name_column_is_refused(session, tmp_path):
    path = write(tmp_path, ["first_name,dob", "Ann,1980-01-01"], "utf-8")

    with pytest.raises(InvalidInput, match="missing required column"):
        import_csv(session, path)


def test_mapping_file_with_an_identifier_makes_reimport_idempotent(session, tmp_path):
    path = write(
        tmp_path,
        ["Surname;Forename;Born;Chart".replace(";", ","), "Ng,Li,1990,77"],
        "utf-8",
    )
    mapping = tmp_path / "mapping.json"
    mapping.write_text(
        json.dumps(
            {
                "family": "Surname",
                "given": "Forename",
                "birth_date": "Born",
                "identifier:urn:oid:1.2.3": "Chart",
            }
        ),
        encoding="utf-8",
    )

    first = import_csv(session, path, mapping=mapping)
    second = import_csv(session, path, mapping=mapping)

    assert (first.patients, second.patients, second.unchanged) == (1, 0, 1)
    assert names(session) == [("Ng", "Li", "1990", "")]


def test_mapping_naming_a_missing_column_is_refused(session, tmp_path):
    path = write(tmp_path, [HEADER, ROWS[0]], "utf-8")

    with pytest.raises(InvalidInput, match="missing required column.*: surname"):
        import_csv(session, path, mapping={"family": "surname"})


def test_synthea_row_becomes_identifiers_and_deceased(session, tmp_path):
    row = (
        "0432d0f1,1983-09-20,2022-09-07,999-48-7064,S99949743,X63716797X,Mr.,"
        "Cameron381,Reilly981,,,M,white,nonhispanic,M,Boston,1 Main St,Quincy,"
        "Massachusetts,Norfolk County,02169"
    )
    path = write(tmp_path, [SYNTHEA_HEADER, row], "utf-8")

    import_csv(session, path)

    record = patients.load_patient(session, patients.page(session, 0, 1)[0].id)
    assert (record.family, record.given, record.prefix) == (
        "Reilly981",
        "Cameron381",
        "Mr.",
    )
    assert (record.status, record.deceased_date) == ("deceased", "2022-09-07")
    assert ("https://github.com/synthetichealth/synthea", "0432d0f1") in {
        (i.system, i.value) for i in record.identifiers
    }
    assert record.address["postal_code"] == "02169"


def test_row_with_wrong_number_of_values_is_rejected(session, tmp_path):
    path = write(tmp_path, [HEADER, ROWS[0], "Short,Row"], "utf-8")

    report = import_csv(session, path)

    assert report.patients == 1
    assert [r.entry for r in report.rejected] == ["row 3"]


def test_dry_run_writes_nothing(session, tmp_path):
    path = write(tmp_path, [HEADER, *ROWS], "utf-8")
    before = queries.table_counts(session.database())

    report = import_csv(session, path, dry_run=True)

    assert report.patients == 2
    assert queries.table_counts(session.database()) == before


def test_unused_columns_are_named_in_one_warning(session, tmp_path):
    path = write(
        tmp_path, ["last_name,first_name,Fax,Referrer", "Ng,Li,555,Dr X"], "utf-8"
    )

    report = import_csv(session, path)

    assert report.patients == 1
    assert [(w.entry, w.reason) for w in report.warnings] == [
        (
            "header",
            "column(s) not imported: Fax, Referrer (map them to a field, or list "
            'them in a mapping as "ignore:..." to leave them out)',
        )
    ]


def test_columns_a_mapping_ignores_are_not_warned_about(session, tmp_path):
    path = write(tmp_path, ["Surname,Fax,Referrer", "Ng,555,Dr X"], "utf-8")
    mapping = {"family": "Surname", "ignore:fax": "Fax", "ignore:2": "Referrer"}

    report = import_csv(session, path, mapping=mapping)

    assert (report.patients, report.warnings) == (1, [])


def test_synthea_columns_we_do_not_keep_are_not_warned_about(session, tmp_path):
    row = "abc,1980-01-01,,,,,,Ann,Lee,,,M,white,nonhispanic,F,Boston,,,,,"
    path = write(tmp_path, [SYNTHEA_HEADER, row], "utf-8")

    report = import_csv(session, path)

    assert (report.patients, report.warnings) == (1, [])


def test_synthea_file_without_its_birthdate_is_refused_naming_it(session, tmp_path):
    columns = SYNTHEA_HEADER.split(",")
    row = "abc,1980-01-01,,999-00-0000,,,,Ann,Lee,,,M,white,nonhispanic,F,,,,,,"
    values = row.split(",")
    gone = columns.index("BIRTHDATE")
    del columns[gone], values[gone]
    path = write(tmp_path, [",".join(columns), ",".join(values)], "utf-8")

    with pytest.raises(InvalidInput) as caught:
        import_csv(session, path)

    assert caught.value.message.endswith("Synthea's patients.csv: BIRTHDATE")
    assert patients.count(session) == 0


def test_semicolon_separated_sheet_is_read(session, tmp_path):
    lines = [HEADER.replace(",", ";"), "Müller;Zoë;1984-02-29;;Renée, follow-up"]
    path = write(tmp_path, lines, "cp1252", "\r\n")

    report = import_csv(session, path)

    assert (report.patients, report.rejected) == (1, [])
    assert names(session) == [("Müller", "Zoë", "1984-02-29", "Renée, follow-up")]


def test_tab_separated_sheet_is_read(session, tmp_path):
    path = write(tmp_path, ["Surname\tForename", "Ng\tLi"], "utf-8")

    report = import_csv(session, path)

    assert report.patients == 1
    assert names(session) == [("Ng", "Li", None, "")]


def test_single_column_sheet_keeps_the_comma(tmp_path):
    path = write(tmp_path, ["family", "Ng; Li"], "utf-8")
    source = CsvSource(path, "utf-8")

    rows = [r.values for r in source.rows()]

    assert (source.delimiter, rows) == (",", [["family"], ["Ng; Li"]])


def test_a_folder_is_named_as_a_folder(session, tmp_path):
    folder = tmp_path / "exports"
    folder.mkdir()

    with pytest.raises(InvalidInput, match="is a folder, not a CSV file"):
        import_csv(session, folder)


def test_a_fifo_is_refused_before_anything_waits_on_it(session, tmp_path):
    # Reading a FIFO to detect its encoding would wait for a writer forever.
    pipe = tmp_path / "patients.csv"
    os.mkfifo(pipe)

    with pytest.raises(InvalidInput, match="not a regular file"):
        import_csv(session, pipe)
    with pytest.raises(InvalidInput, match="not a regular file"):
        preview_csv(pipe)
