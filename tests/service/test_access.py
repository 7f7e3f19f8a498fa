"""Who may reach what over HTTP: deny by default, object-level authorization (BOLA), mass
assignment, and the statuses the OpenAPI document promises.

Deny by default: every handler of the app states a policy (``public`` or ``member``) and the guard
refuses one that does not.

The BOLA matrix: every object endpoint × the roles below × four relations to the object, each
cell one real request on both backends, compared as a whole with the table (a failing diff names
the cell). Relations: **own** the actor's own object (a wish they posted for themself, their
claim, wallet, transfer, order or offer, the org their role is on; ``-``: the role cannot have
one), **same** another member's object in c1 (res2's wish, vol2's claim/wallet/transfer/order/
offer, u2's unit claim, the compound p1, an item of the store), **other** the same kind of object
in c2 月亮社区 (another tenant), **missing** an id nobody has.

Statuses, for resident (res) · volunteer (vol1) · staff (staff) · unit admin (uadmin) · admin
(district d1) on own | same::

    wish, history, claims, reasons    200 200 200 200 200 | 200 200 200 200 200
    wish candidates                   403 403 200 403 200 | 403 403 200 403 200
    verify, reject                    403 403 200 403 200 | 403 403 200 403 200
    cancel (submitted)                200 200 200 200 200 | 403 403 200 403 200
    claim (published)                 403 403 403 403 403 | 403 201 403 403 403
    dispatch                          403 403 201 403 201 | 403 403 201 403 201
    unit-claims                       403 403 403 403 403 | 403 403 403 201 403
    confirm (served)                  200 200 200 200 200 | 403 403 200 403 200
    dispute (served)                  200 200 200 200 200 | 403 403 403 403 403
    resolve (disputed)                403 403 200 403 200 | 403 403 200 403 200
    claim check-in (active)             -  200  -  403  -  | 403 403 200 403 200
    claim check-out (checked in)        -  200  -   -   -  | 403 403 200 403 200
    claim withdraw                      -  200  -  200  -  | 403 403 200 403 200
    claim no-show                       -  403  -  403  -  | 403 403 200 403 200
    claim assign (a unit's claim)       -   -   -  201  -  | 403 403 201 403 201
    member, changes, wallet, statement, hours  200 200 200 200 200 | 404 404 200 404 200
    transfer                            -  200 200 200 200 | 404 404 200 404 200
    transfer reversal                   -  403 201 403 201 | 404 404 201 404 201
    item                                -   -   -   -   -  | 200 200 200 200 200
    item restock, item active           -   -   -   -   -  | 403 403 200 403 200
    order, order cancel                 -  200 200 200 200 | 404 404 200 404 200
    order fulfil                        -  403 200 403 200 | 404 404 200 404 200
    offer active                        -  200  -   -   -  | 403 403 200 403 200
    offer request                       -  201  -   -   -  | 201 201 201 201 201
    org                               200 200 200 200 200 | 200 200 200 200 200
    org children                      200 200 200 200 200 | 404 200 200 200 200
    org members                       404 404 200 404 200 | 404 404 200 404 200
    org escalations                   404 404 200 404 200 | 404 404 404 404 404
    org statistics, three-rates       404 404 200 200 200 | 404 404 422 404 422
    unit report (json, xlsx)          404 404 404 200 404 | 404 404 404 404 404
    unit roll-up                      404 404 200 404 200 | 404 404 422 404 422

The unit admin's own claim is their unit's (places to assign, never checked in); nobody claims
their own wish, for themself or for their unit.

- 200/201: the lifecycle table (or the wallet's office rule) lets the role do it; 403
  ``not_allowed``: the member may see the object but not do this; 404: they may not even see it
  (a volunteer reading another member's wallet or order). The resident's role is on grid g1,
  inside c1: it makes them a member of c1 (the store, offers), never office. Office-only boards
  of an org (members, escalations, statistics) answer 404 to everyone else, as the library
  documents; a unit's admin reads their own unit's statistics, 三率 and quarterly report
  (单位报表). p1 is a compound, not an area (422 for those who may read it, and it keeps no
  escalation queue). Points are credited to members holding a role on the community or above,
  so the resident has no transfer or order of their own.
- **other** and **missing**: 404 for everyone, with the same body as a missing id of the same
  community apart from ``instance`` and ``request_id`` (no hint that the object exists). The
  district admin is the exception the design makes (invariant 7: a role on an ancestor grants
  it): c2 is in their district, so they get what they get on c1 (for orgs: c2 is a community, so
  its boards answer 200; for assign the c2 object is a volunteer's claim, 422 "not a unit's
  claim", which probes that a claim's kind is not told before tenancy). An admin of another
  district (d2) gets 404 on c1's and c2's objects alike.

A leak is a cell that should be 404 and is not, a 404 whose body differs from a missing id's, or
a body showing another tenant's data (its ids, names, addresses). Refused requests change
nothing: every row of the libraries' tables is compared before and after them.

Mass assignment: every JSON body refuses fields it does not declare (``unknown_field``), and a
body cannot choose whom a request acts for. OpenAPI: each operation documents 401, 404 and 422
where they can happen, and every status the tests observe.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from collections.abc import Callable, Coroutine, Iterable
from pathlib import Path
from typing import Any, NamedTuple

import httpx
import msgspec
import pytest
from litestar import Litestar, get
from litestar.enums import RequestEncodingType
from litestar.handlers import HTTPRouteHandler
from litestar.routes import HTTPRoute
from litestar.testing import AsyncTestClient
from sqlalchemy.engine import Connection

import access_world as aw
import service_world as sw
from access_world import C1, C2, Obj
from marketplace.model import CHINA
from service import problems
from service.api.common import MEMBER, POLICIES, policy_guard
from service.app import create_app
from service.tables import metadata as service_tables
from service_world import Service

API = "/api/v1"
ROLES = {
    "resident": "res",
    "volunteer": "vol1",
    "staff": "staff",
    "unit admin": "uadmin",
    "admin": "admin",
    "outside admin": "admin2",  # admin of district d2: neither c1 nor c2 is theirs
}
TABLE_ROLES = ("resident", "volunteer", "staff", "unit admin", "admin")
RELATIONS = ("own", "same", "other", "missing")
OWN_ORG = {"res": "g1", "vol1": "c1", "staff": "c1", "uadmin": "u1", "admin": "d1"}
# whose object "same" and "other" act on (items have no owner; otherwise a volunteer's)
SAME = {"wish": "res2", "claim": "vol2", "unit": "u2admin", "org": "p1", "item": ""}
OTHER = {"wish": "moon-res", "claim": "outsider", "unit": "u2admin", "org": "c2", "item": ""}
KEY = {
    "wish": "wish_id",
    "claim": "claim_id",
    "member": "member_id",
    "transfer": "transfer_id",
    "item": "item_id",
    "order": "order_id",
    "offer": "offer_id",
    "org": "org_id",
}
MARKS = {  # what shows a tenant's data, besides the ids staged in it
    C1: ('"c1"', "阳光社区", "幸福路", '"res2"', '"vol2"', '"vol3"'),
    C2: ('"c2"', "月亮", '"moon-res"', '"moon-staff"', '"outsider"'),
}
SEES = {"admin": (C1, C2), "admin2": ()}  # everyone else: c1

Seen = set[tuple[str, str, int]]  # (method, OpenAPI path, status) the tests met
Body = Callable[[Obj, dt.datetime], dict[str, Any]]


def statuses(text: str) -> dict[str, int | None]:
    """Statuses in TABLE_ROLES order ("403 200 - …") by role; None: the role has no such object."""
    found = text.split()
    return {r: None if s == "-" else int(s) for r, s in zip(TABLE_ROLES, found, strict=True)}


def fixed(body: dict[str, Any]) -> Body:
    return lambda obj, now: body


def reason(obj: Obj, now: dt.datetime) -> dict[str, Any]:
    return {"reason": "按居民要求"}


def code(obj: Obj, now: dt.datetime) -> dict[str, Any]:
    return {"code": obj.code or "000000"}


def member(obj: Obj, now: dt.datetime) -> dict[str, Any]:
    return {"member_id": obj.member}


def request(obj: Obj, now: dt.datetime) -> dict[str, Any]:
    start = now + dt.timedelta(hours=1)
    return {
        "org_id": aw.PLACE[obj.community],
        "address": aw.ADDRESS[obj.community],
        "window_start": start.isoformat(),
        "window_end": (start + dt.timedelta(hours=2)).isoformat(),
        "estimated_minutes": 60,
    }


def period(now: dt.datetime) -> dict[str, str]:
    """Yesterday to tomorrow, China-time midnight to midnight (statistics are kept per day)."""
    today = dt.datetime.combine(now.astimezone(CHINA).date(), dt.time(), CHINA)
    day = dt.timedelta(days=1)
    return {"since": (today - day).isoformat(), "until": (today + 2 * day).isoformat()}


class Op(NamedTuple):
    name: str
    method: str
    path: str  # under /api/v1, as the OpenAPI document names it
    kind: str  # what the object is: "wish:<stage>", "claim:<stage>", "member", "org", …
    own: str
    same: str
    admin_other: int | None = None  # the district admin on c2's object; None: as on c1's
    body: Body | None = None
    query: Callable[[dt.datetime], dict[str, str]] | None = None
    other_kind: str | None = None  # the kind of the c2 object, when not ``kind``

    @property
    def reads(self) -> bool:
        return self.method == "GET"


EVERYONE = "200 200 200 200 200"
NOBODY = "403 403 403 403 403"
OFFICE = "403 403 200 403 200"
OFFICE_SEES = "404 404 200 404 200"
NONE = "- - - - -"
W = "/communities/{community_id}/wishes/{wish_id}"
C = "/communities/{community_id}/claims/{claim_id}"
M = "/communities/{community_id}/members/{member_id}"
T = "/communities/{community_id}/transfers/{transfer_id}"
IT = "/communities/{community_id}/items/{item_id}"
OR = "/communities/{community_id}/orders/{order_id}"
OF = "/communities/{community_id}/offers/{offer_id}"
G = "/orgs/{org_id}"
EMPTY, UNIT_U1 = fixed({}), fixed({"unit_id": "u1", "places": 1})
RATING, FOR_VOLUNTEER = fixed({"rating": 5}), fixed({"for_volunteer": True, "reason": "核实已服务"})
PAUSE, MORE, MISTAKE = fixed({"active": False}), fixed({"change": 5}), fixed({"reason": "录入有误"})
OPS = [
    # name, method, path, object kind, own, same: resident volunteer staff unit-admin admin
    Op("wish", "GET", W, "wish:read", EVERYONE, EVERYONE),
    Op("wish history", "GET", W + "/history", "wish:read", EVERYONE, EVERYONE),
    Op("wish claims", "GET", W + "/claims", "wish:read", EVERYONE, EVERYONE),
    Op("wish reasons", "GET", W + "/reasons", "wish:read", EVERYONE, EVERYONE),
    Op("wish candidates", "GET", W + "/candidates", "wish:read", OFFICE, OFFICE),
    Op("verify", "POST", W + "/verify", "wish:submitted", OFFICE, OFFICE),
    Op("reject", "POST", W + "/reject", "wish:submitted", OFFICE, OFFICE, body=reason),
    Op("cancel", "POST", W + "/cancel", "wish:submitted", EVERYONE, OFFICE, body=reason),
    Op("claim", "POST", W + "/claims", "wish:open", NOBODY, "403 201 403 403 403", body=EMPTY),
    Op("dispatch", "POST", W + "/dispatch", "wish:open", "403 403 201 403 201",
       "403 403 201 403 201", body=member),
    Op("unit claim", "POST", W + "/unit-claims", "wish:open", NOBODY, "403 403 403 201 403",
       body=UNIT_U1),
    Op("confirm", "POST", W + "/confirm", "wish:served", EVERYONE, OFFICE, body=RATING),
    Op("dispute", "POST", W + "/dispute", "wish:served", EVERYONE, NOBODY, body=reason),
    Op("resolve", "POST", W + "/resolve", "wish:disputed", OFFICE, OFFICE, body=FOR_VOLUNTEER),
    Op("check-in", "POST", C + "/check-in", "claim:active", "- 200 - 403 -", OFFICE, body=code),
    Op("check-out", "POST", C + "/check-out", "claim:checked_in", "- 200 - - -", OFFICE,
       body=EMPTY),
    Op("withdraw", "POST", C + "/withdraw", "claim:active", "- 200 - 200 -", OFFICE, body=reason),
    Op("no-show", "POST", C + "/no-show", "claim:active", "- 403 - 403 -", OFFICE),
    Op("assign", "POST", C + "/assign", "claim:unit", "- - - 201 -", "403 403 201 403 201",
       admin_other=422, body=member, other_kind="claim:active"),
    Op("member", "GET", "/members/{member_id}", "member", EVERYONE, OFFICE_SEES),
    Op("member changes", "GET", "/members/{member_id}/changes", "member", EVERYONE,
       OFFICE_SEES),
    Op("wallet", "GET", M + "/wallet", "member", EVERYONE, OFFICE_SEES),
    Op("statement", "GET", M + "/statement", "member", EVERYONE, OFFICE_SEES),
    Op("hours", "GET", M + "/hours", "member", EVERYONE, OFFICE_SEES),
    Op("transfer", "GET", T, "transfer", "- 200 200 200 200", OFFICE_SEES),
    Op("reversal", "POST", T + "/reversal", "transfer", "- 403 201 403 201",
       "404 404 201 404 201", body=MISTAKE),
    Op("item", "GET", IT, "item", NONE, EVERYONE),
    Op("restock", "POST", IT + "/restock", "item", NONE, OFFICE, body=MORE),
    Op("item active", "PUT", IT + "/active", "item", NONE, OFFICE, body=PAUSE),
    Op("order", "GET", OR, "order", "- 200 200 200 200", OFFICE_SEES),
    Op("order cancel", "POST", OR + "/cancel", "order", "- 200 200 200 200", OFFICE_SEES),
    Op("order fulfil", "POST", OR + "/fulfil", "order", "- 403 200 403 200", OFFICE_SEES),
    Op("offer active", "PUT", OF + "/active", "offer", "- 200 - - -", OFFICE, body=PAUSE),
    Op("offer request", "POST", OF + "/requests", "offer", "- 201 - - -",
       "201 201 201 201 201", body=request),
    Op("org", "GET", G, "org", EVERYONE, EVERYONE, admin_other=200),
    Op("org children", "GET", G + "/children", "org", EVERYONE, "404 200 200 200 200", 200),
    Op("org members", "GET", G + "/members", "org", OFFICE_SEES, OFFICE_SEES, 200),
    Op("escalations", "GET", G + "/escalations", "org", OFFICE_SEES, "404 404 404 404 404", 200),
    Op("statistics", "GET", G + "/statistics", "org", "404 404 200 200 200",
       "404 404 422 404 422", 200, query=period),
    Op("three-rates", "GET", G + "/three-rates", "org", "404 404 200 200 200",
       "404 404 422 404 422", 200, query=period),
    Op("unit report", "GET", G + "/unit-report", "org", "404 404 404 200 404",
       "404 404 404 404 404"),
    Op("unit report xlsx", "GET", G + "/unit-report.xlsx", "org", "404 404 404 200 404",
       "404 404 404 404 404"),
    Op("unit roll-up", "GET", G + "/unit-rollup", "org", OFFICE_SEES, "404 404 422 404 422",
       200),
]  # fmt: skip


def expected(op: Op, role: str, relation: str) -> int | None:
    """The documented status of one cell (None: no such cell)."""
    if relation == "missing":
        return 404
    if role == "outside admin":
        return None if relation == "own" else 404
    if relation == "own":
        return statuses(op.own)[role]
    same = statuses(op.same)[role]
    if relation == "same":
        return same
    if role == "admin":
        return op.admin_other or same
    return 404


class Cell(NamedTuple):
    op: Op
    role: str
    relation: str
    obj: Obj
    expected: int

    @property
    def key(self) -> str:
        return f"{self.op.name} | {self.role} | {self.relation}"

    @property
    def allowed(self) -> bool:
        return changes(self.op, self.expected)


def changes(op: Op, status: int) -> bool:
    """Whether a request answered so changed its object (a write the table allows)."""
    return 200 <= status < 300 and not op.reads


def missing(kind: str) -> Obj:
    base = kind.split(":")[0]
    if base == "org":
        return Obj(C1, {"org_id": "no-such-org"})
    params = {"community_id": C1, KEY[base]: f"no-such-{base}"}
    fill = {"wish": "vol3", "claim": "party"}.get(base, "")  # whom a body names
    return Obj(C1, params, member=fill)


def twin(obj: Obj, kind: str) -> Obj:
    """The same request with the object's id replaced by one nobody has, in its community."""
    base = kind.split(":")[0]
    return obj._replace(params={**obj.params, KEY[base]: f"no-such-{base}"})


