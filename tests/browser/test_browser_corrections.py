"""更正申请 at a phone's size (390×844), in Chromium: the volunteer asks for a correction of her
record and follows it; the staff member finds it in the queue and corrects it. Screenshots of the
request and the queue go to ``tests/browser/artifacts/``."""

from __future__ import annotations

import datetime as dt

from playwright.sync_api import Browser, Page, expect
from sqlalchemy.engine import Connection

import points
from browser_world import ARTIFACTS, COMMUNITY, PASSWORD, PEOPLE, Server

TALL_PHONE = {"width": 390, "height": 844}
REFERENCE = "event:chongyang:zhang"


def _served(conn: Connection) -> None:
    points.record_service(
        conn, community_id=COMMUNITY, member_id="zhang", category="助老陪护", minutes=60,
        served_on=dt.date.today() - dt.timedelta(days=1), reference=REFERENCE, actor="liu",
        memo="重阳节敬老活动", now=dt.datetime.now(dt.UTC),
    )  # fmt: skip


def _sign_in(browser: Browser, server: Server, who: str) -> Page:
    context = browser.new_context(viewport=TALL_PHONE, locale="zh-CN", base_url=server.url)
    page = context.new_page()
    page.on("dialog", lambda dialog: dialog.accept())
    page.goto("/login")
    page.get_by_label("手机号").fill(PEOPLE[who][1])
    page.get_by_label("密码").fill(PASSWORD)
    page.get_by_role("button", name="登录").click()
    expect(page.locator("header .me")).to_have_text(PEOPLE[who][0])
    return page


def _fits(page: Page) -> None:
    """Nothing wider than the phone: no sideways scrolling."""
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= TALL_PHONE["width"], width


def test_a_volunteer_asks_for_a_correction_and_the_staff_correct_it(
    browser: Browser, server: Server
) -> None:
    server.run(_served)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    vol = _sign_in(browser, server, "zhang")
    vol.goto("/hours")
    expect(vol.get_by_text("重阳节敬老活动")).to_be_visible()
    vol.get_by_role("link", name="申请更正").click()
    vol.get_by_label("哪一项有误").select_option("minutes")
    vol.get_by_label("应为", exact=False).fill("90")
    vol.get_by_role("button", name="提交申请").click()
    expect(vol.locator("#reason-error")).to_have_text("必须填写")
    vol.get_by_label("原因（必填）").fill("活动延长了半小时，签到表可查")
    vol.get_by_role("button", name="提交申请").click()
    expect(vol.locator('[data-testid="correction-state"]')).to_have_text("待处理")
    expect(vol.locator("p.flash")).to_contain_text("已提交更正申请")
    _fits(vol)
    vol.screenshot(path=str(ARTIFACTS / "correction-request-390.png"), full_page=True)

    staff = _sign_in(browser, server, "liu")
    staff.goto("/staff/corrections")
    expect(staff.get_by_text("活动延长了半小时，签到表可查")).to_be_visible()
    expect(staff.locator("li.card p.meta")).to_contain_text("张伟")  # who asked, by name
    _fits(staff)
    staff.screenshot(path=str(ARTIFACTS / "correction-queue-390.png"), full_page=True)
    staff.get_by_role("link", name="核实处理").click()
    staff.get_by_role("button", name="核实无误，更正").click()
    expect(staff.locator('[data-testid="correction-state"]')).to_have_text("已更正")

    vol.reload()
    expect(vol.locator('[data-testid="correction-state"]')).to_have_text("已更正")
    expect(vol.locator("tfoot td.num")).to_have_text("90")
    vol.screenshot(path=str(ARTIFACTS / "correction-corrected-390.png"), full_page=True)
    vol.goto("/hours")
    expect(vol.get_by_test_id("hours")).to_contain_text("1.5")
    expect(vol.get_by_text("更正后记录")).to_be_visible()
    _fits(vol)
    vol.screenshot(path=str(ARTIFACTS / "hours-390.png"), full_page=True)
    vol.context.close()
    staff.context.close()
