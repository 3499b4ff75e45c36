"""Column mappings saved per source: save, list, reuse from the CLI."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from desktop_crm.cli import commands, import_commands
from desktop_crm.cli.main import build_parser
from desktop_crm.errors import InvalidInput, NotPermitted
from desktop_crm.services import patients
from desktop_crm.services.importing import (
    import_csv,
    load_saved_mappings,
    save_mapping,
)
from desktop_crm.services.importing.csv_import import (
    MAPPING_PREFIX,
    preview_csv,
    saved_mapping,
)
from desktop_crm.storage import queries

MAPPING = {"family": "Nom", "given": "Prénom", "birth_date": "Naissance"}


@pytest.fixture
def session(memory_vault):
    return memory_vault.created.session


def sheet(tmp_path: Path, rows: list[str], encoding: str = "utf-8") -> Path:
    path = tmp_path / "export.csv"
    lines = ["Nom,Prénom,Naissance,Téléphone", *rows]
    path.write_bytes(("\r\n".join(lines) + "\r\n").encode(encoding))
    return path


def test_import_saves_the_mapping_through_the_write_path(session, tmp_path):
    path = sheet(tmp_path, ["Ordóñez,José,1985-03-14,"])

    report = import_csv(session, path, mapping=MAPPING, save_as="Old EHR")

    assert report.patients == 1
    stored = queries.setting(session.database(), MAPPING_PREFIX + "Old EHR")
    assert json.loads(stored) == MAPPING
    assert load_saved_mappings(session) == {"Old EHR": MAPPING}
    actions = [
        r[0]
        for r in session.database().query(
            "SELECT action FROM audit_log WHERE record_id = ?",
            (MAPPING_PREFIX + "Old EHR",),
        )
    ]
    assert actions == ["import.mapping_save"]


def test_dry_run_and_a_refused_mapping_save_nothing(session, tmp_path):
    path = sheet(tmp_path, ["Ordóñez,José,1985-03-14,"])

    import_csv(session, path, mapping=MAPPING, save_as="Old EHR", dry_run=True)
    with pytest.raises(InvalidInput, match="missing"):
        import_csv(session, path, mapping={"family": "Surname"}, save_as="Bad")

    assert load_saved_mappings(session) == {}
    assert patients.count(session) == 0


def test_saved_mapping_is_reused_and_can_be_replaced(session, tmp_path):
    save_mapping(session, "Old EHR", {"family": "Nom"})
    save_mapping(session, " Old EHR ", MAPPING)
    save_mapping(session, "Clinic B", {"family": "last"})

    assert list(load_saved_mappings(session)) == ["Clinic B", "Old EHR"]
    report = import_csv(
        session,
        sheet(tmp_path, ["Müller,Zoë,02/29/1984,"], "cp1252"),
        mapping=saved_mapping(session, "Old EHR"),
    )
    assert (report.patients, report.rejected) == (1, [])
    record = patients.load_patient(session, patients.page(session, 0, 5)[0].id)
    assert (record.family, record.given, record.birth_date) == (
        "Müller",
        "Zoë",
        "1984-02-29",
    )


@pytest.mark.parametrize(
    ("name", "mapping", "field"),
    [
        ("", MAPPING, "mapping name"),
        ("x" * 61, MAPPING, "mapping name"),
        ("tab\there", MAPPING, "mapping name"),
        ("ok", {"given": "Prénom"}, "mapping"),
        ("ok", {"family": "Nom", "shoe_size": "x"}, "mapping"),
    ],
)
def test_bad_names_and_mappings_are_refused(session, name, mapping, field):
    with pytest.raises(InvalidInput) as caught:
        save_mapping(session, name, mapping)
    assert caught.value.field == field


def test_unknown_saved_mapping_names_the_known_ones(session):
    save_mapping(session, "Old EHR", MAPPING)
    with pytest.raises(InvalidInput, match="Old EHR"):
        saved_mapping(session, "New EHR")


def test_saving_and_listing_need_the_import_permission(session):
    biller = dataclasses.replace(session, roles=("biller",))
    with pytest.raises(NotPermitted):
        save_mapping(biller, "x", MAPPING)
    with pytest.raises(NotPermitted):
        load_saved_mappings(biller)


def test_preview_decodes_with_the_detected_or_chosen_encoding(tmp_path):
    path = sheet(tmp_path, ["Bélanger,Renée,1970-01-01,", "", "Côté,Zoë,,"], "cp1252")

    detected = preview_csv(path)
    forced = preview_csv(path, "utf-8")

    assert detected.encoding == "cp1252"
    assert detected.header == ["Nom", "Prénom", "Naissance", "Téléphone"]
    assert [r[0] for r in detected.rows] == ["Bélanger", "Côté"]
    assert not detected.synthea
    assert "\ufffd" in forced.rows[0][0]


def test_cli_uses_a_saved_mapping_by_name(session, tmp_path, monkeypatch, capsys):
    save_mapping(session, "Old EHR", MAPPING)
    path = sheet(tmp_path, ["Ordóñez,José,1985-03-14,", "Smith,Ann,03/14/1985,"])
    monkeypatch.setattr(
        commands, "_run_unlocked", lambda args, action: action(None, session) or 0
    )
    args = build_parser().parse_args(
        ["import", "csv", str(path), "--mapping-name", "Old EHR"]
    )

    assert import_commands.cmd_import_csv(args) == 0

    out = capsys.readouterr().out.splitlines()
    assert out[-1].startswith("imported: 2 patients")
    assert patients.count(session) == 2


def test_cli_saves_a_mapping_and_refuses_an_unknown_name(
    session, tmp_path, monkeypatch, capsys
):
    path = sheet(tmp_path, ["Ordóñez,José,1985-03-14,"])
    mapping = tmp_path / "map.json"
    mapping.write_text(json.dumps(MAPPING), encoding="utf-8")
    monkeypatch.setattr(
        commands, "_run_unlocked", lambda args, action: action(None, session) or 0
    )
    parser = build_parser()
    args = parser.parse_args(
        ["import", "csv", str(path), "--mapping", str(mapping), "--save-mapping", "A"]
    )
    assert import_commands.cmd_import_csv(args) == 0
    assert load_saved_mappings(session) == {"A": MAPPING}

    args = parser.parse_args(["import", "csv", str(path), "--mapping-name", "B"])
    with pytest.raises(InvalidInput, match="no saved mapping 'B'"):
        import_commands.cmd_import_csv(args)


def test_a_saved_mapping_may_list_columns_to_ignore(session, tmp_path):
    mapping = {**MAPPING, "ignore:phone": "Téléphone"}
    path = sheet(tmp_path, ["Ordóñez,José,1985-03-14,555"])

    save_mapping(session, "Old EHR", mapping)
    report = import_csv(session, path, mapping=saved_mapping(session, "Old EHR"))

    assert (report.patients, report.warnings) == (1, [])
