"""导出 in real Chromium at a phone's size: staff pick 三率 for a range of two days and download
an Excel file; a range backwards is refused in Chinese beside the field; the dashboard shows a
range and its export buttons; a volunteer gives consent on 我的."""

from __future__ import annotations

import io

import openpyxl
from playwright.sync_api import Browser, expect
from test_browser_story import flash, shot, sign_in

from browser_world import Server


def test_staff_download_an_export_and_a_bad_range_is_refused(
    browser: Browser, server: Server
) -> None:
    staff = sign_in(browser, server, "liu")
    staff.goto("/staff/exports")
    staff.get_by_label("内容", exact=True).select_option("rates")
    staff.locator("summary", has_text="自定义起止日期").click()
    staff.get_by_label("开始日期").fill("2026-01-01")
    staff.get_by_label("结束日期（含）").fill("2026-03-31")
    shot(staff, "staff-exports-form")
    with staff.expect_download() as started:
        staff.get_by_role("button", name="下载").click()
    download = started.value
    assert download.suggested_filename == "三率_阳光社区_2026-01-01至2026-03-31.xlsx"
    path = download.path()
    assert path is not None
    rows = list(openpyxl.load_workbook(io.BytesIO(path.read_bytes())).worksheets[0].values)
    assert rows[0][0] == "名称"
    assert rows[1][0] == "阳光社区"
    staff.get_by_label("开始日期").fill("2026-03-31")
    staff.get_by_label("结束日期（含）").fill("2026-01-01")
    staff.get_by_role("button", name="下载").click()
    expect(staff.locator("#period-error")).to_have_text("开始日期不能晚于结束日期")
    shot(staff, "staff-exports-refused", top=False)


def test_the_dashboard_shows_a_range_and_its_export_buttons(
    browser: Browser, server: Server
) -> None:
    staff = sign_in(browser, server, "liu")
    staff.goto("/dashboard?start=2026-01-05&end=2026-03-31")
    expect(staff.locator("h2").first).to_contain_text("2026-01-05 至 2026-03-31")
    button = staff.get_by_test_id("export-rates")
    expect(button).to_be_visible()
    button.scroll_into_view_if_needed()
    shot(staff, "dashboard-range-export", top=False)
    with staff.expect_download() as started:
        button.click()
    assert started.value.suggested_filename.startswith("三率_阳光社区_2026-01-05至2026-03-31")


def test_a_volunteer_gives_consent_on_their_page(browser: Browser, server: Server) -> None:
    volunteer = sign_in(browser, server, "zhang")
    volunteer.goto("/me")
    volunteer.get_by_role("button", name="同意报送").click()
    flash(volunteer, "已同意向全国志愿服务信息系统报送")
    expect(volunteer.get_by_test_id("consent-state")).to_contain_text("同意报送。")
    volunteer.get_by_test_id("consent-state").scroll_into_view_if_needed()
    shot(volunteer, "me-consent", top=False)
