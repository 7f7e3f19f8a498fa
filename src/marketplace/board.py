"""The public board (公示栏): what a community shows to anyone, signed in or not.

Fulfilled wishes (title, category, place name, month, rating; never who asked, the address or the
code), the honour roll (光荣榜) of volunteers by verified hours, where only members who opted in
(public_profile) appear by name and everyone else only in a count, and the points store's stock.
Nothing personal leaves this module; an unknown community is NotFound.
"""

from __future__ import annotations

import datetime as dt

import msgspec
import sqlalchemy as sa
from sqlalchemy.engine import Connection

import points
from marketplace.errors import InvalidInput, NotFound
from marketplace.lifecycle import WishState
from marketplace.model import CHINA, Org, OrgKind
from marketplace.orgs import check_id, get_org
from marketplace.schema import members, orgs, wishes
from points import Cause, Page, sqltypes

DONE = (WishState.CONFIRMED.value, WishState.CLOSED.value)
HONOUR_ROLL = 20


class DoneWish(msgspec.Struct, frozen=True, kw_only=True):
    """A fulfilled wish as the public sees it."""

    title: str
    category: str
    place: str  # the org's name (a grid or the community), never the address
    served_on: dt.date | None  # China Standard Time
    rating: int | None


class Honour(msgspec.Struct, frozen=True, kw_only=True):
    name: str  # only members who opted in are listed
    minutes: int  # in this community
    hours: str
    star_level: int  # the person's (志愿者星级), from their hours in every community


class StockLine(msgspec.Struct, frozen=True, kw_only=True):
    name: str
    cost: int
    stock: int | None  # None: not limited


class Board(msgspec.Struct, frozen=True, kw_only=True):
    community_id: str
    community_name: str
    fulfilled: tuple[DoneWish, ...]  # a page of them, the latest served first
    fulfilled_total: int
    honour_roll: tuple[Honour, ...]  # opted-in members among the top by hours
    others: int  # members among the top by hours who did not opt in (a count, never names)
    store: tuple[StockLine, ...]
    next_cursor: str | None = None  # the next page of fulfilled wishes (None: no more)


def public_communities(conn: Connection, *, cursor: str | None = None, limit: int = 50) -> Page:
    """Communities with a public board, by id (items: Org)."""
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= 200:
        raise InvalidInput("limit", Cause("range", {"low": 1, "high": 200}))
    query = sa.select(orgs).where(orgs.c.kind == OrgKind.COMMUNITY.value)
    if cursor is not None:
        query = query.where(orgs.c.id > check_id("cursor", cursor))
    rows = (conn.execute(query.order_by(orgs.c.id).limit(limit + 1))).all()
    items = tuple(sqltypes.to_struct(r, Org) for r in rows[:limit])
    return Page(items=items, next_cursor=items[-1].id if len(rows) > limit else None)


def public_board(
    conn: Connection, community_id: str, *, cursor: str | None = None, limit: int = 20
) -> Board:
    """The community's public board; ``limit`` fulfilled wishes, the latest served first (the
    date each shows), and ``next_cursor`` for the page after (``<served_at>|<wish id>`` of the
    last one shown)."""
    try:
        community = get_org(conn, community_id)
    except NotFound:
        raise NotFound("community", community_id) from None
    if community.kind is not OrgKind.COMMUNITY:
        raise NotFound("community", community_id)
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= 100:
        raise InvalidInput("limit", Cause("range", {"low": 1, "high": 100}))
    done = sa.and_(wishes.c.community_id == community_id, wishes.c.state.in_(DONE))
    query = (
        sa.select(
            wishes.c.title,
            wishes.c.category,
            orgs.c.name,
            wishes.c.served_at,
            wishes.c.rating,
            wishes.c.id,
        )
        .join(orgs, orgs.c.id == wishes.c.org_id)
        .where(done, wishes.c.served_at.is_not(None))  # a fulfilled wish was served
    )
    if cursor is not None:
        at, wish_id = _after(cursor)
        query = query.where(
            sa.tuple_(wishes.c.served_at, wishes.c.id)
            < sa.tuple_(sa.literal(at, wishes.c.served_at.type), sa.literal(wish_id))
        )
    rows = conn.execute(
        query.order_by(wishes.c.served_at.desc(), wishes.c.id.desc()).limit(limit + 1)
    ).all()
    fulfilled = tuple(
        DoneWish(
            title=title,
            category=category,
            place=place,
            served_on=served.astimezone(CHINA).date() if served else None,
            rating=rating,
        )
        for title, category, place, served, rating, _ in rows[:limit]
    )
    last = rows[limit - 1] if len(rows) > limit else None
    total = conn.scalar(sa.select(sa.func.count()).where(done)) or 0
    top = points.top_hours(conn, community_id, limit=HONOUR_ROLL)
    opted = set(
        (
            conn.execute(
                sa.select(members.c.id).where(
                    members.c.id.in_([t.member_id for t in top]),
                    members.c.public_profile == sa.true(),
                )
            )
        ).scalars()
    )
    named = conn.execute(
        sa.select(members.c.id, members.c.name).where(members.c.id.in_(sorted(opted)))
    )
    names = {member_id: name for member_id, name in named.all()}  # noqa: C416
    everywhere = points.minutes_everywhere(conn, sorted(opted))  # 星级: the person's hours
    roll = tuple(
        Honour(
            name=names[t.member_id],
            minutes=t.minutes,
            hours=t.hours,
            star_level=points.star_level(everywhere.get(t.member_id, t.minutes)),
        )
        for t in top
        if t.member_id in opted
    )
    items = points.list_items(conn, community_id, active_only=True, limit=50)
    store = tuple(StockLine(name=i.name, cost=i.cost, stock=i.stock) for i in items.items)
    return Board(
        community_id=community_id,
        community_name=community.name,
        fulfilled=fulfilled,
        fulfilled_total=int(total),
        honour_roll=roll,
        others=len(top) - len(roll),
        store=store,
        next_cursor=f"{last.served_at.isoformat()}|{last.id}" if last is not None else None,
    )


def _after(cursor: str) -> tuple[dt.datetime, str]:
    """The last fulfilled wish a page showed, from its cursor."""
    stamp, _, wish_id = cursor.partition("|")
    try:
        at = dt.datetime.fromisoformat(stamp)
    except ValueError:
        raise InvalidInput("cursor", Cause("cursor")) from None
    if at.tzinfo is None:
        raise InvalidInput("cursor", Cause("cursor"))
    return at, check_id("cursor", wish_id)
