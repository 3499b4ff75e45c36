"""Where the vault lives: --data-dir, then DESKTOP_CRM_DATA_DIR, then the OS default."""

from __future__ import annotations

import os
from pathlib import Path

DATA_DIR_ENV = "DESKTOP_CRM_DATA_DIR"
APP_NAME = "desktop-crm"


def data_dir(explicit: str | os.PathLike[str] | None = None) -> Path:
    """Resolve the vault folder without creating it."""
    if explicit:
        return Path(explicit).expanduser()
    from_env = os.environ.get(DATA_DIR_ENV)
    if from_env:
        return Path(from_env).expanduser()
    import platformdirs  # only when no folder was named (it loads a lot)

    return Path(platformdirs.user_data_dir(APP_NAME, appauthor=False))


def config_dir() -> Path:
    """Per-user settings that hold nothing from a patient record (window geometry)."""
    import platformdirs

    return Path(platformdirs.user_config_dir(APP_NAME, appauthor=False))
