"""消息中心 at a phone's size (390×844): the bell shows the unread count on the page the resident
lands on, opens her messages, and marking one read clears the number."""

from __future__ import annotations

import datetime as dt

from playwright.sync_api import Browser, expect
from sqlalchemy.engine import Connection

import marketplace as mk
from browser_world import ARTIFACTS, COMMUNITY, PASSWORD, PEOPLE, Server

TALL_PHONE = {"width": 390, "height": 844}


def _verified(conn: Connection) -> None:
    start = dt.datetime.now(dt.UTC) + dt.timedelta(days=2)
    wish = mk.post_wish(
        conn, "chen", community_id=COMMUNITY, kind=mk.WishKind.SERVICE, category="助老陪护",
        title="陪我去医院复诊", description="", org_id="grid1", address="幸福路1号",
        window_start=start, window_end=start + dt.timedelta(hours=2), estimated_minutes=60,
        capacity=1,
    )  # fmt: skip
    mk.verify(conn, "liu", COMMUNITY, wish.id)


def test_the_bell_shows_unread_messages_and_marking_read_clears_it(
    browser: Browser, server: Server
) -> None:
    server.run(_verified)
    context = browser.new_context(viewport=TALL_PHONE, locale="zh-CN", base_url=server.url)
    page = context.new_page()
    page.goto("/login")
    page.get_by_label("手机号").fill(PEOPLE["chen"][1])
    page.get_by_label("密码").fill(PASSWORD)
    page.get_by_role("button", name="登录").click()
    expect(page.locator("header .me")).to_have_text(PEOPLE["chen"][0])
    badge = page.locator("header .bell .badge")
    expect(badge).to_have_text("1")
    box = badge.bounding_box()
    assert box is not None
    assert box["x"] >= 0, box
    assert box["x"] + box["width"] <= TALL_PHONE["width"], box
    page.locator("header .bell").click()
    expect(page).to_have_url(f"{server.url}/messages")
    expect(page.locator("li.message.unread")).to_have_count(1)
    expect(page.locator("li.message strong")).to_contain_text("陪我去医院复诊")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "messages-390.png"), full_page=True)
    page.locator("li.message").get_by_role("button", name="标为已读").click()
    expect(page.locator("li.message.unread")).to_have_count(0)
    expect(page.locator("header .bell .badge")).to_have_count(0)
    context.close()
