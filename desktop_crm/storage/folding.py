"""Folding text for search: case, accents, apostrophes and hyphens do not matter.

"Siobhán O'Grady", "SIOBHAN O’GRADY" and "siobhan ogrady" fold to tokens that
match one another.  Each name part yields its joined form ("ogrady") and its
pieces ("o", "grady"), so both spellings are found.
"""

from __future__ import annotations

import re
import unicodedata

_JOINERS = re.compile(r"['’ʼ‘`´\-‐‑‒–—.]")
_SPLIT = re.compile(r"[^\w]+")


def strip_accents(text: str) -> str:
    if text.isascii():  # most names: nothing to decompose, nothing to strip
        return text
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def fold(text: str) -> str:
    """Lower case, no accents, NFC; apostrophes and hyphens kept as they are."""
    return strip_accents(text).casefold()


def name_tokens(text: str) -> list[str]:
    """Search tokens of a name: joined and split forms of every part."""
    tokens: list[str] = []
    for part in fold(text).split():
        joined = _JOINERS.sub("", part)
        joined = _SPLIT.sub("", joined)
        if joined:
            tokens.append(joined)
        pieces = [p for p in _SPLIT.split(_JOINERS.sub(" ", part)) if p]
        if len(pieces) > 1:
            tokens.extend(pieces)
    return list(dict.fromkeys(tokens))


def query_tokens(text: str) -> list[str]:
    """Tokens of a typed query, folded the way names are (joined forms only)."""
    tokens = []
    for part in fold(text).split():
        joined = _SPLIT.sub("", _JOINERS.sub("", part))
        if joined:
            tokens.append(joined)
    return tokens


def digits(text: str) -> str:
    return "".join(c for c in text if c.isdigit())
