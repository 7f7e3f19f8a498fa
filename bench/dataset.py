"""The benchmark's data set: seeded, the same on SQLite and PostgreSQL.

The org tree, the people with few rows, community rules, the store and every wallet's points are
made through the libraries' public functions. The large sets (100,000 open wishes, 10,000
volunteers, tens of thousands of claims waiting to be signed out) are bulk inserts of the rows
those functions would write, transitions included; :func:`bench.invariants.check` then holds
them to the ledger audit and the marketplace's invariants before anything is measured.

Communities (all under street ``bs`` of district ``bd``):

- ``big``: 100 grids, ``wishes`` published wishes, 1,000 residents who posted them; the
  ``members`` volunteers hold their role on the street, so they may claim here (reads, matching);
  half of them live in ``big``, half in ``dsp``;
- ``dsp``: ``dispatch_wishes`` published wishes for auto-dispatch (same volunteers);
- ``wc``: published wishes of capacity 100 for the claim benchmark (400 volunteers, limit 100);
- ``wk``: claims checked in, waiting for the check-out benchmark (400 volunteers);
- ``wr``: a store item and 400 members with points, for the redeem benchmark;
- ``lib`` and ``raw``: accounts for the library benchmarks and their raw ceilings.
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import quote

import msgspec
import sqlalchemy as sa
from sqlalchemy.engine import Connection

import marketplace as mk
import points
from marketplace import rollups
from marketplace.schema import claims, member_load, members, roles, transitions, wishes
from points import Database
from service import auth
from service.settings import Settings
from service.tables import credentials

CATEGORIES = mk.CommunityRules().categories
SKILLS = ("电工", "驾驶", "医护", "心理", "法律", "辅导", "烹饪", "维修", "摄影", "外语")
CLAIM_WISHES, PER_WISH = 400, 100  # wc: 40,000 places
CHECKOUT_WISHES = 200  # wk: 20,000 claims checked in
WRITE_MEMBERS = 400  # per write community
READ_TOKENS = 64  # volunteers and staff who sign in for the read benchmarks
FRESH_READERS = 4_096  # volunteers asking once each for 为你推荐 (no list kept for them yet)
REDEEM_POINTS = 1_000_000
PASSWORD = "bench-password"
EPOCH_MS = int(dt.datetime(2026, 1, 1, tzinfo=dt.UTC).timestamp() * 1000)
BATCH = 5_000


class Fixtures(msgspec.Struct, kw_only=True):
    """What the HTTP benchmarks send: one TSV file of requests per endpoint."""

    files: dict[str, str]
    sizes: dict[str, int]
    wallet_member: str  # a member of ``wr`` whose balance the read benchmark asks for


class Ids:
    """Deterministic, time-ordered ids in ``points.new_id``'s layout (32 hex digits), from a
    fixed epoch, so that ordering by id is ordering by creation, as in the product."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.n = 0

    def __call__(self) -> str:
        self.n += 1
        ms = EPOCH_MS + self.n // 16
        value = (ms << 80) | (0x7 << 76) | ((self.n % 16) << 68) | self.rng.getrandbits(60)
        value |= 0b10 << 62
        return f"{value:032x}"


def build(db: Database, settings: Settings, seed: int, sizes: Any) -> None:
    """Make the whole data set in an empty, migrated database."""
    rng = random.Random(seed)
    ids = Ids(rng)
    now = points.utcnow()
    with db.transaction() as tx:
        _orgs(tx, now)
    with db.transaction() as tx:
        _people(tx, rng, sizes.members, now)
    with db.transaction() as tx:
        _open_wishes(tx, rng, ids, "big", sizes.wishes, now)
    with db.transaction() as tx:
        _open_wishes(tx, rng, ids, "dsp", sizes.dispatch_wishes, now, capacity=1)
    with db.transaction() as tx:
        _claim_wishes(tx, rng, ids, now)
    with db.transaction() as tx:
        _checked_in(tx, rng, ids, now)
    with db.transaction() as tx:
        _store(tx, now)
    with db.transaction() as tx:
        _credentials(tx, sizes.members)
    with db.transaction() as tx:  # the rows above went in bulk: backfill as the migration does
        rollups.refill(tx)
    for community in ("big", "dsp", "wc", "wk", "wr", "lib", "raw"):
        with db.transaction() as tx:
            points.open_community(tx, community)
    if db.is_sqlite:
        with db.transaction() as tx:
            tx.exec_driver_sql("ANALYZE")
    else:
        with db.writer.connect() as conn:
            conn.execution_options(isolation_level="AUTOCOMMIT")
            conn.exec_driver_sql("VACUUM ANALYZE")


