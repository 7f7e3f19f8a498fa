"""One-time sign-in codes at a phone's size (390×844): the staff member taps 发放重置码 on the
member list and reads the code, large and whole on the screen, with its expiry; the resident
opens 用验证码设置密码 from the sign-in page, sets a new password with it and is signed in."""

from __future__ import annotations

import re

from playwright.sync_api import Browser, Page, expect

from browser_world import ARTIFACTS, PASSWORD, PEOPLE, Server

TALL_PHONE = {"width": 390, "height": 844}
NEW_PASSWORD = "chen-new-password"


def _inside(page: Page, selector: str) -> None:
    """The element is drawn whole inside the screen's width and height."""
    box = page.evaluate(
        f"(() => {{ const r = document.querySelector('{selector}').getBoundingClientRect();"
        " return [r.left, r.top, r.right, r.bottom, innerWidth, innerHeight]; })()"
    )
    left, top, right, bottom, width, height = box
    assert (left >= 0, top >= 0, right <= width, bottom <= height) == (True,) * 4, box


def test_staff_issue_a_code_and_the_resident_sets_a_password_with_it(
    browser: Browser, server: Server
) -> None:
    office = browser.new_context(viewport=TALL_PHONE, locale="zh-CN", base_url=server.url)
    page = office.new_page()
    page.on("dialog", lambda dialog: dialog.accept())
    page.goto("/login")
    page.get_by_label("手机号").fill(PEOPLE["liu"][1])
    page.get_by_label("密码").fill(PASSWORD)
    page.get_by_role("button", name="登录").click()
    expect(page.locator("header .me")).to_have_text(PEOPLE["liu"][0])
    page.goto("/staff/members")
    card = page.locator("li.card", has_text=PEOPLE["chen"][0])
    expect(card.get_by_role("button", name="发放重置码")).to_be_visible()
    page.screenshot(path=str(ARTIFACTS / "sign-in-code-members.png"), full_page=True)
    card.get_by_role("button", name="发放重置码").click()
    code = page.get_by_test_id("sign-in-code")
    expect(code).to_have_text(re.compile(r"^\d{4} \d{4}$"))
    expect(page.get_by_role("heading", level=1)).to_have_text(f"{PEOPLE['chen'][0]}的重置码")
    expect(page.get_by_test_id("sign-in-code-expiry")).to_contain_text("有效期至")
    _inside(page, '[data-testid="sign-in-code"]')
    _inside(page, '[data-testid="sign-in-code-expiry"]')
    size = page.evaluate(
        "parseFloat(getComputedStyle(document.querySelector('[data-testid=sign-in-code]')).fontSize)"
    )
    assert size >= 30, size  # large: read aloud over the phone or shown across a desk
    page.screenshot(path=str(ARTIFACTS / "sign-in-code-issued.png"), full_page=True)
    typed = code.inner_text()
    office.close()

    phone = browser.new_context(viewport=TALL_PHONE, locale="zh-CN", base_url=server.url)
    resident = phone.new_page()
    resident.goto("/login")
    resident.get_by_role("link", name="首次登录或忘记密码？用验证码设置密码").click()
    expect(resident.get_by_role("heading", level=1)).to_have_text("用验证码设置密码")
    resident.get_by_label("手机号").fill(PEOPLE["chen"][1])
    resident.get_by_label("验证码").fill("0000 0000" if typed != "0000 0000" else "1111 1111")
    resident.get_by_label("新密码（至少8位）").fill(NEW_PASSWORD)
    resident.get_by_label("再次输入新密码").fill(NEW_PASSWORD)
    resident.get_by_role("button", name="设置密码并登录").click()
    expect(resident.locator("#code-error")).to_have_text("手机号或验证码不正确")
    _inside(resident, "#code-error")
    resident.screenshot(path=str(ARTIFACTS / "sign-in-code-wrong.png"), full_page=True)
    resident.get_by_label("验证码").fill(typed)
    resident.get_by_label("新密码（至少8位）").fill(NEW_PASSWORD)
    resident.get_by_label("再次输入新密码").fill(NEW_PASSWORD)
    resident.screenshot(path=str(ARTIFACTS / "sign-in-code-redeem.png"), full_page=True)
    resident.get_by_role("button", name="设置密码并登录").click()
    expect(resident.locator("header .me")).to_have_text(PEOPLE["chen"][0])
    expect(resident.locator(".flash")).to_have_text("密码已设置，您已登录")
    resident.screenshot(path=str(ARTIFACTS / "sign-in-code-signed-in.png"), full_page=True)
    phone.close()
