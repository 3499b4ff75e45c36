"""Import rules between the layers of desktop_crm, checked on the source (AST).

    rule  imported module                    where it may (or may never) be imported
    ----  ---------------------------------  ---------------------------------------
    a     PySide6.QtWidgets, PySide6.QtGui   inside desktop_crm.gui
    b     sqlcipher3                         inside desktop_crm.storage
    c     desktop_crm.gui                    inside desktop_crm.gui, and from
                                             desktop_crm.cli lazily (in a function
                                             body or under `if TYPE_CHECKING:`)
    d1    desktop_crm.gui, desktop_crm.cli   never from services, storage, crypto,
                                             platform
    d2    desktop_crm.services               never from storage, crypto, platform
    d3    desktop_crm.storage                never from crypto
    s1    desktop_crm.gui, desktop_crm.cli   never from desktop_crm.sync (gui also
                                             by rule c, sqlcipher3 by rule b)
    s2    desktop_crm.services,              never from desktop_crm.sync.server: the
          desktop_crm.storage (and gui, cli) sync server holds no vault; it uses
                                             crypto, platform and errors only
    e     (run time) `import desktop_crm.cli.main` loads no PySide6 module at all,
          so command-line work never needs Qt

So the layers stack up as: crypto < storage < services < cli/gui, with platform
beside crypto and storage, Qt widgets confined to gui and the database driver
confined to storage. Every kind of import counts: `import x.y`, `from x import
y`, relative imports, and `importlib.import_module("x")` / `__import__("x")`
with a literal name; a rule on `x` also matches its submodules and attributes.
"""

from __future__ import annotations

import ast
import os
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PACKAGE = "desktop_crm"


@dataclass(frozen=True)
class Rule:
    id: str
    imports: tuple[str, ...]  # forbidden module prefixes
    allowed_in: tuple[str, ...] = ()  # importer packages exempt from the rule
    only_in: tuple[str, ...] | None = None  # rule applies only to these (None: all)
    lazy_ok_in: tuple[str, ...] = ()  # importers that may import lazily

    def applies_to(self, importer: str) -> bool:
        if _within(importer, self.allowed_in):
            return False
        return self.only_in is None or _within(importer, self.only_in)


CORE = ("desktop_crm.services", "desktop_crm.storage", "desktop_crm.crypto",
        "desktop_crm.platform")  # fmt: skip

RULES: tuple[Rule, ...] = (
    Rule("a", ("PySide6.QtWidgets", "PySide6.QtGui"), allowed_in=("desktop_crm.gui",)),
    Rule("b", ("sqlcipher3",), allowed_in=("desktop_crm.storage",)),
    Rule(
        "c",
        ("desktop_crm.gui",),
        allowed_in=("desktop_crm.gui",),
        lazy_ok_in=("desktop_crm.cli",),
    ),
    Rule("d1", ("desktop_crm.gui", "desktop_crm.cli"), only_in=CORE),
    Rule(
        "d2",
        ("desktop_crm.services",),
        only_in=("desktop_crm.storage", "desktop_crm.crypto", "desktop_crm.platform"),
    ),
    Rule("d3", ("desktop_crm.storage",), only_in=("desktop_crm.crypto",)),
    Rule("s1", ("desktop_crm.gui", "desktop_crm.cli"), only_in=("desktop_crm.sync",)),
    Rule(
        "s2",
        ("desktop_crm.services", "desktop_crm.storage"),
        only_in=("desktop_crm.sync.server",),
    ),
)


def _within(module: str, prefixes: tuple[str, ...]) -> bool:
    return any(module == p or module.startswith(p + ".") for p in prefixes)


# -- the checker -----------------------------------------------------------


@dataclass(frozen=True)
class Import:
    importer: str  # dotted module name of the importing file
    path: Path
    line: int
    target: str  # dotted name imported (module, or module.attribute)
    lazy: bool  # inside a function body or an `if TYPE_CHECKING:` block


