"""The codes a client acts on tell the truth: a body that is not JSON, a full wish, a wish already
done, a cursor no list gave out each have their own, the same on every endpoint."""

from __future__ import annotations

import datetime as dt
import re

from litestar import Request

import marketplace as mk
import marketplace_world as world
from service import problems
from service.problems import Problem
from service_world import Service

C1 = "/api/v1/communities/c1"
EN = {"Accept-Language": "en"}
PATH_VALUES = {"community_id": "c1", "org_id": "d1", "member_id": "vol1"}


async def test_a_truncated_json_body_is_a_malformed_body(svc: Service) -> None:
    for body in (b"{", b'{"title": "', b"{x}"):
        answer = await svc.client.post(
            f"{C1}/wishes",
            headers={**svc.as_("res"), "Content-Type": "application/json"},
            content=body,
        )
        assert (answer.status_code, answer.json()["code"]) == (400, "malformed_body"), body


def published(svc: Service) -> mk.Wish:
    with svc.app.state.db.transaction() as tx:
        wish = world.post(tx, start=svc.clock.now + dt.timedelta(hours=2))
        return mk.verify(tx, "staff", "c1", wish.id, now=svc.clock.now)


async def test_claiming_a_wish_whose_places_are_all_taken_is_capacity_full(svc: Service) -> None:
    wish_id = published(svc).id
    first = await svc.client.post(f"{C1}/wishes/{wish_id}/claims", headers=svc.as_("vol1"), json={})
    assert first.status_code == 201, first.text
    full = await svc.client.post(f"{C1}/wishes/{wish_id}/claims", headers=svc.as_("vol2"), json={})
    assert (full.status_code, full.json()["code"]) == (409, "capacity_full")
    assert full.json()["detail"] == "名额已满，无法再认领"
    dispatched = await svc.client.post(
        f"{C1}/wishes/{wish_id}/dispatch", headers=svc.as_("staff"), json={"member_id": "vol3"}
    )
    assert (dispatched.status_code, dispatched.json()["code"]) == (409, "capacity_full")
    # who may claim at all is still asked first: the resident may not, full or not
    own = await svc.client.post(f"{C1}/wishes/{wish_id}/claims", headers=svc.as_("res"), json={})
    assert (own.status_code, own.json()["code"]) == (403, "not_allowed")


async def test_confirming_a_wish_already_confirmed_is_told_apart_from_not_yours(
    svc: Service,
) -> None:
    wish = published(svc)
    c, url = svc.client, f"{C1}/wishes/{wish.id}"
    claimed = await c.post(f"{url}/claims", headers=svc.as_("vol1"), json={})
    claim_url = f"{C1}/claims/{claimed.json()['claim']['id']}"
    svc.clock.advance(hours=2)
    code = {"code": wish.confirmation_code}
    checked_in = await c.post(f"{claim_url}/check-in", headers=svc.as_("vol1"), json=code)
    assert checked_in.status_code == 200, checked_in.text
    svc.clock.advance(minutes=60)
    assert (await c.post(f"{claim_url}/check-out", headers=svc.as_("vol1"), json={})).is_success

    stranger = await c.post(f"{url}/confirm", headers=svc.as_("res2"), json={"rating": 5})
    assert (stranger.status_code, stranger.json()["code"]) == (403, "not_allowed")
    done = await c.post(f"{url}/confirm", headers=svc.as_("res"), json={"rating": 5})
    assert done.status_code == 200, done.text
    again = await c.post(f"{url}/confirm", headers=svc.as_("res"), json={"rating": 5})
    assert (again.status_code, again.json()["code"]) == (409, "wrong_state")
    assert again.json()["detail"] == "该心愿已办结，无法确认评价"
    english = await c.post(f"{url}/confirm", headers={**svc.as_("res"), **EN}, json={"rating": 5})
    assert english.json()["detail"] == "confirm is not possible: the wish is closed"


def list_paths(svc: Service) -> list[str]:
    """Every list of the API: the operations that take a ``cursor``."""
    paths = []
    for route in svc.app.routes:
        for handler in getattr(route, "route_handlers", ()):
            if (
                route.path.startswith("/api/")
                and "cursor" in handler.parsed_fn_signature.parameters
            ):
                paths.append(re.sub(r"\{(\w+):\w+\}", lambda m: PATH_VALUES[m[1]], route.path))
    return paths


