"""The store's office at a phone's size (390×844): a refused restock of an item far down the list
is shown where the person is looking, not below the fold with only a summary on top."""

from __future__ import annotations

from playwright.sync_api import Browser, expect
from sqlalchemy.engine import Connection

import marketplace as mk
from browser_world import COMMUNITY, PASSWORD, PEOPLE, Server

TALL_PHONE = {"width": 390, "height": 844}


def _stock(conn: Connection) -> None:
    for n in range(8):
        mk.wallet.add_item(conn, "liu", COMMUNITY, name=f"毛巾{n}", cost=5, stock=3)


def test_a_refused_restock_far_down_the_list_is_shown_on_screen(
    browser: Browser, server: Server
) -> None:
    server.run(_stock)
    context = browser.new_context(viewport=TALL_PHONE, locale="zh-CN", base_url=server.url)
    page = context.new_page()
    page.on("dialog", lambda dialog: dialog.accept())
    page.goto("/login")
    page.get_by_label("手机号").fill(PEOPLE["liu"][1])
    page.get_by_label("密码").fill(PASSWORD)
    page.get_by_role("button", name="登录").click()
    expect(page.locator("header .me")).to_have_text(PEOPLE["liu"][0])
    page.goto("/staff/store")
    last = page.locator("li.card").last
    last.locator('input[name="change"]').fill("-1000")
    last.get_by_role("button", name="调整库存").click()
    refused = page.locator("li.card p.error")
    expect(refused).to_have_text("库存不足：剩余3件")
    expect(last.locator('input[name="change"]')).to_be_focused()  # htmx settles, then scrolls
    expect(last.locator('input[name="change"]')).to_have_value("-1000")  # what she typed
    drawn = page.evaluate(
        "(() => { const r = document.querySelector('li.card p.error').getBoundingClientRect();"
        " return [r.left, r.top, r.right, r.bottom, innerWidth, innerHeight]; })()"
    )
    left, top, right, bottom, width, height = drawn
    assert (top >= 0, bottom <= height) == (True, True), drawn  # not 2,500 px below
    assert (left >= 0, right <= width) == (True, True), drawn
    context.close()
