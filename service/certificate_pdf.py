"""The certificate as a PDF (志愿服务记录证明): one A4 page, Chinese text embedded, a QR code.

Drawn with ReportLab on a canvas (measured against fpdf2: ≈ 10 ms a certificate with a TrueType
CJK font, against ≈ 400 ms for fpdf2 subsetting Noto CJK's CFF outlines on every document; ReportLab
reads no CFF outlines, hence a TrueType font). The font, embedded and subsetted, is
:mod:`service.cjk_font`'s (shared with the quarterly evaluation's PDF); without one the service
answers 503.

The QR code (segno, as the check-in code) holds the public verification address
``{LINLI_PUBLIC_URL}/verify/{number}``, drawn as an image so that anyone can read it back.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import Any

import segno
from litestar import Request, Response
from reportlab.lib.colors import Color, black
from reportlab.lib.pagesizes import A4
from reportlab.lib.utils import ImageReader
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfgen.canvas import Canvas
from sqlalchemy.engine import Connection

import marketplace as mk
from points import hours_display
from service import labels
from service.cjk_font import FontMissing, fit, font
from service.problems import ServiceError

TITLE = "志愿服务记录证明"
LAW = "依据《志愿服务条例》第十九条及《志愿服务记录与证明出具办法》出具，免费。"
RED = Color(0.75, 0.1, 0.1)
WIDTH, HEIGHT = A4
MARGIN = 64
LINES = 8  # categories listed, at most (the rest as one line)
MASK = 0  # a fixed QR mask: any decodes, and choosing the best of 8 costs ≈ 40 ms
FLOOR = 300  # the issuer's block and the seal are below this: one page, whatever the content


def verify_url(public_url: str, number: str) -> str:
    return f"{public_url.rstrip('/')}/verify/{number}"


def response(
    request: Request[Any, Any, Any], tx: Connection, cert: mk.certificates.Certificate
) -> Response[bytes]:
    """The certificate's PDF (503 with a Chinese reason when no CJK font is installed)."""
    settings = request.app.state.settings
    seal = mk.issuers.seal_image(tx, cert.community_id) if cert.has_seal else None
    try:
        body = render(
            cert,
            verify=verify_url(settings.public_url, cert.number),
            seal=seal,
            font_setting=settings.certificate_font,
        )
    except FontMissing as exc:
        raise ServiceError(
            503, "certificate_font", "服务器未安装证明所需的中文字体，请联系管理员", str(exc)
        ) from None
    return Response(
        content=body,
        media_type="application/pdf",
        headers={
            "Content-Disposition": f'inline; filename="certificate-{cert.number}.pdf"',
            "Cache-Control": "private, no-store",
        },
    )


def render(
    cert: mk.certificates.Certificate,
    *,
    verify: str,
    seal: bytes | None = None,
    font_setting: str = "",
) -> bytes:
    """The certificate's PDF."""
    face = font(font_setting)
    out = io.BytesIO()
    pdf = Canvas(out, pagesize=A4, pageCompression=1, invariant=0)
    pdf.setTitle(f"{TITLE} {cert.number}")
    pdf.setAuthor(cert.body.organisation)
    pdf.setSubject(TITLE)
    _draw(pdf, face, cert, verify, seal)
    pdf.showPage()
    pdf.save()
    return out.getvalue()