def make(stager: aw.Stager, kind: str, owner: str, community: str) -> Obj:
    base, _, stage = kind.partition(":")
    if base == "wish":
        return stager.wish(owner, community, stage)
    if base == "claim":
        return stager.claim(owner, community, stage)
    if base == "member":
        return Obj(community, {"community_id": community, "member_id": owner})
    if base == "org":
        return Obj(community, {"org_id": owner})
    if base == "transfer":
        return stager.transfer(owner, community)
    if base == "item":
        return stager.item(community)
    if base == "order":
        return stager.order(owner, community)
    assert base == "offer", kind
    return stager.offer(owner, community)


def owner_of(kind: str, relation: str, member_id: str) -> tuple[str, str]:
    """(owner, community) of the object a cell acts on."""
    base = kind.split(":")[0]
    group = "unit" if kind == "claim:unit" else base
    if relation == "own":
        return (OWN_ORG[member_id] if base == "org" else member_id), C1
    if relation == "same":
        return SAME.get(group, "vol2"), C1
    return OTHER.get(group, "outsider"), C2


def stage(tx: Connection, now: dt.datetime) -> list[Cell]:
    """Every cell with its object: each write the table allows gets its own; the others (reads
    and refusals, which change nothing) share one per kind, owner and relation."""
    stager = aw.Stager(tx, now)
    made: dict[tuple[str, ...], Obj] = {}
    cells = []
    for op in OPS:
        for role, member_id in ROLES.items():
            for relation in RELATIONS:
                want = expected(op, role, relation)
                if want is None:
                    continue
                kind = (op.other_kind or op.kind) if relation == "other" else op.kind
                if relation == "missing":
                    cells.append(Cell(op, role, relation, missing(kind), want))
                    continue
                owner, community = owner_of(kind, relation, member_id)
                key: tuple[str, ...] = (kind, owner, relation)  # unchanged by anyone: shared
                if changes(op, want):
                    key = (op.name, relation, owner, role)
                if key not in made:
                    made[key] = make(stager, kind, owner, community)
                cells.append(Cell(op, role, relation, made[key], want))
    return cells


