"""The whole story in real Chromium at a phone's size, three people in three browser contexts:
the resident posts, staff verify, the volunteer claims and checks in with the code shown on the
resident's page, checks out; the resident confirms and rates; the volunteer sees the points and
redeems; staff fulfil the order; the dashboard's numbers change. Also: bad input is explained
next to the field in Chinese and stores nothing, 长辈模式 enlarges the page, and Chinese text is
drawn with a real CJK font (never as empty boxes)."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, Playwright, expect

from browser_world import (
    ARTIFACTS,
    CHROMIUM,
    COMMUNITY,
    LAUNCH_ARGS,
    PASSWORD,
    PEOPLE,
    PHONE,
    Server,
)

CST = dt.timezone(dt.timedelta(hours=8))
SHOTS: list[str] = []


def shot(page: Page, name: str, *, top: bool = True) -> None:
    """A screenshot of the page as a phone shows it (the first screen, unless not ``top``)."""
    path = ARTIFACTS / f"{len(SHOTS) + 1:02d}-{name}.png"
    if top:
        page.evaluate("window.scrollTo(0, 0)")
    page.screenshot(path=str(path))
    SHOTS.append(path.name)


def sign_in(browser: Browser, server: Server, person: str) -> Page:
    context = browser.new_context(viewport=PHONE, locale="zh-CN", base_url=server.url)
    context.set_default_timeout(10_000)
    page = context.new_page()
    page.on("dialog", lambda dialog: dialog.accept())  # hx-confirm: the person says yes
    page.on("console", _watch_policy)
    page.goto("/login")
    page.get_by_label("手机号").fill(PEOPLE[person][1])
    page.get_by_label("密码").fill(PASSWORD)
    page.get_by_role("button", name="登录").click()
    expect(page.locator("header .me")).to_have_text(PEOPLE[person][0])
    return page


REFUSED: list[str] = []  # what the pages' Content-Security-Policy refused, in any browser


def _watch_policy(message: Any) -> None:
    if "Content Security Policy" in message.text:
        REFUSED.append(message.text)


def flash(page: Page, text: str) -> None:
    expect(page.locator("p.flash")).to_contain_text(text)


def window() -> tuple[str, str, str]:
    """Today's date and a time window open now (check-in opens two hours before the start)."""
    now = dt.datetime.now(CST)
    if now.hour == 23 and now.minute >= 40:
        tomorrow = (now + dt.timedelta(days=1)).date()
        return tomorrow.isoformat(), "00:30", "02:00"
    end = min(now + dt.timedelta(hours=2), now.replace(hour=23, minute=59))
    return now.date().isoformat(), now.strftime("%H:%M"), end.strftime("%H:%M")


def post_wish(page: Page, title: str, **fields: str) -> None:
    page.goto("/wishes/new")
    day, start, end = window()
    page.get_by_label("助老陪护").check()
    page.get_by_label("一句话说明").fill(title)
    page.get_by_label("日期").fill(fields.get("date", day))
    page.get_by_label("开始时间").fill(start)
    page.get_by_label("结束时间").fill(end)
    page.get_by_label("地点", exact=False).fill("阳光路8号2栋301室")


def completed(page: Page) -> int:
    page.goto("/dashboard?period=30")
    expect(page.locator("body")).to_have_attribute("data-charts", "drawn")
    return int(page.get_by_test_id("completed").inner_text())


