"""Parsing one JSON document of an import: fast on common input, exact on the rest.

orjson parses a Synthea bundle in well under half the time of the json
module.  Whatever orjson refuses is handed to the json module, so what was
accepted before still is (``NaN``, lone surrogates in strings) and a broken
file gets the same message as before, with its line and column.  Two
differences remain, both outside what FHIR R4 allows: an integer beyond 64
bits becomes a float, and a document nested more than 1,024 levels deep is
refused (the json module would have overflowed the stack on it).

The cyclic garbage collector is paused while a document is parsed: a parsed
document is a tree, so the collector cannot free any of it, and on a large
bundle its passes over the half-built tree cost a tenth of the import.
"""

from __future__ import annotations

import codecs
import contextlib
import gc
import json
from collections.abc import Iterator
from typing import Any

import orjson

_BOM = codecs.BOM_UTF8
TOO_DEEP = "not valid JSON: nested more than 1,024 levels deep"


class NotJSON(ValueError):
    """The bytes are not one JSON document; ``reason`` says why, for the report."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@contextlib.contextmanager
def _collector_paused() -> Iterator[None]:
    # Another thread may pause it too: only the one that paused it resumes it.
    paused = gc.isenabled()
    if paused:
        gc.disable()
    try:
        yield
    finally:
        if paused:
            gc.enable()


def parse(raw: bytes) -> Any:
    """The document in ``raw`` (UTF-8, with or without a byte order mark).

    Raises:
        NotJSON: not UTF-8 text, not valid JSON, or nested too deeply.
    """
    view = memoryview(raw)[len(_BOM) :] if raw.startswith(_BOM) else raw
    with _collector_paused():
        try:
            return orjson.loads(view)
        except orjson.JSONDecodeError as exc:
            if "depth limit" in str(exc):
                raise NotJSON(
                    "not valid JSON: nested more than 1,024 levels deep"
                ) from None
        try:
            return json.loads(raw.decode("utf-8-sig"))
        except UnicodeDecodeError:
            raise NotJSON("not UTF-8 text, so not FHIR JSON") from None
        except json.JSONDecodeError as exc:
            raise NotJSON(
                f"not valid JSON (line {exc.lineno}, column {exc.colno}): {exc.msg}"
            ) from None
        except RecursionError:  # pragma: no cover - orjson refuses these first
            raise NotJSON("not valid JSON: nested too deeply") from None
