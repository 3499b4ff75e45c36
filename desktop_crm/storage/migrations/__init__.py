"""Numbered, forward-only schema migrations, one transaction each.

Each step is a module ``mNNNN_<name>.py`` holding ``STATEMENTS``; the schema
version is SQLite's ``user_version``, set inside the same transaction.
"""

from __future__ import annotations

import importlib
import logging
import pkgutil
import time
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

from desktop_crm.errors import VaultError
from desktop_crm.storage.database import Database

log = logging.getLogger(__name__)


def _steps() -> list[tuple[int, ModuleType]]:
    found = []
    for info in pkgutil.iter_modules(__path__):
        if info.name.startswith("m") and info.name[1:5].isdigit():
            module = importlib.import_module(f"{__name__}.{info.name}")
            found.append((int(info.name[1:5]), module))
    found.sort()
    numbers = [n for n, _ in found]
    if numbers != list(range(1, len(numbers) + 1)):
        raise RuntimeError(f"migration numbers are not contiguous: {numbers}")
    return found


STEPS = _steps()
LATEST = len(STEPS)


def schema_version(db: Database) -> int:
    return int(db.pragma("user_version"))


def migrate(
    db: Database,
    *,
    target: int = LATEST,
    snapshot: Callable[[int], Path] | None = None,
) -> list[int]:
    """Bring the schema up to ``target``; returns the versions applied.

    Before changing an existing vault, ``snapshot(current_version)`` is called
    so an encrypted copy exists if a step fails halfway through the upgrade.

    Raises:
        VaultError: the vault was written by a newer version of the product.
    """
    current = schema_version(db)
    if current > LATEST:
        raise VaultError(
            f"this vault uses schema {current}, newer than this version of "
            f"Desktop CRM understands ({LATEST}): update the application"
        )
    pending = [(n, m) for n, m in STEPS if current < n <= target]
    if pending and current > 0 and snapshot is not None:
        where = snapshot(current)
        log.info("snapshot before migrating from schema %d: %s", current, where.name)
    for number, module in pending:
        started = time.perf_counter()
        with db.transaction():
            for statement in module.STATEMENTS:
                db.execute(statement)
            db.execute(f"PRAGMA user_version = {int(number)}")
        log.info(
            "schema %d applied in %.1f ms",
            number,
            1000 * (time.perf_counter() - started),
        )
    return [n for n, _ in pending]