def scrubbed(answer: httpx.Response) -> str:
    """The body without what echoes the request (its path and id), canonical."""
    try:
        body = answer.json()
    except ValueError:
        return answer.text
    if isinstance(body, dict):
        body = {k: v for k, v in body.items() if k not in ("instance", "request_id")}
    return json.dumps(body, ensure_ascii=False, sort_keys=True)


class Matrix:
    """Runs cells against the app, recording statuses, outcomes and leaks."""

    def __init__(self, svc: Service, cells: list[Cell]) -> None:
        self.svc = svc
        self.headers = {m: svc.as_(m) for m in ROLES.values()}
        self.seen: Seen = set()
        self.outcomes: dict[str, str] = {}
        self.leaks: list[str] = []
        self.marks: dict[str, set[str]] = {c: set(MARKS[c]) for c in (C1, C2)}
        for cell in cells:
            self.marks[cell.obj.community].update(cell.obj.ids)

    async def send(self, cell: Cell, obj: Obj) -> httpx.Response:
        now = self.svc.clock.now
        op = cell.op
        answer = await self.svc.client.request(
            op.method,
            API + op.path.format(**obj.params),
            headers=self.headers[ROLES[cell.role]],
            json=op.body(obj, now) if op.body else None,
            params=op.query(now) if op.query else None,
        )
        self.seen.add((op.method, API + op.path, answer.status_code))
        return answer

    async def run(self, cell: Cell) -> None:
        answer = await self.send(cell, cell.obj)
        status, notes = answer.status_code, []
        body = scrubbed(answer)
        if status == 403 and answer.json().get("code") != "not_allowed":
            notes.append(answer.json().get("code"))
        leak = cell.expected == 404 and status != 404
        member_id = ROLES[cell.role]
        for community in (C1, C2):
            if community in SEES.get(member_id, (C1,)):
                continue
            shown = sorted(m for m in self.marks[community] if m in body)
            if shown:
                notes.append(f"shows {community}: {', '.join(shown)}")
                leak = True
        if cell.relation == "other" and cell.expected == 404 and status == 404:
            kind = cell.op.other_kind or cell.op.kind
            if scrubbed(await self.send(cell, twin(cell.obj, kind))) != body:
                notes.append("body differs from a missing id's")
                leak = True
        self.outcomes[cell.key] = " ".join([str(status), *notes])
        if leak:
            self.leaks.append(cell.key)