def test_the_whole_story_in_three_browsers(browser: Browser, server: Server) -> None:
    resident = sign_in(browser, server, "chen")
    staff = sign_in(browser, server, "liu")
    volunteer = sign_in(browser, server, "zhang")
    done_before = completed(staff)

    post_wish(resident, "陪我去医院复诊")
    shot(resident, "resident-post-wish")
    resident.get_by_role("button", name="提交心愿").click()
    flash(resident, "心愿已提交，等待社区审核")
    code = resident.get_by_test_id("confirmation-code").inner_text()
    assert len(code) == 6
    assert code.isdigit()
    shot(resident, "resident-wish-with-code")

    staff.goto("/staff/verify")
    expect(staff.get_by_text("陪我去医院复诊")).to_be_visible()
    shot(staff, "staff-verify-queue")
    staff.get_by_role("button", name="审核通过").first.click()
    flash(staff, "已审核通过")

    volunteer.goto("/volunteer")
    expect(volunteer.get_by_text("推荐理由")).to_be_visible()
    shot(volunteer, "volunteer-recommended")
    volunteer.get_by_role("link", name="陪我去医院复诊").click()
    expect(volunteer.get_by_text("阳光路8号2栋", exact=False)).to_be_visible()
    assert "301室" not in volunteer.content()  # masked until the claim
    volunteer.get_by_role("button", name="我来认领").click()
    flash(volunteer, "认领成功")
    expect(volunteer.get_by_text("阳光路8号2栋301室")).to_be_visible()
    volunteer.get_by_label("居民的确认码", exact=False).fill(code)
    shot(volunteer, "volunteer-check-in")
    volunteer.get_by_role("button", name="报到", exact=True).click()
    flash(volunteer, "报到成功")

    server.backdate_check_in(minutes=90)  # service time is real time: stage 90 minutes served
    volunteer.reload()
    volunteer.get_by_role("button", name="签退（服务完成）").click()
    flash(volunteer, "本次服务 90 分钟")

    resident.reload()
    expect(resident.get_by_text("服务评价（1–5星）")).to_be_visible()
    resident.get_by_label("说几句", exact=False).fill("小张很耐心，谢谢！")
    shot(resident, "resident-confirm-and-rate")
    resident.get_by_role("button", name="确认完成并评价").click()
    flash(resident, "感谢评价")
    expect(resident.locator("h1 .state")).to_have_text("已办结")

    volunteer.goto("/points")
    expect(volunteer.get_by_test_id("available")).to_have_text("15")  # 10 an hour, 90 minutes
    shot(volunteer, "volunteer-points")
    volunteer.get_by_role("link", name="服务奖励").first.click()
    expect(volunteer.get_by_text("积分是怎么算的")).to_be_visible()
    shot(volunteer, "volunteer-award-breakdown")
    volunteer.goto("/store")
    shot(volunteer, "volunteer-store")
    volunteer.get_by_role("button", name="兑换").first.click()
    flash(volunteer, "兑换成功")
    expect(volunteer.get_by_text("待领取")).to_be_visible()
    shot(volunteer, "volunteer-orders")

    staff.goto("/staff/orders")
    shot(staff, "staff-orders")
    staff.get_by_role("button", name="核销（已交付）").click()
    flash(staff, "已核销")

    volunteer.goto("/orders")
    expect(volunteer.get_by_text("已领取")).to_be_visible()
    volunteer.goto("/points")
    expect(volunteer.get_by_test_id("available")).to_have_text("5")
    volunteer.goto("/store")  # 5 points left: the second rice is refused, on the store's page
    volunteer.get_by_role("button", name="兑换").first.click()
    expect(volunteer.locator("p.flash.error")).to_contain_text("积分不足")
    assert volunteer.url.endswith("/store"), volunteer.url  # never the POST's address
    volunteer.reload()  # a refresh shows the store again: no resubmission, no JSON
    expect(volunteer.get_by_role("heading", name="积分超市")).to_be_visible()

    assert completed(staff) == done_before + 1
    staff.locator("h2", has_text="三率").scroll_into_view_if_needed()
    shot(staff, "staff-dashboard-rates", top=False)
    staff.goto("/dashboard?period=30")
    expect(staff.locator("body")).to_have_attribute("data-charts", "drawn")
    shot(staff, "staff-dashboard")

    board = browser.new_context(viewport=PHONE, locale="zh-CN", base_url=server.url).new_page()
    board.goto(f"/board/{COMMUNITY}")
    expect(board.get_by_role("cell", name="张伟")).to_be_visible()  # opted in
    expect(board.get_by_text("陪我去医院复诊")).to_be_visible()
    assert "陈奶奶" not in board.content()
    assert "301室" not in board.content()
    shot(board, "public-board")
    assert REFUSED == []  # the pages work under their policy: nothing inline, nothing foreign


def test_bad_input_is_explained_next_to_the_field_and_stores_nothing(
    browser: Browser, server: Server
) -> None:
    resident = sign_in(browser, server, "chen")
    resident.goto("/wishes/mine")
    before = resident.locator("ul.cards li").count()
    post_wish(resident, "")
    resident.get_by_label("需要几位志愿者").fill("0")
    resident.get_by_role("button", name="提交心愿").click()
    expect(resident.locator("#title-error")).to_have_text("必须填写")
    expect(resident.locator("#capacity-error")).to_have_text("不能小于 1")
    expect(resident.get_by_label("一句话说明")).to_have_attribute("aria-invalid", "true")
    shot(resident, "resident-form-error")
    resident.get_by_label("一句话说明").fill("帮忙取药")
    resident.get_by_role("button", name="提交心愿").click()
    expect(resident.locator("#capacity-error")).to_have_text("不能小于 1")
    expect(resident.locator("#title-error")).to_have_count(0)
    resident.goto("/wishes/mine")
    expect(resident.locator("ul.cards li")).to_have_count(before)


def test_checking_in_too_early_says_why_beside_the_button(browser: Browser, server: Server) -> None:
    """报到 opens two hours before the start: pressed earlier, the reason shows in Chinese beside
    the button (it used to point at a field the form does not have), at the wish's address."""
    resident = sign_in(browser, server, "chen")
    staff = sign_in(browser, server, "liu")
    volunteer = sign_in(browser, server, "zhang")
    later = (dt.datetime.now(CST) + dt.timedelta(days=3)).date().isoformat()
    post_wish(resident, "周末陪我散步", date=later)
    resident.get_by_role("button", name="提交心愿").click()
    flash(resident, "心愿已提交")
    code = resident.get_by_test_id("confirmation-code").inner_text()
    wish = resident.url.removeprefix(server.url)
    staff.goto(wish)
    staff.get_by_role("button", name="审核通过并发布").click()
    flash(staff, "已审核通过")
    volunteer.goto(wish)
    volunteer.get_by_role("button", name="我来认领").click()
    flash(volunteer, "认领成功")
    volunteer.get_by_label("居民的确认码", exact=False).fill(code)
    volunteer.get_by_role("button", name="报到", exact=True).click()
    beside = volunteer.locator("#_form-error")
    expect(beside).to_have_text("报到最早在约定时间前2小时开始")
    expect(beside).to_be_in_viewport()
    assert volunteer.url == f"{server.url}{wish}"
    shot(volunteer, "volunteer-check-in-too-early", top=False)


