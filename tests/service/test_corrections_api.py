"""更正申请 over HTTP: the volunteer asks, the staff accept (the record and the points replaced,
the audit clean) or refuse with a reason; refusals read in Chinese with their stable codes."""

from __future__ import annotations

import datetime as dt

import marketplace as mk
import marketplace_world as world
import points
from service_world import Service

C = "/api/v1/communities/c1"


def serve(svc: Service, minutes: int = 60) -> str:
    """vol1 served a wish for ``minutes``, confirmed: the record's reference."""
    now = svc.clock.now
    start = now - dt.timedelta(hours=3)
    with svc.app.state.db.transaction() as tx:
        wish = world.published(tx, start=start)
        made = mk.claim(tx, "vol1", "c1", wish.id, now=start - dt.timedelta(hours=1))
        mk.check_in(tx, "vol1", "c1", made.id, code=wish.confirmation_code, now=start)
        mk.check_out(tx, "vol1", "c1", made.id, now=start + dt.timedelta(minutes=minutes))
        mk.confirm(tx, "res", "c1", wish.id, rating=5, now=now)
    return f"claim:{made.id}"


def body(reference: str, **given: str) -> dict[str, str]:
    made = {"reference": reference, "field": "minutes", "proposed": "120", "reason": "少记了一小时"}
    return made | given


async def test_a_request_accepted_replaces_the_record_and_its_points(svc: Service) -> None:
    reference = serve(svc)
    c, vol, staff = svc.client, svc.as_("vol1"), svc.as_("staff")
    records = await c.get(f"{C}/members/vol1/hours-records", headers=vol)
    assert [r["reference"] for r in records.json()["items"]] == [reference]
    asked = await c.post(f"{C}/corrections", headers=vol, json=body(reference))
    assert asked.status_code == 201, asked.text
    fix = asked.json()
    assert (fix["state"], fix["current"], fix["proposed"]) == ("pending", "60", "120")
    again = await c.post(f"{C}/corrections", headers=vol, json=body(reference, proposed="90"))
    assert (again.status_code, again.json()["code"]) == (409, "correction_pending")
    queue = await c.get(f"{C}/corrections", headers=staff)
    assert [q["id"] for q in queue.json()["items"]] == [fix["id"]]
    mine = await c.get(f"{C}/my-corrections", headers=vol)
    assert [q["id"] for q in mine.json()["items"]] == [fix["id"]]
    by_her = await c.post(f"{C}/corrections/{fix['id']}/acceptance", headers=vol, json={})
    assert (by_her.status_code, by_her.json()["code"]) == (403, "not_allowed")
    done = await c.post(f"{C}/corrections/{fix['id']}/acceptance", headers=staff, json={})
    assert done.status_code == 200, done.text
    assert (done.json()["state"], done.json()["points_after"]) == ("corrected", 20)
    twice = await c.post(f"{C}/corrections/{fix['id']}/refusal", headers=staff,
                         json={"reason": "重复"})  # fmt: skip
    assert (twice.status_code, twice.json()["code"]) == (409, "wrong_state")
    assert twice.json()["detail"] == "该更正申请已更正，无法驳回"
    view = (await c.get(f"{C}/corrections/{fix['id']}", headers=vol)).json()
    assert [r["minutes"] for r in view["records"]] == [60, -60, 120]
    assert [m["action"] for m in view["moves"]] == ["request", "accept"]
    hours = (await c.get(f"{C}/members/vol1/hours", headers=vol)).json()
    wallet = (await c.get(f"{C}/members/vol1/wallet", headers=vol)).json()
    assert (hours["minutes"], wallet["balance"]) == (120, 20)
    with svc.app.state.db.snapshot() as tx:
        assert points.audit(tx) == []


async def test_refusals_need_reasons_and_others_records_are_not_found(svc: Service) -> None:
    reference = serve(svc)
    c, vol, staff = svc.client, svc.as_("vol1"), svc.as_("staff")
    blank = await c.post(f"{C}/corrections", headers=vol, json=body(reference, reason=" "))
    assert (blank.status_code, blank.json()["code"], blank.json()["field"]) == (
        422, "invalid_input", "reason",
    )  # fmt: skip
    assert blank.json()["detail"] == "原因：不能为空"
    empty = await c.post(f"{C}/corrections", headers=vol, json=body(reference, reason=""))
    assert empty.status_code == 422
    other = await c.post(f"{C}/corrections", headers=svc.as_("vol2"), json=body(reference))
    assert (other.status_code, other.json()["code"]) == (404, "not_found")
    same = await c.post(f"{C}/corrections", headers=vol, json=body(reference, proposed="60"))
    assert (same.status_code, same.json()["field"]) == (422, "proposed")
    assert same.json()["detail"] == "更正后的值：与记录现有的值相同，无需更正"
    fix = (await c.post(f"{C}/corrections", headers=vol, json=body(reference))).json()
    no_reason = await c.post(f"{C}/corrections/{fix['id']}/refusal", headers=staff,
                             json={"reason": "  "})  # fmt: skip
    assert (no_reason.status_code, no_reason.json()["field"]) == (422, "reason")
    refused = await c.post(f"{C}/corrections/{fix['id']}/refusal", headers=staff,
                           json={"reason": "签到表显示一小时"})  # fmt: skip
    assert (refused.status_code, refused.json()["state"]) == (200, "refused")
    assert refused.json()["decision_reason"] == "签到表显示一小时"
    hidden = await c.get(f"{C}/corrections/{fix['id']}", headers=svc.as_("vol2"))
    assert hidden.status_code == 404
    not_office = await c.get(f"{C}/corrections", headers=vol)
    assert not_office.status_code == 403
    hours = (await c.get(f"{C}/members/vol1/hours", headers=vol)).json()
    assert hours["minutes"] == 60
