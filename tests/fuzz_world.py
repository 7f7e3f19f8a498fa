"""The world the fuzzers run against: service_world's district plus objects of every kind.

``prepare()`` makes a migrated SQLite file, builds the district (everyone signed in with
``service_world.PASSWORD``) and seeds it over HTTP: wishes in several states, claims, adjustments,
catalog items, orders and an offer. It returns the file's URL and the seeded ids by the name a
path, query or body field has for them, so generated requests can name real objects instead of
always meeting a 404. Both the in-process schemathesis test and the command-line one use it.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
from dataclasses import dataclass

import schemathesis
import sqlalchemy as sa

import marketplace as mk
import points
import service_world as sw
from service_world import Service


@dataclass
class World:
    """The seeded world's database and ids, by the name a path, query or body field has for them."""

    url: str
    ids: dict[str, list[str]]


async def seed(svc: Service) -> dict[str, list[str]]:
    c = svc.client
    staff, res, vol1, vol2 = (svc.as_(p) for p in ("staff", "res", "vol1", "vol2"))
    base = "/api/v1/communities/c1"
    start = svc.clock.now + dt.timedelta(hours=2)
    wishes = []
    for n in range(5):
        posted = await c.post(
            f"{base}/wishes",
            headers=res,
            json={
                "category": "助老陪护",
                "title": f"心愿{n}",
                "org_id": "g1",
                "address": "幸福路1号3栋502室",
                "window_start": (start + dt.timedelta(hours=n)).isoformat(),
                "window_end": (start + dt.timedelta(hours=n + 3)).isoformat(),
                "estimated_minutes": 60,
                "capacity": 2,
            },
        )
        assert posted.status_code == 201, posted.text
        wishes.append(posted.json()["id"])
    for wish in wishes[1:]:
        verified = await c.post(f"{base}/wishes/{wish}/verify", headers=staff)
        assert verified.status_code == 200, verified.text
    claims = []
    for wish, who in ((wishes[1], vol1), (wishes[2], vol2), (wishes[3], vol1)):
        made = await c.post(f"{base}/wishes/{wish}/claims", headers=who, json={})
        assert made.status_code == 201, made.text
        claims.append(made.json()["claim"]["id"])
    transfers = []
    for member, change in (("vol1", 200), ("vol2", 50), ("vol3", 20)):
        adjusted = await c.post(
            f"{base}/adjustments",
            headers=staff,
            json={"member_id": member, "change": change, "reason": "补录"},
        )
        assert adjusted.status_code == 201, adjusted.text
        transfers.append(adjusted.json()["id"])
    items = []
    for name, cost in (("大米", 5), ("理发", 20)):
        added = await c.post(
            f"{base}/items", headers=staff, json={"name": name, "cost": cost, "stock": 50}
        )
        assert added.status_code == 201, added.text
        items.append(added.json()["id"])
    orders = []
    for who in (vol1, vol1, vol2):
        ordered = await c.post(f"{base}/orders", headers=who, json={"item_id": items[0]})
        assert ordered.status_code == 201, ordered.text
        orders.append(ordered.json()["id"])
    offered = await c.post(
        f"{base}/offers",
        headers=vol1,
        json={"category": "家电维修", "title": "修理小家电", "schedule": "周六上午"},
    )
    assert offered.status_code == 201, offered.text
    members = list(sw.PEOPLE)
    orgs = ["d1", "s1", "c1", "c2", "p1", "g1", "u1", "u2"]
    return {
        "community_id": ["c1", "c1", "c1", "c2"],
        "org_id": orgs,
        "parent_id": orgs,
        "home_org_id": orgs,
        "unit_id": ["u1", "u2"],
        "home_unit_id": ["u1", "u2"],
        "wish_id": wishes,
        "claim_id": claims,
        "member_id": members,
        "to_member": members,
        "beneficiary_id": members,
        "item_id": items,
        "order_id": orders,
        "offer_id": [offered.json()["id"]],
        "transfer_id": transfers,
        "role": sorted(mk.ORG_ROLES),  # a body's role is one held on an org (OrgRole)
    }


