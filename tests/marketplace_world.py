"""A small district for marketplace tests: one street, two communities, a grid, a unit, people.

::

    d1 (district) ── s1 (street) ─┬─ c1 (community) ── p1 (compound) ── g1 (grid)
                                  └─ c2 (community, another tenant)
    u1 (unit) paired with c1; u2 (unit) not paired

Members: admin (admin on d1), staff (staff on c1), grid (grid worker on g1), res (resident on
g1), res2 (resident on g1), vol1..vol5 (volunteers on c1), party (party member of u1, works at
u1), uadmin (unit admin of u1), outsider (volunteer on c2).
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy.engine import Connection

import marketplace as mk
from marketplace import OrgKind, Role

T0 = dt.datetime(2026, 12, 1, 1, 0, tzinfo=dt.UTC)  # 09:00 in China
VOLUNTEERS = ("vol1", "vol2", "vol3", "vol4", "vol5")


def build(tx: Connection) -> None:
    sys = mk.SYSTEM
    mk.create_org(tx, sys, id="d1", kind=OrgKind.DISTRICT, name="幸福区", now=T0)
    mk.create_org(tx, sys, id="s1", kind=OrgKind.STREET, name="和平街道", parent_id="d1", now=T0)
    for c, name in (("c1", "阳光社区"), ("c2", "月亮社区")):
        mk.create_org(tx, sys, id=c, kind=OrgKind.COMMUNITY, name=name, parent_id="s1", now=T0)
    mk.create_org(tx, sys, id="p1", kind=OrgKind.COMPOUND, name="幸福小区", parent_id="c1", now=T0)
    mk.create_org(tx, sys, id="g1", kind=OrgKind.GRID, name="第一网格", parent_id="p1", now=T0)
    for u, name in (("u1", "区卫健局"), ("u2", "区税务局")):
        mk.create_org(tx, sys, id=u, kind=OrgKind.UNIT, name=name, now=T0)
    people = {
        "admin": ("d1", Role.ADMIN),
        "staff": ("c1", Role.STAFF),
        "grid": ("g1", Role.GRID_WORKER),
        "res": ("g1", Role.RESIDENT),
        "res2": ("g1", Role.RESIDENT),
        "uadmin": ("u1", Role.UNIT_ADMIN),
        "party": ("u1", Role.PARTY_MEMBER),
        "outsider": ("c2", Role.VOLUNTEER),
        **dict.fromkeys(VOLUNTEERS, ("c1", Role.VOLUNTEER)),
    }
    for member_id, (org_id, role) in people.items():
        mk.add_member(
            tx,
            id=member_id,
            name=member_id,
            home_org_id="g1" if org_id in ("g1", "c1") else None,
            home_unit_id="u1" if member_id == "party" else None,
            skills=frozenset({"家电维修"}) if member_id == "vol1" else frozenset(),
            now=T0,
        )
        mk.grant_role(tx, sys, member_id, org_id, role, now=T0)
    mk.pair_unit(tx, "staff", "u1", "c1", now=T0)


def post(
    tx: Connection,
    *,
    actor: str = "res",
    capacity: int = 1,
    id: str | None = None,
    category: str = "助老陪护",
    start: dt.datetime = T0 + dt.timedelta(hours=2),
    hours: int = 3,
    community_id: str = "c1",
    org_id: str = "g1",
) -> mk.Wish:
    return mk.post_wish(
        tx,
        actor,
        community_id=community_id,
        kind=mk.WishKind.SERVICE,
        category=category,
        title="陪老人去医院",
        description="周二上午复诊",
        org_id=org_id,
        address="幸福路1号3栋",
        window_start=start,
        window_end=start + dt.timedelta(hours=hours),
        estimated_minutes=120,
        capacity=capacity,
        id=id,
        now=T0,
    )


def published(tx: Connection, **kwargs: object) -> mk.Wish:
    wish = post(tx, **kwargs)  # type: ignore[arg-type]
    return mk.verify(tx, "staff", wish.community_id, wish.id, now=T0)


def repair(
    tx: Connection, *, id: str | None = None, urgency: mk.Urgency = mk.Urgency.NORMAL
) -> mk.Wish:
    """A published wish that asks for 家电维修 (vol1 has it, the other volunteers not)."""
    wish = mk.post_wish(
        tx,
        "res",
        community_id="c1",
        kind=mk.WishKind.SERVICE,
        category="家电维修",
        title="修水龙头",
        description="",
        org_id="g1",
        address="幸福路1号",
        id=id,
        window_start=T0 + dt.timedelta(hours=1),
        window_end=T0 + dt.timedelta(hours=4),
        estimated_minutes=60,
        skills=frozenset({"家电维修"}),
        urgency=urgency,
        now=T0,
    )
    return mk.verify(tx, "staff", "c1", wish.id, now=T0)