async def at_once(calls: Iterable[Coroutine[Any, Any, None]], limit: int = 6) -> None:
    """Await the calls, ``limit`` at a time (the app serves several requests at once)."""
    gate = asyncio.Semaphore(limit)

    async def one(call: Coroutine[Any, Any, None]) -> None:
        async with gate:
            await call

    await asyncio.gather(*(one(call) for call in calls))


def table_rows(svc: Service) -> dict[str, list[tuple[object, ...]]]:
    with svc.app.state.db.snapshot() as tx:
        found = aw.rows(tx)
        for table in service_tables.sorted_tables:
            got = tx.execute(table.select()).all()
            found[table.name] = sorted((tuple(r) for r in got), key=repr)
    return found


def changed(before: dict[str, list[Any]], after: dict[str, list[Any]]) -> list[str]:
    return [name for name in before if before[name] != after[name]]


def documented(app: Litestar, seen: Iterable[tuple[str, str, int]]) -> list[str]:
    """The observed (method, path, status) the OpenAPI document does not list."""
    paths = app.openapi_schema.paths or {}
    missing = []
    for method, path, status in sorted(seen):
        item = paths.get(path)
        operation = getattr(item, method.lower(), None) if item else None
        codes = set((operation.responses or {}) if operation else ())
        if str(status) not in codes:
            missing.append(f"{method} {path} {status}")
    return missing


