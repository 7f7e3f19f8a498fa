"""吹哨报到 in the pages: the community blows the whistle from the wish page, the street takes it
in from its queue as 阶段性 with milestones, the resident reads the progress in plain Chinese,
the public board lists the 三单 with nothing personal, and the evaluation downloads as XLSX and
as a PDF (read back with pypdf: the same figures as the page)."""

from __future__ import annotations

import datetime as dt
import io
import re

import openpyxl  # type: ignore[import-untyped]
import pytest

import certificate_world as cw
import marketplace as mk
import service_world as sw
from marketplace.evaluation import Evaluation, HandlerFigures
from marketplace.stats import rate
from marketplace.workdays import CHINA
from pages_world import Site, field_error, flash
from service import auth, evaluation_pdf

MONDAY = dt.datetime(2026, 12, 7, 10, tzinfo=CHINA).astimezone(dt.UTC)


def stage(site: Site) -> str:
    """A published wish of res, and a street's staff member."""
    site.svc.clock.now = MONDAY
    start = MONDAY + dt.timedelta(days=10)
    with site.svc.app.state.db.transaction() as tx:
        mk.add_member(tx, id="street", name="街道工作人员", now=MONDAY)
        mk.grant_role(tx, mk.SYSTEM, "street", "s1", mk.Role.STAFF, now=MONDAY)
        auth.set_credentials(tx, "street", "13800000001", sw.password_hash())
        wish = mk.post_wish(
            tx, "res", community_id="c1", kind=mk.WishKind.SERVICE, category="助老陪护",
            title="小区路灯坏了三个月", description="", org_id="g1", address="幸福路1号3栋502室",
            window_start=start, window_end=start + dt.timedelta(hours=2),
            estimated_minutes=60, now=MONDAY,
        )  # fmt: skip
        mk.verify(tx, "staff", "c1", wish.id, now=MONDAY)
    return wish.id


async def test_whistle_accept_and_the_resident_reads_the_progress(site: Site) -> None:
    wish_id = stage(site)
    staff = await site.person("staff")
    page = await staff.get(f"/wishes/{wish_id}")
    assert "向街道吹哨" in page.text
    empty = await staff.post(f"/wishes/{wish_id}/whistle", {"reason": ""})
    assert field_error(empty, "reason")
    blown = await staff.post(
        f"/wishes/{wish_id}/whistle", {"reason": "路灯归市政管理，社区无权维修"}
    )
    assert blown.status_code == 303, blown.text
    page = await staff.get(f"/wishes/{wish_id}")
    assert "已向街道吹哨" in flash(page)
    assert "社区已将这件事上报和平街道协调办理（吹哨）" in page.text
    assert "向街道吹哨</button>" not in page.text  # one matter at a time

    street = await site.person("street")
    queue = await street.get("/staff/matters")
    assert "小区路灯坏了三个月" in queue.text
    assert "受理期限 12月8日" in queue.text
    link = re.search(r'href="(/matters/c1/[^"]+)"', queue.text)
    assert link
    matter = await street.get(link.group(1))
    assert 'action="' + link.group(1) + '/accept"' in matter.text
    refused = await street.post(link.group(1) + "/accept", {"kind": "staged"})
    assert refused.status_code == 422
    assert "阶段性事项须有" in refused.text
    accepted = await street.post(
        link.group(1) + "/accept",
        {"kind": "staged", "title1": "报市政排查", "due1": "2026-12-11",
         "title2": "更换路灯", "due2": "2026-12-25"},
    )  # fmt: skip
    assert accepted.status_code == 303, accepted.text
    noted = await street.post(link.group(1) + "/note", {"note": "已报市政", "milestone": "1"})
    assert noted.status_code == 303, noted.text

    resident = await site.person("res")
    mine = await resident.get(f"/wishes/{wish_id}")
    assert "和平街道已受理，分阶段办理，计划12月25日前办结。" in mine.text
    assert "第1步：报市政排查，已完成。" in mine.text
    assert "第2步：更换路灯，计划12月25日前完成。" in mine.text
    assert "办理进展 → 办理中：已报市政" in mine.text  # 办理记录
    assert "受理 → 办理中：阶段性事项清单" in mine.text

    board = await site.browser().get("/board/c1")
    lists = board.text.split('data-testid="board-lists"')[1].split("</section>")[0]
    assert "阶段性事项清单（1）" in lists
    assert "和平街道办理" in lists
    for private in ("小区路灯", "幸福路", "res", "社区无权维修", "已报市政"):
        assert private not in lists

    figures = await street.get("/staff/evaluation?period=2026-Q4")
    assert "和平街道" in figures.text
    assert "100.0%" in figures.text
    sheet = await street.get("/staff/evaluation.xlsx?period=2026-Q4")
    assert sheet.headers["content-type"].startswith("application/vnd.openxmlformats")
    book = openpyxl.load_workbook(io.BytesIO(sheet.content))
    rows = list(book.active.iter_rows(values_only=True))
    assert rows[0][:3] == ("单位/部门", "类型", "受理事项")
    assert rows[1][:4] == ("和平街道", "街道", 1, 100.0)

    assert 'href="/staff/evaluation.pdf?period=2026-Q4"' in figures.text
    pdf = await street.get("/staff/evaluation.pdf?period=2026-Q4")
    assert pdf.status_code == 200, pdf.text
    assert pdf.headers["content-type"] == "application/pdf"
    assert cw.page_size_mm(pdf.content) == (210, 297)  # A4
    assert cw.embedded_fonts(pdf.content)  # the Chinese font travels inside
    text = cw.pdf_text(pdf.content)
    assert "季度考评 2026-Q4" in text
    cells = re.findall(r'<td(?: class="num")?>([^<]*)</td>', figures.text)
    assert cells[:2] == ["和平街道", "1"]
    lines = text.splitlines()  # pypdf reads each cell as a line
    start = lines.index("和平街道")
    name, kind, received, *rates, rating = lines[start : start + 8]
    assert [name, received, *rates] == cells[:6]  # the page's figures, as the page prints them
    assert (kind, rating) == ("街道", "—")  # and its type; no rating yet


