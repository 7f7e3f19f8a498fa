"""导出 in the pages: the form, the download (streamed, logged), refusals in Chinese beside the
field, the dashboard's range and export buttons, and a member's consent on 我的."""

from __future__ import annotations

import csv
import io
from urllib.parse import unquote

import openpyxl
import sqlalchemy as sa

import marketplace as mk
from pages_world import Site, field_error, flash

BROWSER = {"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"}


async def test_the_form_offers_the_areas_kinds_and_formats(site: Site) -> None:
    staff = await site.person("staff")
    page = await staff.get("/staff/exports", headers=BROWSER)
    assert page.status_code == 200
    for text in ("阳光社区", "花名册", "志愿服务时长", "三率", "志愿服务记录", "Excel（xlsx）"):
        assert text in page.text
    assert 'action="/staff/exports/file"' in page.text


async def test_a_roster_downloads_as_xlsx_with_chinese_headers_and_is_logged(site: Site) -> None:
    staff = await site.person("staff")
    answer = await staff.get(
        "/staff/exports/file",
        params={"org": "c1", "kind": "members", "period": "2026", "format": "xlsx"},
    )
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith(
        mk.sheet_writer.MEDIA_TYPES[mk.sheet_writer.Format.XLSX]
    )
    disposition = answer.headers["content-disposition"]
    assert unquote(disposition.split("filename*=UTF-8''")[1]) == "花名册_阳光社区_2026.xlsx"
    sheet = openpyxl.load_workbook(io.BytesIO(answer.content)).worksheets[0]
    rows = [list(r) for r in sheet.iter_rows(values_only=True)]
    assert rows[0][:3] == ["成员编号", "姓名", "手机号"]
    assert int(answer.headers["x-linli-rows"]) == len(rows) - 1
    assert "staff" in {r[0] for r in rows[1:]}
    with site.svc.app.state.db.snapshot() as tx:
        logged = tx.execute(sa.select(mk.exports.exports)).mappings().all()
    assert [(r["actor_id"], r["kind"], r["channel"]) for r in logged] == [
        ("staff", "members", "page")
    ]
    page = await staff.get("/staff/exports")
    assert "最近导出记录" in page.text
    assert "花名册（xlsx）" in page.text


async def test_a_range_downloads_as_csv(site: Site) -> None:
    staff = await site.person("staff")
    answer = await staff.get(
        "/staff/exports/file",
        params={"org": "c1", "kind": "days", "start": "2026-01-30", "end": "2026-02-02",
                "format": "csv"},
    )  # fmt: skip
    assert answer.status_code == 200, answer.text
    rows = list(csv.reader(io.StringIO(answer.content.decode("utf-8-sig"))))
    assert [r[0] for r in rows[1:]] == ["2026-01-30", "2026-01-31", "2026-02-01", "2026-02-02"]


async def test_bad_requests_show_the_form_again_with_the_reason_in_chinese(site: Site) -> None:
    staff = await site.person("staff")
    cases = [
        ({"kind": "salaries"}, "kind", "须为以下之一"),
        ({"kind": "members", "period": "2026-13"}, "period", "统计期间须为"),
        ({"kind": "members", "start": "2026-03-01", "end": "2026-01-01"}, "period", "不能晚于"),
        ({"kind": "members", "start": "2010-01-01", "end": "2026-01-01"}, "period", "最长"),
        ({"kind": "members", "start": "2026-01-01"}, "period", "统计期间须为"),
        ({"kind": "members", "format": "pdf"}, "format", "xlsx"),
        ({"kind": "members", "org": "c2"}, "org", "无权"),
    ]  # fmt: skip
    for given, field, said in cases:
        params = {"org": "c1", "period": "2026", "format": "csv", **given}
        answer = await staff.get("/staff/exports/file", params=params, headers=BROWSER)
        assert answer.status_code in (404, 422), (given, answer.status_code)
        assert said in field_error(answer, field), (given, answer.text[-2000:])
        assert "<h1>导出</h1>" in answer.text


