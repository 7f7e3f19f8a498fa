"""Open311 GeoReport v2 intake (/open311/v2/): discovery, services, a service's definition,
requests posted form-urlencoded (JSON and XML answers) that land in 待审核 with their origin,
GET filters, the spec's errors (never a 500), and a rate per key."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any
from xml.etree import ElementTree as ET

import pytest
import sqlalchemy as sa

import marketplace as mk
import marketplace_world
import service_world
from marketplace.schema import wish_origins
from pages_world import Site
from service.cli import main
from service_world import Service

V2 = "/open311/v2"
FORM = {"Content-Type": "application/x-www-form-urlencoded"}
CODE = mk.DEFAULT_CATEGORIES[0]


def issue(svc: Service, community: str = "c1") -> str:
    with svc.app.state.db.transaction() as tx:
        _, key = mk.intake.issue_key(tx, "admin", community_id=community, name="智慧长乐")
    return key


def request_form(key: str, **extra: str) -> dict[str, str]:
    return {
        "api_key": key,
        "jurisdiction_id": "c1",
        "service_code": CODE,
        "address_string": "幸福路1号3栋502室",
        "description": "楼道灯坏了，老人晚上看不见",
        "first_name": "秀英",
        "last_name": "李",
        "phone": "13812345678",
        "email": "li@example.com",
        **extra,
    }


async def post(svc: Service, fmt: str, form: dict[str, str]) -> Any:
    return await svc.client.post(f"{V2}/requests.{fmt}", data=form, headers=FORM)


async def test_discovery_and_services_in_json_and_xml(svc: Service) -> None:
    c = svc.client
    found = await c.get(f"{V2}/discovery.json")
    assert found.status_code == 200
    [endpoint] = found.json()["endpoints"]
    assert endpoint["specification"] == "http://wiki.open311.org/GeoReport_v2"
    assert endpoint["formats"] == ["text/xml", "application/json"]
    xml = await c.get(f"{V2}/discovery.xml")
    assert xml.headers["content-type"].startswith("text/xml")
    root = ET.fromstring(xml.content)
    assert root.tag == "discovery"
    assert [f.text for f in root.iter("format")] == ["text/xml", "application/json"]

    services = await c.get(f"{V2}/services.json", params={"jurisdiction_id": "c1"})
    assert [s["service_code"] for s in services.json()] == list(mk.DEFAULT_CATEGORIES)
    assert services.json()[0]["metadata"] is True
    tree = ET.fromstring((await c.get(f"{V2}/services.xml?jurisdiction_id=c1")).content)
    assert [s.findtext("service_code") for s in tree.iter("service")] == list(mk.DEFAULT_CATEGORIES)

    definition = await c.get(f"{V2}/services/{CODE}.json", params={"jurisdiction_id": "c1"})
    assert definition.status_code == 200
    body = definition.json()
    assert body["service_code"] == CODE
    assert [a["code"] for a in body["attributes"]] == [
        "title", "estimated_minutes", "urgency", "window_days",
    ]  # fmt: skip
    assert body["attributes"][2]["values"][0] == {"key": "1", "name": "不急"}
    tree = ET.fromstring((await c.get(f"{V2}/services/{CODE}.xml?jurisdiction_id=c1")).content)
    assert tree.tag == "service_definition"
    assert len(tree.findall("attributes/attribute")) == 4

    for path, status in (
        (f"{V2}/services.json", 400),  # no jurisdiction_id
        (f"{V2}/services.json?jurisdiction_id=nowhere", 404),
        (f"{V2}/services/不存在.json?jurisdiction_id=c1", 404),
        (f"{V2}/services.csv?jurisdiction_id=c1", 404),
        (f"{V2}/requests/nothing.json?jurisdiction_id=c1", 404),
    ):
        refused = await c.get(path)
        assert refused.status_code == status, path
        [problem] = refused.json()
        assert problem["code"] == status
        assert problem["description"]
    bad = ET.fromstring((await c.get(f"{V2}/services.xml")).content)
    assert (bad.tag, bad.findtext("error/code")) == ("errors", "400")


async def test_a_posted_request_becomes_a_wish_awaiting_verification_with_its_origin(
    svc: Service,
) -> None:
    key = issue(svc)
    made = await post(svc, "json", request_form(key, **{"attribute[urgency]": "3"}))
    assert made.status_code == 201, made.text
    [created] = made.json()
    wish_id = created["service_request_id"]
    assert created["service_notice"]
    with svc.app.state.db.snapshot() as tx:
        wish = mk.load_wish(tx, "c1", wish_id)
        origin = tx.execute(sa.select(wish_origins).where(wish_origins.c.wish_id == wish_id)).one()
    assert wish.state is mk.WishState.SUBMITTED  # 待审核, like any 点单
    assert (wish.category, wish.urgency, wish.org_id) == (CODE, mk.Urgency.HIGH, "c1")
    assert wish.title == "楼道灯坏了，老人晚上看不见"
    assert wish.posted_by.startswith("partner:")
    assert (origin.service_code, origin.contact["phone"]) == (CODE, "13812345678")
    staff = svc.as_("staff")
    verified = await svc.client.post(
        f"/api/v1/communities/c1/wishes/{wish_id}/verify", headers=staff
    )
    assert verified.status_code == 200  # staff verify it as any other

    as_xml = await post(svc, "xml", request_form(key, lat="26.0745", long="119.2965",
                                                  address_string=""))  # fmt: skip
    assert as_xml.status_code == 201, as_xml.text
    tree = ET.fromstring(as_xml.content)
    assert tree.tag == "service_requests"
    assert tree.findtext("request/service_request_id")


async def test_get_requests_filters_and_shows_nothing_personal(svc: Service) -> None:
    key = issue(svc)
    first = (await post(svc, "json", request_form(key))).json()[0]["service_request_id"]
    other = CODE if len(mk.DEFAULT_CATEGORIES) == 1 else mk.DEFAULT_CATEGORIES[1]
    second = (await post(svc, "json", request_form(
        key, service_code=other, lat="26.07451", long="119.29652", address_string=""
    ))).json()[0]["service_request_id"]  # fmt: skip
    reject = await svc.client.post(f"/api/v1/communities/c1/wishes/{second}/reject",
                                   json={"reason": "重复"}, headers=svc.as_("staff"))  # fmt: skip
    assert reject.status_code == 200
    c, jid = svc.client, {"jurisdiction_id": "c1"}

    listed = (await c.get(f"{V2}/requests.json", params=jid)).json()
    assert {r["service_request_id"] for r in listed} == {first, second}
    text = str(listed)
    for personal in ("13812345678", "李", "秀英", "li@example.com", "502室", "老人晚上"[2:]):
        assert personal not in text.replace("楼道灯坏了，老人晚上看不见", ""), personal
    one = {r["service_request_id"]: r for r in listed}
    assert one[first]["address"] == "幸福路1号3栋"  # the building, not the flat
    assert one[first]["status"] == "open"
    assert (one[second]["status"], one[second]["lat"], one[second]["long"]) == (
        "closed", 26.075, 119.297,
    )  # fmt: skip

    async def ids(**params: str) -> set[str]:
        answer = await c.get(f"{V2}/requests.json", params={**jid, **params})
        assert answer.status_code == 200, answer.text
        return {r["service_request_id"] for r in answer.json()}

    assert await ids(status="open") == {first}
    assert await ids(status="closed") == {second}
    assert await ids(status="open,closed") == {first, second}
    assert await ids(service_request_id=f"{second},nothing") == {second}
    if other != CODE:
        assert await ids(service_code=other) == {second}
    now = svc.clock.now
    assert await ids(start_date=(now + dt.timedelta(hours=1)).isoformat()) == set()
    hour = dt.timedelta(hours=1)
    around = {"start_date": (now - hour).isoformat(), "end_date": (now + hour).isoformat()}
    assert await ids(**around) == {first, second}
    china = (now - hour).astimezone(dt.timezone(hour * 8)).isoformat()  # …+08:00
    sent_raw = await c.get(f"{V2}/requests.json?jurisdiction_id=c1&start_date={china}")
    assert {r["service_request_id"] for r in sent_raw.json()} == {first, second}  # "+" as " "
    single = await c.get(f"{V2}/requests/{first}.xml", params=jid)
    assert ET.fromstring(single.content).findtext("request/status") == "open"
    for params in ({"status": "pending"}, {"start_date": "yesterday"},
                   {"start_date": "2026-12-01T00:00:00"}):  # fmt: skip
        refused = await c.get(f"{V2}/requests.json", params={**jid, **params})
        assert refused.status_code == 400, params
        assert refused.json()[0]["code"] == 400


@pytest.mark.parametrize(
    ("change", "status"),
    [
        ({"api_key": "l311_not-a-key"}, 403),
        ({"api_key": ""}, 403),
        ({"jurisdiction_id": "c2"}, 403),  # the key is c1's
        ({"service_code": "修飞机"}, 400),
        ({"service_code": ""}, 400),
        ({"lat": "north", "long": "1"}, 400),
        ({"lat": "95", "long": "1", "address_string": ""}, 400),
        ({"address_string": ""}, 400),  # no location at all
        ({"attribute[estimated_minutes]": "5000"}, 400),  # marketplace.bounds, as for 点单
        ({"attribute[estimated_minutes]": "lots"}, 400),
        ({"attribute[colour]": "red"}, 400),
        ({"attribute[window_days]": "365"}, 400),
        ({"attribute[window_days]": "90"}, 201),  # the longest window of a 点单
        ({"attribute[urgency]": "9"}, 400),
        ({"description": "长" * 2001}, 400),
    ],
)
async def test_bad_keys_and_malformed_requests_get_the_specs_errors(
    svc: Service, change: dict[str, str], status: int
) -> None:
    key = issue(svc)
    for fmt in ("json", "xml"):
        refused = await post(svc, fmt, request_form(key, **change))
        assert refused.status_code == status, refused.text
        if status == 201:
            continue
        if fmt == "json":
            assert refused.json()[0]["code"] == status
        else:
            assert ET.fromstring(refused.content).findtext("error/code") == str(status)
    with svc.app.state.db.snapshot() as tx:
        kept = tx.scalar(sa.select(sa.func.count()).select_from(wish_origins))
    assert kept == (2 if status == 201 else 0)  # a refused request leaves nothing behind


async def test_a_json_body_is_refused_as_the_spec_wants_a_form(svc: Service) -> None:
    key = issue(svc)
    refused = await svc.client.post(f"{V2}/requests.json", json=request_form(key))
    assert refused.status_code == 400
    assert refused.json()[0]["code"] == 400
    nowhere = await svc.client.post(f"{V2}/services.json", data=request_form(key), headers=FORM)
    assert nowhere.status_code == 404


async def test_each_key_has_its_own_rate(backend_ready: str) -> None:
    async with service_world.running(backend_ready, open311_per_minute=2) as svc:
        key, other = issue(svc), issue(svc)
        for _ in range(2):
            assert (await post(svc, "json", request_form(key))).status_code == 201
        limited = await post(svc, "json", request_form(key))
        assert limited.status_code == 429
        assert limited.json()[0]["code"] == 429
        assert int(limited.headers["retry-after"]) >= 1
        assert (await post(svc, "json", request_form(other))).status_code == 201


def test_the_cli_prints_a_key_once_and_stores_its_hash(tmp_path: Path) -> None:
    database = tmp_path / "linli.db"
    runner = service_world.cli(database)
    assert runner.invoke(main, ["db", "upgrade"]).exit_code == 0
    db = mk.open_database(f"sqlite:///{database}")
    try:
        with db.transaction() as tx:
            marketplace_world.build(tx)
    finally:
        db.dispose()
    made = runner.invoke(main, ["open311", "key", "--org", "c1", "--name", "智慧长乐"])
    assert made.exit_code == 0, made.output
    key = made.output.split("api_key: ")[1].split()[0]
    assert key.startswith("l311_")
    db = mk.open_database(f"sqlite:///{database}")
    try:
        with db.snapshot() as tx:
            stored = tx.execute(sa.text("SELECT key_hash FROM mk_partners")).scalar_one()
            assert stored == mk.intake.digest(key)
            assert key not in stored
            assert mk.intake.partner_of(tx, key) is not None
    finally:
        db.dispose()
    refused = runner.invoke(main, ["open311", "key", "--org", "nowhere", "--name", "x"])
    assert refused.exit_code != 0
    partner = made.output.split()[1]
    stopped = runner.invoke(main, ["open311", "revoke", "--org", "c1", partner])
    assert stopped.exit_code == 0, stopped.output
    assert "revoked" in stopped.output
    elsewhere = runner.invoke(main, ["open311", "revoke", "--org", "c2", partner])
    assert elsewhere.exit_code != 0  # another community's partner is not there
    db = mk.open_database(f"sqlite:///{database}")
    try:
        with db.snapshot() as tx:
            assert mk.intake.partner_of(tx, key) is None
    finally:
        db.dispose()


async def test_a_revoked_key_is_refused_at_once_and_the_others_still_work(svc: Service) -> None:
    kept, stopped = issue(svc), issue(svc)
    sent = await post(svc, "json", request_form(stopped))
    assert sent.status_code == 201, sent.text
    with svc.app.state.db.transaction() as tx:
        partner = mk.intake.partner_of(tx, stopped)
        assert partner is not None
        with pytest.raises(mk.NotAllowed):  # staff may not: admins issue and revoke keys
            mk.intake.revoke_key(tx, "staff", "c1", partner.id)
        with pytest.raises(mk.NotFound):
            mk.intake.revoke_key(tx, "admin", "c2", partner.id)
        done = mk.intake.revoke_key(tx, "admin", "c1", partner.id, now=svc.clock.now)
        again = mk.intake.revoke_key(tx, "admin", "c1", partner.id)
    assert done.revoked_at == svc.clock.now
    assert again.revoked_at == done.revoked_at  # revoking again changes nothing
    for fmt in ("json", "xml"):
        refused = await post(svc, fmt, request_form(stopped))
        assert refused.status_code == 403, refused.text
    still = await post(svc, "json", request_form(kept))
    assert still.status_code == 201, still.text
    with svc.app.state.db.snapshot() as tx:
        kept_wishes = tx.scalar(sa.select(sa.func.count()).select_from(wish_origins))
    assert kept_wishes == 2  # the revoked partner's earlier wish stays


async def test_the_office_sees_where_a_request_came_from_and_who_sent_it(svc: Service) -> None:
    key = issue(svc)
    made = await post(svc, "json", request_form(key))
    wish_id = made.json()[0]["service_request_id"]
    site = Site(svc)
    try:
        staff = await (await site.person("staff")).get(f"/wishes/{wish_id}")
        assert staff.status_code == 200
        assert 'data-testid="origin"' in staff.text
        assert "智慧长乐" in staff.text
        assert "李秀英 · 13812345678" in staff.text
        verify = await svc.client.post(f"/api/v1/communities/c1/wishes/{wish_id}/verify",
                                       headers=svc.as_("staff"))  # fmt: skip
        assert verify.status_code == 200
        volunteer = await (await site.person("vol1")).get(f"/wishes/{wish_id}")
        assert volunteer.status_code == 200
        assert 'data-testid="origin"' not in volunteer.text
        assert "13812345678" not in volunteer.text
    finally:
        await site.close()
