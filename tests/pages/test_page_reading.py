"""What the pages say reads right in Chinese and agrees with itself: the points statement lists
each award once with the same balance as the wallet above it, an award's breakdown reads as
sentences, and 办理记录 tells every step of a wish (its claims' too) in Chinese."""

from __future__ import annotations

import datetime as dt
import re

from sqlalchemy.engine import Connection

import marketplace as mk
from pages_world import Site

CATEGORY = "助老陪护"


def _wish(tx: Connection, now: dt.datetime, *, capacity: int = 1) -> mk.Wish:
    """A wish of res whose window opened two hours ago, verified three hours ago."""
    start = now - dt.timedelta(hours=3)
    wish = mk.post_wish(
        tx, "res", community_id="c1", kind=mk.WishKind.SERVICE, category=CATEGORY,
        title="陪我去医院复诊", description="", org_id="g1", address="幸福路1号3栋502室",
        window_start=start + dt.timedelta(hours=1), window_end=start + dt.timedelta(hours=4),
        estimated_minutes=90, capacity=capacity, now=start,
    )  # fmt: skip
    mk.verify(tx, "staff", "c1", wish.id, now=start)
    return wish


def _served(site: Site, minutes: int) -> str:
    """vol1 served res for ``minutes`` and res confirmed: an award of the default policy (10
    points an hour, rounded down to the point)."""
    now = site.svc.clock.now
    with site.svc.app.state.db.transaction() as tx:
        wish = _wish(tx, now)
        start = now - dt.timedelta(hours=2)
        claim = mk.claim(tx, "vol1", "c1", wish.id, now=start)
        mk.check_in(tx, "vol1", "c1", claim.id, code=wish.confirmation_code, now=start)
        end = start + dt.timedelta(minutes=minutes)
        mk.check_out(tx, "vol1", "c1", claim.id, now=end)
        mk.confirm(tx, "res", "c1", wish.id, rating=5, now=end + dt.timedelta(minutes=5))
    return wish.id


def _cells(page: str) -> list[list[str]]:
    rows = re.findall(r"<tr><td>(.*?)</tr>", page, re.S)
    return [
        [re.sub(r"<[^>]+>", "", c).strip() for c in re.split(r"</td>\s*<td[^>]*>", r)] for r in rows
    ]


async def test_the_statement_lists_each_award_once_with_the_wallet_s_balance(site: Site) -> None:
    _served(site, 87)  # 14.5 points, 14 once rounded down
    now = site.svc.clock.now
    with site.svc.app.state.db.transaction() as tx:
        mk.wallet.adjust(tx, "staff", "c1", "vol1", 100, reason="志愿活动补录", now=now)
        item = mk.wallet.add_item(tx, "staff", "c1", name="大米", cost=50, stock=5, now=now)
        mk.wallet.redeem(tx, "vol1", "c1", item.id, now=now)  # held until it is handed over
    volunteer = await site.person("vol1")
    page = await volunteer.get("/points")
    available = re.findall(r'data-testid="available">(\d+)<', page.text)[0]
    assert available == "64"  # 14 + 100 − 50 held
    rows = _cells(page.text)
    assert [r[1] for r in rows] == ["兑换（冻结中）大米", "调整志愿活动补录", "服务奖励"]
    assert rows[0][3] == available  # the newest line's balance is the wallet's
    assert [r[2] for r in rows] == ["−50", "+100", "+14"]
    assert "post" not in re.sub(r"/points/transfers/[^\"]+", "", page.text)


async def test_an_award_s_breakdown_reads_as_sentences(site: Site) -> None:
    _served(site, 87)
    volunteer = await site.person("vol1")
    statement = await volunteer.get("/points")
    transfer = re.findall(r'href="(/points/transfers/[^"]+)"', statement.text)[0]
    page = await volunteer.get(transfer)
    steps = re.findall(r"<li>(.*?)</li>", page.text.split("积分是怎么算的")[1])
    assert steps == ["基础积分：87分钟 × 10分/小时 = 14.5 分", "按1分向下取整：14.5 分计为 14 分"]
    assert "合计 <strong>14</strong> 分" in page.text


def _history(page: str) -> list[str]:
    block = page.split("<h2>办理记录</h2>")[1]
    return [
        re.sub(r"^\d\d-\d\d \d\d:\d\d ", "", line) for line in re.findall(r"<li>(.*?)</li>", block)
    ]


async def test_the_record_of_a_wish_tells_the_claim_and_the_check_out(site: Site) -> None:
    wish_id = _served(site, 90)
    resident = await site.person("res")
    lines = _history((await resident.get(f"/wishes/{wish_id}")).text)
    assert lines == [
        "点单 → 待审核",
        "审核通过 → 待认领",
        "认领 → 已认领",
        "报到 → 服务中",
        "签退 → 待评价",
        "确认评价 → 已确认",
        "办结 → 已办结",
    ]


async def test_a_claim_that_leaves_places_free_is_in_the_record_too(site: Site) -> None:
    with site.svc.app.state.db.transaction() as tx:
        wish = _wish(tx, site.svc.clock.now, capacity=2)
        mk.claim(tx, "vol1", "c1", wish.id, now=site.svc.clock.now)
    resident = await site.person("res")
    lines = _history((await resident.get(f"/wishes/{wish.id}")).text)
    assert lines[-1] == "认领 → 已接单"


async def test_an_escalation_reads_in_chinese(site: Site) -> None:
    with site.svc.app.state.db.transaction() as tx:
        wish = _wish(tx, site.svc.clock.now)
        mk.escalate_due(tx, now=site.svc.clock.now + dt.timedelta(days=30))
    staff = await site.person("staff")
    page = await staff.get(f"/wishes/{wish.id}")
    lines = _history(page.text)
    assert lines[-1] == "吹哨上报：由社区升至街道督办"
    assert "level" not in page.text