SMALLEST_TEXT = """Math.min(...[...document.querySelectorAll("body *")]
  .filter(e => e.offsetParent !== null
    && [...e.childNodes].some(n => n.nodeType === 3 && n.textContent.trim()))
  .map(e => parseFloat(getComputedStyle(e).fontSize)))"""


def test_elder_mode_enlarges_text_and_tap_targets(browser: Browser, server: Server) -> None:
    resident = sign_in(browser, server, "chen")
    resident.goto("/me")
    resident.get_by_role("button", name="开启长辈模式").click()
    flash(resident, "已开启长辈模式")
    resident.goto("/wishes/mine")
    shot(resident, "resident-elder-mode")
    size = resident.evaluate("parseFloat(getComputedStyle(document.body).fontSize)")
    assert size >= 18
    smallest = resident.evaluate(SMALLEST_TEXT)
    assert smallest >= 18
    heights = resident.eval_on_selector_all(
        "main .btn, main button, nav.tabs a",
        "els => els.map(e => e.getBoundingClientRect().height)",
    )
    assert heights
    assert min(heights) >= 48
    resident.goto("/me")
    resident.get_by_role("button", name="关闭长辈模式").click()
    flash(resident, "已关闭长辈模式")


# --- Chinese drawn with a CJK font, not as empty boxes -------------------------------------

TOFU = "\u0378\u0379\u0380"  # unassigned code points: every font draws its "missing" box
GLYPHS_PAGE = """<!doctype html><html lang="zh-CN"><body style="margin:0;background:#fff">
<span id="zh" style="font-size:48px;line-height:1;display:inline-block">微心愿</span><br>
<span id="tofu" style="font-size:48px;line-height:1;display:inline-block">{tofu}</span>
</body></html>"""


def chinese_drawn_as_boxes(page: Page, font_family: str) -> bool:
    """Whether "微心愿" comes out as the same pixels as three missing-glyph boxes."""
    page.set_content(GLYPHS_PAGE.format(tofu=TOFU))
    page.add_style_tag(content=f"span {{ font-family: {font_family}; }}")
    zh = page.locator("#zh").screenshot()
    boxes = page.locator("#tofu").screenshot()
    return zh == boxes


def test_chinese_text_is_drawn_with_a_cjk_font(browser: Browser, server: Server) -> None:
    # the glyph probe writes its own style into the page: past the policy (the story checks it)
    context = browser.new_context(viewport=PHONE, base_url=server.url, bypass_csp=True)
    page = context.new_page()
    page.goto("/login")
    family = page.evaluate("getComputedStyle(document.body).fontFamily")
    assert not chinese_drawn_as_boxes(page, family)
    assert page.evaluate("document.fonts.check('16px \"Noto Sans CJK SC\"', '微心愿')")


def test_the_font_check_sees_boxes_when_no_cjk_font_is_installed(
    playwright: Playwright, tmp_path: Path
) -> None:
    """Negative control: Chromium with a font configuration that has no CJK font."""
    conf = tmp_path / "fonts.conf"
    conf.write_text(
        '<?xml version="1.0"?><!DOCTYPE fontconfig SYSTEM "fonts.dtd"><fontconfig>'
        "<dir>/usr/share/fonts/truetype/dejavu</dir>"
        f"<cachedir>{tmp_path / 'cache'}</cachedir></fontconfig>",
        encoding="utf-8",
    )
    env = {**os.environ, "FONTCONFIG_FILE": str(conf)}
    listed = subprocess.run(["fc-list", ":lang=zh"], env=env, capture_output=True, text=True)
    assert listed.stdout.strip() == ""  # no CJK font in this configuration
    bare = playwright.chromium.launch(executable_path=CHROMIUM, args=LAUNCH_ARGS, env=env)
    try:
        page = bare.new_page(viewport=PHONE)
        assert chinese_drawn_as_boxes(page, "sans-serif")
        shot(page, "no-cjk-font-control")
    finally:
        bare.close()


@pytest.fixture(scope="module", autouse=True)
def _list_screenshots() -> Any:
    yield
    if SHOTS:
        listing = ARTIFACTS / "SCREENSHOTS.txt"
        listing.write_text("\n".join(SHOTS) + "\n", encoding="utf-8")
        print("\nscreenshots in", ARTIFACTS, *SHOTS, sep="\n  ")
