"""更正申请 in the pages: the volunteer finds her record, asks (a reason required), follows her
request; the staff see the queue, refuse with a reason or correct; both read the history."""

from __future__ import annotations

import datetime as dt
import re
from urllib.parse import quote

import marketplace as mk
import points
from pages_world import Site, field_error, flash

REFERENCE = "event:e1:vol1"


def stage(site: Site) -> None:
    now = site.svc.clock.now
    with site.svc.app.state.db.transaction() as tx:
        points.record_service(
            tx, community_id="c1", member_id="vol1", category="助老陪护", minutes=60,
            served_on=now.date() - dt.timedelta(days=1), reference=REFERENCE, actor="staff",
            memo="重阳节敬老活动", now=now,
        )  # fmt: skip


async def test_a_volunteer_asks_and_the_staff_correct_her_record(site: Site) -> None:
    stage(site)
    vol, staff = await site.person("vol1"), await site.person("staff")
    hours = await vol.get("/hours")
    assert hours.status_code == 200
    assert "重阳节敬老活动" in hours.text
    link = f"/corrections/new?reference={quote(REFERENCE, safe='')}"
    assert link in hours.text
    form = await vol.get(link)
    assert 'data-testid="current-minutes">60 分钟' in form.text
    blank = await vol.post(
        "/corrections", {"reference": REFERENCE, "field": "minutes", "proposed": "90", "reason": ""}
    )
    assert blank.status_code == 422
    assert field_error(blank, "reason") == "必须填写"
    assert 'value="90"' in blank.text  # what she typed is kept
    same = await vol.post(
        "/corrections",
        {"reference": REFERENCE, "field": "minutes", "proposed": "60", "reason": "x"},
    )
    assert field_error(same, "proposed") == "与记录现有的值相同，无需更正"
    asked = await vol.post(
        "/corrections",
        {
            "reference": REFERENCE,
            "field": "minutes",
            "proposed": "90",
            "reason": "活动延长了半小时",
        },
    )
    assert asked.status_code == 303
    mine = await vol.get(asked.headers["location"])
    assert flash(mine) == "已提交更正申请，社区工作人员核实后处理"
    assert 'data-testid="correction-state">待处理' in mine.text
    assert "/accept" not in mine.text  # she does not decide
    correction_id = asked.headers["location"].rsplit("/", 1)[1]
    assert "更正申请待处理" in (await vol.get("/hours")).text
    queue = await staff.get("/staff/corrections")
    assert f"/corrections/{correction_id}" in queue.text
    assert "活动延长了半小时" in queue.text
    assert '<p class="meta">vol1 · ' in queue.text  # her name (world's names are the ids)
    no_reason = await staff.post(f"/corrections/{correction_id}/refuse", {"reason": " "})
    assert no_reason.status_code == 422
    assert field_error(no_reason, "reason") == "必须填写"
    accepted = await staff.post(f"/corrections/{correction_id}/accept", {"note": "核对签到表"})
    assert accepted.status_code == 303
    assert flash(await staff.get(accepted.headers["location"])).startswith("已更正记录")
    seen = await vol.get(f"/corrections/{correction_id}")
    assert 'data-testid="correction-state">已更正' in seen.text
    rows = re.findall(r'<td class="num">([+−]\d+)</td>', seen.text)
    assert rows == ["+60", "−60", "+90"]
    assert "核对签到表" in seen.text
    other = await (await site.person("vol2")).get(f"/corrections/{correction_id}")
    assert other.status_code == 404
    with site.svc.app.state.db.snapshot() as tx:
        assert points.hours_summary(tx, "vol1", community_id="c1").minutes == 90
        assert points.audit(tx) == []


async def test_a_refusal_shows_its_reason_to_the_volunteer(site: Site) -> None:
    stage(site)
    with site.svc.app.state.db.transaction() as tx:
        fix = mk.request_correction(
            tx, "vol1", "c1", reference=REFERENCE, field="category", proposed="代办跑腿",
            reason="类别选错了", now=site.svc.clock.now,
        )  # fmt: skip
    staff, vol = await site.person("staff"), await site.person("vol1")
    refused = await staff.post(f"/corrections/{fix.id}/refuse", {"reason": "活动登记为助老陪护"})
    assert refused.status_code == 303
    seen = await vol.get(f"/corrections/{fix.id}")
    assert 'data-testid="correction-state">已驳回' in seen.text
    assert 'data-testid="decision-reason">活动登记为助老陪护' in seen.text
    again = await staff.post(f"/corrections/{fix.id}/accept", {})
    assert again.status_code == 409
    assert "该更正申请已驳回，无法更正" in again.text
    assert "活动登记为助老陪护" in (await vol.get("/hours")).text
