"""Reading a CSV file as rows: encoding, delimiter, BOM, CRLF, bad bytes.

The delimiter is guessed from the header line (Excel set to a European
locale writes semicolons); a header that does not tell keeps the comma.
Rows are streamed (the csv module over a generator of decoded lines), so
memory stays bounded however many rows there are.  A line that does not
decode is not fatal: its row is reported with its number and the rest go in.
"""

from __future__ import annotations

import codecs
import csv
import itertools
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from desktop_crm.errors import InvalidInput

_CHUNK = 1 << 20
_BOM = codecs.BOM_UTF8
#: The delimiters a header line is sniffed for, and the one kept otherwise.
DELIMITERS = ",;\t|"
DEFAULT_DELIMITER = ","


def detect_encoding(path: Path) -> str:
    """``utf-8-sig`` if the whole file decodes strictly as UTF-8, else ``cp1252``.

    Excel's "CSV (Comma delimited)" writes the Windows code page, not UTF-8
    (PITFALLS B23).  The check streams the file in chunks.
    """
    decoder = codecs.getincrementaldecoder("utf-8")("strict")
    try:
        with path.open("rb") as stream:
            while chunk := stream.read(_CHUNK):
                decoder.decode(chunk)
            decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return "cp1252"
    return "utf-8-sig"


def check_encoding(name: str) -> str:
    try:
        return codecs.lookup(name).name
    except LookupError as exc:
        raise InvalidInput("encoding", f"'{name}' is not a known encoding") from exc


def sniff_delimiter(header_line: str) -> str:
    """The delimiter of a CSV file, judged from its header line alone."""
    try:
        dialect = csv.Sniffer().sniff(header_line.rstrip("\r\n"), DELIMITERS)
    except csv.Error:
        return DEFAULT_DELIMITER
    return dialect.delimiter


@dataclass
class Row:
    """One record of the file: its number (the header is row 1) and values."""

    number: int
    values: list[str]
    bad_bytes: str = ""
    error: str = ""


@dataclass
class CsvSource:
    """A CSV file read row by row in a given encoding.

    ``delimiter`` is sniffed from the header line when left empty, and holds
    the one used once :meth:`rows` has started.
    """

    path: Path
    encoding: str
    delimiter: str = ""
    bytes_read: int = 0
    _bad_lines: dict[int, str] = field(default_factory=dict)

    def _lines(self) -> Iterator[str]:
        codec = "utf-8" if self.encoding == "utf-8-sig" else self.encoding
        with self.path.open("rb") as stream:
            for number, raw in enumerate(stream, 1):
                self.bytes_read += len(raw)
                if number == 1 and raw.startswith(_BOM):
                    raw = raw[len(_BOM) :]
                try:
                    yield raw.decode(codec)
                except UnicodeDecodeError as exc:
                    bad = raw[exc.start : exc.end]
                    self._bad_lines[number] = " ".join(f"0x{b:02X}" for b in bad)
                    yield raw.decode(codec, errors="replace")

    def rows(self) -> Iterator[Row]:
        """Every record, header first; a decoding problem is kept on its row."""
        text = self._lines()
        header = next(text, None)
        if header is None:
            return
        self.delimiter = self.delimiter or sniff_delimiter(header)
        reader = csv.reader(itertools.chain([header], text), delimiter=self.delimiter)
        number = 0
        last_line = 0
        while True:
            try:
                values = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                number += 1
                last_line = reader.line_num
                yield Row(number, [], error=f"not readable as CSV ({exc})")
                continue
            number += 1
            lines = range(last_line + 1, reader.line_num + 1)
            last_line = reader.line_num
            bad = [self._bad_lines.pop(n) for n in lines if n in self._bad_lines]
            yield Row(number, values, " ".join(bad))