async def test_every_list_refuses_a_cursor_it_never_gave_out_alike(svc: Service) -> None:
    paths = list_paths(svc)
    assert len(paths) >= 9
    for path in paths:
        for cursor in ("abc", "YWJj.AAAAAAAAAAAA", "x" * 500):
            answer = await svc.client.get(path, headers=svc.as_("admin"), params={"cursor": cursor})
            assert (answer.status_code, answer.json()["code"]) == (422, "invalid_cursor"), path
            assert answer.json()["field"] == "cursor"

    children = "/api/v1/orgs/s1/children"
    first = await svc.client.get(children, headers=svc.as_("admin"), params={"limit": 1})
    cursor = first.json()["next_cursor"]
    following = await svc.client.get(children, headers=svc.as_("admin"), params={"cursor": cursor})
    assert following.status_code == 200, following.text
    assert following.json()["items"] != first.json()["items"]
    elsewhere = await svc.client.get(
        "/api/v1/orgs/s1/members", headers=svc.as_("admin"), params={"cursor": cursor}
    )
    assert (elsewhere.status_code, elsewhere.json()["code"]) == (422, "invalid_cursor")


CJK = re.compile(r"[\u4e00-\u9fff]")


async def test_each_reason_of_a_refused_body_is_in_the_language_asked_for(svc: Service) -> None:
    start = svc.clock.now + dt.timedelta(hours=2)
    body = {
        "category": "助老陪护",
        "title": "陪我去医院复诊",
        "description": "周二上午",
        "org_id": "g1",
        "address": "幸福路1号",
        "window_start": start.isoformat(),
        "window_end": (start + dt.timedelta(hours=3)).isoformat(),
        "estimated_minutes": 90,
    }
    schema = {**body, "estimated_minutes": 0, "surprise": 1}  # msgspec refuses it
    library = {**body, "window_end": (start - dt.timedelta(hours=1)).isoformat()}  # the library
    for sent in (schema, library):
        for language, english in (("en", True), ("zh-CN", False)):
            answer = await svc.client.post(
                f"{C1}/wishes",
                headers={**svc.as_("res"), "Accept-Language": language},
                json=sent,
            )
            assert answer.status_code == 422, answer.text
            reasons = [e["reason"] for e in answer.json()["errors"]]
            assert reasons, answer.text
            for reason in reasons:
                assert bool(CJK.search(reason)) is not english, (language, reason)


async def test_a_policy_refused_by_its_problems_says_each_in_chinese(svc: Service) -> None:
    body = {"min_minutes": 60, "max_minutes_per_activity": 30}
    refused = await svc.client.put(f"{C1}/policy", headers=svc.as_("staff"), json=body)
    assert (refused.status_code, refused.json()["code"]) == (422, "invalid_policy")
    assert refused.json()["detail"] == (
        "积分规则无效：单次最长计分时长（分钟）不能小于最短计分时长（分钟）"
    )
    english = await svc.client.put(f"{C1}/policy", headers={**svc.as_("staff"), **EN}, json=body)
    assert english.json()["detail"] == (
        "invalid accrual policy: max_minutes_per_activity must not be below min_minutes"
    )


def test_rules_refused_by_their_problems_say_each_in_chinese() -> None:
    """Their bounds reach the library only from code (a body is checked by its type first)."""
    rules = mk.CommunityRules(claim_limit=0, weights=mk.Weights(skills=101.0))
    refused = mk.InvalidInput("rules", *rules.problems())

    def problem(language: str) -> Problem:
        headers = [(b"accept-language", language.encode())]
        scope = {"type": "http", "method": "PUT", "path": "/rules", "headers": headers}
        answer = problems.handle(Request(scope={**scope, "query_string": b""}), refused)
        assert answer.content is not None
        return answer.content  # type: ignore[no-any-return]

    assert problem("zh-CN").detail == "社区规则：认领上限须为 1 到 100；匹配权重·技能须为 0 到 100"
    assert (
        problem("en").detail
        == "rules: claim_limit must be 1 to 100; weights.skills must be 0 to 100"
    )