async def test_a_volunteer_may_not_export(site: Site) -> None:
    volunteer = await site.person("vol1")
    answer = await volunteer.get(
        "/staff/exports/file",
        params={"org": "c1", "kind": "members", "period": "2026", "format": "csv"},
        headers=BROWSER,
    )
    assert answer.status_code == 403
    assert "成员编号" not in answer.text


async def test_the_dashboard_takes_a_range_and_offers_its_export(site: Site) -> None:
    staff = await site.person("staff")
    page = await staff.get(
        "/dashboard", params={"org": "c1", "start": "2026-01-05", "end": "2026-03-31"}
    )
    assert page.status_code == 200
    assert "2026-01-05 至 2026-03-31" in page.text
    assert 'data-testid="export-rates"' in page.text
    assert "kind=rates&amp;period=2026-01-05..2026-03-31" in page.text
    assert '<option value="2026-01-05..2026-03-31" selected>' in page.text  # kept in the picker
    again = await staff.get("/dashboard", params={"org": "c1", "period": "2026-01-05..2026-03-31"})
    assert again.status_code == 200
    assert "2026-01-05 至 2026-03-31" in again.text
    backwards = await staff.get(
        "/dashboard", params={"org": "c1", "start": "2026-03-31", "end": "2026-01-05"}
    )
    assert backwards.status_code == 422
    assert 'id="period-error" role="alert">开始日期不能晚于结束日期<' in backwards.text
    rolling = await staff.get("/dashboard", params={"org": "c1", "period": "30"})
    assert "kind=days&amp;period=30d&amp;format=xlsx" in rolling.text
    rates = await staff.get(
        "/staff/exports/file",
        params={"org": "c1", "kind": "rates", "period": "30d", "format": "xlsx"},
    )
    rows = list(openpyxl.load_workbook(io.BytesIO(rates.content)).worksheets[0].values)
    assert rows[0][:3] == ("名称", "类型", "响应率（%）")
    assert rows[1][:2] == ("阳光社区", "社区")


async def test_a_member_gives_and_withdraws_consent_on_their_page(site: Site) -> None:
    volunteer = await site.person("vol1")
    page = await volunteer.get("/me")
    assert "您尚未同意" in page.text
    given = await volunteer.post("/me/consent", {"given": "1"})
    assert given.status_code == 303
    page = await volunteer.get("/me")
    assert "已同意向全国志愿服务信息系统报送" in flash(page)
    assert "同意报送。" in page.text
    await volunteer.post("/me/consent", {"given": "0"})
    page = await volunteer.get("/me")
    assert "撤回同意，不再报送" in page.text
    with site.svc.app.state.db.snapshot() as tx:
        record = mk.consent_of(tx, "vol1")
    assert record is not None
    assert (record.given, record.recorded_by) == (False, "vol1")


async def test_office_records_a_signed_paper_consent_with_its_number(site: Site) -> None:
    staff = await site.person("staff")
    recorded = await staff.post(
        "/staff/exports/consent", {"member_id": "vol2", "form_number": "TY-2026-001"}
    )
    assert recorded.status_code == 303
    page = await staff.get("/staff/exports")
    assert "已登记书面同意：vol2" in flash(page)
    with site.svc.app.state.db.snapshot() as tx:
        record = mk.consent_of(tx, "vol2")
    assert record is not None
    assert (record.given, record.recorded_by, record.note) == (True, "staff", "书面：TY-2026-001")
    missing = await staff.post("/staff/exports/consent", {"member_id": "vol2"})
    assert missing.status_code == 422
    assert field_error(missing, "form_number")
    outsider = await staff.post(
        "/staff/exports/consent", {"member_id": "outsider", "form_number": "X-1"}
    )
    assert outsider.status_code == 422
    assert "本社区成员" in outsider.text
