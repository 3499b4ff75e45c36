"""Command-line refusals that need no vault: a display that does not answer
(Qt would abort the whole process with a misleading message), an empty file
name."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from desktop_crm.cli import commands
from desktop_crm.errors import CRMError


def _free_display() -> str:
    for number in range(9876, 9976):
        if not Path(f"/tmp/.X11-unix/X{number}").exists():
            return f":{number}"
    pytest.skip("no free X display number")


def test_a_local_display_without_a_server_is_refused(monkeypatch) -> None:
    display = _free_display()
    monkeypatch.delenv("QT_QPA_PLATFORM", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    monkeypatch.setenv("DISPLAY", display)

    with pytest.raises(CRMError) as refused:
        commands._check_display()

    assert f"nothing answers on DISPLAY={display}" in str(refused.value)


def test_a_listening_local_display_is_accepted(tmp_path, monkeypatch) -> None:
    display = _free_display()
    number = display[1:]
    # Linux's abstract socket name, as X servers also listen there
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as server:
        server.bind(f"\0/tmp/.X11-unix/X{number}")
        server.listen(1)
        assert commands.x_display_reachable(display)
        assert commands.x_display_reachable(f"unix{display}.0")


@pytest.mark.parametrize("display", ["remote.example.org:0", "", "weird"])
def test_other_displays_are_left_to_qt(display: str) -> None:
    assert commands.x_display_reachable(display)


def test_an_empty_backup_file_name_is_named(tmp_path, capsys) -> None:
    from desktop_crm.cli.main import main

    code = main(["--data-dir", str(tmp_path), "backup", "create", "--out", " "])

    assert code == 2
    assert "--out: give the name of the backup file" in capsys.readouterr().err
