#!/usr/bin/env python3
"""Fail on work markers in comments that do not name an issue.

Every TODO or FIXME left in a comment must point at an issue, written exactly
as ``TODO(#123):`` or ``FIXME(#123):``. The other markers (XXX, HACK) and bare
TODO/FIXME are rejected. Only upper-case markers count, as whole words.

What counts as a comment:

- ``*.py``: comment tokens (docstrings and other strings are not comments);
- ``*.sh``, ``*.toml``, and extension-less scripts with a shell shebang: the
  text from a ``#`` at the start of a line or after whitespace;
- ``*.md``: every line (the whole file is notes).

Scanned: files git knows about (tracked, plus untracked ones that are not
ignored) under desktop_crm/, tests/, benchmarks/, scripts/, build/ and .ci/;
outside a git checkout, every file under those folders.

Usage: ``python scripts/check_markers.py [PATH ...]`` (paths default to the
above, relative to the repository root). Exit status 1 lists each offending
``file:line``.
"""

from __future__ import annotations

import io
import re
import subprocess
import sys
import tokenize
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SCANNED_DIRS = ("desktop_crm", "tests", "benchmarks", "scripts", "build", ".ci")
SUFFIXES = {".py", ".sh", ".toml", ".md"}

MARKER = re.compile(r"\b(TODO|FIXME|XXX|HACK)\b")
ALLOWED = re.compile(r"(TODO|FIXME)\(#[0-9]+\):")
HASH_COMMENT = re.compile(r"(?:^|\s)#(.*)$")
SHELL_SHEBANG = re.compile(r"^#!.*\b(ba|z|k|da)?sh\b")


@dataclass(frozen=True)
class Finding:
    path: Path
    line: int
    text: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.text}"


def _is_shell_script(path: Path) -> bool:
    try:
        with path.open("rb") as f:
            first = f.readline(200).decode("utf-8", errors="replace")
    except OSError:
        return False
    return bool(SHELL_SHEBANG.match(first))


def _kind(path: Path) -> str | None:
    if path.suffix == ".py":
        return "python"
    if path.suffix in {".sh", ".toml"}:
        return "hash"
    if path.suffix == ".md":
        return "text"
    if path.suffix == "" and _is_shell_script(path):
        return "hash"
    return None


def _python_comments(source: str) -> Iterator[tuple[int, str]]:
    try:
        tokens = list(tokenize.generate_tokens(io.StringIO(source).readline))
    except (tokenize.TokenError, SyntaxError):
        # Unparseable file: fall back to the line-based rule.
        yield from _hash_comments(source)
        return
    for tok in tokens:
        if tok.type == tokenize.COMMENT:
            yield tok.start[0], tok.string


def _hash_comments(source: str) -> Iterator[tuple[int, str]]:
    for number, line in enumerate(source.splitlines(), start=1):
        match = HASH_COMMENT.search(line)
        if match:
            yield number, match.group(0)


def _all_lines(source: str) -> Iterator[tuple[int, str]]:
    yield from enumerate(source.splitlines(), start=1)


def _bad_markers(text: str) -> bool:
    return any(not ALLOWED.match(text, m.start()) for m in MARKER.finditer(text))


def check_file(path: Path) -> list[Finding]:
    """Offending markers in one file (nothing for a file type not scanned)."""
    kind = _kind(path)
    if kind is None:
        return []
    try:
        source = path.read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        return [Finding(path, 0, f"cannot read: {exc}")]
    comments = {
        "python": _python_comments,
        "hash": _hash_comments,
        "text": _all_lines,
    }[kind](source)
    return [
        Finding(path, number, text.strip())
        for number, text in comments
        if _bad_markers(text)
    ]


def find_bad_markers(paths: Iterable[Path]) -> list[Finding]:
    """Offending markers in *paths*; a directory stands for every file in it."""
    findings: list[Finding] = []
    for path in paths:
        files = (
            sorted(p for p in path.rglob("*") if p.is_file())
            if path.is_dir()
            else [path]
        )
        for file in files:
            findings.extend(check_file(file))
    return findings


def default_paths(root: Path = ROOT) -> list[Path]:
    """Candidate files under the scanned folders of *root*."""
    try:
        listed = (
            subprocess.run(
                [
                    "git",
                    "ls-files",
                    "-z",
                    "--cached",
                    "--others",
                    "--exclude-standard",
                    "--",
                    *SCANNED_DIRS,
                ],
                cwd=root,
                capture_output=True,
                check=True,
            )
            .stdout.decode()
            .split("\0")
        )
        candidates = [root / name for name in listed if name]
    except (OSError, subprocess.CalledProcessError):
        candidates = [
            p
            for d in SCANNED_DIRS
            if (root / d).is_dir()
            for p in (root / d).rglob("*")
            if "__pycache__" not in p.parts
        ]
    return sorted(
        p
        for p in candidates
        if p.is_file() and (p.suffix in SUFFIXES or p.suffix == "")
    )


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    paths = [Path(a) for a in args] if args else default_paths()
    findings = find_bad_markers(paths)
    for finding in findings:
        print(finding)  # noqa: T201
    if findings:
        print(  # noqa: T201
            f"{len(findings)} marker(s) without an issue: write TODO(#N): or "
            "FIXME(#N): with the issue number, or resolve them.",
            file=sys.stderr,
        )
        return 1
    print(f"check_markers: {len(paths)} path(s) clean.")  # noqa: T201
    return 0


if __name__ == "__main__":
    sys.exit(main())
