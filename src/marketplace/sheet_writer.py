"""Spreadsheets (电子表格): the one streamed writer every export goes through, XLSX or CSV.

Rows come from an iterator and are written one at a time, so memory stays flat however many
there are: XLSX through openpyxl's write-only mode (each row goes to the worksheet's temporary
file as it comes; the workbook is zipped at the end), CSV through the csv module, in UTF-8 with
a byte-order mark (Excel in China opens it as UTF-8, not GB18030).

A text cell a spreadsheet would take for a formula (starting with ``=`` ``+`` ``-`` ``@``, a tab
or a carriage return: OWASP's "CSV injection" list) is made text: in CSV it gets a leading
apostrophe (``'=HYPERLINK(...)``); in XLSX it is a string cell with Excel's quote prefix (shown as
typed, never evaluated, and still text when edited). Times are written in China time (UTC+8);
``True``/``False`` as 是/否; a tuple as its items joined by 、.
"""

from __future__ import annotations

import csv
import datetime as dt
import enum
import io
from collections.abc import Iterable, Sequence
from typing import IO

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from openpyxl.utils import get_column_letter

from marketplace.model import CHINA
from marketplace.sheets import dangerous

TIME = "%Y-%m-%d %H:%M:%S"


class Format(enum.StrEnum):
    XLSX = "xlsx"
    CSV = "csv"


MEDIA_TYPES = {
    Format.XLSX: "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    Format.CSV: "text/csv; charset=utf-8",
}


def plain(value: object) -> object:
    """A cell's value as a spreadsheet takes it: times in China time without a zone (Excel has
    none), flags as 是/否, enums by value, tuples joined, None as empty."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "是" if value else "否"
    if isinstance(value, enum.Enum):
        return plain(value.value)
    if isinstance(value, dt.datetime):
        moment = value.astimezone(CHINA) if value.tzinfo else value
        return moment.replace(tzinfo=None, microsecond=0)
    if isinstance(value, tuple | list | frozenset):
        return "、".join(str(plain(v)) for v in value)
    return value


def write(
    out: IO[bytes],
    fmt: Format,
    *,
    title: str,
    headers: Sequence[str],
    rows: Iterable[Sequence[object]],
) -> int:
    """Write the header row and every row to ``out`` as ``fmt``; the number of rows written."""
    if Format(fmt) is Format.CSV:
        return _csv(out, headers, rows)
    return _xlsx(out, title, headers, rows)


def _csv(out: IO[bytes], headers: Sequence[str], rows: Iterable[Sequence[object]]) -> int:
    text = io.TextIOWrapper(out, encoding="utf-8-sig", newline="", write_through=False)
    try:
        writer = csv.writer(text)
        writer.writerow(headers)
        count = 0
        for row in rows:
            writer.writerow([_csv_cell(v) for v in row])
            count += 1
        text.flush()
        return count
    finally:
        text.detach()  # the caller owns ``out``


def _csv_cell(value: object) -> object:
    value = plain(value)
    if isinstance(value, dt.datetime):
        return value.strftime(TIME)
    if isinstance(value, str) and dangerous(value):
        return "'" + value
    return "" if value is None else value


def _xlsx(
    out: IO[bytes], title: str, headers: Sequence[str], rows: Iterable[Sequence[object]]
) -> int:
    book = Workbook(write_only=True)
    sheet = book.create_sheet(title=title[:31])
    for n, header in enumerate(headers, start=1):  # wide enough for the header, in CJK widths
        sheet.column_dimensions[get_column_letter(n)].width = max(10, 2 * len(header) + 2)
    sheet.freeze_panes = "A2"
    sheet.append(list(headers))
    count = 0
    for row in rows:
        sheet.append([_xlsx_cell(sheet, v) for v in row])
        count += 1
    book.save(out)
    return count


def _xlsx_cell(sheet: object, value: object) -> object:
    value = plain(value)
    if not isinstance(value, str):
        return value
    value = ILLEGAL_CHARACTERS_RE.sub("", value)
    if not (dangerous(value) or value.startswith("#")):
        return value
    cell = WriteOnlyCell(sheet, value=value)  # type: ignore[arg-type]
    cell.data_type = "s"  # text, never a formula or an error code
    cell.quotePrefix = True
    return cell
