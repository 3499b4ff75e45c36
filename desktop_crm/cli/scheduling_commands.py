"""Subcommands registered by this module (filled in by issue #5)."""

from __future__ import annotations

import argparse
from collections.abc import Callable


def register(
    sub: argparse._SubParsersAction,  # type: ignore[type-arg]
    command: Callable[..., argparse.ArgumentParser],
) -> None:
    """Add this module's subcommands; ``command`` is main._command."""
