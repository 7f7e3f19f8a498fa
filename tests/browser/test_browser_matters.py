"""吹哨报到 at a phone's size (390×844): the street's queue puts the overdue matter first in red,
downloads the quarterly evaluation (季度考评) as a PDF whose figures are the page's, and the
resident reads her wish's progress (督办进度) in plain Chinese. Screenshots:
``artifacts/matters-street-queue.png``, ``artifacts/matters-evaluation.png`` and
``artifacts/matters-resident-progress.png``."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from playwright.sync_api import Browser, Page, expect
from sqlalchemy.engine import Connection

import certificate_world as cw
import marketplace as mk
from browser_world import ARTIFACTS, COMMUNITY, PASSWORD, PEOPLE, Server
from marketplace import MatterKind, OrgKind, Role
from marketplace.matters import MilestoneIn
from service import auth

TALL_PHONE = {"width": 390, "height": 844}
STREET = ("王科长", "13900000009")
WISHES: dict[str, str] = {}


def _stage(conn: Connection) -> None:
    now = dt.datetime.now(dt.UTC)  # the service's time is real time
    for year in (now.year, now.year + 1):  # a year the calendar package does not know yet
        if not mk.calendars.calendar(conn).covers(year):
            new_year = mk.calendars.Day(day=dt.date(year, 1, 1), workday=False, name="元旦")
            mk.calendars.load_year(conn, mk.SYSTEM, (new_year,), source="test", now=now)
    mk.add_member(conn, id="wang", name=STREET[0], phone=STREET[1])
    mk.grant_role(conn, mk.SYSTEM, "wang", "heping", Role.STAFF)
    auth.set_credentials(conn, "wang", STREET[1], auth.HASHER.hash(PASSWORD))
    mk.create_org(conn, mk.SYSTEM, id="zhujian", kind=OrgKind.UNIT, name="区住建局")
    start = now + dt.timedelta(days=20)
    for key, title in (("late", "楼道积水无人处理"), ("staged", "小区路灯坏了三个月")):
        wish = mk.post_wish(
            conn, "chen", community_id=COMMUNITY, kind=mk.WishKind.SERVICE, category="代办跑腿",
            title=title, description="", org_id="grid1", address="幸福路1号3栋502室",
            window_start=start, window_end=start + dt.timedelta(hours=2),
            estimated_minutes=60, now=now,
        )  # fmt: skip
        mk.verify(conn, "liu", COMMUNITY, wish.id, now=now)
        WISHES[key] = wish.id
    late = now - dt.timedelta(days=6)  # not taken in: its day to respond has passed
    mk.matters.blow_whistle(
        conn, "liu", COMMUNITY, WISHES["late"], reason="需物业和住建协调", now=late
    )
    matter = mk.matters.blow_whistle(
        conn, "liu", COMMUNITY, WISHES["staged"], reason="路灯归市政维护", now=now
    )
    today = mk.workdays.china_day(now)
    steps = [
        MilestoneIn(title="报市政排查", due_on=today + dt.timedelta(days=4)),
        MilestoneIn(title="更换路灯", due_on=today + dt.timedelta(days=18)),
    ]
    mk.matters.accept(
        conn, "wang", COMMUNITY, matter.id, kind=MatterKind.STAGED, steps=steps, now=now
    )
    mk.matters.note(conn, "wang", COMMUNITY, matter.id, text="已报市政", milestone=1, now=now)


def _sign_in(page: Page, phone: str) -> None:
    page.goto("/login")
    page.get_by_label("手机号").fill(phone)
    page.get_by_label("密码").fill(PASSWORD)
    page.get_by_role("button", name="登录").click()
    page.wait_for_load_state()


def test_the_street_queue_and_the_residents_progress_at_phone_size(
    browser: Browser, server: Server, tmp_path: Path
) -> None:
    server.run(_stage)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    context = browser.new_context(
        viewport=TALL_PHONE, locale="zh-CN", base_url=server.url, accept_downloads=True
    )
    page = context.new_page()
    _sign_in(page, STREET[1])
    page.goto("/staff/matters")
    cards = page.locator('[data-testid="matter-queue"] li.card')
    expect(cards).to_have_count(2)
    expect(cards.first).to_contain_text("楼道积水无人处理")
    expect(cards.first.locator("p.error")).to_contain_text("（已超期）")
    expect(cards.nth(1)).to_contain_text("阶段性事项清单")
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390, width  # nothing wider than the phone
    page.screenshot(path=str(ARTIFACTS / "matters-street-queue.png"), full_page=True)

    page.goto("/staff/evaluation")
    row = page.get_by_test_id("evaluation").locator("tbody tr", has_text="和平街道")
    shown = [cell.strip() for cell in row.locator("td").all_inner_texts()]
    assert shown[0] == "和平街道", shown
    assert len(shown) == 6, shown  # name, matters, four rates
    excel = page.get_by_role("link", name="导出 Excel（XLSX）")
    pdf_link = page.get_by_role("link", name="导出 PDF")
    expect(excel).to_be_visible()
    expect(pdf_link).to_be_visible()
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390, width
    page.screenshot(path=str(ARTIFACTS / "matters-evaluation.png"), full_page=True)
    with page.expect_download() as sheet:  # not boosted by htmx: a real download
        excel.click()
    assert sheet.value.suggested_filename.endswith(".xlsx")
    with page.expect_download() as download:
        pdf_link.click()
    saved = tmp_path / "evaluation.pdf"
    download.value.save_as(saved)
    lines = cw.pdf_text(saved.read_bytes()).splitlines()
    assert lines[0].startswith("季度考评 ")
    start = lines.index("和平街道")
    name, _kind, received, *rates, _rating = lines[start : start + 8]
    assert [name, received, *rates] == shown
    context.close()

    context = browser.new_context(viewport=TALL_PHONE, locale="zh-CN", base_url=server.url)
    page = context.new_page()
    _sign_in(page, PEOPLE["chen"][1])
    page.goto(f"/wishes/{WISHES['staged']}")
    progress = page.locator('[data-testid="matter-progress"]')
    expect(progress).to_contain_text("社区已将这件事上报和平街道协调办理（吹哨）")
    expect(progress).to_contain_text("和平街道已受理，分阶段办理")
    expect(progress).to_contain_text("第1步：报市政排查，已完成。")
    progress.scroll_into_view_if_needed()
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390, width
    page.screenshot(path=str(ARTIFACTS / "matters-resident-progress.png"), full_page=True)
    context.close()