def _draw(pdf: Canvas, face: str, cert: mk.certificates.Certificate, verify: str,
          seal: bytes | None) -> None:  # fmt: skip
    body = cert.body
    pdf.setStrokeColor(RED)
    pdf.setLineWidth(1.5)
    pdf.rect(MARGIN - 24, 48, WIDTH - 2 * (MARGIN - 24), HEIGHT - 96)
    pdf.setFillColor(black)
    pdf.setFont(face, 11)
    pdf.drawRightString(WIDTH - MARGIN, HEIGHT - 84, f"证明编号：{cert.number}")
    pdf.setFont(face, 24)
    pdf.drawCentredString(WIDTH / 2, HEIGHT - 130, TITLE)
    y = HEIGHT - 180
    who = f"兹证明 {cert.name}"
    if cert.id_kind is not None and cert.id_masked:
        who += f"（{labels.label(labels.ID_KINDS, cert.id_kind)}：{cert.id_masked}）"
    who += f"，志愿者编号 {cert.member_id}，"
    period = _period(cert)
    text = (
        f"{who}{period}在{body.community_name}参加志愿服务，经本单位记录核实，"
        f"累计志愿服务时长 {cert.hours} 小时（不含往返路程时间），共 {_times(body)} 次。"
    )
    y = _paragraph(pdf, face, text, y, size=13, leading=24)
    y -= 10
    pdf.setFont(face, 13)
    pdf.drawString(MARGIN, y, "服务内容：")
    y -= 22
    lines = [(line.category, str(line.times), line.hours) for line in body.lines]
    if len(lines) > LINES:  # one page: the largest categories, the rest together
        rest = body.lines[LINES - 1 :]
        minutes = sum(line.minutes for line in rest)
        times = str(sum(line.times for line in rest))
        lines = [*lines[: LINES - 1], ("其他类别", times, hours_display(minutes))]
    y = _table(pdf, face, y, ("服务类别", "次数", "时长（小时）"), lines)
    # the activities listed by name fill what the categories leave above the issuer's block:
    # their title and head (34), the line counting the rest (20) and 特此证明 (30)
    room = int((y - 8 - 34 - 20 - 30 - FLOOR) // 16)
    activities = body.activities[len(body.activities) - room :] if room > 0 else ()
    more = body.more_activities + len(body.activities) - len(activities)
    if activities:
        y -= 8
        pdf.setFont(face, 11)
        pdf.drawString(MARGIN, y, "服务记录（最近）：")
        y -= 18
        rows = [(a.served_on.isoformat(), a.title, a.place, a.hours) for a in activities]
        y = _table(pdf, face, y, ("日期", "活动", "地点", "时长"), rows, size=10, leading=16)
    if more:
        pdf.setFont(face, 10)
        pdf.drawString(MARGIN, y - 4, f"另有 {more} 次服务未逐条列出。")
        y -= 20
    y -= 12
    pdf.setFont(face, 13)
    pdf.drawString(MARGIN + 26, y, "特此证明。")
    _issuer(pdf, face, cert, seal)
    _qr(pdf, face, verify)


def _times(body: mk.certificates.Body) -> int:
    return sum(line.times for line in body.lines)


def _period(cert: mk.certificates.Certificate) -> str:
    until = _day(cert.period_to)
    if cert.period_from is None:
        return f"截至 {until} "
    return f"于 {_day(cert.period_from)} 至 {until} 期间"


def _day(day: object) -> str:
    text = str(day)
    year, month, date = text.split("-")
    return f"{year}年{int(month)}月{int(date)}日"


def _paragraph(pdf: Canvas, face: str, text: str, y: float, *, size: int, leading: int) -> float:
    """Chinese wraps between any two characters; the first line is indented two characters."""
    pdf.setFont(face, size)
    width = WIDTH - 2 * MARGIN
    indent = 2 * size
    for line in _wrap(text, face, size, width, indent):
        pdf.drawString(MARGIN + indent, y, line)
        indent = 0
        y -= leading
    return y


def _wrap(text: str, face: str, size: int, width: float, indent: float) -> list[str]:
    lines: list[str] = []
    line = ""
    for char in text:
        room = width - (indent if not lines else 0)
        if line and pdfmetrics.stringWidth(line + char, face, size) > room:
            if char in "，。；：）、" and line:  # no closing punctuation at a line's start
                line, char = line[:-1], line[-1] + char
            lines.append(line)
            line = ""
        line += char
    return [*lines, line] if line else lines


def _table(
    pdf: Canvas,
    face: str,
    y: float,
    head: tuple[str, ...],
    rows: Sequence[tuple[str, ...]],
    *,
    size: int = 11,
    leading: int = 20,
) -> float:
    width = WIDTH - 2 * MARGIN
    shares = {3: (0.5, 0.2, 0.3), 4: (0.2, 0.45, 0.23, 0.12)}[len(head)]
    columns = [MARGIN + width * sum(shares[:i]) for i in range(len(head))]
    pdf.setStrokeColor(black)
    pdf.setLineWidth(0.5)
    for cells, bold in ((head, True), *((r, False) for r in rows)):
        pdf.setFont(face, size)
        for x, cell, share in zip(columns, cells, shares, strict=True):
            shown = fit(cell, face, size, width * share - 6)
            pdf.drawString(x + 3, y, shown)
        pdf.line(MARGIN, y - 6, MARGIN + width, y - 6)
        if bold:
            pdf.line(MARGIN, y + leading - 6, MARGIN + width, y + leading - 6)
        y -= leading
    return y


def _issuer(pdf: Canvas, face: str, cert: mk.certificates.Certificate, seal: bytes | None) -> None:
    body = cert.body
    x = WIDTH / 2 + 10
    y = 250
    pdf.setFont(face, 12)
    for line in (
        f"出具单位：{body.organisation}",
        f"负责人：{body.person_in_charge or '　　　　'}",
        f"经办人：{body.handler or '　　　　'}",
        f"联系方式：{body.contact or '　　　　'}",
        f"出具日期：{_day(cert.issued_on)}",
    ):
        pdf.drawString(x, y, fit(line, face, 12, WIDTH - MARGIN - x))
        y -= 22
    box = 118  # the seal's place, over the organisation's name as a stamp is
    left, bottom = WIDTH - MARGIN - box - 6, 200
    if seal:
        pdf.drawImage(ImageReader(io.BytesIO(seal)), left, bottom, box, box, mask="auto",
                      preserveAspectRatio=True)  # fmt: skip
    else:
        pdf.setStrokeColor(RED)
        pdf.setDash(4, 3)
        pdf.circle(left + box / 2, bottom + box / 2, box / 2)
        pdf.setDash()
        pdf.setFillColor(RED)
        pdf.setFont(face, 10)
        pdf.drawCentredString(left + box / 2, bottom + box / 2 - 4, "（盖章处）")
        pdf.setFillColor(black)


def _qr(pdf: Canvas, face: str, verify: str) -> None:
    code = segno.make(verify, error="m", mask=MASK)
    png = io.BytesIO()
    code.save(png, kind="png", scale=1, border=4)  # one pixel a module: the PDF scales it
    png.seek(0)
    side = 96
    pdf.drawImage(ImageReader(png), MARGIN, 96, side, side)
    pdf.setFont(face, 9)
    pdf.drawString(MARGIN, 84, "扫码查验真伪与是否有效")
    pdf.setFont(face, 8)
    pdf.drawString(MARGIN, 66, fit(verify, face, 8, WIDTH - 2 * MARGIN))
    pdf.drawString(MARGIN, 56, LAW)