@dataclass(frozen=True)
class Violation:
    rule: str
    imp: Import

    def __str__(self) -> str:
        kind = "lazy " if self.imp.lazy else ""
        return (
            f"{self.imp.path}:{self.imp.line}: rule {self.rule}: "
            f"{self.imp.importer} {kind}imports {self.imp.target}"
        )


def _module_name(path: Path, root: Path) -> tuple[str, bool]:
    parts = list(path.relative_to(root).with_suffix("").parts)
    is_package = parts[-1] == "__init__"
    if is_package:
        parts.pop()
    return ".".join(parts), is_package


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _resolve(base: str, level: int, module: str | None, is_package: bool) -> str:
    """Absolute name for `from <level dots><module> import ...` in *base*."""
    if level == 0:
        return module or ""
    package = base.split(".") if is_package else base.split(".")[:-1]
    if level > 1:
        package = package[: len(package) - (level - 1)]
    return ".".join(package + ([module] if module else []))


_DYNAMIC = {"import_module", "__import__"}


def imports_in(path: Path, root: Path) -> list[Import]:
    """Every import in the file at *path* (a module under *root*)."""
    importer, is_package = _module_name(path, root)
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found: list[Import] = []

    def visit(node: ast.AST, lazy: bool) -> None:
        def add(target: str) -> None:
            line = getattr(node, "lineno", 0)
            found.append(Import(importer, path, line, target, lazy))

        if isinstance(node, ast.Import):
            for alias in node.names:
                add(alias.name)
        elif isinstance(node, ast.ImportFrom):
            base = _resolve(importer, node.level, node.module, is_package)
            add(base)
            for alias in node.names:
                if alias.name != "*":
                    add(f"{base}.{alias.name}")
        elif isinstance(node, ast.Call):
            func = node.func
            name = (
                func.attr
                if isinstance(func, ast.Attribute)
                else getattr(func, "id", "")
            )
            if (
                name in _DYNAMIC
                and node.args
                and isinstance(node.args[0], ast.Constant)
                and isinstance(node.args[0].value, str)
            ):
                add(node.args[0].value)

        for child in ast.iter_child_nodes(node):
            child_lazy = lazy or isinstance(
                node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda
            )
            if isinstance(node, ast.If) and _is_type_checking(node.test):
                child_lazy = child_lazy or child in node.body
            visit(child, child_lazy)

    visit(tree, False)
    return found


def check_tree(root: Path, package: str = PACKAGE) -> list[Violation]:
    """Violations of RULES in the package *package* found under *root*."""
    violations: list[Violation] = []
    for path in sorted((root / package).rglob("*.py")):
        for imp in imports_in(path, root):
            for rule in RULES:
                if not rule.applies_to(imp.importer):
                    continue
                if not _within(imp.target, rule.imports):
                    continue
                if imp.lazy and _within(imp.importer, rule.lazy_ok_in):
                    continue
                violations.append(Violation(rule.id, imp))
    return violations


# -- the real package ------------------------------------------------------


def test_package_follows_the_layer_rules() -> None:
    violations = check_tree(REPO)
    assert not violations, "layer rules broken:\n" + "\n".join(map(str, violations))


def test_cli_main_does_not_load_qt() -> None:
    if not (REPO / PACKAGE / "cli" / "main.py").exists():
        pytest.skip("desktop_crm/cli/main.py does not exist yet")
    code = (
        "import sys, desktop_crm.cli.main\n"
        "qt = sorted(m for m in sys.modules if m.startswith('PySide6'))\n"
        "assert not qt, qt\n"
    )
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(REPO), env.get("PYTHONPATH", "")) if p
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr


# -- self-tests of the checker on a synthetic package ----------------------


def _make(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))


def _found(root: Path) -> set[tuple[str, str, int]]:
    return {
        (v.rule, v.imp.path.relative_to(root).as_posix(), v.imp.line)
        for v in check_tree(root)
    }


