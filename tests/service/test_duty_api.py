"""双报到 over HTTP: staff record a 报到, the unit admin reads and downloads the quarterly report,
the street reads the roll-up, and a unit admin gets its own 三率 (was 404)."""

from __future__ import annotations

import datetime as dt
import io

from openpyxl import load_workbook

from marketplace.model import CHINA
from service_world import Service

API = "/api/v1"


def quarter(now: dt.datetime) -> str:
    day = now.astimezone(CHINA).date()
    return f"{day.year}-Q{(day.month - 1) // 3 + 1}"


async def test_staff_record_and_the_unit_admin_reads_and_downloads_the_report(
    svc: Service,
) -> None:
    c, now = svc.client, svc.clock.now
    body = {"member_id": "party", "kind": "checkin", "at": now.isoformat(), "note": "到社区报到"}
    made = await c.post(f"{API}/communities/c1/duty-records", json=body, headers=svc.as_("staff"))
    assert made.status_code == 201, made.text
    assert (made.json()["unit_id"], made.json()["kind"]) == ("u1", "checkin")
    refused = await c.post(f"{API}/communities/c1/duty-records", json=body,
                           headers=svc.as_("vol1"))  # fmt: skip
    assert refused.status_code == 403
    bad = await c.post(f"{API}/communities/c1/duty-records",
                       json={**body, "member_id": "vol1"}, headers=svc.as_("staff"))  # fmt: skip
    assert (bad.status_code, bad.json()["errors"][0]["field"]) == (422, "member_id")

    report = await c.get(f"{API}/orgs/u1/unit-report", headers=svc.as_("uadmin"))
    assert report.status_code == 200, report.text
    got = report.json()
    assert got["period"] == quarter(now)
    [party] = got["members"]
    month = now.astimezone(CHINA).strftime("%Y-%m")
    assert (party["member_id"], party["months"][month]) == ("party", True)

    sheet = await c.get(f"{API}/orgs/u1/unit-report.xlsx", headers=svc.as_("uadmin"),
                        params={"period": quarter(now)})  # fmt: skip
    assert sheet.status_code == 200
    assert sheet.headers["content-type"].startswith("application/vnd.openxmlformats")
    assert "attachment" in sheet.headers["content-disposition"]
    book = load_workbook(io.BytesIO(sheet.content), read_only=True)
    rows = list(book.worksheets[0].iter_rows(values_only=True))
    assert rows[0][:2] == ("成员编号", "姓名")
    assert rows[1][:2] == ("party", "party")
    assert f"{month} 报到" in rows[0]

    for who in ("staff", "party", "res"):
        hidden = await c.get(f"{API}/orgs/u1/unit-report", headers=svc.as_(who))
        assert hidden.status_code == 404
    wrong = await c.get(f"{API}/orgs/u1/unit-report", headers=svc.as_("uadmin"),
                        params={"period": "2026-11"})  # fmt: skip
    assert wrong.status_code in (400, 422)

    rollup = await c.get(f"{API}/orgs/s1/unit-rollup", headers=svc.as_("admin"))
    assert rollup.status_code == 200
    assert [(u["unit_id"], u["members"]) for u in rollup.json()["items"]] == [("u1", 1)]


async def test_a_unit_admin_reads_its_own_three_rates_and_statistics(svc: Service) -> None:
    c, h = svc.client, svc.as_("uadmin")
    rates = await c.get(f"{API}/orgs/u1/three-rates", headers=h, params={"period": "30d"})
    assert rates.status_code == 200, rates.text
    assert [(r["org_id"], r["kind"]) for r in rates.json()["items"]] == [("u1", "unit")]
    stats = await c.get(f"{API}/orgs/u1/statistics", headers=h, params={"period": "30d"})
    assert (stats.status_code, stats.json()["org_id"], stats.json()["communities"]) == (
        200,
        "u1",
        1,
    )
    community = await c.get(f"{API}/orgs/c1/three-rates", headers=h, params={"period": "30d"})
    assert community.status_code == 404  # a unit admin is not the community's office
