"""Measure this project with the figures STYLE.md uses for its anchors.

Run: python scripts/measure_style.py  (prints a Markdown table)
"""

from __future__ import annotations

import ast
import re
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MARKER = re.compile(r"#\s*(TODO|FIXME|XXX|HACK)\b(\(#\d+\))?")


def pct(values: list[int], q: float) -> int:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else 0


def functions(tree: ast.AST) -> list[ast.FunctionDef | ast.AsyncFunctionDef]:
    return [
        n
        for n in ast.walk(tree)
        if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)
    ]


def measure(paths: list[Path]) -> dict[str, str]:
    widths: list[int] = []
    fn_lengths: list[int] = []
    module_lengths: list[int] = []
    public_fns = documented_fns = classes = documented_classes = 0
    modules_documented = 0
    code_lines = comment_lines = broad = returns = all_fns = 0
    markers = linked = 0
    for path in paths:
        text = path.read_text(encoding="utf-8")
        lines = text.splitlines()
        module_lengths.append(len(lines))
        widths += [len(line) for line in lines if line.strip()]
        for line in lines:
            stripped = line.strip()
            if stripped.startswith("#"):
                comment_lines += 1
            elif stripped:
                code_lines += 1
            for match in MARKER.finditer(line):
                markers += 1
                linked += bool(match.group(2))
        broad += len(re.findall(r"except\s+(Exception|BaseException)\b", text))
        tree = ast.parse(text)
        modules_documented += ast.get_docstring(tree) is not None
        for fn in functions(tree):
            all_fns += 1
            returns += fn.returns is not None
            fn_lengths.append((fn.end_lineno or fn.lineno) - fn.lineno + 1)
            if not fn.name.startswith("_"):
                public_fns += 1
                documented_fns += ast.get_docstring(fn) is not None
        for cls in (n for n in ast.walk(tree) if isinstance(n, ast.ClassDef)):
            classes += 1
            documented_classes += ast.get_docstring(cls) is not None
    over88 = sum(w > 88 for w in widths)
    return {
        "files, lines": f"{len(paths)}, {sum(module_lengths) / 1000:.1f}k",
        "width median / p95 / p99 / max": (
            f"{statistics.median(widths):.0f}/{pct(widths, 0.95)}/{pct(widths, 0.99)}/"
            f"{max(widths)}"
        ),
        "lines > 88 chars": f"{100 * over88 / len(widths):.1f}%",
        "function lines median / p90 / max": (
            f"{statistics.median(fn_lengths):.0f}/{pct(fn_lengths, 0.9)}/"
            f"{max(fn_lengths)}"
        ),
        "functions > 50 lines": (
            f"{100 * sum(n > 50 for n in fn_lengths) / len(fn_lengths):.1f}%"
        ),
        "module lines median / p90 / max": (
            f"{statistics.median(module_lengths):.0f}/{pct(module_lengths, 0.9)}/"
            f"{max(module_lengths)}"
        ),
        "docstrings: public fn / class / module": (
            f"{100 * documented_fns // max(public_fns, 1)} / "
            f"{100 * documented_classes // max(classes, 1)} / "
            f"{100 * modules_documented // len(paths)}%"
        ),
        "comment density": f"{100 * comment_lines / max(code_lines, 1):.1f}%",
        "markers; share linked": f"{markers}; {100 * linked // max(markers, 1)}%",
        "return-annotated functions": f"{100 * returns // max(all_fns, 1)}%",
        "broad except per 1k lines": f"{1000 * broad / max(code_lines, 1):.2f}",
    }


def main() -> None:
    source = sorted((ROOT / "desktop_crm").rglob("*.py"))
    tests = sorted((ROOT / "tests").rglob("*.py"))
    figures = measure(source)
    src_lines = sum(len(p.read_text().splitlines()) for p in source)
    test_lines = sum(len(p.read_text().splitlines()) for p in tests)
    test_fns = sum(
        1
        for p in tests
        for n in functions(ast.parse(p.read_text()))
        if n.name.startswith("test_")
    )
    figures["test functions; test lines / source lines"] = (
        f"{test_fns}; {test_lines / src_lines:.2f}"
    )
    sys.stdout.write("| metric | desktop_crm |\n|---|---|\n")
    for name, value in figures.items():
        sys.stdout.write(f"| {name} | {value} |\n")


if __name__ == "__main__":
    main()
