"""单位季度报表 page: the unit admin sees their members' 报到 month by month, who is behind, the
unit's 三率, and downloads the XLSX; a quarter named badly is refused in Chinese."""

from __future__ import annotations

import io
import re

import sqlalchemy as sa
from openpyxl import load_workbook

import marketplace as mk
import service_world as sw
from marketplace import DutyKind
from marketplace.model import CHINA
from pages_world import Site
from service import auth


async def test_the_unit_admin_reads_the_report_and_downloads_it(site: Site) -> None:
    now = site.svc.clock.now
    with site.svc.app.state.db.transaction() as tx:
        mk.record_duty(tx, "staff", community_id="c1", member_id="party",
                       kind=DutyKind.TALK, at=now, note="党课", now=now)  # fmt: skip
    admin = await site.person("uadmin")
    page = await admin.get("/unit/report")
    assert page.status_code == 200, page.text
    assert "单位季度报表" in page.text
    assert 'data-testid="member-party"' in page.text
    assert "讲一次党课1次" in page.text
    month = now.astimezone(CHINA).month
    assert f"{month}月未报到" in page.text  # a talk is no monthly 报到
    day = now.astimezone(CHINA).date()
    quarter = f"{day.year}-Q{(day.month - 1) // 3 + 1}"
    assert f'href="/unit/report.xlsx?period={quarter}"' in page.text
    sheet = await admin.get(f"/unit/report.xlsx?period={quarter}")
    assert sheet.status_code == 200
    rows = list(load_workbook(io.BytesIO(sheet.content)).worksheets[0].iter_rows(values_only=True))
    assert rows[1][:2] == ("party", "party")
    bad = await admin.get("/unit/report?period=2026-11")
    assert bad.status_code == 422
    assert "季度" in bad.text


async def test_a_month_over_without_a_report_shows_the_member_as_behind(site: Site) -> None:
    now = site.svc.clock.now.astimezone(CHINA)
    earlier = f"{now.year - 1}-Q{(now.month - 1) // 3 + 1}"  # a whole quarter, long over
    admin = await site.person("uadmin")
    page = await admin.get(f"/unit/report?period={earlier}")
    assert page.status_code == 200
    assert 'data-testid="behind"' in page.text
    assert "滞后" in page.text


async def test_staff_record_a_report_in_the_page_and_the_unit_sees_it(site: Site) -> None:
    staff = await site.person("staff")
    form = await staff.get("/staff/duty")
    assert form.status_code == 200
    assert "party（区卫健局）" in form.text
    today = site.svc.clock.now.astimezone(CHINA).date().isoformat()
    made = await staff.post("/staff/duty", {"member_id": "party", "kind": "checkin",
                                            "date": today, "note": "到社区报到"})  # fmt: skip
    assert made.status_code == 303
    assert made.headers["location"] == "/staff/duty"
    bad = await staff.post("/staff/duty", {"member_id": "vol1", "kind": "checkin", "date": today})
    assert bad.status_code == 422
    assert "在职党员" in bad.text
    grid = await site.person("grid")
    refused = await grid.post("/staff/duty", {"member_id": "party", "kind": "checkin",
                                              "date": today})  # fmt: skip
    assert refused.status_code == 403
    report = await (await site.person("uadmin")).get("/unit/report")
    month = site.svc.clock.now.astimezone(CHINA).month
    assert f"{month}月已报到" in report.text


async def test_the_street_reads_its_units_roll_up(site: Site) -> None:
    with site.svc.app.state.db.transaction() as tx:
        mk.add_member(tx, id="sstaff", name="街道干部")
        mk.grant_role(tx, mk.SYSTEM, "sstaff", "s1", mk.Role.STAFF)
        auth.set_credentials(tx, "sstaff", "13800000099", sw.password_hash())
    street = await site.person("sstaff")
    page = await street.get("/staff/units")
    assert page.status_code == 200, page.text
    assert 'data-testid="unit-u1"' in page.text
    assert "区卫健局" in page.text
    assert "在职党员 1 人" in page.text
    bad = await street.get("/staff/units?period=2026")
    assert bad.status_code == 422


async def test_an_admin_issues_a_partner_key_in_the_pages_shown_once(site: Site) -> None:
    admin = await site.person("admin")  # the district's admin: names the community
    page = await admin.get("/staff/partners?community=c1")
    assert page.status_code == 200, page.text
    key = re.search(r'data-testid="key">(l311_[^<]+)<', page.text)
    sig = re.search(r'name="sig" value="([0-9a-f]+)"', page.text)
    assert key
    assert sig
    made = await admin.post("/staff/partners", {"community": "c1", "name": "智慧长乐",
                                                "key": key[1], "sig": sig[1]})  # fmt: skip
    assert made.status_code == 303, made.text
    with site.svc.app.state.db.snapshot() as tx:
        partner = mk.intake.partner_of(tx, key[1])
        assert partner is not None
        assert partner.community_id == "c1"
        stored = tx.execute(sa.text("SELECT key_hash FROM mk_partners")).scalar_one()
        kept = tx.execute(sa.text("SELECT * FROM svc_idempotency_keys")).all()
    assert key[1] not in stored
    assert all(key[1] not in str(row) for row in kept)  # the form's record keeps no key
    listed = await admin.get("/staff/partners?community=c1")
    assert "智慧长乐" in listed.text
    assert key[1] not in listed.text  # a new key is drawn for the next partner
    forged = "l311_" + "A" * 43
    refused = await admin.post("/staff/partners", {"community": "c1", "name": "假平台",
                                                   "key": forged, "sig": sig[1]})  # fmt: skip
    assert refused.status_code == 422
    staff = await site.person("staff")
    assert (await staff.get("/staff/partners")).status_code == 403
    with site.svc.app.state.db.snapshot() as tx:
        (partner,) = mk.intake.partners_of(tx, "admin", "c1")
    revoke = f"/staff/partners/{partner.id}/revoke"
    asked = await admin.post(revoke, {"community": "c1"}, confirmed=False)
    assert asked.status_code == 200, asked.text  # the question first, without JavaScript
    assert "确定停用这个平台的密钥吗" in asked.text
    stopped = await admin.post(revoke, {"community": "c1"})
    assert stopped.status_code == 303, stopped.text
    with site.svc.app.state.db.snapshot() as tx:
        assert mk.intake.partner_of(tx, key[1]) is None
    listed = await admin.get("/staff/partners?community=c1")
    assert "已停用" in listed.text
    assert f'action="{revoke}"' not in listed.text
    not_allowed = await staff.post(revoke, {"community": "c1"})
    assert not_allowed.status_code == 403
