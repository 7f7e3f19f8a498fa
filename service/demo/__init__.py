"""Demo data (演示数据): 幸福区 as it looks after ninety days of use.

Two streets, six communities, 21 compounds and 124 grids; ten units paired with communities
(结对共建); a few thousand residents in their households, some of them key households (重点家庭)
with the consent recorded; 300 volunteers and party members; 600 micro-wishes in every state the
lifecycle rests in, each taken through the libraries' own flow (点单 → 审核 → 接单 → 报到 → 签退 →
评单) at moments of the last ninety days, with the background sweeps (吹哨 escalation,
auto-accept, no-shows, expiry) run every six hours of that past. Every community has its accrual
policy, a points store (积分超市) with orders, offline events and mutual-help offers (互助项目).

- :mod:`service.demo.district`: the org tree and the people (pure, seeded).
- :mod:`service.demo.stories`: what happened when; :mod:`service.demo.steps`: the library calls.

The same ``now`` gives the same data (only the confirmation codes, and the ids the libraries make
themselves, differ). Loading twice changes nothing: the second load finds the demo and only
counts it. The eight demo accounts of :data:`ACCOUNTS` sign in with their phone number and the
password ``demo12345`` (:data:`PASSWORD`). On an idle 2-core machine a load takes about 45 s:
some 77,000 statements, each a library call's own, in transactions of a few hundred steps.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from typing import Any

import click
import msgspec
import sqlalchemy as sa
from sqlalchemy.engine import Connection

import marketplace as mk
import points
from marketplace import OrgKind, Role, WishState
from marketplace.schema import claims, members, offers, orgs, pairings, roles, wishes
from points.schema import accounts, catalog_items, orders, service_records
from service import auth
from service.demo.district import (
    ACCOUNTS,
    COMMUNITIES,
    COMMUNITY_IDS,
    DISTRICT,
    PASSWORD,
    STREETS,
    UNIT_IDS,
    UNITS,
    Account,
    Person,
    Population,
    population,
)
from service.demo.stories import Simulation
from service.tables import credentials

__all__ = ["ACCOUNTS", "PASSWORD", "STEPS", "Account", "Loaded", "PartlyLoaded", "load"]

STEPS = 1000
"""How many progress units :func:`load` reports in all."""
CHUNK = 300  # steps of the past per transaction
OPEN = (WishState.SUBMITTED, WishState.PUBLISHED, WishState.CLAIMED, WishState.IN_SERVICE)


class PartlyLoaded(click.ClickException):
    """The database holds part of the demo, or wishes of its own: load into a fresh one."""


class Loaded(msgspec.Struct, frozen=True, kw_only=True):
    """What the demo district holds, counted in the database (a second load says the same)."""

    streets: int
    communities: int
    compounds: int
    grids: int
    units: int  # paired with the district's communities
    households: int
    residents: int
    key_households: int
    volunteers: int  # volunteers and party members
    staff: int  # office of the district, its streets and communities
    grid_workers: int
    unit_admins: int
    wishes: int
    states: dict[str, int]  # wishes by state
    escalated: dict[int, int]  # open wishes by escalation level: 1 street, 2 district
    claims: int
    ratings: int
    satisfied: int  # ratings of 4 or 5
    offers: int
    items: int
    orders: dict[str, int]  # by status
    points_issued: int
    points_spent: int
    minutes_served: int
    accounts: int
    fresh: bool  # False: the demo was there already, and nothing changed
    seconds: float

    def summary(self) -> str:
        order = list(WishState)
        states = sorted(self.states.items(), key=lambda item: order.index(WishState(item[0])))
        satisfied = round(100 * self.satisfied / self.ratings) if self.ratings else 0
        lines = [
            f"demo district {DISTRICT}: {self.streets} streets, {self.communities} communities, "
            f"{self.compounds} compounds, {self.grids} grids, {self.units} paired units",
            f"people: {self.residents:,} residents in {self.households:,} households "
            f"({self.key_households} key households), {self.volunteers} volunteers and party "
            f"members, {self.staff} staff, {self.grid_workers} grid workers, "
            f"{self.unit_admins} unit admins",
            f"wishes: {self.wishes:,} in the last 90 days: "
            + ", ".join(f"{n} {state}" for state, n in states),
            f"escalated: {self.escalated.get(1, 0)} open wishes at the street, "
            f"{self.escalated.get(2, 0)} at the district; {self.claims:,} claims, "
            f"{self.ratings:,} ratings ({satisfied}% satisfied), {self.offers} mutual-help offers",
            f"points: {self.points_issued:,} issued, {self.points_spent:,} spent in "
            f"{self.items} store items; orders: "
            + ", ".join(f"{n} {status}" for status, n in sorted(self.orders.items()))
            + f"; {self.minutes_served // 60:,} hours served",
            f"{self.accounts} demo accounts, {ACCOUNTS[0].phone} to {ACCOUNTS[-1].phone}, "
            f"password {PASSWORD}",
            f"loaded in {self.seconds:.1f} s" if self.fresh else "already loaded: nothing changed",
        ]
        return "\n".join(lines)


def load(
    db: points.Database,
    *,
    progress: Callable[[int], None] = lambda n: None,
    now: dt.datetime | None = None,
) -> Loaded:
    """Load the demo district into a migrated database, or find it there. ``progress`` gets
    :data:`STEPS` units in all; ``now``: when the demo's ninety days end (default: now)."""
    started = time.perf_counter()
    now = (now or points.utcnow()).astimezone(dt.UTC).replace(second=0, microsecond=0)
    pop = population()
    with db.snapshot() as conn:
        found = _found(conn)
    if found != "empty":
        if found != "loaded":
            raise PartlyLoaded(found)
        with db.snapshot() as conn:
            loaded = _count(conn, pop, fresh=False)
        progress(STEPS)
        return loaded
    meter = _Meter(progress)
    _build(db, pop, now, meter)
    with db.snapshot() as conn:
        loaded = _count(conn, pop, fresh=True)
    meter.to(STEPS)
    return msgspec.structs.replace(loaded, seconds=round(time.perf_counter() - started, 1))