# --- orgs and people through the library ----------------------------------------------------


def _grids(community: str, n: int) -> list[str]:
    return [f"{community}-g{i:03}" for i in range(n)]


def _orgs(tx: Connection, now: dt.datetime) -> None:
    sys = mk.SYSTEM
    mk.create_org(tx, sys, id="bd", kind=mk.OrgKind.DISTRICT, name="基准区", now=now)
    mk.create_org(tx, sys, id="bs", kind=mk.OrgKind.STREET, name="基准街道", parent_id="bd")
    layout = {"big": 10, "dsp": 1, "wc": 1, "wk": 1, "wr": 1, "lib": 0, "raw": 0}
    for community, compounds in layout.items():
        mk.create_org(
            tx,
            sys,
            id=community,
            kind=mk.OrgKind.COMMUNITY,
            name=f"{community}社区",
            parent_id="bs",
        )
        for c in range(compounds):
            compound = f"{community}-c{c:02}"
            mk.create_org(
                tx,
                sys,
                id=compound,
                kind=mk.OrgKind.COMPOUND,
                name=f"{c}号小区",
                parent_id=community,
            )
            for g in range(10):
                mk.create_org(
                    tx,
                    sys,
                    id=f"{community}-g{c * 10 + g:03}",
                    kind=mk.OrgKind.GRID,
                    name=f"{g}网格",
                    parent_id=compound,
                )
    mk.add_member(tx, id="admin", name="管理员", now=now)
    mk.grant_role(tx, sys, "admin", "bd", mk.Role.ADMIN, now=now)
    for community in ("big", "dsp", "wc", "wk", "wr"):
        staff = f"staff-{community}"
        mk.add_member(tx, id=staff, name=f"{community}工作人员", now=now)
        mk.grant_role(tx, "admin", staff, community, mk.Role.STAFF, now=now)
        limit = 100 if community in ("wc", "wk") else 3
        mk.set_community_rules(
            tx, "admin", community, mk.CommunityRules(claim_limit=limit), now=now
        )


def _member(member_id: str, name: str, home: str | None, skills: Sequence[str], now: dt.datetime):  # type: ignore[no-untyped-def]
    return {
        "id": member_id,
        "name": name,
        "phone": None,
        "home_org_id": home,
        "home_unit_id": None,
        "skills": sorted(skills),
        "key_household": [],
        "key_household_consent": None,
        "public_profile": False,
        "created_at": now,
    }


def _role(member_id: str, org_id: str, role: str, now: dt.datetime) -> dict[str, Any]:
    return {
        "org_id": org_id,
        "member_id": member_id,
        "role": role,
        "granted_by": "admin",
        "granted_at": now,
    }


def volunteer(i: int) -> str:
    return f"v{i:05}"


def writer(community: str, i: int) -> str:
    return f"{community}-m{i:03}"


def _people(tx: Connection, rng: random.Random, n_members: int, now: dt.datetime) -> None:
    """The add_member and grant_role rows, in bulk (what those functions insert)."""
    big_grids = _grids("big", 100)
    homes = (big_grids, _grids("dsp", 10))  # even volunteers live in big, odd ones in dsp
    people: list[dict[str, Any]] = []
    grants: list[dict[str, Any]] = []
    for i in range(n_members):
        skills = rng.sample(SKILLS, rng.randint(0, 3))
        home = rng.choice(homes[i % 2])
        people.append(_member(volunteer(i), f"志愿者{i}", home, skills, now))
        grants.append(_role(volunteer(i), "bs", "volunteer", now))
    for i in range(1000):
        people.append(_member(f"r{i:04}", f"居民{i}", big_grids[i % 100], (), now))
        grants.append(_role(f"r{i:04}", "big", "resident", now))
    for community, role in (("wc", "volunteer"), ("wk", "volunteer"), ("wr", "resident")):
        grid = f"{community}-g000"
        for i in range(WRITE_MEMBERS):
            people.append(_member(writer(community, i), f"{community}成员{i}", grid, (), now))
            grants.append(_role(writer(community, i), community, role, now))
        resident = f"{community}-resident"
        people.append(_member(resident, f"{community}居民", grid, (), now))
        grants.append(_role(resident, community, "resident", now))
    _insert(tx, members, people)
    _insert(tx, roles, grants)


