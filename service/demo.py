"""Demo data (演示数据): one community with members, service awards, a store and an order.

Every id and reference is fixed, so loading twice changes nothing the second time.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy.ext.asyncio import AsyncConnection

import points
from points import AccountKind, Activity, ItemKind, LimitPeriod

COMMUNITY = "yangguang"  # 阳光社区
MEMBERS = {"m-zhang": "张伟", "m-li": "李娜", "m-wang": "王芳"}
SERVICES = (
    ("m-zhang", "助老陪护", 120, False),
    ("m-zhang", "家电维修", 90, True),
    ("m-li", "托幼辅导", 150, False),
    ("m-wang", "代办跑腿", 45, True),
)


async def load(tx: AsyncConnection, now: dt.datetime) -> None:
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
