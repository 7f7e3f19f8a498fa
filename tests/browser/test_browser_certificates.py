"""我的志愿记录 at a phone's size (390×844): the volunteer sees his hours and star level, asks
for a certificate, downloads its PDF (read back: his name, the hours, the number, the issuer, the
QR code's address) and anyone opens the verification page the QR code leads to."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

from playwright.sync_api import Browser, expect
from sqlalchemy.engine import Connection

import certificate_world as cw
import points
from browser_world import ARTIFACTS, COMMUNITY, PASSWORD, PEOPLE, Server

TALL_PHONE = {"width": 390, "height": 844}


def _served(conn: Connection) -> None:
    for n, minutes in enumerate((120, 95)):
        points.record_service(
            conn, community_id=COMMUNITY, member_id="zhang", category="助老陪护",
            minutes=minutes, served_on=dt.date(2026, 11, 10 + n), reference=f"event:cert-{n}",
            actor="liu", memo="重阳节敬老院探访",
        )  # fmt: skip


def test_a_volunteer_asks_for_a_certificate_on_his_phone_and_anyone_verifies_it(
    browser: Browser, server: Server, tmp_path: Path
) -> None:
    server.run(_served)
    context = browser.new_context(
        viewport=TALL_PHONE, locale="zh-CN", base_url=server.url, accept_downloads=True
    )
    page = context.new_page()
    page.on("dialog", lambda dialog: dialog.accept())
    page.goto("/login")
    page.get_by_label("手机号").fill(PEOPLE["zhang"][1])
    page.get_by_label("密码").fill(PASSWORD)
    page.get_by_role("button", name="登录").click()
    expect(page.locator("header .me")).to_have_text(PEOPLE["zhang"][0])
    page.goto("/me")
    page.get_by_role("link", name="查看记录、申请证明").click()
    expect(page.get_by_test_id("total-hours")).to_contain_text("3.6")
    page.get_by_role("button", name="申请并生成证明").click()
    listed = page.get_by_test_id("certificates").locator("li.card").first
    expect(listed).to_contain_text("阳光社区 · 3.6 小时")
    number = re.search(r"\d{4}-[0-9A-Z]{4}-[0-9A-Z]{4}", listed.inner_text())
    assert number, listed.inner_text()
    page.screenshot(path=str(ARTIFACTS / "certificate-record-390.png"), full_page=True)
    with page.expect_download() as download:
        listed.get_by_role("link", name="下载 PDF").click()
    saved = tmp_path / "certificate.pdf"
    download.value.save_as(saved)
    pdf = saved.read_bytes()
    text = cw.pdf_text(pdf)
    for shown in ("张伟", "3.6 小时", number.group(0), "出具单位：阳光社区"):
        assert shown in text, (shown, text)
    verify = cw.qr_codes(pdf)
    assert verify == [f"http://127.0.0.1:8000/verify/{number.group(0)}"]  # LINLI_PUBLIC_URL
    anyone = browser.new_context(viewport=TALL_PHONE, locale="zh-CN", base_url=server.url)
    checked = anyone.new_page()
    checked.goto(f"/verify/{number.group(0)}")
    expect(checked.get_by_test_id("status")).to_have_text("有效")
    expect(checked.locator("main")).to_contain_text("张*")
    expect(checked.locator("main")).not_to_contain_text("张伟")
    checked.screenshot(path=str(ARTIFACTS / "certificate-verify-390.png"), full_page=True)
    overflow = checked.evaluate("document.documentElement.scrollWidth > innerWidth")
    assert overflow is False
    anyone.close()
    context.close()
