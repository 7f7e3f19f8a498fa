"""Spreadsheets (表格文件) as the office keeps them: an XLSX workbook's first sheet, or a CSV file
in UTF-8 (with or without the BOM Excel writes), GB18030 (what Excel in China saves as "CSV") or
UTF-16 ("Unicode text"), read into rows of text with their row numbers as Excel shows them (the
header is row 1).

Reading is pure (bytes in, rows out) and refuses, with :class:`~marketplace.errors.InvalidInput`
on the field ``file``, what is not a table it can read: a file too large, an old ``.xls``, a
workbook with a password, a damaged or unzipped-too-large workbook, text in no known encoding.
XLSX is read with openpyxl (read-only, formulas kept as written, so that a formula in a cell is
seen as one and never evaluated).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import zipfile
from collections.abc import Iterator

import msgspec

from marketplace.errors import InvalidInput
from points import Cause

TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
"""What a cell must not start with to stay text (OWASP: CSV injection)."""


def dangerous(text: str) -> bool:
    """Whether a spreadsheet would read this text as a formula."""
    return text.startswith(TRIGGERS)


MAX_BYTES = 20 * 1024 * 1024
"""The largest file read (a town's 50,293 households fit in a few MB)."""
MAX_ROWS = 100_000
MAX_UNZIPPED = 200 * 1024 * 1024
"""What a workbook may unzip to (a zip bomb is refused before it is opened)."""
MAX_COLUMNS = 50
FIELD = "file"

_OLE = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # an old .xls, or an encrypted .xlsx
_ZIP = b"PK\x03\x04"


class Sheet(msgspec.Struct, frozen=True, kw_only=True):
    """A table's header (row 1) and its other non-empty rows, each with its Excel row number."""

    header: tuple[str, ...]
    rows: tuple[tuple[int, tuple[str, ...]], ...]
    kind: str  # "xlsx" or "csv"


def read_sheet(content: bytes) -> Sheet:
    """The first sheet of a workbook, or a CSV file's rows (see the module's docstring)."""
    if len(content) > MAX_BYTES:
        raise InvalidInput(FIELD, Cause("sheet_too_large", {"mb": MAX_BYTES // (1024 * 1024)}))
    if not content.strip():
        raise InvalidInput(FIELD, Cause("sheet_empty"))
    if content.startswith(_OLE):
        # an encrypted OOXML file is an OLE container holding an "EncryptedPackage" stream
        if "EncryptedPackage".encode("utf-16-le") in content:
            raise InvalidInput(FIELD, Cause("sheet_encrypted"))
        raise InvalidInput(FIELD, Cause("sheet_xls"))
    if content.startswith(_ZIP):
        lines = _xlsx(content)
        kind = "xlsx"
    else:
        lines = _csv(content)
        kind = "csv"
    return _table(lines, kind)


def _table(lines: Iterator[list[str]], kind: str) -> Sheet:
    header: tuple[str, ...] | None = None
    rows: list[tuple[int, tuple[str, ...]]] = []
    for number, cells in enumerate(lines, start=1):
        if header is None:
            if not any(c.strip() for c in cells):
                raise InvalidInput(FIELD, Cause("sheet_no_header"))
            named = [c.strip() for c in cells[:MAX_COLUMNS]]
            while named and not named[-1]:
                named.pop()  # a workbook's empty columns after the last named one
            header = tuple(named)
            continue
        if not any(c.strip() for c in cells):
            continue  # a blank line keeps its number for the rows after it
        if len(rows) >= MAX_ROWS:
            raise InvalidInput(FIELD, Cause("sheet_too_many_rows", {"high": MAX_ROWS}))
        padded = (cells + [""] * len(header))[: len(header)]
        rows.append((number, tuple(padded)))
    if header is None:
        raise InvalidInput(FIELD, Cause("sheet_empty"))
    return Sheet(header=header, rows=tuple(rows), kind=kind)


def _xlsx(content: bytes) -> Iterator[list[str]]:
    import openpyxl  # imported when a workbook comes (≈ 0.1 s)

    try:
        with zipfile.ZipFile(io.BytesIO(content)) as archive:
            if sum(i.file_size for i in archive.infolist()) > MAX_UNZIPPED:
                raise InvalidInput(
                    FIELD, Cause("sheet_too_large", {"mb": MAX_BYTES // (1024 * 1024)})
                )
            if "xl/workbook.xml" not in archive.namelist():
                raise InvalidInput(FIELD, Cause("sheet_unreadable"))
        book = openpyxl.load_workbook(io.BytesIO(content), read_only=True, data_only=False)
    except InvalidInput:
        raise
    except Exception:  # openpyxl raises many kinds for a damaged file
        raise InvalidInput(FIELD, Cause("sheet_unreadable")) from None
    try:
        sheet = book.worksheets[0] if book.worksheets else None
        if sheet is None:
            raise InvalidInput(FIELD, Cause("sheet_empty"))
        rows = list(sheet.iter_rows(values_only=True, max_col=MAX_COLUMNS))
    except InvalidInput:
        raise
    except Exception:
        raise InvalidInput(FIELD, Cause("sheet_unreadable")) from None
    finally:
        book.close()
    return iter([[_text(v) for v in row] for row in rows])


def _text(value: object) -> str:
    """A cell as text: a whole number without ``.0`` (a phone typed as a number), a date as
    ``YYYY-MM-DD``."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "是" if value else "否"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, dt.datetime):
        return value.date().isoformat() if value.time() == dt.time() else value.isoformat(" ")
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value)


def _csv(content: bytes) -> Iterator[list[str]]:
    if b"\x00" in content and not content.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise InvalidInput(
            FIELD, Cause("sheet_unreadable")
        )  # a picture, a PDF, a program: no table in text
    text = decode(content)
    first = text.split("\n", 1)[0]
    delimiter = max(",\t;", key=first.count)
    return iter(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter))


def decode(content: bytes) -> str:
    """Text in UTF-8 (BOM or not), UTF-16 with its BOM, or GB18030, tried in that order."""
    if content.startswith(b"\xef\xbb\xbf"):
        encodings: tuple[str, ...] = ("utf-8-sig",)
    elif content.startswith((b"\xff\xfe", b"\xfe\xff")):
        encodings = ("utf-16",)
    else:
        encodings = ("utf-8", "gb18030")
    for encoding in encodings:
        try:
            return content.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise InvalidInput(FIELD, Cause("sheet_encoding"))
