"""导入花名册 on the staff pages (issue 15): template, upload, preview with every problem (and as an
XLSX), confirmation, the import's result naming the new members; bad files refused in Chinese."""

from __future__ import annotations

import io
import re
from typing import Any

import httpx
import openpyxl
import sqlalchemy as sa
from test_sign_in_code_pages import redeem

from marketplace.schema import members
from pages_world import Person, Site, field_error, flash
from service.pages import roster

HEADER = "姓名,手机号,网格,角色,技能"


async def _upload(person: Person, content: bytes, name: str = "花名册.csv") -> httpx.Response:
    form = {"_csrf_token": person.csrf, "confirmed": "1"}
    parts: list[tuple[str, Any]] = [("file", (name, content, "text/csv"))]
    return await person.client.post("/staff/import", data=form, files=parts)


def _count(site: Site) -> int:
    with site.svc.app.state.db.snapshot() as conn:
        return int(conn.scalar(sa.select(sa.func.count()).select_from(members)) or 0)


async def test_staff_download_the_template_from_the_page(site: Site) -> None:
    staff = await site.person("staff")
    page = await staff.get("/staff/import")
    assert page.status_code == 200
    assert 'href="/staff/import/template.xlsx"' in page.text
    template = await staff.get("/staff/import/template.xlsx")
    assert template.headers["content-type"].startswith("application/vnd.openxmlformats")
    sheet = openpyxl.load_workbook(io.BytesIO(template.content)).active
    assert sheet is not None
    assert [c.value for c in sheet[1]][:3] == ["姓名", "手机号", "网格"]
    home = await staff.get("/staff")
    assert 'href="/staff/import"' in home.text


async def test_upload_preview_confirm_and_the_new_members_are_named(site: Site) -> None:
    staff = await site.person("staff")
    before = _count(site)
    rows = [HEADER, "张三,13800000001,第一网格,志愿者,维修", "李四,13800000002,,,"]
    uploaded = await _upload(staff, "\n".join(rows).encode("gb18030"))
    assert uploaded.status_code == 303, uploaded.text[:1000]
    preview = await staff.get(uploaded.headers["location"])
    assert flash(preview) == "检查通过，请确认导入"
    assert "将新登记 2 人，更新 0 人，0 人无变化" in preview.text
    assert "<td>张三</td>" in preview.text  # the first rows, as in the file
    confirm = re.search(r'action="(/staff/import/[^"]+/confirm)"', preview.text)
    assert confirm
    assert _count(site) == before  # nothing written before the confirmation
    done = await staff.post(confirm.group(1))
    assert done.status_code == 303
    result = await staff.get(done.headers["location"])
    assert "新登记 2 人，更新 0 人，0 人无变化" in result.text
    ids = re.findall(r"<code>([0-9a-f]{32})</code>", result.text)
    assert len(ids) == 2
    assert "一次性登录码" in result.text
    assert "张三" in result.text
    issue = re.search(r'action="(/staff/import/[^"]+/codes)"', result.text)
    assert issue
    shown = await staff.post(issue.group(1))  # 发放激活码: each new member's code, shown once
    assert shown.status_code == 200, shown.text[:1000]
    assert shown.headers["cache-control"] == "no-store"
    assert "新成员激活码（2 人）" in shown.text
    codes = re.findall(r'data-testid="sign-in-code">(\d{4}) (\d{4})<', shown.text)
    assert len(codes) == 2
    browser, answer = await redeem(site, "13800000001", "".join(codes[0]))
    assert answer.status_code == 303, answer.text[:1000]
    assert (await browser.get("/me")).status_code == 200  # 张三 set his password, signed in
    again = await staff.post(issue.group(1))  # only 李四 is still waiting for a password
    assert "新成员激活码（1 人）" in again.text
    assert "13800000002" in again.text
    assert _count(site) == before + 2
    again = await staff.post(confirm.group(1))  # sent twice: imports once
    assert again.status_code == 303
    assert _count(site) == before + 2
    progress = await staff.get(confirm.group(1).replace("/confirm", "/progress"))
    assert progress.status_code == 286  # over: htmx stops polling


