"""The API against its own OpenAPI document: schemathesis fuzzes every operation, in-process.

Every operation of ``/schema/openapi.json`` gets generated requests (positive data: what the
document says is valid, from edge values to long strings, emoji and far-off dates) signed in as
staff, as a volunteer and as a resident. Each response must be no server error, have a documented
status code, the documented content type and headers, and a body that fits the documented
schema; and data the document calls valid must not be refused (400 or 422) unless by a rule no
JSON Schema can state (``fuzz_world.BEYOND_SCHEMA``: one field against another, stored data).
Most path ids and half of the query and body ids are swapped for ids of a seeded world,
so requests reach real wishes, claims, items, orders, offers and transfers instead of always a
404. The seed is fixed (one Hypothesis seed per member and operation) and the examples bounded,
so CI sends the same requests every time; afterwards the ledger audit must still be clean. A
second test sends odd input by hand (NUL, bad UTF-8, far-off dates, huge numbers, NaN) to both
backends: PostgreSQL refuses some text SQLite keeps, and schemathesis runs on SQLite only.

How it runs: schemathesis' ASGI transport drives the app from its own event loop in a thread of
its own (an anyio blocking portal), and an async database's connections belong to the loop that
opened them. So the test prepares a migrated SQLite file and seeds it over HTTP
(``fuzz_world.prepare``) in an event loop of its own, closes it, and then builds the app with
``create_app(settings)`` and no ``db``: the app opens the file itself, and every connection is
made (and at lifespan shutdown closed) in the portal's loop. Each case gets a fresh bearer token
for its member, with the token version read from the file (a generated ``/auth/logout`` bumps
it); ``/me/deletion`` acts as a member of its own, so deleting the signed-in member does not end
the rest of the run.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import time
import zlib
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import hypothesis
import hypothesis.strategies as st
import schemathesis
from hypothesis import HealthCheck, Phase
from schemathesis.core.result import Err
from schemathesis.python import asgi

import fuzz_world as fw
import points
import service_world as sw
from service import auth
from service.app import create_app
from service_world import Service

EXAMPLES = {"staff": 12, "vol1": 5, "res": 5}  # per operation, for each member in turn
SLOW = {"POST /api/v1/auth/token", "POST /api/v1/auth/session", "POST /api/v1/me/password"}
SLOW_EXAMPLES = 3  # each of those verifies a password (argon2: half a second a try)
LEAVER = "res2"  # the member /me/deletion acts as
CHECKS = [
    schemathesis.checks.not_a_server_error,
    schemathesis.checks.status_code_conformance,
    schemathesis.checks.content_type_conformance,
    schemathesis.checks.response_schema_conformance,
    schemathesis.checks.response_headers_conformance,
    fw.schema_valid_data_is_accepted,  # positive_data_acceptance, less fw.BEYOND_SCHEMA
]


@dataclass
class Tally:
    cases: int = 0
    statuses: Counter[int] = field(default_factory=Counter)
    server_errors: list[str] = field(default_factory=list)
    violations: list[str] = field(default_factory=list)
    answered: dict[str, Counter[int]] = field(default_factory=dict)  # operation → statuses


OFTEN, SOMETIMES = [True, True, True, False], [True, False]


def _swap_ids(case: schemathesis.Case[Any], data: st.DataObject, ids: dict[str, list[str]]) -> None:
    """Most path ids, and half of the query and body ids, name real objects of the seeded world."""
    for container, chance in ((case.path_parameters, OFTEN), (case.query, SOMETIMES),
                              (case.body, SOMETIMES)):  # fmt: skip
        if not isinstance(container, dict):
            continue
        for name in sorted(container):
            if name in ids and data.draw(st.sampled_from(chance), label=f"real {name}"):
                container[name] = data.draw(st.sampled_from(ids[name]), label=name)


def test_every_operation_answers_as_its_schema_says() -> None:
    started = time.perf_counter()
    world = asyncio.run(fw.prepare())
    app = create_app(sw.settings(world.url), clock=sw.Clock())
    schema = schemathesis.openapi.from_asgi("/schema/openapi.json", app)
    operations = []
    for result in schema.get_all_operations():
        if isinstance(result, Err):
            raise AssertionError(f"the app's schema has an invalid operation: {result.err()}")
        operations.append(result.ok())
    tally = Tally()
    try:
        for person, examples in EXAMPLES.items():
            for operation in operations:
                bound = SLOW_EXAMPLES if operation.label in SLOW else examples
                _fuzz(app, operation, person, bound, world, tally)
    finally:
        asgi.shutdown_lifespans()
    problems = fw.audit(world.url)
    seconds = time.perf_counter() - started
    reached = sum(any(200 <= s < 300 for s in c) for c in tally.answered.values())
    print(
        f"[schemathesis] operations={len(operations)} cases={tally.cases} "
        f"server_errors={len(tally.server_errors)} schema_violations={len(tally.violations)} "
        f"seconds={seconds:.1f} operations_with_2xx={reached} "
        f"statuses={dict(sorted(tally.statuses.items()))}"
    )
    assert tally.server_errors == [], "\n\n".join(tally.server_errors)
    assert tally.violations == [], "\n\n".join(tally.violations)
    assert problems == []


def _fuzz(
    app: Any,
    operation: schemathesis.APIOperation[Any, Any, Any, Any],
    person: str,
    examples: int,
    world: fw.World,
    tally: Tally,
) -> None:
    actor = LEAVER if operation.label == "POST /api/v1/me/deletion" else person

    @hypothesis.seed(zlib.crc32(f"{person} {operation.label}".encode()))
    @hypothesis.settings(
        max_examples=examples,
        derandomize=False,  # the fixed seed above instead: each operation gets cases of its own
        deadline=None,
        database=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @hypothesis.given(case=operation.as_strategy(), data=st.data())
    def run(case: schemathesis.Case[Any], data: st.DataObject) -> None:
        _swap_ids(case, data, world.ids)
        if "Idempotency-Key" in case.headers and data.draw(st.sampled_from(OFTEN)):
            case.headers["Idempotency-Key"] = f"fuzz-{tally.cases}"  # else a reused key: 422
        versions = fw.token_versions(world.url)
        headers = {}
        if actor in versions:
            token = auth.issue_token(app.state.jwt, app.state.settings, actor, versions[actor])
            headers["Authorization"] = f"Bearer {token}"
        response = case.call(headers=headers)
        tally.cases += 1
        tally.statuses[response.status_code] += 1
        tally.answered.setdefault(operation.label, Counter())[response.status_code] += 1
        where = f"{operation.label} as {actor}"
        try:
            case.validate_response(response, checks=CHECKS, headers=headers)
        except schemathesis.errors.FailureGroup as failed:  # every failed check, with curl
            report = f"{where}: {failed}"
            if response.status_code >= 500:
                tally.server_errors.append(report)
            else:
                tally.violations.append(report)

    run()


def _wish(svc: Service, **changes: Any) -> dict[str, Any]:
    start = svc.clock.now + dt.timedelta(hours=2)
    return {
        "category": "助老陪护",
        "title": "陪我去医院",
        "org_id": "g1",
        "address": "幸福路1号3栋502室",
        "window_start": start.isoformat(),
        "window_end": (start + dt.timedelta(hours=2)).isoformat(),
        "estimated_minutes": 60,
        **changes,
    }


async def test_odd_input_gets_a_problem_never_a_server_error(svc: Service) -> None:
    """(method, path, member, JSON body or raw bytes, the statuses allowed, the code if 4xx)."""
    far = "0001-01-01T00:00:00+05:00"
    wishes, stats = "/api/v1/communities/c1/wishes", "/api/v1/orgs/c1/statistics"
    adjust = "/api/v1/communities/c1/adjustments"
    probes: list[tuple[str, str, str, Any, set[int], str | None]] = [
        ("POST", wishes, "res", _wish(svc, title="a\x00b"), {422}, "invalid_input"),
        ("POST", wishes, "res", b'{"title": "\xed\xa0\x80"}', {400}, "malformed_body"),
        ("POST", wishes, "res", b"7\xc3\x28", {400}, "malformed_body"),  # a number, then not JSON
        ("POST", wishes, "res", _wish(svc, window_start=far), {422}, "invalid_input"),
        ("POST", wishes, "res", _wish(svc, description="😀" * 2000), {201}, None),
        ("POST", wishes, "res", _wish(svc, description="😀" * 2001), {422}, "invalid_input"),
        ("POST", wishes, "res", _wish(svc, estimated_minutes=10**30), {422}, "invalid_input"),
        ("POST", wishes, "res", b'{"location": {"lat": NaN, "lng": 1}}', {400}, "malformed_body"),
        ("GET", f"{wishes}?since={far.replace('+', '%2B')}", "staff", None, {422}, "invalid_input"),
        ("GET", f"{wishes}?category=a%00b", "staff", None, {422}, "invalid_input"),
        ("GET", f"{wishes}?category=a%E2%80%AEb", "staff", None, {422}, "invalid_input"),
        ("GET", f"{wishes}?org_id=a%00b", "staff", None, {422}, "invalid_input"),
        ("GET", "/api/v1/audit?community_id=c%1b1", "staff", None, {422}, "invalid_input"),
        ("GET", f"{wishes}?limit=99999999999999999999", "staff", None, {422}, "invalid_input"),
        ("GET", f"{wishes}/%00", "staff", None, {404, 422}, None),
        ("GET", f"{wishes}/{'键' * 64}", "staff", None, {404}, "not_found"),
        ("GET", f"{stats}?since=2026-01-01T00:00:00Z&until=9999-12-31T23:59:59-05:00", "staff",
         None, {422}, "invalid_input"),
        ("GET", "/api/v1/members/a%00b", "staff", None, {404, 422}, None),
        ("POST", adjust, "staff", {"member_id": "vol1", "change": 2**70, "reason": "x"}, {422},
         "invalid_input"),
        ("POST", adjust, "staff", {"member_id": "vol1", "change": 1, "reason": "长" * 10_000},
         {422}, "invalid_input"),
        ("POST", "/api/v1/communities/c1/items", "staff",
         {"name": "米", "cost": 1, "stock": 1, "valid_until": "9999-12-31T23:00:00+12:00"}, {422},
         "invalid_input"),
    ]  # fmt: skip
    for method, url, person, body, allowed, code in probes:
        headers = {**svc.as_(person), "Content-Type": "application/json"}
        content = body if isinstance(body, bytes) else None
        answer = await svc.client.request(
            method, url, headers=headers, content=content, json=None if content else body
        )
        assert answer.status_code in allowed, (method, url, answer.status_code, answer.text)
        if answer.status_code >= 400:
            assert answer.headers["content-type"] == "application/problem+json"
            if code is not None:
                assert answer.json()["code"] == code, (url, answer.text)
    with svc.app.state.db.snapshot() as conn:
        assert points.audit(conn) == []


CONTROLS = ["\x00", "\x07", "\x1b", "\x7f", "\x85", "\u202e", "\u2066"]


async def test_control_characters_in_text_are_refused_naming_the_field(svc: Service) -> None:
    """NUL (PostgreSQL keeps none in text), other control characters and bidi overrides are
    refused with 422 invalid_input on both backends, in one line and in several, in a body (the
    category names of the community's rules and policy too) and in the query string; a
    multi-line field keeps its tabs and line breaks."""
    wishes = "/api/v1/communities/c1/wishes"
    headers = {**svc.as_("res"), "Content-Type": "application/json"}
    for name in ("title", "address", "description", "category"):
        for char in CONTROLS:
            answer = await svc.client.post(
                wishes, headers=headers, json=_wish(svc, **{name: f"a{char}b"})
            )
            assert answer.status_code == 422, (name, repr(char), answer.text)
            problem = answer.json()
            assert (problem["code"], problem["field"]) == ("invalid_input", name), answer.text
            assert "不能包含控制字符" in problem["detail"]
    english = await svc.client.post(
        wishes, headers={**headers, "Accept-Language": "en"}, json=_wish(svc, title="a\x00b")
    )
    assert "must not contain control characters" in english.json()["detail"], english.text
    kept = await svc.client.post(
        wishes, headers=headers, json=_wish(svc, description="第一行\n\t第二行\r\n")
    )
    assert kept.status_code == 201, kept.text
    tab = await svc.client.post(wishes, headers=headers, json=_wish(svc, title="a\tb"))
    assert (tab.status_code, tab.json()["field"]) == (422, "title")
    rules, policy = "/api/v1/communities/c1/rules", "/api/v1/communities/c1/policy"
    staff = {**svc.as_("staff"), "Content-Type": "application/json"}
    now_rules = (await svc.client.get(rules, headers=staff)).json()
    now_policy = (await svc.client.get(policy, headers=staff)).json()["policy"]
    for char in CONTROLS:  # a category name in the rules and the policy is the same free text
        named = f"a{char}b"
        bodies = [
            (rules, {**now_rules, "categories": [*now_rules["categories"], named]}),
            (rules, {**now_rules, "category_deadlines": {named: now_rules["deadlines"]}}),
            (policy, {**now_policy, "category_multipliers": {named: 150}}),
        ]
        faults = [  # a dict's key at fault: the dict is named
            f"categories[{len(now_rules['categories'])}]",
            "category_deadlines",
            "category_multipliers",
        ]
        for (url, body), fault in zip(bodies, faults, strict=True):
            refused = await svc.client.put(url, headers=staff, json=body)
            assert refused.status_code == 422, (url, repr(char), refused.text)
            problem = refused.json()
            assert (problem["code"], problem["field"]) == ("invalid_input", fault), refused.text
            assert "不能包含控制字符" in problem["detail"], refused.text
    for char in CONTROLS:  # a category in the query string is the same free text
        found = await svc.client.get(wishes, headers=headers, params={"category": f"a{char}b"})
        assert found.status_code == 422, (repr(char), found.text)
        problem = found.json()
        assert (problem["code"], problem["field"]) == ("invalid_input", "category"), found.text
        assert "不能包含控制字符" in problem["detail"], found.text


async def test_a_field_another_field_needs_is_in_the_document_and_the_server_holds_it(
    svc: Service,
) -> None:
    """Goods need a stock (a service may go without), a password needs a phone: each is an
    if/then of the OpenAPI document, and the server refuses the same bodies, naming the field."""
    doc = (await svc.client.get("/schema/openapi.json")).json()["components"]["schemas"]
    assert doc["ItemIn"]["if"] == {"properties": {"kind": {"const": "goods"}}}  # or left out
    assert doc["ItemIn"]["then"]["required"] == ["stock"]
    assert doc["RegisterIn"]["if"]["required"] == ["password"]
    assert doc["RegisterIn"]["then"]["required"] == ["phone"]
    staff = {**svc.as_("staff"), "Accept-Language": "en"}
    items = "/api/v1/communities/c1/items"
    for body in (
        {"name": "米", "cost": 1},
        {"name": "米", "cost": 1, "kind": "goods", "stock": None},
    ):
        refused = await svc.client.post(items, headers=staff, json=body)
        assert refused.status_code == 422, refused.text
        problem = refused.json()
        assert (problem["code"], problem["field"]) == ("invalid_input", "stock"), refused.text
        assert "goods need a stock" in problem["detail"]
    zh = await svc.client.post(items, headers=svc.as_("staff"), json={"name": "米", "cost": 1})
    assert "实物商品须填写库存" in zh.json()["detail"], zh.text
    service = await svc.client.post(items, headers=staff, json={"name": "理发", "cost": 1,
                                                                "kind": "service"})  # fmt: skip
    assert service.status_code == 201, service.text
    member = {"name": "新居民", "role": "resident", "password": "long-enough-password"}
    refused = await svc.client.post("/api/v1/orgs/c1/members", headers=staff, json=member)
    assert (refused.status_code, refused.json()["field"]) == (422, "phone"), refused.text


async def test_a_donation_the_policy_does_not_allow_names_the_member_and_says_why(
    svc: Service,
) -> None:
    """By default a community takes donations to its pool only (a rule of its stored policy, no
    schema's): a donation to a member is refused naming ``to_member``, in words a person reads."""
    donations = "/api/v1/communities/c1/donations"
    body = {"amount": 5, "to_member": "vol2"}
    refused = await svc.client.post(donations, headers=svc.as_("vol1"), json=body)
    assert refused.status_code == 422, refused.text
    problem = refused.json()
    assert (problem["code"], problem["field"]) == ("donation_not_allowed", "to_member")
    assert problem["detail"] == "受赠人：只能是社区积分池（本社区只接受捐给积分池）"
    english = {**svc.as_("vol1"), "Accept-Language": "en"}
    refused = await svc.client.post(donations, headers=english, json=body)
    assert refused.json()["detail"] == "this community takes donations to its pool only"
    adjusted = await svc.client.post(
        "/api/v1/communities/c1/adjustments",
        headers=svc.as_("staff"),
        json={"member_id": "vol1", "change": 5, "reason": "补录"},
    )
    assert adjusted.status_code == 201, adjusted.text
    pooled = await svc.client.post(donations, headers=svc.as_("vol1"), json={"amount": 5})
    assert pooled.status_code == 201, pooled.text


async def test_a_refusal_no_schema_can_state_names_its_field(svc: Service) -> None:
    """An item's validity that ends before it starts (one field against another) is refused
    naming ``valid_until``, a restock past the most stock an item may hold (the stored stock
    and the change) naming ``change``, as fuzz_world.BEYOND_SCHEMA expects of such refusals."""
    start = svc.clock.now + dt.timedelta(days=2)
    body = {"name": "米", "cost": 1, "stock": 1, "valid_from": start.isoformat(),
            "valid_until": (start - dt.timedelta(days=1)).isoformat()}  # fmt: skip
    refused = await svc.client.post(
        "/api/v1/communities/c1/items", headers=svc.as_("staff"), json=body
    )
    assert refused.status_code == 422, refused.text
    assert refused.json()["field"] == "valid_until", refused.text
    assert "下架时间：必须晚于上架时间" in refused.json()["detail"]
    body = {"name": "米", "cost": 1, "stock": 50}
    added = await svc.client.post(
        "/api/v1/communities/c1/items", headers=svc.as_("staff"), json=body
    )
    restock = f"/api/v1/communities/c1/items/{added.json()['id']}/restock"
    too_many = {"change": 1_000_000_000}  # the schema's bound, past it with the stock there is
    refused = await svc.client.post(restock, headers=svc.as_("staff"), json=too_many)
    assert (refused.status_code, refused.json()["field"]) == (422, "change"), refused.text
    assert refused.json()["detail"] == "变动数量：须使补货后库存不超过 1000000000", refused.text
    body = {"name": "理发", "cost": 1, "kind": "service"}  # no stock: unlimited
    added = await svc.client.post(
        "/api/v1/communities/c1/items", headers=svc.as_("staff"), json=body
    )
    restock = f"/api/v1/communities/c1/items/{added.json()['id']}/restock"
    refused = await svc.client.post(restock, headers=svc.as_("staff"), json={"change": 6})
    assert refused.status_code == 409, refused.text  # the stored item has no stock to change
    problem = refused.json()
    assert (problem["code"], problem["detail"]) == ("item_unavailable", "该商品不限库存")


async def test_a_set_in_a_body_takes_a_value_twice_as_its_schema_says(svc: Service) -> None:
    """A policy's holidays are a set: the server keeps a repeated date once, and the document
    does not claim the items must be unique (schemathesis sent that as schema-violating data)."""
    doc = (await svc.client.get("/schema/openapi.json")).json()["components"]["schemas"]
    assert "uniqueItems" not in doc["AccrualPolicy"]["properties"]["holidays"]
    policy = "/api/v1/communities/c1/policy"
    current = (await svc.client.get(policy, headers=svc.as_("staff"))).json()["policy"]
    body = {**current, "holidays": ["2027-01-01", "2027-01-01"]}
    put = await svc.client.put(policy, headers=svc.as_("staff"), json=body)
    assert put.status_code == 200, put.text
    assert put.json()["policy"]["holidays"] == ["2027-01-01"]
