"""The quarterly evaluation (季度考评) as a PDF: A4, Chinese text embedded, the page's figures.

The same figures as ``/staff/evaluation`` and its XLSX (:mod:`marketplace.evaluation`), one row
per handler (承办的街道、区、单位或部门), rates as the page prints them (one decimal, ``—`` when
nothing to count). Drawn with ReportLab and :mod:`service.cjk_font`'s font, as the certificates
are; as many pages as the rows need, the table's head repeated on each. No font: 503.
"""

from __future__ import annotations

import datetime as dt
import io
from collections.abc import Sequence
from typing import Any

from litestar import Request, Response
from reportlab.lib.colors import black
from reportlab.lib.pagesizes import A4
from reportlab.pdfgen.canvas import Canvas

from marketplace.evaluation import Evaluation, HandlerFigures
from marketplace.stats import Rate
from marketplace.workdays import china_day
from service import labels
from service.cjk_font import FontMissing, fit, font
from service.problems import ServiceError

TITLE = "季度考评"
HEAD = ("承办单位/部门", "类型", "事项", "响应率", "办结率", "按时率", "满意率", "平均评分")
SHARES = (0.31, 0.09, 0.08, 0.1, 0.1, 0.1, 0.1, 0.12)
NOTE = (
    "响应率＝1个工作日内响应；办结率＝已办结（含谅解）；按时办结率＝期限内办结；"
    "满意率＝社区评价4星及以上。"
)
WIDTH, HEIGHT = A4
MARGIN = 48
SIZE, LEADING = 10, 20
BOTTOM = 72  # rows stop above this; the page number and the note are below


def percent(r: Rate) -> str:
    """As the page prints a rate."""
    return "—" if r.percent is None else f"{r.percent:.1f}%"


def row(h: HandlerFigures) -> tuple[str, ...]:
    rates = (h.responded, h.resolved, h.on_time, h.satisfied)
    rating = "—" if h.mean_rating is None else f"{h.mean_rating:.1f}"
    kind = labels.label(labels.ORG_KINDS, h.kind)
    return (h.name, kind, str(h.received), *(percent(r) for r in rates), rating)


def response(
    request: Request[Any, Any, Any], found: Evaluation, *, area: str, now: dt.datetime
) -> Response[bytes]:
    """The PDF (503 with a Chinese reason when no CJK font is installed)."""
    settings = request.app.state.settings
    try:
        body = render(found, area=area, now=now, font_setting=settings.certificate_font)
    except FontMissing as exc:
        raise ServiceError(
            503, "pdf_font", "服务器未安装导出PDF所需的中文字体，请联系管理员", str(exc)
        ) from None
    name = f"evaluation-{found.org_id}-{found.period}.pdf"
    return Response(
        content=body,
        media_type="application/pdf",
        headers={
            "Content-Disposition": f'attachment; filename="{name}"',
            "Cache-Control": "private, no-store",
        },
    )


def render(found: Evaluation, *, area: str, now: dt.datetime, font_setting: str = "") -> bytes:
    """The evaluation's PDF: a title, the period, the table over as many pages as it needs."""
    face = font(font_setting)
    out = io.BytesIO()
    pdf = Canvas(out, pagesize=A4, pageCompression=1, invariant=0)
    title = f"{TITLE} {found.period}"
    pdf.setTitle(title)
    pdf.setAuthor(area)
    pdf.setSubject(TITLE)
    first, last = china_day(found.since), china_day(found.until - dt.timedelta(microseconds=1))
    rows = [row(h) for h in found.handlers]
    page = 1
    y = _heading(pdf, face, title, area, f"{first.isoformat()} 至 {last.isoformat()}", now)
    if not rows:
        pdf.setFont(face, 11)
        pdf.drawString(MARGIN, y, "本季度没有吹哨事项。")
        _foot(pdf, face, page)
    while rows:
        room = max(1, int((y - BOTTOM) // LEADING) - 1)  # the head takes a line
        y = _table(pdf, face, y, rows[:room])
        rows = rows[room:]
        _foot(pdf, face, page)
        if rows:
            pdf.showPage()
            page += 1
            y = HEIGHT - MARGIN - 12
    pdf.showPage()
    pdf.save()
    return out.getvalue()


def _heading(pdf: Canvas, face: str, title: str, area: str, span: str, now: dt.datetime) -> float:
    pdf.setFillColor(black)
    pdf.setFont(face, 20)
    pdf.drawCentredString(WIDTH / 2, HEIGHT - 80, title)
    pdf.setFont(face, 10)
    pdf.drawString(MARGIN, HEIGHT - 110, fit(f"统计范围：{area}", face, 10, WIDTH / 2 - MARGIN))
    pdf.drawRightString(WIDTH - MARGIN, HEIGHT - 110, f"收到事项：{span}")
    pdf.drawRightString(WIDTH - MARGIN, HEIGHT - 126, f"导出日期：{china_day(now).isoformat()}")
    return HEIGHT - 160


def _table(pdf: Canvas, face: str, y: float, rows: Sequence[tuple[str, ...]]) -> float:
    width = WIDTH - 2 * MARGIN
    columns = [MARGIN + width * sum(SHARES[:i]) for i in range(len(HEAD))]
    pdf.setStrokeColor(black)
    pdf.setLineWidth(0.5)
    pdf.line(MARGIN, y + LEADING - 6, MARGIN + width, y + LEADING - 6)
    for cells in (HEAD, *rows):
        pdf.setFont(face, SIZE)
        for i, (x, cell, share) in enumerate(zip(columns, cells, SHARES, strict=True)):
            shown = fit(cell, face, SIZE, width * share - 6)
            if i < 2:
                pdf.drawString(x + 3, y, shown)
            else:  # figures to the right, as on the page
                pdf.drawRightString(x + width * share - 3, y, shown)
        pdf.line(MARGIN, y - 6, MARGIN + width, y - 6)
        y -= LEADING
    return y


def _foot(pdf: Canvas, face: str, page: int) -> None:
    pdf.setFont(face, 8)
    pdf.drawString(MARGIN, 48, fit(NOTE, face, 8, WIDTH - 2 * MARGIN - 40))
    pdf.drawRightString(WIDTH - MARGIN, 48, f"第 {page} 页")