SYNTHETIC_OK = {
    "desktop_crm/__init__.py": "",
    "desktop_crm/gui/__init__.py": "",
    "desktop_crm/gui/window.py": """\
        from PySide6 import QtWidgets
        from PySide6.QtGui import QIcon
        from desktop_crm.services import vault
        """,
    "desktop_crm/storage/__init__.py": "",
    "desktop_crm/storage/db.py": """\
        import sqlcipher3
        from ..crypto import kdf
        """,
    "desktop_crm/crypto/__init__.py": "",
    "desktop_crm/crypto/kdf.py": "from PySide6 import QtCore  # not ruled out\n",
    "desktop_crm/services/__init__.py": "",
    "desktop_crm/services/vault.py": "from desktop_crm.storage import db\n",
    "desktop_crm/cli/__init__.py": "",
    "desktop_crm/cli/main.py": """\
        from typing import TYPE_CHECKING

        if TYPE_CHECKING:
            from desktop_crm.gui import window

        def main():
            from ..gui import window
            return window
        """,
}


def test_checker_accepts_a_clean_synthetic_package(tmp_path: Path) -> None:
    _make(tmp_path, SYNTHETIC_OK)
    assert _found(tmp_path) == set()


def test_checker_reports_each_rule(tmp_path: Path) -> None:
    _make(tmp_path, SYNTHETIC_OK)
    _make(
        tmp_path,
        {
            "desktop_crm/services/bad.py": """\
                import PySide6.QtWidgets
                from PySide6 import QtGui
                import sqlcipher3
                from desktop_crm import gui
                from ..cli import main
                """,
            "desktop_crm/cli/eager.py": """\
                from desktop_crm.gui.window import Window

                def lazy_is_fine():
                    import desktop_crm.gui
                """,
            "desktop_crm/sync/__init__.py": "",
            "desktop_crm/sync/peer.py": """\
                def f():
                    import importlib
                    return importlib.import_module("desktop_crm.gui.window")
                """,
            "desktop_crm/sync/up.py": "from desktop_crm.cli import main\n",
            "desktop_crm/sync/server/__init__.py": "",
            "desktop_crm/sync/server/vault.py": """\
                from desktop_crm.storage import db
                from desktop_crm.crypto import kdf
                """,
            "desktop_crm/storage/up.py": "from desktop_crm.services.vault import x\n",
            "desktop_crm/platform/up.py": "from .. import services\n",
            "desktop_crm/crypto/up.py": """\
                from desktop_crm.storage import db
                from desktop_crm import services
                """,
        },
    )
    assert _found(tmp_path) == {
        ("a", "desktop_crm/services/bad.py", 1),
        ("a", "desktop_crm/services/bad.py", 2),
        ("b", "desktop_crm/services/bad.py", 3),
        ("c", "desktop_crm/services/bad.py", 4),
        ("d1", "desktop_crm/services/bad.py", 4),
        ("d1", "desktop_crm/services/bad.py", 5),
        ("c", "desktop_crm/cli/eager.py", 1),
        ("c", "desktop_crm/sync/peer.py", 3),
        ("s1", "desktop_crm/sync/peer.py", 3),
        ("s1", "desktop_crm/sync/up.py", 1),
        ("s2", "desktop_crm/sync/server/vault.py", 1),
        ("d2", "desktop_crm/storage/up.py", 1),
        ("d2", "desktop_crm/platform/up.py", 1),
        ("d3", "desktop_crm/crypto/up.py", 1),
        ("d2", "desktop_crm/crypto/up.py", 2),
    }


def test_relative_imports_resolve() -> None:
    assert _resolve("desktop_crm.cli.main", 2, "gui", False) == "desktop_crm.gui"
    assert _resolve("desktop_crm.cli", 1, "main", True) == "desktop_crm.cli.main"
    assert _resolve("desktop_crm.platform.up", 2, None, False) == "desktop_crm"
    assert _resolve("x", 0, "PySide6.QtGui", False) == "PySide6.QtGui"
