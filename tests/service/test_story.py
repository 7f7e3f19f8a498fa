"""The whole story over HTTP with real sign-ins: 点单 → 审核 → 接单 → 报到 → 签退 → 评单 → 积分."""

from __future__ import annotations

import datetime as dt

import service_world as sw
from service_world import Service


async def sign_in(svc: Service, person: str) -> dict[str, str]:
    answer = await svc.client.post(
        "/api/v1/auth/token", json={"phone": sw.PHONES[person], "password": sw.PASSWORD}
    )
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["token_type"] == "Bearer"
    assert body["member_id"] == person
    return {"Authorization": f"Bearer {body['access_token']}"}


async def test_a_wish_goes_from_post_to_points_over_http(svc: Service) -> None:
    c = svc.client
    resident, staff, volunteer = [await sign_in(svc, p) for p in ("res", "staff", "vol1")]
    start = svc.clock.now + dt.timedelta(hours=1)
    posted = await c.post(
        "/api/v1/communities/c1/wishes",
        headers=resident,
        json={
            "category": "助老陪护",
            "title": "陪我去医院复诊",
            "description": "周二上午，需要推轮椅",
            "org_id": "g1",
            "address": "幸福路1号3栋502室",
            "window_start": start.isoformat(),
            "window_end": (start + dt.timedelta(hours=3)).isoformat(),
            "estimated_minutes": 90,
        },
    )
    assert posted.status_code == 201, posted.text
    wish = posted.json()
    assert (wish["state"], wish["address"]) == ("submitted", "幸福路1号3栋502室")
    code = wish["confirmation_code"]
    assert len(code or "") == 6
    url = f"/api/v1/communities/c1/wishes/{wish['id']}"

    verified = await c.post(f"{url}/verify", headers=staff)
    assert (verified.status_code, verified.json()["state"]) == (200, "published")

    found = await c.get("/api/v1/communities/c1/recommendations", headers=volunteer)
    assert wish["id"] in [m["wish_id"] for m in found.json()["items"]]
    before = (await c.get(url, headers=volunteer)).json()
    assert (before["address"], before["contact"]["masked"]) == ("幸福路1号3栋", True)
    assert before["confirmation_code"] is None

    claimed = await c.post(f"{url}/claims", headers=volunteer, json={})
    assert claimed.status_code == 201, claimed.text
    claim_id = claimed.json()["claim"]["id"]
    again = await c.post(f"{url}/claims", headers=volunteer, json={})
    assert (again.status_code, again.json()["code"]) == (409, "already_claimed")
    assert again.json()["detail"] == "您已认领该心愿"  # not "no right": the wish is full now
    during = (await c.get(url, headers=volunteer)).json()
    assert (during["address"], during["contact"]["masked"]) == ("幸福路1号3栋502室", False)
    assert during["confirmation_code"] is None  # heard at the door, never shown to the volunteer

    claim_url = f"/api/v1/communities/c1/claims/{claim_id}"
    svc.clock.advance(hours=1)
    wrong = await c.post(f"{claim_url}/check-in", headers=volunteer, json={"code": "000000"})
    if code != "000000":
        assert (wrong.status_code, wrong.json()["code"]) == (409, "wrong_code")
    checked_in = await c.post(f"{claim_url}/check-in", headers=volunteer, json={"code": code})
    assert (checked_in.status_code, checked_in.json()["state"]) == (200, "checked_in")
    svc.clock.advance(minutes=90)
    checked_out = await c.post(f"{claim_url}/check-out", headers=volunteer, json={})
    assert checked_out.status_code == 200, checked_out.text
    assert checked_out.json()["minutes"] == 90

    wallet_url = "/api/v1/communities/c1/members/vol1/wallet"
    pending = (await c.get(wallet_url, headers=volunteer)).json()
    assert (pending["balance"], pending["incoming"]) == (0, 15)  # 10 points an hour, 90 minutes

    confirmed = await c.post(
        f"{url}/confirm", headers=resident, json={"rating": 5, "comment": "非常耐心，谢谢！"}
    )
    assert (confirmed.status_code, confirmed.json()["state"]) == (200, "closed")
    assert confirmed.json()["rating"] == 5

    wallet = (await c.get(wallet_url, headers=volunteer)).json()
    assert (wallet["balance"], wallet["available"], wallet["incoming"]) == (15, 15, 0)
    hours = (await c.get("/api/v1/communities/c1/members/vol1/hours", headers=volunteer)).json()
    assert (hours["minutes"], hours["hours"]) == (90, "1.5")
    statement = await c.get("/api/v1/communities/c1/members/vol1/statement", headers=volunteer)
    entries = statement.json()["items"]
    assert (entries[0]["kind"], entries[0]["amount"]) == ("accrual", 15)
    award = await c.get(
        f"/api/v1/communities/c1/transfers/{entries[-1]['transfer_id']}", headers=volunteer
    )
    assert award.json()["detail"]["accrual"]["points"] == 15  # the breakdown explains them

    history = (await c.get(f"{url}/history", headers=staff)).json()["items"]
    assert [h["action"] for h in history] == [
        "post", "verify", "settle", "check_in", "settle", "confirm", "close",
    ]  # fmt: skip
    audit = await c.get("/api/v1/audit", headers=staff, params={"community_id": "c1"})
    assert (audit.status_code, audit.json()["problems"]) == (200, [])
