"""Search folding: the ASCII fast path folds exactly as the full path does."""

from __future__ import annotations

import unicodedata

from hypothesis import given
from hypothesis import strategies as st

from desktop_crm.storage import folding


def _slow_fold(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()


@given(st.text())
def test_fold_equals_full_normalisation(text: str) -> None:
    assert folding.fold(text) == _slow_fold(text)


@given(st.text(alphabet=st.characters(max_codepoint=127)))
def test_ascii_fold_is_casefold(text: str) -> None:
    assert folding.fold(text) == text.casefold()


def test_accents_and_case() -> None:
    assert folding.fold("José ORDÓÑEZ") == "jose ordonez"
    assert folding.query_tokens("O'Brien") == folding.query_tokens("obrien")