# Deny by default


def handlers(app: Litestar) -> Iterable[tuple[str, HTTPRouteHandler]]:
    """(OpenAPI path, handler) of every handler of every route, Litestar's own included."""
    for route in app.routes:
        assert isinstance(route, HTTPRoute), route.path  # no websocket or mounted ASGI app
        for handler in route.route_handlers:
            yield route.path_format, handler


@pytest.fixture
def app(tmp_path: Path) -> Litestar:
    """The app as configured for the tests, never started (its routes and OpenAPI document)."""
    return create_app(sw.settings(f"sqlite:///{tmp_path}/linli.db"))


def test_every_handler_of_the_app_states_its_access_policy(app: Litestar) -> None:
    without = [
        f"{sorted(handler.http_methods)} {path}: {handler.opt.get('policy')!r}"
        for path, handler in handlers(app)
        if handler.opt.get("policy") not in POLICIES
    ]
    counted = sum(1 for _ in handlers(app))
    assert counted > 100  # every route, with Litestar's own OPTIONS, OpenAPI and static ones
    assert without == []


@get("/bare", sync_to_thread=False)
def bare() -> str:
    return "reached"


@get("/unknown", opt={"policy": "staff"}, sync_to_thread=False)
def unknown() -> str:
    return "reached"


@get("/members-only", opt=MEMBER, sync_to_thread=False)
def members_only() -> str:
    return "reached"


async def test_the_guard_refuses_a_handler_without_a_known_policy() -> None:
    app = Litestar(
        [bare, unknown, members_only],
        guards=[policy_guard],
        exception_handlers={Exception: problems.handle},
    )
    async with AsyncTestClient(app) as client:
        answers = [await client.get(p) for p in ("/bare", "/unknown", "/members-only")]
    assert [(a.status_code, a.json()["code"]) for a in answers] == [
        (403, "forbidden"),
        (403, "forbidden"),
        (401, "unauthenticated"),
    ]
    assert all("reached" not in a.text for a in answers)


# The BOLA matrix


async def test_every_object_endpoint_answers_each_role_and_relation_as_documented(
    svc: Service,
) -> None:
    now = svc.clock.now
    with svc.app.state.db.transaction() as tx:
        aw.extend(tx, now - dt.timedelta(hours=4))
        cells = stage(tx, now)
    matrix = Matrix(svc, cells)
    before = table_rows(svc)
    await at_once(matrix.run(c) for c in cells if not c.allowed)  # reads and refusals first
    after = table_rows(svc)
    await at_once(matrix.run(c) for c in cells if c.allowed)
    print(f"[bola] cells={len(cells)} leaks={len(matrix.leaks)}")
    table = {c.key: str(c.expected) for c in cells}
    wrong = {k: f"{v}, documented {table[k]}" for k, v in matrix.outcomes.items() if v != table[k]}
    assert wrong == {}  # every cell that differs, by name
    assert matrix.outcomes == table
    assert matrix.leaks == []
    assert changed(before, after) == []  # refused requests change nothing
    assert documented(svc.app, matrix.seen) == []


