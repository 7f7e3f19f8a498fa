"""单位季度报表 at a phone's size (390×844): the unit admin's report of the last quarter fits the
screen (no sideways scrolling), names who is behind on the monthly 报到, and offers the XLSX."""

from __future__ import annotations

import datetime as dt

from playwright.sync_api import Browser, expect
from sqlalchemy.engine import Connection

import marketplace as mk
from browser_world import ARTIFACTS, COMMUNITY, PASSWORD, Server
from marketplace import DutyKind, OrgKind, Role
from marketplace.model import CHINA
from service import auth

TALL_PHONE = {"width": 390, "height": 844}
ADMIN_PHONE = "13900000021"


def last_quarter(now: dt.datetime) -> tuple[str, list[dt.datetime]]:
    """The quarter before now's, and a moment in each of its months (China time)."""
    day = now.astimezone(CHINA).date()
    year, quarter = day.year, (day.month - 1) // 3
    if quarter == 0:
        year, quarter = year - 1, 4
    months = [3 * quarter - 2 + n for n in range(3)]
    return f"{year}-Q{quarter}", [dt.datetime(year, m, 10, 10, tzinfo=CHINA) for m in months]


def _unit(conn: Connection) -> None:
    now = dt.datetime.now(dt.UTC)
    mk.create_org(conn, mk.SYSTEM, id="weijian", kind=OrgKind.UNIT, name="区卫健局")
    mk.pair_unit(conn, mk.SYSTEM, "weijian", COMMUNITY)
    mk.add_member(conn, id="wang-admin", name="王书记", phone=ADMIN_PHONE)
    mk.grant_role(conn, mk.SYSTEM, "wang-admin", "weijian", Role.UNIT_ADMIN)
    auth.set_credentials(conn, "wang-admin", ADMIN_PHONE, auth.HASHER.hash(PASSWORD))
    for member_id, name in (("li-dy", "李建国"), ("zhao-dy", "赵晓梅")):
        mk.add_member(conn, id=member_id, name=name, home_unit_id="weijian")
        mk.grant_role(conn, mk.SYSTEM, member_id, "weijian", Role.PARTY_MEMBER)
    _, months = last_quarter(now)
    for at in months:  # 李建国 reported every month; 赵晓梅 never
        mk.record_duty(conn, "liu", community_id=COMMUNITY, member_id="li-dy",
                       kind=DutyKind.CHECKIN, at=at, now=now)  # fmt: skip
    mk.record_duty(conn, "liu", community_id=COMMUNITY, member_id="li-dy",
                   kind=DutyKind.SURVEY, at=months[1], note="走访", now=now)  # fmt: skip


def test_the_unit_admin_reads_last_quarters_report_on_a_phone(
    browser: Browser, server: Server
) -> None:
    server.run(_unit)
    quarter, _ = last_quarter(dt.datetime.now(dt.UTC))
    context = browser.new_context(viewport=TALL_PHONE, locale="zh-CN", base_url=server.url)
    page = context.new_page()
    page.goto("/login")
    page.get_by_label("手机号").fill(ADMIN_PHONE)
    page.get_by_label("密码").fill(PASSWORD)
    page.get_by_role("button", name="登录").click()
    expect(page.locator("header .me")).to_have_text("王书记")
    page.goto(f"/unit/report?period={quarter}")
    expect(page.get_by_role("heading", name="单位季度报表")).to_be_visible()
    expect(page.get_by_test_id("members")).to_have_text("2")
    expect(page.get_by_test_id("behind")).to_contain_text("赵晓梅")
    expect(page.get_by_test_id("behind")).not_to_contain_text("李建国")
    expect(page.get_by_test_id("member-li-dy")).to_contain_text("季度调研1次")
    expect(page.get_by_role("link", name="下载报表（Excel）")).to_be_visible()
    wide = page.evaluate("document.documentElement.scrollWidth - innerWidth")
    assert wide <= 0, wide  # nothing wider than the phone
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "unit-report.png"), full_page=True)
    with page.expect_download() as download:
        page.get_by_role("link", name="下载报表（Excel）").click()
    assert download.value.suggested_filename == f"unit-report-weijian-{quarter}.xlsx"
    context.close()