BEYOND_SCHEMA = {
    "until": "after since (a period), or after window_start: one field against another",
    "since": "a midnight in China time (statistics are kept per day), given with until; a "
    "certificate's period starts no later than it ends",
    "period": "a named period, or since and until: not both (one field against another); a "
    "certificate's period holds verified minutes (stored)",
    "window_end": "after window_start",
    "old_password": "the member's current password",
    "org_id": "a place inside the community, or a community, street or district for statistics",
    "category": "one of the community's own categories (its rules, stored)",
    "member_id": "a volunteer or party member of the community (stored roles); for 双报到 a "
    "member with a home unit",
    "at": "a 双报到 record's time: within the last year, not after the server's clock",
    "to_member": "a member of the community",
    "unit_claim_id": "a unit's claim",
    "home_org_id": "inside the org the member joins (or the community whose office sets it)",
    "home_unit_id": "a unit paired with the community (stored pairings)",
    "valid_until": "after valid_from (an item's validity)",
    "id": "a client's id for a new wish or claim, not one another object holds (stored)",
    "now": "the clock against the wish's stored time: check-in opens two hours before it",
    "change": "a restock leaves the stored stock within 0 to 1,000,000,000",
    "attendance": "each attendee a member of the community (stored), each named once (a key)",
    "started_at": "an event's start not in the future: the server's clock",
    "token": "a check-in token the service signed for this wish, not expired (扫码报到: an HMAC)",
    "offline_at": "the phone's time against the server's clock and the claim's stored times",
    "proposed": "a correction's value of the kind its field names (minutes, a date not in the "
    "future, one of the community's categories), other than the record's stored value",
    "photos": "each part a file (with a file name) whose bytes decode as a still JPEG, PNG or "
    "WebP photo; OpenAPI's binary says neither",
    # 吹哨报到 (service/api/matters.py)
    "wish_id": "an open wish (stored state) with no matter in progress (stored)",
    "kind": "immediate or staged when accepting (understood is its own endpoint: explain)",
    "milestones": "a staged matter's 1 to 10 milestones dated after today (the clock); none for "
    "an immediate one",
    "unit_id": "a unit, or a street under the matter's level (stored orgs)",
    "milestone": "a milestone of the matter not done yet (stored)",
    "days": "a calendar's days all in the year its path names (one field against another)",
    "community_id": "a community with a street (and a district) above it (stored orgs)",
    # 通知 (service/api/notices.py)
    "url": "a webhook's address that parses, with a host and a port in range (urlsplit)",
}
"""Fields a 422 may refuse for schema-valid data: each rule compares two fields or reads stored
data, which no JSON Schema can state. The schemathesis runs take these refusals (and the codes of
:data:`BEYOND_SCHEMA_CODES`) as the API's own; any other 422 for data the OpenAPI document calls
valid is a lie of the document (docs/api.md, "Input")."""

BEYOND_SCHEMA_CODES = {
    "idempotency_key_reused": "the Idempotency-Key was used before for another request (stored)",
    "donation_not_allowed": "whom members may donate to is the community's accrual policy (stored)",
    "invalid_policy": "an accrual policy's fields against each other (max and min minutes, night)",
    "invalid_cursor": "a cursor the list gave out (opaque: any text of its alphabet is valid)",
    "no_phone": "a one-time sign-in code needs the member's stored phone number",
}
"""Problem codes a 422 may refuse schema-valid data with, whatever the field, and why."""


def beyond_schema(status: int, problem: object) -> bool:
    """Whether a refusal of schema-valid data is one of :data:`BEYOND_SCHEMA`'s rules."""
    if not isinstance(problem, dict):
        return False
    if status != 422:
        return False
    if problem.get("code") in BEYOND_SCHEMA_CODES:
        return True
    bad_input = problem.get("code") in {"invalid_input", "invalid_request", "invalid_amount"}
    field = str(problem.get("field") or "").split("[")[0]  # a list's item: the list's rule
    return bad_input and field in BEYOND_SCHEMA


def schema_valid_data_is_accepted(
    ctx: schemathesis.checks.CheckContext, response: schemathesis.Response, case: schemathesis.Case
) -> bool | None:
    """schemathesis' positive_data_acceptance (ST202: no 400 or 422 for what the document calls
    valid), less the refusals no JSON Schema can state (:func:`beyond_schema`). Both runs check
    with it: the in-process one in its list of checks, the command line's through its hooks."""
    try:
        problem = response.json()
    except ValueError:
        problem = None
    if beyond_schema(response.status_code, problem):
        return None
    return schemathesis.checks.positive_data_acceptance(ctx, response, case)


async def prepare() -> World:
    """A migrated SQLite file with the seeded world, closed again (the caller's app opens it)."""
    async with sw.running("sqlite") as svc:
        ids = await seed(svc)
        return World(url=svc.app.state.db.url, ids=ids)


def audit(url: str) -> list[points.Problem]:
    db = mk.open_database(url)
    try:
        with db.snapshot() as conn:
            return points.audit(conn)
    finally:
        db.dispose()


def token_versions(url: str) -> dict[str, int]:
    """Each member's current token version, read from the SQLite file."""
    path = sa.make_url(url).database
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as conn:
        return dict(conn.execute("SELECT member_id, token_version FROM svc_credentials"))