# Mass assignment: a body holds only the fields it declares, and cannot choose whom it acts for

EXTRAS: dict[str, Any] = {
    "balance": 1_000_000,
    "role": "admin",
    "status": "fulfilled",
    "stock": 1_000_000,
    "community_id": C2,
    "state": "closed",
    "places_taken": 0,
    "points": 1_000_000,
    "member_id": "admin",
}
WHEN = "2026-01-01T09:00:00+08:00"
WISH_BODY = {
    "category": aw.CATEGORY,
    "title": "陪我去医院复诊",
    "org_id": "g1",
    "address": "幸福路1号3栋502室",
    "window_start": WHEN,
    "window_end": "2026-01-01T12:00:00+08:00",
    "estimated_minutes": 90,
}
REQUEST_FIELDS = ("org_id", "address", "window_start", "window_end", "estimated_minutes")
REQUEST_BODY = {k: WISH_BODY[k] for k in REQUEST_FIELDS}
SIGN_IN = {"phone": sw.PHONES["res"], "password": sw.PASSWORD}
MT = "/communities/{community_id}/matters/{matter_id}"
BODIES: dict[tuple[str, str], dict[str, Any]] = {  # a valid body of every JSON write
    ("POST", "/auth/session"): SIGN_IN,
    ("POST", "/auth/token"): SIGN_IN,
    ("POST", "/orgs"): {"id": "g9", "kind": "grid", "name": "第九网格", "parent_id": "p1"},
    ("POST", "/orgs/{org_id}/roles"): {"member_id": "res2", "role": "volunteer"},
    ("POST", "/orgs/{org_id}/members"): {"name": "新居民", "role": "resident"},
    ("PUT", M + "/key-household"): {"flags": ["elderly_alone"], "purpose": "优先派单"},
    ("PUT", M): {"home_org_id": "g1", "room": "301", "roles": ["resident"]},
    ("PUT", "/me/details"): {"address": "幸福路1号", "skills": ["理发"], "availability": "周六"},
    ("POST", "/communities/{community_id}/units"): {"unit_id": "u2"},
    ("PUT", "/communities/{community_id}/rules"): {"claim_limit": 5},
    ("POST", "/me/password"): {"old_password": sw.PASSWORD, "new_password": "another-password"},
    ("PUT", "/me/profile"): {"public_profile": True},
    ("POST", "/communities/{community_id}/certificates"): {"member_id": "vol1"},
    ("POST", "/communities/{community_id}/wishes"): WISH_BODY,
    ("POST", "/communities/{community_id}/duty-records"): {
        "member_id": "party",
        "kind": "checkin",
        "at": "2025-12-01T09:00:00+08:00",
    },
    ("POST", W + "/cancel"): {"reason": "不需要了"},
    ("POST", W + "/claims"): {"id": "my-claim"},
    ("POST", W + "/unit-claims"): {"unit_id": "u1", "places": 1},
    ("POST", W + "/confirm"): {"rating": 5, "comment": "谢谢"},
    ("POST", W + "/dispatch"): {"member_id": "vol3"},
    ("POST", W + "/dispute"): {"reason": "没有来"},
    ("POST", W + "/reject"): {"reason": "信息不全"},
    ("POST", W + "/resolve"): {"for_volunteer": True, "reason": "核实已服务"},
    ("POST", C + "/assign"): {"member_id": "party"},
    ("POST", C + "/check-in"): {"code": "123456", "location": {"lat": 30.0, "lng": 120.0}},
    ("POST", C + "/check-out"): {"location": {"lat": 30.0, "lng": 120.0}},
    ("POST", C + "/withdraw"): {"reason": "临时有事"},
    ("POST", "/communities/{community_id}/offers"): {
        "category": aw.CATEGORY,
        "title": "周末陪诊",
        "schedule": "周六上午",
    },
    ("POST", OF + "/requests"): REQUEST_BODY,
    ("PUT", OF + "/active"): {"active": False},
    ("POST", "/communities/{community_id}/adjustments"): {
        "member_id": "vol1",
        "change": 10,
        "reason": "补录",
    },
    ("POST", "/communities/{community_id}/hours-corrections"): {
        "reference": "claim:x",
        "minutes": -30,
        "reason": "多记了",
    },
    ("POST", "/communities/{community_id}/donations"): {"amount": 5, "to_member": "vol2"},
    ("POST", "/communities/{community_id}/corrections"): {
        "reference": "claim:x",
        "field": "minutes",
        "proposed": "90",
        "reason": "少记了",
    },
    ("POST", "/communities/{community_id}/corrections/{correction_id}/acceptance"): {"note": ""},
    ("POST", "/communities/{community_id}/corrections/{correction_id}/refusal"): {"reason": "不符"},
    ("POST", "/communities/{community_id}/events"): {
        "event_id": "clean-up",
        "category": aw.CATEGORY,
        "title": "楼道清洁",
        "started_at": WHEN,
        "attendance": [{"member_id": "vol1", "minutes": 60}],
    },
    ("PUT", "/communities/{community_id}/policy"): {"points_per_hour": 12},
    ("POST", T + "/reversal"): {"reason": "录入有误", "amount": 5},
    ("POST", "/communities/{community_id}/items"): {"name": "大米", "cost": 10, "stock": 5},
    ("POST", "/communities/{community_id}/orders"): {"item_id": "rice", "quantity": 1},
    ("POST", IT + "/restock"): {"change": 5},
    ("PUT", IT + "/active"): {"active": False},
    ("POST", "/auth/code"): {"phone": "13900000004", "code": "1234 5678", "password": "x" * 8},
    ("POST", M + "/sign-in-code"): {"purpose": "reset"},
    ("POST", "/communities/{community_id}/sign-in-codes"): {"member_ids": ["res2"]},
    ("POST", W + "/whistle"): {"reason": "需街道协调"},
    ("POST", MT + "/accept"): {"kind": "immediate"},
    ("POST", MT + "/explain"): {"explanation": "暂无法办理"},
    ("POST", MT + "/assign"): {"unit_id": "u1", "days": 3},
    ("POST", MT + "/answer"): {"answer": "已办结"},
    ("POST", MT + "/send-back"): {"reason": "社区可处理"},
    ("POST", MT + "/escalate"): {"reason": "需区级协调"},
    ("POST", MT + "/notes"): {"note": "已联系"},
    ("POST", MT + "/rating"): {"satisfaction": 5},
    ("PUT", "/calendar/{year}"): {
        "source": "通知",
        "days": [{"day": "2027-01-01", "workday": False}],
    },
    ("POST", "/me/messages/read"): {"ids": ["m1"]},
    ("PUT", "/me/notice-settings"): {"sms": False},
    ("POST", "/communities/{community_id}/webhooks"): {
        "url": "https://example.org/hook",
        "secret": "s" * 16,
    },
    ("POST", "/communities/{community_id}/dead-letters/retry"): {"ids": ["d1"]},
}
NESTED: list[tuple[str, str, dict[str, Any], str]] = [  # one level down: (…, field named)
    (
        "POST",
        C + "/check-in",
        {"code": "123456", "location": {"lat": 30.0, "lng": 120.0, "state": "closed"}},
        "location.state",
    ),
    (
        "PUT",
        "/communities/{community_id}/rules",
        {"deadlines": {"verify_hours": 2, "points": 9}},
        "deadlines.points",
    ),
    (
        "POST",
        "/communities/{community_id}/events",
        {
            **BODIES[("POST", "/communities/{community_id}/events")],
            "attendance": [{"member_id": "vol1", "minutes": 60, "points": 1_000_000}],
        },
        "attendance[0].points",
    ),
]
PATH_VALUES = {
    "community_id": C1,
    "wish_id": "c1-wish-1",
    "claim_id": "no-such-claim",
    "org_id": C1,
    "member_id": "res2",
    "offer_id": "no-such-offer",
    "item_id": "no-such-item",
    "order_id": "no-such-order",
    "transfer_id": "no-such-transfer",
    "matter_id": "no-such-matter",
    "year": "2027",
    "correction_id": "no-such-correction",
}


