"""吹哨报到 over HTTP on SQLite and PostgreSQL: whistle, 受理 as 阶段性 with milestones, 转派,
a unit's answer, the community's rating; refusals are problem documents (never a 500); the
public board's 三单 carries nothing personal; a year the calendar lacks is a 409 until an admin
loads it."""

from __future__ import annotations

import datetime as dt
from typing import Any

import marketplace as mk
from marketplace import Role
from marketplace.workdays import CHINA
from service import auth
from service_world import Service, password_hash

BASE = "/api/v1/communities/c1"
MONDAY = dt.datetime(2026, 12, 7, 10, tzinfo=CHINA).astimezone(dt.UTC)


def _people(svc: Service) -> None:
    with svc.app.state.db.transaction() as tx:
        for n, (member, org, role) in enumerate(
            (("sstaff", "s1", Role.STAFF), ("dstaff", "d1", Role.STAFF))
        ):
            mk.add_member(tx, id=member, name=member)
            mk.grant_role(tx, mk.SYSTEM, member, org, role)
            auth.set_credentials(tx, member, f"1380000000{n}", password_hash())


async def _wish(svc: Service) -> dict[str, Any]:
    start = svc.clock.now + dt.timedelta(days=10)
    posted = await svc.client.post(
        f"{BASE}/wishes",
        headers=svc.as_("res"),
        json={
            "category": "助老陪护",
            "title": "楼道灯坏了很久",
            "org_id": "g1",
            "address": "幸福路1号3栋502室",
            "window_start": start.isoformat(),
            "window_end": (start + dt.timedelta(hours=3)).isoformat(),
            "estimated_minutes": 60,
        },
    )
    assert posted.status_code == 201, posted.text
    wish: dict[str, Any] = posted.json()
    return wish


async def test_a_matter_goes_from_whistle_to_rating_over_http(svc: Service) -> None:
    svc.clock.now = MONDAY
    _people(svc)
    wish = await _wish(svc)
    refused = await svc.client.post(
        f"{BASE}/wishes/{wish['id']}/whistle", headers=svc.as_("vol1"), json={"reason": "x"}
    )
    assert refused.status_code == 403, refused.text
    assert refused.headers["content-type"].startswith("application/problem+json")
    made = await svc.client.post(
        f"{BASE}/wishes/{wish['id']}/whistle",
        headers=svc.as_("staff"),
        json={"reason": "需要街道协调物业"},
    )
    assert made.status_code == 201, made.text
    matter = made.json()["matter"]
    assert (matter["state"], matter["org_id"]) == ("raised", "s1")
    path = f"{BASE}/matters/{matter['id']}"
    shown = await svc.client.get(path, headers=svc.as_("sstaff"))
    assert shown.status_code == 200, shown.text
    assert set(shown.json()["actions"]) == {"accept", "explain", "send_back", "escalate"}
    bad = await svc.client.post(
        f"{path}/accept", headers=svc.as_("sstaff"), json={"kind": "staged", "milestones": []}
    )
    assert bad.status_code == 422, bad.text
    accepted = await svc.client.post(
        f"{path}/accept",
        headers=svc.as_("sstaff"),
        json={"kind": "staged", "milestones": [{"title": "更换灯具", "due_on": "2026-12-18"}]},
    )
    assert accepted.status_code == 200, accepted.text
    assert accepted.json()["matter"]["deadline_at"] == "2026-12-18T16:00:00Z"
    assigned = await svc.client.post(
        f"{path}/assign", headers=svc.as_("sstaff"), json={"unit_id": "u1", "days": 3}
    )
    assert assigned.status_code == 200, assigned.text
    queue = await svc.client.get("/api/v1/orgs/u1/matters", headers=svc.as_("uadmin"))
    assert [q["matter"]["id"] for q in queue.json()["items"]] == [matter["id"]]
    answered = await svc.client.post(
        f"{path}/answer", headers=svc.as_("uadmin"), json={"answer": "已更换"}
    )
    assert answered.json()["matter"]["state"] == "done"
    rated = await svc.client.post(
        f"{path}/rating", headers=svc.as_("staff"), json={"satisfaction": 5}
    )
    assert rated.json()["matter"]["state"] == "rated", rated.text
    progress = await svc.client.get(f"{BASE}/wishes/{wish['id']}/matters", headers=svc.as_("res"))
    assert progress.json()["items"][0]["unit"] == "区卫健局"
    board = await svc.client.get("/api/v1/boards/c1/matters")
    assert board.status_code == 200
    assert board.json()["items"][0]["kind"] == "staged"
    for private in ("楼道灯", "幸福路", "res", "需要街道协调物业", "已更换"):
        assert private not in board.text
    figures = await svc.client.get(
        "/api/v1/orgs/s1/evaluation?period=2026-Q4", headers=svc.as_("sstaff")
    )
    unit = figures.json()["handlers"][0]
    assert (unit["org_id"], unit["received"], unit["satisfied"]["percent"]) == ("u1", 1, 100.0)


async def test_an_uncovered_year_is_a_409_until_the_admin_loads_it(svc: Service) -> None:
    svc.clock.now = dt.datetime(2026, 12, 31, 10, tzinfo=CHINA).astimezone(dt.UTC)
    wish = await _wish(svc)
    path = f"{BASE}/wishes/{wish['id']}/whistle"
    refused = await svc.client.post(path, headers=svc.as_("staff"), json={"reason": "x"})
    assert refused.status_code == 409, refused.text
    assert refused.json()["code"] == "calendar_year_missing"
    assert "2027" in refused.json()["detail"]
    body = {"source": "国办发明电〔2026〕", "days": [{"day": "2027-01-01", "workday": False}]}
    not_admin = await svc.client.put("/api/v1/calendar/2027", headers=svc.as_("staff"), json=body)
    assert not_admin.status_code == 403
    loaded = await svc.client.put("/api/v1/calendar/2027", headers=svc.as_("admin"), json=body)
    assert loaded.status_code == 200, loaded.text
    year = await svc.client.get("/api/v1/calendar/2027", headers=svc.as_("staff"))
    assert year.json()["days"] == [{"day": "2027-01-01", "workday": False, "name": ""}]
    missing = await svc.client.get("/api/v1/calendar/2028", headers=svc.as_("staff"))
    assert missing.status_code == 404
    coverage = await svc.client.get("/api/v1/calendar", headers=svc.as_("staff"))
    assert coverage.json() == {"package_from": 2004, "package_until": 2026, "loaded": [2027]}
    made = await svc.client.post(path, headers=svc.as_("staff"), json={"reason": "x"})
    assert made.status_code == 201, made.text
