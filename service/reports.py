"""Spreadsheets (XLSX) of the reports a unit or a street downloads, written with openpyxl in
write-only mode (rows streamed out, never a whole sheet held as cells).

The headings are Chinese, as the people who open the file read them; figures are numbers (hours
to one decimal) so that the spreadsheet can add them up.
"""

from __future__ import annotations

import io

from openpyxl import Workbook

import marketplace as mk
from marketplace import DUTIES, DutyKind

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def hours(minutes: int) -> float:
    return round(minutes / 60, 1)


def unit_report_xlsx(report: mk.UnitReport) -> bytes:
    """单位季度报表: one sheet of the unit's members, one of the totals."""
    book = Workbook(write_only=True)
    sheet = book.create_sheet(f"{report.period} 双报到")
    months = list(report.members[0].months) if report.members else []
    kinds = list(DutyKind)
    sheet.append(
        ["成员编号", "姓名", "服务时长（小时）", "服务心愿", "评价数", "满意数"]
        + [f"{m} 报到" for m in months]
        + ["未报到月份"]
        + [f"本季{DUTIES[k].label}" for k in kinds]
        + ["本年未完成的“4+1”"]
    )
    for m in report.members:
        sheet.append(
            [m.member_id, m.name, hours(m.minutes), m.wishes, m.rated, m.satisfied]
            + ["已报到" if m.months[month] else "未报到" for month in months]
            + ["、".join(m.missing)]
            + [m.quarter[k.value] for k in kinds]
            + ["、".join(DUTIES[DutyKind(k)].label for k in m.four_plus_one)]
        )
    totals = book.create_sheet("合计")
    satisfaction = report.satisfaction.percent
    for row in (
        ["单位", report.name],
        ["季度", report.period],
        ["在职党员", len(report.members)],
        ["服务时长（小时）", hours(report.minutes)],
        ["服务心愿", report.wishes],
        ["满意率（%）", "" if satisfaction is None else satisfaction],
        ["月度报到滞后人数", len(report.behind)],
    ):
        totals.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()