def json_writes(app: Litestar) -> dict[tuple[str, str], type[Any]]:
    """(method, path under /api/v1) → body type, of every handler that takes a JSON body (a
    photo upload's multipart form has files only)."""
    found: dict[tuple[str, str], type[Any]] = {}
    for path, handler in handlers(app):
        data = handler.parsed_fn_signature.parameters.get("data")
        if data is None or not path.startswith(API):
            continue
        if getattr(data.kwarg_definition, "media_type", None) == RequestEncodingType.MULTI_PART:
            continue
        for method in handler.http_methods:
            found[(str(method), path.removeprefix(API))] = data.annotation
    return found


async def test_every_json_body_refuses_fields_it_does_not_declare(svc: Service) -> None:
    writes = json_writes(svc.app)
    assert sorted(writes) == sorted(BODIES)  # a new JSON write needs a body here
    valid = []
    for write, model in writes.items():
        try:
            msgspec.json.decode(msgspec.json.encode(BODIES[write]), type=model)
        except msgspec.ValidationError as exc:
            valid.append(f"{write}: {exc}")
    assert valid == []  # the bodies are valid: only the added field is at fault
    staff = svc.as_("staff")
    before = table_rows(svc)
    seen: Seen = set()
    outcomes, expected_outcomes = {}, {}
    cases: list[tuple[str, str, dict[str, Any], str]] = [
        (method, path, {**BODIES[(method, path)], extra: value}, extra)
        for (method, path), model in writes.items()
        for extra, value in EXTRAS.items()
        if extra not in {f.name for f in msgspec.structs.fields(model)}
    ]
    cases += NESTED
    for method, path, body, field in cases:
        answer = await svc.client.request(
            method, API + path.format(**PATH_VALUES), json=body, headers=staff
        )
        seen.add((method, API + path, answer.status_code))
        problem = answer.json()
        key = f"{method} {path} {field}"
        outcomes[key] = (answer.status_code, problem.get("code"), problem.get("field"))
        expected_outcomes[key] = (422, "unknown_field", field)
    after = table_rows(svc)
    assert outcomes == expected_outcomes
    assert len(cases) > 250
    assert changed(before, after) == []  # nothing stored, not even an idempotency key
    assert documented(svc.app, seen) == []