class _Meter:
    """Turns "this far through" into the increments a progress callback wants."""

    def __init__(self, progress: Callable[[int], None]) -> None:
        self.progress = progress
        self.done = 0

    def to(self, mark: int) -> None:
        mark = min(mark, STEPS)
        if mark > self.done:
            self.progress(mark - self.done)
            self.done = mark


def _found(conn: Connection) -> str:
    """What the database holds: "loaded", "empty", or why the demo cannot go there."""
    ids = [a.member_id for a in ACCOUNTS]
    signed_in = conn.scalar(sa.select(sa.func.count()).where(credentials.c.member_id.in_(ids)))
    district = conn.scalar(sa.select(sa.func.count()).where(orgs.c.id == DISTRICT))
    if district and signed_in == len(ids):  # the accounts' credentials come last
        return "loaded"
    if district:
        return (
            f"the demo district {DISTRICT!r} is there but incomplete (an interrupted load?); "
            "load the demo into a fresh database"
        )
    if conn.scalar(sa.select(sa.func.count()).select_from(wishes)):
        return "the database holds wishes already; load the demo into a fresh database"
    return "empty"


def _build(db: points.Database, pop: Population, now: dt.datetime, meter: _Meter) -> None:
    sim = Simulation(pop, now)
    since = sim.start - dt.timedelta(days=1100)
    with db.transaction() as tx:
        _orgs(tx, pop, since)
    meter.to(20)
    groups = _groups(pop)
    for n, group in enumerate(groups, start=1):
        with db.transaction() as tx:
            for person in group:
                _add(tx, person, sim.start)
        meter.to(20 + 260 * n // len(groups))
    with db.transaction() as tx:
        sim.setup(tx)
    meter.to(300)
    steps = sim.plan()
    chunks = [steps[k : k + CHUNK] for k in range(0, len(steps), CHUNK)]
    for n, chunk in enumerate(chunks, start=1):
        with db.transaction() as tx:
            for _, _, run in chunk:
                run(tx)
        meter.to(300 + 680 * n // len(chunks))
    hashed = auth.HASHER.hash(PASSWORD)  # once: argon2 is slow on purpose
    with db.transaction() as tx:
        for a in ACCOUNTS:
            auth.set_credentials(tx, a.member_id, a.phone, hashed, now=now)
    meter.to(990)


def _orgs(tx: Connection, pop: Population, since: dt.datetime) -> None:
    system = mk.SYSTEM
    mk.create_org(tx, system, id=DISTRICT, kind=OrgKind.DISTRICT, name="幸福区", now=since)
    for street, name in STREETS:
        mk.create_org(
            tx, system, id=street, kind=OrgKind.STREET, name=name, parent_id=DISTRICT, now=since
        )
    for c in COMMUNITIES:
        mk.create_org(
            tx, system, id=c.id, kind=OrgKind.COMMUNITY, name=c.name, parent_id=c.street, now=since
        )
        for k, compound in enumerate(c.compounds, start=1):
            mk.create_org(
                tx,
                system,
                id=f"{c.id}-p{k}",
                kind=OrgKind.COMPOUND,
                name=compound.name,
                parent_id=c.id,
                now=since,
            )
        for n, grid in enumerate(pop.grids[c.id], start=1):
            mk.create_org(
                tx,
                system,
                id=grid.id,
                kind=OrgKind.GRID,
                name=f"{grid.compound.name}第{_chinese(n)}网格",
                parent_id=grid.compound_id,
                now=since,
            )
    for unit_id, name, _ in UNITS:
        mk.create_org(tx, system, id=unit_id, kind=OrgKind.UNIT, name=name, now=since)


def _chinese(n: int) -> str:
    """1 → 一, 12 → 十二, 22 → 二十二."""
    digits = "零一二三四五六七八九"
    tens, ones = divmod(n, 10)
    if not tens:
        return digits[ones]
    return ("" if tens == 1 else digits[tens]) + "十" + (digits[ones] if ones else "")


def _groups(pop: Population) -> list[list[Person]]:
    """People in a transaction per community, and one for the district, streets and units."""
    groups: dict[str, list[Person]] = {"": [], **{c: [] for c in COMMUNITY_IDS}}
    for person in pop.people.values():
        community = person.org_id.rsplit("-g", 1)[0]
        groups[community if community in COMMUNITY_IDS else ""].append(person)
    return list(groups.values())


def _add(tx: Connection, person: Person, start: dt.datetime) -> None:
    joined = start - dt.timedelta(days=person.joined_days_ago)
    mk.add_member(
        tx,
        id=person.id,
        name=person.name,
        phone=person.phone,
        home_org_id=person.home_org_id,
        home_unit_id=person.home_unit_id,
        skills=person.skills,
        public_profile=person.public_profile,
        now=joined,
    )
    mk.grant_role(tx, mk.SYSTEM, person.id, person.org_id, person.role, now=joined)


def _count(conn: Connection, pop: Population, *, fresh: bool) -> Loaded:
    inside = orgs.c.path.startswith(f"/{DISTRICT}/", autoescape=True)
    demo = list(COMMUNITY_IDS)
    kinds = _grouped(
        conn, sa.select(orgs.c.kind, sa.func.count()).where(inside).group_by(orgs.c.kind)
    )
    units = conn.scalar(
        sa.select(sa.func.count(sa.distinct(pairings.c.unit_id))).where(
            pairings.c.community_id.in_(demo)
        )
    )
    held: dict[str, set[str]] = {}
    granted = (
        sa.select(roles.c.member_id, roles.c.role)
        .join(orgs, orgs.c.id == roles.c.org_id)
        .where(sa.or_(inside, orgs.c.id.in_(UNIT_IDS)))
    )
    for member_id, role in conn.execute(granted):
        held.setdefault(role, set()).add(member_id)
    residents = held.get(Role.RESIDENT.value, set())
    living = sa.select(roles.c.member_id).join(orgs, orgs.c.id == roles.c.org_id)
    living = living.where(inside, roles.c.role == Role.RESIDENT.value)
    flags = conn.execute(sa.select(members.c.key_household).where(members.c.id.in_(living)))
    w = wishes.c
    in_demo = w.community_id.in_(demo)
    states = _grouped(conn, sa.select(w.state, sa.func.count()).where(in_demo).group_by(w.state))
    escalated = _grouped(
        conn,
        sa.select(w.level, sa.func.count())
        .where(in_demo, w.state.in_([s.value for s in OPEN]), w.level > 0)
        .group_by(w.level),
    )
    good = sa.func.sum(sa.case((w.rating >= 4, 1), else_=0))
    rated, satisfied = (conn.execute(sa.select(sa.func.count(w.rating), good).where(in_demo))).one()
    by_status = _grouped(
        conn,
        sa.select(orders.c.status, sa.func.count())
        .where(orders.c.community_id.in_(demo))
        .group_by(orders.c.status),
    )
    fulfilled = orders.c.status == points.OrderStatus.FULFILLED.value
    spent = conn.scalar(
        sa.select(sa.func.sum(orders.c.points)).where(orders.c.community_id.in_(demo), fulfilled)
    )
    pools = accounts.c.kind == points.AccountKind.POOL.value
    issued = conn.scalar(
        sa.select(sa.func.sum(accounts.c.debits_posted - accounts.c.credits_posted)).where(
            accounts.c.community_id.in_(demo), pools
        )
    )
    minutes = conn.scalar(
        sa.select(sa.func.sum(service_records.c.minutes)).where(
            service_records.c.community_id.in_(demo)
        )
    )

    def count(table: sa.Table, *where: sa.ColumnElement[bool]) -> int:
        query = sa.select(sa.func.count()).select_from(table)
        return int(conn.scalar(query.where(table.c.community_id.in_(demo), *where)) or 0)

    return Loaded(
        streets=kinds.get(OrgKind.STREET.value, 0),
        communities=kinds.get(OrgKind.COMMUNITY.value, 0),
        compounds=kinds.get(OrgKind.COMPOUND.value, 0),
        grids=kinds.get(OrgKind.GRID.value, 0),
        units=int(units or 0),
        households=pop.households,
        residents=len(residents),
        key_households=sum(1 for (k,) in flags if k),
        volunteers=len(
            held.get(Role.VOLUNTEER.value, set()) | held.get(Role.PARTY_MEMBER.value, set())
        ),
        staff=len(held.get(Role.STAFF.value, set()) | held.get(Role.ADMIN.value, set())),
        grid_workers=len(held.get(Role.GRID_WORKER.value, ())),
        unit_admins=len(held.get(Role.UNIT_ADMIN.value, ())),
        wishes=sum(states.values()),
        states=states,
        escalated=escalated,
        claims=count(claims, claims.c.member_id.is_not(None)),
        ratings=int(rated or 0),
        satisfied=int(satisfied or 0),
        offers=count(offers),
        items=count(catalog_items),
        orders=by_status,
        points_issued=int(issued or 0),
        points_spent=int(spent or 0),
        minutes_served=int(minutes or 0),
        accounts=len(ACCOUNTS),
        fresh=fresh,
        seconds=0.0,
    )


def _grouped(conn: Connection, query: sa.Select[Any]) -> dict[Any, int]:
    """``SELECT key, count(*) … GROUP BY key`` as a dict."""
    return {key: int(n) for key, n in conn.execute(query)}
