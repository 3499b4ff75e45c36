"""PDF previews are drawn through a pipe: no decrypted file on disk."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import pytest
from fpdf import FPDF

from desktop_crm.platform import pdf_render

MARKER = "QXPDFMARKERQ"

needs_pdftoppm = pytest.mark.skipif(
    shutil.which("pdftoppm") is None, reason="poppler-utils (pdftoppm) not installed"
)


def a_pdf(text: str = MARKER) -> bytes:
    document = FPDF()
    document.add_page()
    document.set_font("helvetica", size=20)
    document.cell(text=text)
    return bytes(document.output())


@needs_pdftoppm
def test_first_page_is_drawn_as_png_without_temporary_files():
    before = set(Path(tempfile.gettempdir()).iterdir())

    png = pdf_render.first_page_png(a_pdf())

    assert png.startswith(pdf_render.PNG_MAGIC)
    new = set(Path(tempfile.gettempdir()).iterdir()) - before
    for path in new:
        if path.is_file():
            assert MARKER.encode() not in path.read_bytes()


@needs_pdftoppm
def test_damaged_pdf_is_a_clear_refusal():
    with pytest.raises(pdf_render.PreviewUnavailable, match="could not be drawn"):
        pdf_render.first_page_png(b"%PDF-1.4 this is not really a PDF")


def test_missing_renderer_says_what_to_install(monkeypatch):
    monkeypatch.setattr(pdf_render.shutil, "which", lambda _name: None)

    with pytest.raises(pdf_render.PreviewUnavailable, match="poppler-utils"):
        pdf_render.first_page_png(a_pdf())