class Named(NamedTuple):
    """A request whose body names someone of c2 (``outsider``, ``moon-res``) or a unit the
    actor does not run: it must be refused and store nothing."""

    actor: str
    method: str
    path: str  # as the OpenAPI document names it
    body: dict[str, Any]
    status: int
    code: str
    field: str | None = None  # the input at fault

    @property
    def key(self) -> str:
        return f"{self.actor} {self.method} {self.path}"


def named_cases(now: dt.datetime) -> list[Named]:
    event = {
        "event_id": "clean-up",
        "category": aw.CATEGORY,
        "title": "楼道清洁",
        "started_at": (now - dt.timedelta(hours=2)).isoformat(),
        "attendance": [{"member_id": "outsider", "minutes": 60}],
    }
    wishes = "/communities/{community_id}/wishes"
    proxy = {**WISH_BODY, **request(Obj(C1, {}, member="g1"), now), "proxy_note": "电话征得同意"}
    return [
        Named("staff", "POST", wishes, {**proxy, "beneficiary_id": "moon-res"},
              422, "invalid_input", "beneficiary_id"),  # not a resident here
        Named("res", "POST", wishes, {**proxy, "beneficiary_id": "res2"},
              403, "not_allowed"),  # 代点单 is for grid workers and staff
        Named("uadmin", "POST", W + "/unit-claims", {"unit_id": "u2"}, 403, "not_allowed"),
        Named("staff", "POST", W + "/dispatch", {"member_id": "outsider"},
              422, "invalid_input", "member_id"),
        Named("uadmin", "POST", C + "/assign", {"member_id": "party2"},
              422, "invalid_input", "member_id"),  # u2's member, not u1's
        Named("staff", "POST", "/communities/{community_id}/adjustments",
              {"member_id": "outsider", "change": 100, "reason": "补录"}, 404, "not_found"),
        Named("vol1", "POST", "/communities/{community_id}/donations",
              {"amount": 1, "to_member": "outsider"}, 422, "invalid_input", "to_member"),
        Named("staff", "POST", "/communities/{community_id}/events", event,
              422, "invalid_input", "attendance"),
        Named("staff", "POST", "/orgs/{org_id}/roles",
              {"member_id": "outsider", "role": "volunteer"}, 404, "not_found"),
        Named("staff", "PUT", M + "/key-household",
              {"flags": ["elderly_alone"], "purpose": "优先派单"}, 404, "not_found"),
    ]  # fmt: skip


async def test_a_body_cannot_choose_whom_a_request_acts_for(svc: Service) -> None:
    now = svc.clock.now
    with svc.app.state.db.transaction() as tx:
        aw.extend(tx, now - dt.timedelta(hours=4))
        stager = aw.Stager(tx, now)
        wish = stager.wish("res2", C1, "open")
        unit_claim = stager.claim("uadmin", C1, "unit")
    params = {**wish.params, **unit_claim.params, "org_id": C1, "member_id": "outsider"}
    cases = named_cases(now)
    before = table_rows(svc)
    seen: Seen = set()
    outcomes, hints = {}, []
    for case in cases:
        answers, shown = [], []
        for named in ("outsider", "no-such-member"):  # another tenant's member, and nobody
            body = json.loads(json.dumps(case.body).replace('"outsider"', f'"{named}"'))
            path = case.path.format(**{**params, "member_id": named})
            answer = await svc.client.request(
                case.method, API + path, json=body, headers=svc.as_(case.actor)
            )
            seen.add((case.method, API + case.path, answer.status_code))
            answers.append(answer)
            shown.append(scrubbed(answer).replace(named, "<the id sent>"))
        problem = answers[0].json()
        outcomes[case.key] = (answers[0].status_code, problem.get("code"), problem.get("field"))
        if shown[0] != shown[1]:
            hints.append(f"{case.key}: {shown[0]} / {shown[1]}")
    after = table_rows(svc)
    assert outcomes == {case.key: (case.status, case.code, case.field) for case in cases}
    assert hints == []  # naming another tenant's member tells nothing a made-up id would not
    assert changed(before, after) == []
    assert documented(svc.app, seen) == []


# OpenAPI: what each operation may answer


ANSWERED_UNKNOWN = {"/api/v1/verify/{number}"}
"""Paths whose unknown object is an answer, not a 404: 查验 says a number is unknown (200)."""


def test_every_operation_documents_401_404_and_422_where_they_can_happen(app: Litestar) -> None:
    paths = app.openapi_schema.paths or {}
    missing = []
    for path, handler in handlers(app):
        if not handler.resolve_include_in_schema():
            continue
        params = handler.parsed_fn_signature.parameters
        needed = set()
        if handler.opt.get("policy") == "member":
            needed.add("401")  # not signed in
        if "{" in path and path not in ANSWERED_UNKNOWN:
            needed.add("404")  # no such object for this member
        if "data" in params:
            needed.add("422")  # invalid or unknown fields
        for method in handler.http_methods:
            operation = getattr(paths[path], method.lower())
            missing += [f"{method} {path} {c}" for c in sorted(needed - set(operation.responses))]
    assert missing == []
