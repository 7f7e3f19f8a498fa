"""Photos in real Chromium at a phone's size: the resident chooses a photo in the wish form (htmx
sends the boosted form as multipart), sees its thumbnail drawn on the wish page (the image loads
under the pages' Content-Security-Policy), and adds another from the wish page."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from playwright.sync_api import Browser, Page, expect

from browser_world import ARTIFACTS, PASSWORD, PEOPLE, PHONE, Server
from photo_world import jpeg_with_gps


def _resident(browser: Browser, server: Server, refused: list[str]) -> Page:
    context = browser.new_context(viewport=PHONE, locale="zh-CN", base_url=server.url)
    context.set_default_timeout(10_000)
    page = context.new_page()
    page.on("dialog", lambda dialog: dialog.accept())

    def watch(message: Any) -> None:
        if "Content Security Policy" in message.text:
            refused.append(message.text)

    page.on("console", watch)
    page.goto("/login")
    page.get_by_label("手机号").fill(PEOPLE["chen"][1])
    page.get_by_label("密码").fill(PASSWORD)
    page.get_by_role("button", name="登录").click()
    expect(page.locator("header .me")).to_have_text(PEOPLE["chen"][0])
    return page


def _drawn(page: Page, count: int) -> None:
    thumbnails = page.get_by_test_id("photo-thumbnail")
    expect(thumbnails).to_have_count(count)
    for n in range(count):
        thumbnails.nth(n).scroll_into_view_if_needed()
        expect(thumbnails.nth(n)).to_have_js_property("complete", True)
        assert thumbnails.nth(n).evaluate("img => img.naturalWidth") > 0


def test_a_resident_posts_a_wish_with_a_photo_and_adds_another(
    browser: Browser, server: Server, tmp_path: Path
) -> None:
    refused: list[str] = []
    first, second = tmp_path / "tap.jpg", tmp_path / "sink.jpg"
    first.write_bytes(jpeg_with_gps((1600, 1200)))
    second.write_bytes(jpeg_with_gps((800, 600), colour=200))
    page = _resident(browser, server, refused)
    page.goto("/wishes/new")
    page.get_by_label("助老陪护").check()
    page.get_by_label("一句话说明").fill("厨房水龙头漏水")
    page.get_by_label("地点", exact=False).fill("阳光路8号2栋301室")
    page.get_by_label("照片", exact=False).set_input_files(str(first))
    page.get_by_role("button", name="提交心愿").click()
    expect(page.locator("p.flash")).to_contain_text("心愿已提交")
    _drawn(page, 1)
    page.locator("form.photo-upload input[type=file]").set_input_files(str(second))
    page.locator("form.photo-upload").get_by_role("button", name="上传照片").click()
    expect(page.locator("p.flash")).to_contain_text("已添加 1 张照片")
    _drawn(page, 2)
    page.get_by_test_id("photo-thumbnail").first.scroll_into_view_if_needed()
    page.screenshot(path=str(ARTIFACTS / "photos-wish-page.png"))
    assert refused == []
