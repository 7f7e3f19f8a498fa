"""点单 from the pages asks what the API's body asks (the place, the skills) and no more than it
must: the resident's address is filled in from her last wish, the estimated time is the window's
unless she says otherwise."""

from __future__ import annotations

import datetime as dt
import re
from html import unescape

import marketplace as mk
from pages_world import Person, Site, field_error
from service.pages.common import CST


def _form(site: Site, **overrides: str) -> dict[str, str]:
    day = (site.svc.clock.now.astimezone(CST) + dt.timedelta(days=1)).date().isoformat()
    return {
        "category": "助老陪护",
        "title": "修一下电视",
        "date": day,
        "window_start": "09:00",
        "window_end": "10:30",
        "address": "幸福路1号3栋502室",
        **overrides,
    }


async def _post(resident: Person, form: dict[str, str]) -> str:
    posted = await resident.post("/wishes/new", form, confirmed=False)
    assert posted.status_code == 303, posted.text[:2000]
    return posted.headers["location"].rsplit("/", 1)[-1]


def _value(page: str, name: str) -> str:
    found = re.search(rf'<input id="f-{name}" name="{name}" type="[a-z]+" value="([^"]*)"', page)
    return unescape(found.group(1)) if found else ""


async def test_the_form_fills_in_the_address_she_gave_last_time(site: Site) -> None:
    resident = await site.person("res")
    assert _value((await resident.get("/wishes/new")).text, "address") == ""
    await _post(resident, _form(site))
    again = await resident.get("/wishes/new")
    assert _value(again.text, "address") == "幸福路1号3栋502室"


async def test_the_estimated_time_is_the_window_s_unless_given(site: Site) -> None:
    resident = await site.person("res")
    wish_id = await _post(resident, _form(site))
    page = await resident.get(f"/wishes/{wish_id}")
    assert "09:00 至 10:30，预计服务约 90 分钟" in page.text
    given = await _post(resident, _form(site, estimated_minutes="45"))
    assert "预计服务约 45 分钟" in (await resident.get(f"/wishes/{given}")).text


async def test_skills_and_the_place_reach_the_wish_as_from_the_api(site: Site) -> None:
    with site.svc.app.state.db.transaction() as tx:
        mk.create_org(tx, mk.SYSTEM, id="b3", kind=mk.OrgKind.BUILDING, name="3栋", parent_id="g1")
    resident = await site.person("res")
    form = await resident.get("/wishes/new")
    assert '<select id="f-org_id" name="org_id"' in form.text
    assert '<option value="b3">第一网格 · 3栋</option>' in form.text
    assert 'id="f-skills"' in form.text
    wish_id = await _post(resident, _form(site, skills="家电维修，手机教学 家电维修", org_id="b3"))
    with site.svc.app.state.db.snapshot() as conn:
        wish = mk.load_wish(conn, "c1", wish_id)
    assert wish.skills == frozenset({"家电维修", "手机教学"})
    assert wish.org_id == "b3"
    too_many = await resident.post(
        "/wishes/new", _form(site, skills=",".join(f"技能{n}" for n in range(21))), confirmed=False
    )
    assert (too_many.status_code, field_error(too_many, "skills")) == (422, "最多 20 项技能")
    elsewhere = await resident.post("/wishes/new", _form(site, org_id="c2"), confirmed=False)
    assert elsewhere.status_code == 422  # the library: a place outside her community