def test_a_long_evaluation_pdf_runs_over_pages_with_every_handler() -> None:
    """45 handlers: two A4 pages, each with the table's head, every handler once, long names cut."""
    since = dt.datetime(2026, 9, 30, 16, tzinfo=dt.UTC)
    long = "城市管理和综合执法局第一执法中队"
    handlers = tuple(
        HandlerFigures(
            org_id=f"u{i}", name=f"部门{i:02d}" + (long if i == 7 else ""),
            kind=mk.OrgKind.UNIT, received=i + 1, responded=rate(i, i + 1), resolved=rate(0, i + 1),
            on_time=rate(0, 0), satisfied=rate(1, 2), mean_rating=4.5,
        )
        for i in range(45)
    )  # fmt: skip
    found = Evaluation(org_id="d1", period="2026-Q4", since=since,
                       until=since + dt.timedelta(days=92), handlers=handlers)  # fmt: skip
    pdf = evaluation_pdf.render(found, area="和平区", now=MONDAY)
    assert cw.pdf_pages(pdf) == 2
    lines = cw.pdf_text(pdf).splitlines()
    assert lines.count("承办单位/部门") == 2
    names = [line for line in lines if line.startswith("部门")]
    assert names[:7] + names[8:] == [f"部门{i:02d}" for i in range(45) if i != 7]
    assert names[7].startswith("部门07城市")
    assert names[7].endswith("…")  # cut to its column
    assert len(names[7]) < len("部门07" + long)
    assert "收到事项：2026-10-01 至 2026-12-31" in lines
    start = lines.index("部门44")
    last = ["部门44", "单位", "45", "97.8%", "0.0%", "—", "50.0%", "4.5"]
    assert lines[start : start + 8] == last


async def test_the_evaluation_pdf_without_a_cjk_font_is_a_chinese_503(
    site: Site, monkeypatch: pytest.MonkeyPatch
) -> None:
    stage(site)
    settings = site.svc.app.state.settings
    monkeypatch.setattr(site.svc.app.state, "settings", type(settings)(
        **{**{f: getattr(settings, f) for f in settings.__struct_fields__},
           "certificate_font": "/no/such/font.ttf"}
    ))  # fmt: skip
    street = await site.person("street")
    answer = await street.get("/staff/evaluation.pdf?period=2026-Q4")
    assert answer.status_code == 503
    assert "服务器未安装导出PDF所需的中文字体，请联系管理员" in answer.text
    assert '<html lang="zh-CN">' in answer.text


async def test_the_street_takes_up_a_wish_the_deadline_escalated(site: Site) -> None:
    wish_id = stage(site)
    with site.svc.app.state.db.transaction() as tx:  # unclaimed past its 48 hours: the street's
        mk.escalate_due(tx, now=MONDAY + dt.timedelta(hours=49))
    site.svc.clock.now = MONDAY + dt.timedelta(hours=50)
    street = await site.person("street")
    queue = await street.get("/staff/escalations")
    action = f"/escalations/c1/{wish_id}/take-up"
    assert f'action="{action}"' in queue.text
    taken = await street.post(action)
    assert taken.status_code == 303, taken.text
    matter = await street.get(taken.headers["location"])
    assert "来源：超过处理时限升级督办" in matter.text
    assert "已受理督办" in flash(matter)
    resident = await site.person("res")
    mine = await resident.get(f"/wishes/{wish_id}")
    assert "这件事超过处理时限，已由和平街道督办。" in mine.text
    again = await street.post(action)  # one open matter a wish
    assert again.status_code == 409 or again.status_code == 422
