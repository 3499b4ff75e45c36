"""scripts/check_markers.py: markers in comments must name an issue."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "check_markers.py"

# The markers are built from pieces so that this file itself stays clean.
TODO, FIXME, XXX, HACK = "TO" + "DO", "FIX" + "ME", "X" + "XX", "HA" + "CK"


def _load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("check_markers", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look the module up
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def cm() -> ModuleType:
    return _load()


GOOD_PY = f'''\
"""A docstring may say {TODO} or {HACK}: it is not a comment."""

x = "{XXX} inside a string is fine"  # {TODO}(#12): a tracked one
# {FIXME}(#3): also tracked
# todo in lower case is not a marker; nor is {XXX}XXX in mktemp templates
'''

BAD_PY = f"""\
import os  # {TODO}: no issue

# {FIXME} without an issue
# {XXX} never allowed
y = 1  # {HACK}(#4): not an allowed marker even with an issue
# {TODO}(12): missing the hash
# {TODO}(#7) missing the colon
"""

GOOD_SH = f"""\
#!/bin/sh
echo "{TODO} in a string that has no # before it"
mktemp -d /tmp/x.{XXX}{XXX}  # {TODO}(#9): tidy up
"""

BAD_SH = f"""\
#!/usr/bin/env bash
true # {TODO} fix this
"""

BAD_TOML = f"""\
[tool.x]
a = 1 # {FIXME}: later
"""

BAD_MD = f"""\
# Notes

- {TODO} write this section
- {TODO}(#5): this one is fine
"""


def _write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_good_samples_pass(cm: ModuleType, tmp_path: Path) -> None:
    paths = [
        _write(tmp_path, "good.py", GOOD_PY),
        _write(tmp_path, "good.sh", GOOD_SH),
        _write(tmp_path, "run", GOOD_SH),  # shell script without extension
        _write(tmp_path, "ok.md", f"- {TODO}(#1): tracked\n"),
        _write(tmp_path, "ok.toml", f"# {FIXME}(#2): tracked\n"),
        _write(tmp_path, "data.txt", f"{TODO} in a file type that is not scanned\n"),
    ]
    assert cm.find_bad_markers(paths) == []


def test_bad_python_lines_are_reported(cm: ModuleType, tmp_path: Path) -> None:
    path = _write(tmp_path, "bad.py", BAD_PY)
    findings = cm.find_bad_markers([path])
    assert [f.line for f in findings] == [1, 3, 4, 5, 6, 7]
    assert all(f.path == path for f in findings)
    assert str(findings[0]) == f"{path}:1: # {TODO}: no issue"


@pytest.mark.parametrize(
    ("name", "text", "line"),
    [("bad.sh", BAD_SH, 2), ("pyproject.toml", BAD_TOML, 2), ("notes.md", BAD_MD, 3)],
)
def test_bad_other_types(
    cm: ModuleType, tmp_path: Path, name: str, text: str, line: int
) -> None:
    findings = cm.find_bad_markers([_write(tmp_path, name, text)])
    assert [f.line for f in findings] == [line]


def test_directory_is_scanned_recursively(cm: ModuleType, tmp_path: Path) -> None:
    _write(tmp_path, "pkg/good.py", GOOD_PY)
    bad = _write(tmp_path, "pkg/sub/bad.sh", BAD_SH)
    findings = cm.find_bad_markers([tmp_path])
    assert [(f.path, f.line) for f in findings] == [(bad, 2)]


def test_unparseable_python_falls_back_to_line_rule(
    cm: ModuleType, tmp_path: Path
) -> None:
    path = _write(tmp_path, "broken.py", f'x = """\n# {HACK}\n')
    assert [f.line for f in cm.find_bad_markers([path])] == [2]


def test_command_line_exit_status(tmp_path: Path) -> None:
    good = _write(tmp_path, "good.py", GOOD_PY)
    bad = _write(tmp_path, "bad.py", BAD_PY)
    ok = subprocess.run(
        [sys.executable, str(SCRIPT), str(good)], capture_output=True, text=True
    )
    assert ok.returncode == 0, ok.stdout + ok.stderr
    failed = subprocess.run(
        [sys.executable, str(SCRIPT), str(good), str(bad)],
        capture_output=True,
        text=True,
    )
    assert failed.returncode == 1
    assert f"{bad}:1:" in failed.stdout
    assert str(good) not in failed.stdout


def test_default_paths_cover_the_scanned_folders(cm: ModuleType) -> None:
    paths = cm.default_paths()
    root = SCRIPT.parent.parent
    assert SCRIPT in paths
    assert Path(__file__).resolve() in paths
    tops = {p.relative_to(root).parts[0] for p in paths}
    assert tops <= set(cm.SCANNED_DIRS)
    assert not any(".venv" in p.parts for p in paths)