async def test_every_problem_is_listed_and_downloads_as_xlsx_and_nothing_is_written(
    site: Site,
) -> None:
    staff = await site.person("staff")
    before = _count(site)
    rows = [
        HEADER,
        "张三,13800000001,,,",
        "李四,13800000001,第九网格,,",
        '=HYPERLINK("x"),1380000003,,,',
    ]
    uploaded = await _upload(staff, "\n".join(rows).encode("utf-8-sig"))
    preview = await staff.get(uploaded.headers["location"])
    assert flash(preview) == "发现 3 个问题，请修改后重新上传"
    listed = re.findall(r"<li>(第 [^<]+)</li>", preview.text)
    assert (
        listed
        == [
            "第 3 行 · 手机号：与第 2 行的手机号重复",
            "第 3 行 · 网格：本社区没有名为“第九网格”的网格",
            "第 4 行 · 姓名：不能以 = + - @ 开头（疑似公式），请只填文字",
            "第 4 行 · 手机号：必须是11位手机号码",
        ][: len(listed)]
    )
    assert "确认导入" not in preview.text
    link = re.search(r'href="(/staff/import/[^"]+/problems\.xlsx)"', preview.text)
    assert link
    workbook = await staff.get(link.group(1))
    sheet = openpyxl.load_workbook(io.BytesIO(workbook.content)).active
    assert sheet is not None
    cells = list(sheet.iter_rows(values_only=True))
    assert cells[0][:3] == ("行号", "问题", "姓名")
    assert [r[0] for r in cells[1:]] == [3, 4]
    assert cells[2][2] == '\'=HYPERLINK("x")'
    assert _count(site) == before


async def test_a_bad_file_is_refused_in_chinese_under_the_file_input(site: Site) -> None:
    staff = await site.person("staff")
    png = await _upload(staff, b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR", "photo.png")
    assert png.status_code == 422
    assert field_error(png, "file") == "不是可以读取的表格文件，请上传 .xlsx 或 .csv 文件"
    locked = await _upload(
        staff,
        b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + "EncryptedPackage".encode("utf-16-le"),
        "a.xlsx",
    )
    assert field_error(locked, "file") == "文件设有密码保护，请取消密码后重新上传"
    columns = await _upload(staff, "名称,号码\n张三,1\n".encode())
    assert "缺少必填列：姓名、手机号" in field_error(columns, "file")
    large = await _upload(staff, b"x" * (50 * 1024 * 1024), "big.csv")
    assert large.status_code == 413
    assert '<html lang="zh-CN">' in large.text
    assert "请求内容过大" in large.text  # the Chinese page, never a 500


async def test_a_volunteer_may_not_import(site: Site) -> None:
    volunteer = await site.person("vol1")
    assert (await volunteer.get("/staff/import")).status_code == 403
    refused = await _upload(volunteer, f"{HEADER}\n张三,13800000001,,,\n".encode())
    assert refused.status_code in (403, 404)


async def test_the_progress_bar_shows_rows_written_while_an_import_runs(site: Site) -> None:
    staff = await site.person("staff")
    uploaded = await _upload(staff, f"{HEADER}\n张三,13800000001,,,\n".encode())
    preview = uploaded.headers["location"]
    import_id = preview.rsplit("/", 1)[-1]
    running = roster.Running(done=500, total=1200)
    imports = roster.Imports()
    imports.running[import_id] = running
    site.svc.app.state.roster_imports = imports  # as the confirmation's background task leaves it
    page = await staff.get(preview)
    assert 'hx-trigger="every 1s"' in page.text
    assert "已写入 500 / 1200 行" in page.text
    assert '<meta http-equiv="refresh" content="2">' in page.text  # without JavaScript
    bar = await staff.get(f"{preview}/progress")
    assert bar.status_code == 200
    assert 'max="1200" value="500"' in bar.text
    running.finished = True
    over = await staff.get(f"{preview}/progress")
    assert (over.status_code, over.headers["hx-refresh"]) == (286, "true")
