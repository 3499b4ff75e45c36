"""The format document is enough: an independent decoder reads a product backup."""

from __future__ import annotations

import ast
import base64
from pathlib import Path

import pytest
from cryptography.exceptions import InvalidTag
from support import backup_decoder
from support.vault_fixtures import VaultHarness

from desktop_crm.services import backup, patients
from desktop_crm.services.patient_model import Patient
from desktop_crm.storage.database import open_database

PASSPHRASE = "correct horse battery staple"


@pytest.fixture
def made(memory_vault: VaultHarness, tmp_path: Path) -> tuple[VaultHarness, Path]:
    session = memory_vault.created.session
    patients.create_patient(session, Patient(family="Decoder", given="Dee"))
    backup.set_backup_passphrase(session, PASSPHRASE)
    result = backup.create_backup(session, tmp_path / "b.dcrmbak", chunk_size=4096)
    return memory_vault, result.path


def test_the_decoder_imports_nothing_from_the_product():
    source = Path(backup_decoder.__file__).read_text()
    modules = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            modules |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            modules.add(node.module.split(".")[0])

    assert "desktop_crm" not in modules
    assert modules <= {
        "__future__", "argon2", "cryptography", "base64", "hashlib", "hmac",
        "json", "re", "struct", "unicodedata", "dataclasses",
    }  # fmt: skip


@pytest.mark.parametrize("key", ["passphrase", "recovery"])
def test_decoder_yields_the_database_bytes_the_product_restores(made, tmp_path, key):
    harness, path = made
    kwargs = (
        {"passphrase": PASSPHRASE}
        if key == "passphrase"
        else {"recovery_key": harness.created.recovery_key}
    )

    decoded = backup_decoder.decode(path.read_bytes(), **kwargs)
    product = backup._extract(
        path, tmp_path / "product.db", PASSPHRASE, None, None, None
    )
    copy = tmp_path / "decoded.db"
    copy.write_bytes(decoded.database)
    db = open_database(copy, base64.b64decode(decoded.manifest["dek"]))
    names = {row[0] for row in db.query("SELECT family FROM patients")}
    integrity = db.scalar("PRAGMA integrity_check")
    db.close()

    assert decoded.header["source_vault_id"] == harness.created.session.vault_id
    assert decoded.database == (tmp_path / "product.db").read_bytes()
    assert decoded.manifest["db_bytes"] == product.manifest.db_bytes
    assert names == {"Decoder"}
    assert integrity == "ok"
    assert not decoded.database.startswith(b"SQLite format 3")
    assert decoded.manifest["counts"] == decoded.header["counts"]


def test_decoder_agrees_with_the_product_about_tampering(made):
    _, path = made
    data = bytearray(path.read_bytes())
    data[-5] ^= 1

    with pytest.raises(InvalidTag):
        backup_decoder.decode(bytes(data), passphrase=PASSPHRASE)
