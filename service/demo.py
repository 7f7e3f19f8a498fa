"""Demo data (演示数据): one community with members, service awards, a store and an order, and
its place in the org tree with wishes at several stages of 点单 → 评单.

Every id and reference is fixed, so loading twice changes nothing the second time.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy.ext.asyncio import AsyncConnection

import marketplace as mk
import points
from marketplace import OrgKind, Role, WishKind, WishState
from points import AccountKind, Activity, ItemKind, LimitPeriod

COMMUNITY = "yangguang"  # 阳光社区
MEMBERS = {"m-zhang": "张伟", "m-li": "李娜", "m-wang": "王芳"}
SERVICES = (
    ("m-zhang", "助老陪护", 120, False),
    ("m-zhang", "家电维修", 90, True),
    ("m-li", "托幼辅导", 150, False),
    ("m-wang", "代办跑腿", 45, True),
)


RESIDENTS = {"r-chen": "陈奶奶", "r-zhou": "周大爷"}
STAFF = {"s-liu": "刘主任"}


async def load(tx: AsyncConnection, now: dt.datetime) -> None:
    await _ledger(tx, now)
    await _marketplace(tx, now)


async def _marketplace(tx: AsyncConnection, now: dt.datetime) -> None:
    sys = mk.SYSTEM
    await mk.create_org(tx, sys, id="xingfu", kind=OrgKind.DISTRICT, name="幸福区")
    await mk.create_org(
        tx, sys, id="heping", kind=OrgKind.STREET, name="和平街道", parent_id="xingfu"
    )
    await mk.create_org(
        tx, sys, id=COMMUNITY, kind=OrgKind.COMMUNITY, name="阳光社区", parent_id="heping"
    )
    await mk.create_org(
        tx, sys, id="yg-grid-1", kind=OrgKind.GRID, name="第一网格", parent_id=COMMUNITY
    )
    people = [
        *((m, n, Role.VOLUNTEER) for m, n in MEMBERS.items()),
        *((m, n, Role.RESIDENT) for m, n in RESIDENTS.items()),
        *((m, n, Role.STAFF) for m, n in STAFF.items()),
    ]
    for member_id, name, role in people:
        await mk.add_member(tx, id=member_id, name=name, home_org_id="yg-grid-1")
        await mk.grant_role(
            tx, sys, member_id, "yg-grid-1" if role is Role.RESIDENT else COMMUNITY, role
        )
    start = now + dt.timedelta(days=1)
    for wish_id, resident, category, title in (
        ("demo-wish-hospital", "r-chen", "助老陪护", "陪我去医院复诊"),
        ("demo-wish-tap", "r-zhou", "家电维修", "厨房水龙头漏水"),
        ("demo-wish-new", "r-zhou", "代办跑腿", "帮忙取药"),
    ):
        wish = await mk.post_wish(
            tx,
            resident,
            community_id=COMMUNITY,
            kind=WishKind.SERVICE,
            category=category,
            title=title,
            description="",
            org_id="yg-grid-1",
            address="阳光路8号2栋",
            window_start=start,
            window_end=start + dt.timedelta(hours=4),
            estimated_minutes=90,
            id=wish_id,
            now=now,
        )
        if wish_id != "demo-wish-new" and wish.state is WishState.SUBMITTED:
            await mk.verify(tx, "s-liu", COMMUNITY, wish_id, now=now)
    hospital = await mk.load_wish(tx, COMMUNITY, "demo-wish-hospital")
    if hospital.state is WishState.PUBLISHED:
        await mk.claim(tx, "m-li", COMMUNITY, hospital.id, id="demo-claim-1", now=now)


async def _ledger(tx: AsyncConnection, now: dt.datetime) -> None:
    await points.open_community(tx, COMMUNITY)
    version, _ = await points.current_policy(tx, COMMUNITY)
    if version == 0:
        policy = points.AccrualPolicy(
            points_per_hour=10,
            category_multipliers={"助老陪护": 120},
            key_household_bonus_percent=20,
            expiry_days=365,
        )
        await points.set_policy(tx, COMMUNITY, policy, actor="demo")
    for member in MEMBERS:
        await points.open_account(tx, COMMUNITY, AccountKind.MEMBER, member)
    for n, (member, category, minutes, key_household) in enumerate(SERVICES):
        started = dt.datetime(2026, 11, 1 + n, 9, 0, tzinfo=dt.UTC)
        reference = f"demo:service:{n}"
        await points.accrue(
            tx,
            community_id=COMMUNITY,
            member_id=member,
            activity=Activity(
                minutes=minutes,
                category=category,
                started_at=started,
                key_household=key_household,
            ),
            reference=reference,
            id=f"demo-accrual-{n}",
            actor="demo",
            now=now,
        )
        await points.record_service(
            tx,
            community_id=COMMUNITY,
            member_id=member,
            category=category,
            minutes=minutes,
            served_on=started.date(),
            reference=reference,
            actor="demo",
        )
    await points.add_item(
        tx,
        community_id=COMMUNITY,
        id="item-rice",
        name="大米 5kg",
        cost=20,
        stock=30,
        per_member_limit=1,
        limit_period=LimitPeriod.MONTH,
    )
    await points.add_item(
        tx,
        community_id=COMMUNITY,
        id="item-haircut",
        name="理发服务（时间银行）",
        cost=10,
        kind=ItemKind.SERVICE,
    )
    await points.redeem(
        tx, community_id=COMMUNITY, member_id="m-zhang", item_id="item-rice", id="demo-order-1"
    )
