"""Roster files for people (花名册): the template to fill in, each problem of a file in Chinese, and
the file's rows again with a 问题 column, as an XLSX workbook to correct and upload again.

Workbooks are written with openpyxl's write-only mode. A cell that would start a formula (``=``,
``+``, ``-``, ``@``) is written as text with a leading apostrophe, so that a file's
``=HYPERLINK(...)`` comes back as the text it was, never as a live formula.
"""

from __future__ import annotations

import io
from collections.abc import Iterable
from typing import Any, cast

import openpyxl
from openpyxl.cell import WriteOnlyCell
from openpyxl.cell.cell import Cell
from openpyxl.styles import Font, PatternFill
from openpyxl.utils import get_column_letter
from openpyxl.worksheet._write_only import WriteOnlyWorksheet

import marketplace as mk
from marketplace.roster import COLUMNS, Problem
from service import i18n

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
TEMPLATE_NAME = "linli-roster-template.xlsx"
PROBLEMS_HEADER = "问题"
EXAMPLE = (
    "张三",
    "13800000000",
    "第一网格",
    "1号楼",
    "301",
    "志愿者、党员",
    "家电维修、理发",
    "",
    "",
    "",
    "阳光路8号1号楼301室",
    "周六上午",
)
NOTES = (
    "必填",
    "必填，11位手机号；按手机号匹配已登记的成员",
    "网格名称",
    "楼栋名称（多个网格有同名楼栋时须填网格）",
    "",
    "居民、志愿者、党员、网格员、社区工作人员，多个用、分隔；不填为居民",
    "多个用、分隔，最多20项",
    "与本社区结对的单位名称（在职党员）",
    "独居老人、残疾、大病、低保、留守儿童；须同时填同意书编号",
    "居民单独同意书的编号",
    "",
    "",
)


def problem_text(problem: Problem) -> str:
    """``第 3 行 · 手机号：与第 2 行的手机号重复``."""
    where = f"第 {problem.row} 行" + (f" · {problem.column}" if problem.column else "")
    return f"{where}：{i18n.cause_zh(problem.cause)}"


def file_problem(exc: mk.InvalidInput) -> str:
    """Why a whole file was refused, in Chinese."""
    return "；".join(i18n.cause_zh(c) for c in exc.reasons)


def safe(value: str) -> str:
    """A cell's text that no spreadsheet takes for a formula."""
    return "'" + value if mk.sheets.dangerous(value) else value


def _book() -> tuple[openpyxl.Workbook, WriteOnlyWorksheet]:
    book = openpyxl.Workbook(write_only=True)
    sheet = book.create_sheet("花名册")
    return book, sheet


def _bytes(book: openpyxl.Workbook) -> bytes:
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def _bold(sheet: WriteOnlyWorksheet, values: Iterable[str]) -> list[Cell]:
    cells = []
    for value in values:
        cell = WriteOnlyCell(sheet, value=value)
        cell.font = Font(bold=True)
        cells.append(cell)
    return cells


def template() -> bytes:
    """The template: the columns in row 1, an example in row 2 (delete it), notes in row 3."""
    book, sheet = _book()
    widths = cast(Any, sheet).column_dimensions  # write-only sheets take widths (not in stubs)
    for index in range(len(COLUMNS)):
        widths[get_column_letter(index + 1)].width = 14 if index != 10 else 24
    sheet.append(_bold(sheet, [c.header for c in COLUMNS]))
    sheet.append(list(EXAMPLE))
    notes = []
    for note in NOTES:
        cell = WriteOnlyCell(sheet, value=f"说明：{note}" if note else "")
        cell.font = Font(italic=True, color="777777")
        notes.append(cell)
    sheet.append(notes)
    return _bytes(book)


def problems_workbook(content: bytes, problems: Iterable[Problem]) -> bytes:
    """The file's rows again, with a 问题 column first: each row's problems, in Chinese; rows
    without a problem are left out, so that what needs correcting is all there is."""
    rows = mk.sheets.read_sheet(content)
    found: dict[int, list[Problem]] = {}
    for problem in problems:
        found.setdefault(problem.row, []).append(problem)
    book, sheet = _book()
    cast(Any, sheet).column_dimensions["B"].width = 50
    sheet.append(_bold(sheet, ["行号", PROBLEMS_HEADER, *rows.header]))
    fill = PatternFill("solid", fgColor="FDECEA")
    for number, cells in rows.rows:
        if number not in found:
            continue
        why = "；".join(
            (f"{p.column}：" if p.column else "") + i18n.cause_zh(p.cause) for p in found[number]
        )
        marked = WriteOnlyCell(sheet, value=why)
        marked.fill = fill
        sheet.append([number, marked, *(safe(c) for c in cells)])
    return _bytes(book)
