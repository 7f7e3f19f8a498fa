"""导入花名册 in Chromium at a phone's size (390×844): staff choose a file, see the problems of a
bad one, then a good one's preview, confirm, and read the ids of the new members."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from playwright.sync_api import Browser, expect

from browser_world import ARTIFACTS, PASSWORD, PEOPLE, Server

PHONE = {"width": 390, "height": 844}
HEADER = "姓名,手机号,网格,角色,技能"


def test_staff_import_a_roster_on_a_phone(browser: Browser, server: Server, tmp_path: Path) -> None:
    bad = tmp_path / "有问题.csv"
    bad.write_bytes(f"{HEADER}\n王五,13700000001,第九网格,,\n赵六,12345,,,\n".encode("gb18030"))
    good = tmp_path / "花名册.csv"
    good.write_bytes(
        f"{HEADER}\n王五,13700000001,第一网格,志愿者,理发\n赵六,13700000002,,,\n".encode("gb18030")
    )
    context = browser.new_context(viewport=PHONE, locale="zh-CN", base_url=server.url)
    page = context.new_page()
    page.on("dialog", lambda dialog: dialog.accept())
    page.goto("/login")
    page.get_by_label("手机号").fill(PEOPLE["liu"][1])
    page.get_by_label("密码").fill(PASSWORD)
    page.get_by_role("button", name="登录").click()
    expect(page.locator("header .me")).to_have_text(PEOPLE["liu"][0])
    page.goto("/staff")
    page.get_by_role("link", name="导入花名册").click()
    expect(page.get_by_role("link", name="下载模板（.xlsx）")).to_be_visible()
    page.get_by_label("花名册文件（.xlsx 或 .csv，不超过 20 MB）").set_input_files(str(bad))
    page.get_by_role("button", name="上传并检查").click()
    problems = page.get_by_test_id("roster-problems").locator("li")
    expect(problems).to_have_count(2)
    expect(problems.first).to_have_text("第 2 行 · 网格：本社区没有名为“第九网格”的网格")
    expect(page.get_by_role("link", name="下载问题清单（.xlsx，含“问题”列）")).to_be_visible()
    page.screenshot(path=str(ARTIFACTS / "roster-problems-390.png"), full_page=True)
    page.get_by_role("link", name="重新上传").click()
    page.get_by_label("花名册文件（.xlsx 或 .csv，不超过 20 MB）").set_input_files(str(good))
    page.get_by_role("button", name="上传并检查").click()
    expect(page.get_by_test_id("roster-plan")).to_have_text(
        "将新登记 2 人，更新 0 人，0 人无变化。"
    )
    page.screenshot(path=str(ARTIFACTS / "roster-preview-390.png"), full_page=True)
    page.get_by_role("button", name="确认导入").click()
    expect(page.get_by_test_id("roster-result")).to_have_text(
        "新登记 2 人，更新 0 人，0 人无变化。"
    )
    expect(page.get_by_test_id("roster-new-members").locator("li")).to_have_count(2)
    page.screenshot(path=str(ARTIFACTS / "roster-result-390.png"), full_page=True)
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"], width  # nothing wider than the phone
    context.close()


def _sign_in(browser: Browser, server: Server, person: str) -> Any:
    context = browser.new_context(viewport=PHONE, locale="zh-CN", base_url=server.url)
    page = context.new_page()
    page.on("dialog", lambda dialog: dialog.accept())
    page.goto("/login")
    page.get_by_label("手机号").fill(PEOPLE[person][1])
    page.get_by_label("密码").fill(PASSWORD)
    page.get_by_role("button", name="登录").click()
    expect(page.locator("header .me")).to_have_text(PEOPLE[person][0])
    return page


def test_profiles_on_a_phone(browser: Browser, server: Server) -> None:
    """陈奶奶 writes when she is free on 我的; 刘主任 sets her room and reads the log."""
    chen = _sign_in(browser, server, "chen")
    chen.goto("/me")
    chen.get_by_label("可服务时间（如：每周六上午）").fill("每天上午")
    chen.get_by_role("button", name="保存我的资料").click()
    expect(chen.locator(".flash")).to_have_text("已保存我的资料")
    expect(chen.get_by_label("可服务时间（如：每周六上午）")).to_have_value("每天上午")
    chen.context.close()
    liu = _sign_in(browser, server, "liu")
    liu.goto("/staff/members/chen")
    liu.get_by_label("房号").fill("502")
    liu.get_by_role("button", name="保存", exact=True).click()
    expect(liu.locator(".flash")).to_have_text("已保存成员资料")
    log = liu.get_by_test_id("member-history")
    expect(log).to_contain_text("房号：（空） → 502")
    expect(log).to_contain_text("可服务时间：（空） → 每天上午")
    liu.screenshot(path=str(ARTIFACTS / "member-profile-390.png"), full_page=True)
    width = liu.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"], width
    liu.context.close()