def _credentials(tx: Connection, n_members: int) -> None:
    hashed = auth.HASHER.hash(PASSWORD)
    who = [volunteer(2 * i) for i in range(min(FRESH_READERS, n_members // 2))]
    who += [f"staff-{c}" for c in ("big", "dsp", "wc", "wk", "wr")] + ["admin"]
    who += [writer(c, i) for c in ("wc", "wk", "wr") for i in range(WRITE_MEMBERS)]
    rows = [
        {
            "member_id": m,
            "phone": f"139{n:08}",
            "password_hash": hashed,
            "token_version": 0,
            "updated_at": points.utcnow(),
        }
        for n, m in enumerate(who)
    ]
    _insert(tx, credentials, rows)


# --- wishes and claims in bulk --------------------------------------------------------------


def _wish(
    rng: random.Random,
    community: str,
    wish_id: str,
    org_id: str,
    resident: str,
    *,
    now: dt.datetime,
    capacity: int,
    state: str,
    start: dt.datetime,
    published_at: dt.datetime,
    places_taken: int = 0,
    deadline_at: dt.datetime | None = None,
    first_claimed_at: dt.datetime | None = None,
) -> dict[str, Any]:
    category = rng.choice(CATEGORIES)
    return {
        "community_id": community,
        "id": wish_id,
        "kind": "service",
        "category": category,
        "title": f"{category}：{wish_id[-6:]}",
        "description": "基准数据",
        "org_id": org_id,
        "address": f"{org_id}号楼",
        "location": None,
        "window_start": start,
        "window_end": start + dt.timedelta(hours=rng.choice((2, 4, 8, 72))),
        "capacity": capacity,
        "estimated_minutes": rng.choice((30, 60, 90, 120)),
        "urgency": rng.randint(1, 4),
        "skills": sorted(rng.sample(SKILLS, rng.choice((0, 0, 1, 2)))),
        "beneficiary_id": resident,
        "posted_by": resident,
        "proxy_note": None,
        "offer_id": None,
        "state": state,
        "level": 0,
        "deadline_at": deadline_at or published_at + dt.timedelta(hours=48),
        "places_taken": places_taken,
        "confirmation_code": f"{rng.randrange(1_000_000):06d}",
        "rating": None,
        "rating_comment": None,
        "created_at": published_at - dt.timedelta(hours=1),
        "published_at": published_at,
        "first_claimed_at": first_claimed_at,
        "served_at": None,
        "closed_at": None,
    }


def _transition(
    ids: Ids,
    community: str,
    subject: str,
    subject_id: str,
    action: str,
    from_state: str,
    to_state: str,
    actor: str,
    held: Sequence[str],
    at: dt.datetime,
    reason: str = "",
) -> dict[str, Any]:
    return {
        "community_id": community,
        "id": ids(),
        "subject": subject,
        "subject_id": subject_id,
        "action": action,
        "from_state": from_state,
        "to_state": to_state,
        "actor_id": actor,
        "roles": sorted(held),
        "reason": reason,
        "at": at,
    }


def _posted(
    ids: Ids, wish: dict[str, Any], staff: str, *, to: str = "published"
) -> list[dict[str, Any]]:
    """post_wish's and verify's transitions."""
    c, w = wish["community_id"], wish["id"]
    return [
        _transition(ids, c, "wish", w, "post", "new", "submitted", wish["posted_by"], ["resident"],
                    wish["created_at"]),
        _transition(ids, c, "wish", w, "verify", "submitted", to, staff, ["staff"],
                    wish["published_at"]),
    ]  # fmt: skip


def _open_wishes(
    tx: Connection,
    rng: random.Random,
    ids: Ids,
    community: str,
    n: int,
    now: dt.datetime,
    *,
    capacity: int | None = None,
) -> None:
    grids = _grids(community, 100 if community == "big" else 10)
    rows, trail = [], []
    for i in range(n):
        published = now - dt.timedelta(minutes=rng.randrange(60, 60 * 24 * 20))
        start = now + dt.timedelta(hours=rng.randrange(2, 24 * 30))
        wish = _wish(
            rng, community, ids(), rng.choice(grids), f"r{i % 1000:04}", now=now,
            capacity=capacity or rng.choice((1, 1, 1, 2, 3)), state="published", start=start,
            published_at=published,
        )  # fmt: skip
        rows.append(wish)
        trail += _posted(ids, wish, f"staff-{community}")
        if len(rows) >= BATCH:
            _insert(tx, wishes, rows)
            _insert(tx, transitions, trail)
            rows, trail = [], []
    _insert(tx, wishes, rows)
    _insert(tx, transitions, trail)


def claim_wish_id(w: int) -> str:
    return f"wc-w{w:04}"


def claim_member(i: int) -> tuple[int, str]:
    """The wish and member of the i-th claim request: wishes in turn, each member once per wish
    and at most ``PER_WISH`` (the community's claim limit) times in all."""
    w, r = i % CLAIM_WISHES, (i // CLAIM_WISHES) % PER_WISH
    return w, writer("wc", r + PER_WISH * (w % (WRITE_MEMBERS // PER_WISH)))


def _claim_wishes(tx: Connection, rng: random.Random, ids: Ids, now: dt.datetime) -> None:
    rows, trail = [], []
    for w in range(CLAIM_WISHES):
        wish = _wish(
            rng, "wc", claim_wish_id(w), "wc-g000", "wc-resident", now=now, capacity=PER_WISH,
            state="published", start=now + dt.timedelta(days=2), published_at=now,
        )  # fmt: skip
        rows.append(wish)
        trail += _posted(ids, wish, "staff-wc")
    _insert(tx, wishes, rows)
    _insert(tx, transitions, trail)


def checkout_claim_id(i: int) -> str:
    w, r = i % CHECKOUT_WISHES, (i // CHECKOUT_WISHES) % PER_WISH
    return f"wk-k{w:03}-{r:02}"


def checkout_member(w: int, r: int) -> str:
    return writer("wk", r + PER_WISH * (w % (WRITE_MEMBERS // PER_WISH)))


def _checked_in(tx: Connection, rng: random.Random, ids: Ids, now: dt.datetime) -> None:
    """What claim (×100) and check_in (×100) leave behind: wishes in service, every place
    taken, claims checked in 90 minutes ago, each member's open claims counted."""
    published = now - dt.timedelta(hours=5)
    claimed_at = now - dt.timedelta(hours=4)
    checked_in = now - dt.timedelta(minutes=90)
    start = now - dt.timedelta(hours=2)
    rows, made, trail = [], [], []
    load: dict[str, int] = {}
    for w in range(CHECKOUT_WISHES):
        wish_id = f"wk-w{w:03}"
        deadline = max(claimed_at + dt.timedelta(hours=168), start + dt.timedelta(days=30))
        wish = _wish(
            rng, "wk", wish_id, "wk-g000", "wk-resident", now=now, capacity=PER_WISH,
            state="in_service", start=start, published_at=published, places_taken=PER_WISH,
            deadline_at=deadline, first_claimed_at=claimed_at,
        )  # fmt: skip
        wish["window_end"] = start + dt.timedelta(days=30)
        rows.append(wish)
        trail += _posted(ids, wish, "staff-wk")
        for r in range(PER_WISH):
            member, claim_id = checkout_member(w, r), f"wk-k{w:03}-{r:02}"
            load[member] = load.get(member, 0) + 1
            made.append(
                {
                    "community_id": "wk",
                    "id": claim_id,
                    "wish_id": wish_id,
                    "member_id": member,
                    "unit_id": None,
                    "places": 1,
                    "parent_id": None,
                    "state": "checked_in",
                    "checked_in_at": checked_in,
                    "checked_out_at": None,
                    "minutes": None,
                    "override_by": None,
                    "award_id": None,
                    "created_at": claimed_at,
                    "closed_at": None,
                }
            )
            trail.append(
                _transition(ids, "wk", "claim", claim_id, "claim", "new", "active", member,
                            ["volunteer"], claimed_at)
            )  # fmt: skip
        last = checkout_member(w, PER_WISH - 1)
        trail.append(
            _transition(ids, "wk", "wish", wish_id, "settle", "published", "claimed", last,
                        ["system"], claimed_at, reason="claim")
        )  # fmt: skip
        for r in range(PER_WISH):
            member, claim_id = checkout_member(w, r), f"wk-k{w:03}-{r:02}"
            held = ["claimant", "volunteer"]
            if r == 0:  # the first check-in moves the wish into service
                trail.append(
                    _transition(ids, "wk", "wish", wish_id, "check_in", "claimed", "in_service",
                                member, held, checked_in)
                )  # fmt: skip
            trail.append(
                _transition(ids, "wk", "claim", claim_id, "check_in", "active", "checked_in",
                            member, held, checked_in)
            )  # fmt: skip
    _insert(tx, wishes, rows)
    _insert(tx, claims, made)
    _insert(tx, transitions, trail)
    _insert(
        tx,
        member_load,
        [
            {"community_id": "wk", "member_id": m, "open_claims": n, "no_shows": 0}
            for m, n in sorted(load.items())
        ],
    )


def _store(tx: Connection, now: dt.datetime) -> None:
    """The store and the wallets, through the library (one adjustment per member)."""
    points.add_item(tx, community_id="wr", name="茶叶", cost=1, stock=10**9, id="tea", now=now)
    for i in range(WRITE_MEMBERS):
        points.adjust(
            tx,
            community_id="wr",
            member_id=writer("wr", i),
            change=REDEEM_POINTS,
            reason="基准数据",
            actor="staff-wr",
            now=now,
        )


def _insert(tx: Connection, table: sa.Table, rows: list[dict[str, Any]]) -> None:
    for chunk in _chunks(rows, BATCH):
        tx.execute(table.insert(), chunk)


def _chunks(rows: list[dict[str, Any]], size: int) -> Iterator[list[dict[str, Any]]]:
    for start in range(0, len(rows), size):
        yield rows[start : start + size]


# --- what the HTTP benchmarks send ----------------------------------------------------------


def fixtures(directory: Path, settings: Settings, n_members: int, now: dt.datetime) -> Fixtures:
    """The request files (method, path, bearer token, body per line) for wrk's Lua script."""
    jwt = auth.jwt_auth(settings)
    tokens: dict[str, str] = {}

    def token(member: str) -> str:
        if member not in tokens:
            tokens[member] = auth.issue_token(jwt, settings, member, 0)
        return tokens[member]

    api = "/api/v1/communities"
    lines: dict[str, list[tuple[str, str, str, str]]] = {}
    anyone = token(volunteer(0))
    lines["bare_post"] = [("POST", "/bare", anyone, '{"id":"x"}')]
    lines["bare_get"] = [("GET", "/bare", anyone, "")]
    lines["claim"] = []
    for i in range(CLAIM_WISHES * PER_WISH):
        w, member = claim_member(i)
        lines["claim"].append(
            ("POST", f"{api}/wc/wishes/{claim_wish_id(w)}/claims", token(member), "{}")
        )
    lines["check_out"] = []
    for i in range(CHECKOUT_WISHES * PER_WISH):
        w, r = i % CHECKOUT_WISHES, (i // CHECKOUT_WISHES) % PER_WISH
        path = f"{api}/wk/claims/{checkout_claim_id(i)}/check-out"
        lines["check_out"].append(("POST", path, token(checkout_member(w, r)), "{}"))
    lines["redeem"] = [
        ("POST", f"{api}/wr/orders", token(writer("wr", i % WRITE_MEMBERS)), '{"item_id":"tea"}')
        for i in range(40_000)
    ]
    readers = [volunteer(2 * i) for i in range(min(READ_TOKENS, n_members // 2))]
    lines["wish_list"] = [
        ("GET", f"{api}/big/wishes?state=published&category={quote(c)}&limit=50", token(m), "")
        for m, c in zip(readers, CATEGORIES * (len(readers) // len(CATEGORIES) + 1), strict=False)
    ]
    lines["recommendations"] = [
        ("GET", f"{api}/big/recommendations?limit=20", token(m), "") for m in readers
    ]
    # Each member once (then again only after the list kept for them is 10 s old, or never):
    # what a list made anew costs (marketplace.Kept).
    lines["recommendations_fresh"] = [
        ("GET", f"{api}/big/recommendations?limit=20", token(volunteer(2 * i)), "")
        for i in range(min(READ_TOKENS, n_members // 2), min(FRESH_READERS, n_members // 2))
    ]
    lines["balance"] = [
        ("GET", f"{api}/wr/members/{writer('wr', i)}/wallet", token(writer("wr", i)), "")
        for i in range(READ_TOKENS)
    ]
    for name, org, member in (
        ("statistics", "big", "staff-big"),  # a community's dashboard
        ("statistics_street", "bs", "admin"),
        ("statistics_district", "bd", "admin"),
    ):
        lines[name] = [("GET", f"/api/v1/orgs/{org}/statistics?period=30d", token(member), "")]
    directory.mkdir(parents=True, exist_ok=True)
    files = {}
    for name, rows in lines.items():
        target = directory / f"{name}.tsv"
        target.write_text("".join("\t".join(r) + "\n" for r in rows), encoding="utf-8")
        files[name] = str(target)
    return Fixtures(
        files=files, sizes={k: len(v) for k, v in lines.items()}, wallet_member=writer("wr", 0)
    )
