"""个人资料 on the pages (issue 15): a member edits their own details on 我的; staff open a member,
set where they live, their unit and roles, and read the log of every change; and over the API."""

from __future__ import annotations

import re

from pages_world import Site, field_error, flash


async def test_a_member_edits_their_own_details_on_the_me_page(site: Site) -> None:
    volunteer = await site.person("vol1")
    page = await volunteer.get("/me")
    assert 'action="/me/details"' in page.text
    saved = await volunteer.post(
        "/me/details",
        {"address": "幸福路1号3栋502室", "skills": "理发、维修", "availability": "每周六上午"},
    )
    assert saved.status_code == 303, saved.text[:800]
    shown = await volunteer.get("/me")
    assert flash(shown) == "已保存我的资料"
    assert 'value="每周六上午"' in shown.text
    assert 'value="理发、维修"' in shown.text
    too_long = await volunteer.post("/me/details", {"address": "长" * 201})
    assert too_long.status_code == 422
    assert field_error(too_long, "address") == "最多 200 个字"


async def test_staff_edit_a_member_and_read_the_change_log(site: Site) -> None:
    staff = await site.person("staff")
    members = await staff.get("/staff/members")
    assert 'href="/staff/members/res"' in members.text
    page = await staff.get("/staff/members/res")
    assert page.status_code == 200
    assert "暂无变更记录" in page.text
    saved = await staff.post(
        "/staff/members/res/edit",
        {"home_org_id": "g1", "room": "502", "home_unit_id": "u1",
         "roles": "resident"},
    )  # fmt: skip
    assert saved.status_code == 303, saved.text[:800]
    shown = await staff.get("/staff/members/res")
    assert flash(shown) == "已保存成员资料"
    log = re.findall(r"<p>([^<]+)</p></li>", shown.text)
    assert "房号：（空） → 502" in log
    assert "所属单位：（空） → 区卫健局" in log
    again = await staff.post(
        "/staff/members/res/edit",
        {
            "home_org_id": "g1",
            "room": "502",
            "home_unit_id": "u1",
            "roles": ["resident", "volunteer"],
        },
    )
    assert again.status_code == 303
    shown = await staff.get("/staff/members/res")
    assert "角色：居民 → 居民、志愿者" in re.findall(r"<p>([^<]+)</p></li>", shown.text)
    outside = await staff.post(
        "/staff/members/res/edit", {"home_org_id": "c2", "roles": "resident"}
    )
    assert outside.status_code == 422
    assert field_error(outside, "home_org_id") == "必须是本社区或社区内的地点"
    assert (await (await site.person("vol1")).get("/staff/members/res")).status_code == 403


async def test_the_api_edits_details_and_lists_changes(site: Site) -> None:
    svc = site.svc
    put = await svc.client.put(
        "/api/v1/me/details",
        json={"address": "幸福路1号", "skills": ["理发"], "availability": "周六"},
        headers=svc.as_("vol1"),
    )
    assert put.status_code == 200, put.text
    assert (put.json()["address"], put.json()["availability"]) == ("幸福路1号", "周六")
    edited = await svc.client.put(
        "/api/v1/communities/c1/members/vol1",
        json={"home_org_id": "g1", "room": "301", "roles": ["volunteer", "party_member"]},
        headers=svc.as_("staff"),
    )
    assert edited.status_code == 200, edited.text
    assert edited.json()["room"] == "301"
    changes = await svc.client.get("/api/v1/members/vol1/changes", headers=svc.as_("staff"))
    fields = [c["field"] for c in changes.json()]
    assert set(fields) >= {"address", "skills", "availability", "room", "roles"}
    hidden = await svc.client.get("/api/v1/members/vol1/changes", headers=svc.as_("vol2"))
    assert hidden.status_code == 404
