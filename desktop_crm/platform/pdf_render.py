"""Render a PDF's first page to PNG for an in-app preview, without files.

Qt's PDF module is not part of PySide6-Essentials, so the preview uses
Poppler's ``pdftoppm`` (Debian: poppler-utils) in a child process: the PDF
goes in on standard input and the PNG comes back on standard output, so no
decrypted copy is written to disk.  The child also keeps a malformed PDF's
parser away from the application's memory.
"""

from __future__ import annotations

import logging
import shutil
import subprocess

from desktop_crm.errors import CRMError

log = logging.getLogger(__name__)

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
TIMEOUT_SECONDS = 20.0


class PreviewUnavailable(CRMError):
    """The page could not be drawn (no renderer, or a PDF it cannot read)."""


def first_page_png(pdf: bytes, dpi: int = 72) -> bytes:
    """The first page of ``pdf`` as PNG bytes.

    Raises:
        PreviewUnavailable: pdftoppm is missing, failed, or took too long.
    """
    exe = shutil.which("pdftoppm")
    if exe is None:
        raise PreviewUnavailable(
            "PDF preview needs Poppler's pdftoppm (Debian: poppler-utils); use "
            "'Save a copy…' to open the file in another program"
        )
    command = [exe, "-png", "-r", str(int(dpi)), "-f", "1", "-l", "1"]
    command += ["-singlefile", "-"]  # read standard input, write standard output
    try:
        done = subprocess.run(
            command,
            input=pdf,
            capture_output=True,
            timeout=TIMEOUT_SECONDS,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise PreviewUnavailable("the PDF took too long to draw") from exc
    if done.returncode != 0 or not done.stdout.startswith(PNG_MAGIC):
        log.info("pdftoppm could not render a document (exit %d)", done.returncode)
        raise PreviewUnavailable("this PDF could not be drawn for a preview")
    return done.stdout
