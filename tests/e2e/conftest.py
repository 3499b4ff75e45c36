"""Fixtures for running `desktop-crm` as a subprocess against a real keyring."""

from __future__ import annotations

from pathlib import Path

import pytest
from support.cli_harness import CLI


@pytest.fixture
def cli(secret_service, tmp_path: Path) -> CLI:
    env = dict(secret_service.env)
    env["DESKTOP_CRM_TEST_KDF"] = "1"
    env["PYTHONPATH"] = str(Path(__file__).resolve().parents[2])
    work = tmp_path / "work"
    work.mkdir()
    return CLI(env, tmp_path / "vault", work)
