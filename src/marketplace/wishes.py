"""Wishes (微心愿): 居民点单 → 社区审核/下单, and the record of every transition.

A resident posts a wish for themself, or a grid worker or staff member posts it for a resident who
cannot (代点单, with a note of how consent was obtained). Staff verify (publish) or reject it. Each
transition is decided by the lifecycle table, applied with a conditional ``UPDATE … WHERE state =
:from`` (so two people acting at once cannot both move it), and recorded: who, when, from, to, why.
"""

from __future__ import annotations

import datetime as dt
import secrets
from collections.abc import Callable
from typing import Any

import msgspec
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from marketplace import bounds, lifecycle
from marketplace.bounds import most, within
from marketplace.errors import InvalidInput, NotFound
from marketplace.lifecycle import Act, WishAction, WishState
from marketplace.model import Org, OrgKind, Point, Transition, Urgency, Wish, WishKind
from marketplace.moves import find_wish, load_wish, move, record, roles_for, wish_of
from marketplace.orgs import check_id, check_text, community_rules, get_org, roles_on
from marketplace.rules import CommunityRules
from marketplace.schema import members, orgs, transitions, wishes
from marketplace.standing import Standing, standing_at
from points import Cause, Page, new_id, sqltypes, utcnow

MAX_WINDOW = dt.timedelta(days=90)


def post_wish(
    conn: Connection,
    actor: str,
    *,
    community_id: str,
    kind: WishKind,
    category: str,
    title: str,
    description: str,
    org_id: str,
    address: str,
    window_start: dt.datetime,
    window_end: dt.datetime,
    estimated_minutes: int,
    capacity: int = 1,
    urgency: Urgency = Urgency.NORMAL,
    skills: frozenset[str] = frozenset(),
    location: Point | None = None,
    beneficiary_id: str | None = None,
    proxy_note: str | None = None,
    offer_id: str | None = None,
    id: str | None = None,
    now: dt.datetime | None = None,
) -> Wish:
    """点单: post a wish; it waits for staff to verify it."""
    now = now or utcnow()
    wish_id = check_id("id", id or new_id())
    rules = community_rules(conn, community_id)
    place = get_org(conn, org_id)
    if place.community_id != community_id:
        raise InvalidInput("org_id", Cause("outside_community"))
    _check_wish_fields(rules, kind, category, title, description, address, capacity)
    _check_time(window_start, window_end, estimated_minutes, now)
    if urgency not in tuple(Urgency):
        raise InvalidInput("urgency", Cause("range", {"low": 1, "high": 4}))
    beneficiary = beneficiary_id or actor
    held = roles_on(conn, actor, place.path, community_id)
    if beneficiary != actor:
        lifecycle.require(Act.POST_FOR_RESIDENT, held, where="new")
        if not proxy_note or not proxy_note.strip():
            raise InvalidInput("proxy_note", Cause("proxy_needs_consent"))
        check_text("proxy_note", proxy_note, most(bounds.Note))
        if not roles_on(conn, beneficiary, place.path):
            raise InvalidInput("beneficiary_id", Cause("not_resident"))
    else:
        lifecycle.require(Act.POST_WISH, held, where="new")
    deadline = now + dt.timedelta(hours=rules.deadlines_for(category).verify_hours)
    earlier = find_wish(conn, community_id, wish_id)
    if earlier is not None:
        if (earlier.title, earlier.beneficiary_id) != (title, beneficiary):
            raise InvalidInput("id", Cause("id_taken", {"what": "wish"}))
        return earlier
    conn.execute(
        wishes.insert().values(
            community_id=community_id,
            id=wish_id,
            kind=WishKind(kind).value,
            category=category,
            title=title,
            description=description,
            org_id=org_id,
            address=address,
            location=msgspec.to_builtins(location) if location else None,
            window_start=window_start,
            window_end=window_end,
            capacity=capacity,
            estimated_minutes=estimated_minutes,
            urgency=int(urgency),
            skills=sorted(skills),
            beneficiary_id=beneficiary,
            posted_by=actor,
            proxy_note=proxy_note if beneficiary != actor else None,
            offer_id=offer_id,
            state=WishState.SUBMITTED.value,
            deadline_at=deadline,
            confirmation_code=f"{secrets.randbelow(1_000_000):06d}",
            created_at=now,
            key_household=_key_household(beneficiary),
        )
    )
    posted = load_wish(conn, community_id, wish_id)
    record(conn, community_id, "wish", wish_id, "post", "new", "submitted", actor, held, "", now,
           wish=posted)  # fmt: skip
    return posted


def verify(
    conn: Connection,
    actor: str,
    community_id: str,
    wish_id: str,
    *,
    now: dt.datetime | None = None,
) -> Wish:
    """审核通过: publish the wish for claims; the claim deadline starts."""
    now = now or utcnow()
    wish = load_wish(conn, community_id, wish_id)
    rules = community_rules(conn, community_id)
    deadline = now + dt.timedelta(hours=rules.deadlines_for(wish.category).claim_hours)
    return move(
        conn,
        actor,
        wish,
        WishAction.VERIFY,
        now=now,
        values={"published_at": now, "deadline_at": deadline},
    )


def reject(
    conn: Connection,
    actor: str,
    community_id: str,
    wish_id: str,
    *,
    reason: str,
    now: dt.datetime | None = None,
) -> Wish:
    """驳回, with the reason the resident sees."""
    check_text("reason", reason, most(bounds.Reason))
    wish = load_wish(conn, community_id, wish_id)
    now = now or utcnow()
    return move(
        conn,
        actor,
        wish,
        WishAction.REJECT,
        reason=reason,
        now=now,
        values={"closed_at": now, "deadline_at": None},
    )


def _key_household(member_id: str) -> Any:
    """Whether the member is a key household (重点家庭), read inside the wish's insert."""
    flagged = (
        sa.select(members.c.key_household != []).where(members.c.id == member_id).scalar_subquery()
    )
    return sa.func.coalesce(flagged, sa.false())


def get_wish(conn: Connection, actor: str, community_id: str, wish_id: str) -> Wish:
    """A wish as ``actor`` may see it: NotFound when they have no business with it (tenancy)."""
    wish = load_wish(conn, community_id, wish_id)
    roles_for(conn, actor, wish)
    return wish


class Filters(msgspec.Struct, frozen=True, kw_only=True):
    """Which wishes of a community a list shows (:func:`list_wishes`, :func:`browse_wishes`).
    ``since``/``until``: posted in ``[since, until)``; ``text``: in the title or description."""

    states: frozenset[WishState] = frozenset()
    category: str | None = None
    org_id: str | None = None
    escalated: bool | None = None
    since: dt.datetime | None = None
    until: dt.datetime | None = None
    text: str | None = None
    cursor: str | None = None
    limit: int = 50


def list_wishes(
    conn: Connection,
    actor: str,
    community_id: str,
    *,
    states: frozenset[WishState] = frozenset(),
    category: str | None = None,
    org_id: str | None = None,
    escalated: bool | None = None,
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
    text: str | None = None,
    cursor: str | None = None,
    limit: int = 50,
) -> Page:
    """Wishes of a community, newest first; only for members holding a role there.
    ``since``/``until``: posted in ``[since, until)``; ``text``: in the title or description."""
    given = Filters(
        states=states,
        category=category,
        org_id=org_id,
        escalated=escalated,
        since=since,
        until=until,
        text=text,
        cursor=cursor,
        limit=limit,
    )
    member_of(conn, actor, community_id)
    rows = listed(conn, community_id, given, _all_columns).all()
    items = tuple(wish_of(r) for r in rows[: given.limit])
    return Page(items=items, next_cursor=items[-1].id if len(rows) > given.limit else None)


def _all_columns() -> sa.Select[Any]:
    return sa.select(wishes)


def member_of(conn: Connection, actor: str, community_id: str) -> tuple[Org, Standing]:
    """The community and the actor's standing (one statement), when the actor holds a role on
    it, above it or through a paired unit; NotFound otherwise (tenancy)."""
    community, mine = standing_at(conn, actor, community_id)
    if community is None or community.kind is not OrgKind.COMMUNITY:
        raise NotFound("community", community_id)
    if not mine.on(community.path, community_id):
        raise NotFound("community", community_id)
    return community, mine


def listed(
    conn: Connection,
    community_id: str,
    given: Filters,
    base: Callable[[], sa.Select[Any]],
    params: dict[str, Any] | None = None,
) -> sa.engine.CursorResult[Any]:
    """The community's wishes the filters pick from ``base()`` (its further bound ``params``),
    newest first, one more than the page (to tell whether another page follows). The statement
    is built once for each base and set of filters in use, with the values bound: building it
    anew cost more than running it (≈ 0.9 ms a page)."""
    limit = given.limit
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= 200:
        raise InvalidInput("limit", Cause("range", {"low": 1, "high": 200}))
    for name, moment in (("since", given.since), ("until", given.until)):
        if moment is not None and (not isinstance(moment, dt.datetime) or moment.tzinfo is None):
            raise InvalidInput(name, Cause("needs_time_zone"))
    values: dict[str, Any] = {**(params or {}), "l_community": community_id, "l_limit": limit + 1}
    if given.states:
        values["l_states"] = sorted(s.value for s in given.states)
    if given.category is not None:
        values["l_category"] = given.category
    if given.org_id is not None:
        values["l_inside"] = _like_escaped(get_org(conn, given.org_id).path) + "%"
    if given.since is not None:
        values["l_since"] = given.since
    if given.until is not None:
        values["l_until"] = given.until
    if given.text:
        check_text("text", given.text, 50)
        values["l_text"] = "%" + _like_escaped(given.text) + "%"
    if given.cursor is not None:
        values["l_cursor"] = check_id("cursor", given.cursor)
    shape = (base, given.escalated, *sorted(k for k in values if k.startswith("l_")))
    query = _LISTED.get(shape)
    if query is None:
        query = _LISTED[shape] = _narrowed(base(), given.escalated, values)
    return conn.execute(query, values)


_LISTED: dict[tuple[Any, ...], sa.Select[Any]] = {}


def _narrowed(
    query: sa.Select[Any], escalated: bool | None, values: dict[str, Any]
) -> sa.Select[Any]:
    def bound(name: str) -> Any:
        return sa.bindparam(name)

    query = query.where(wishes.c.community_id == bound("l_community"))
    if "l_states" in values:
        query = query.where(wishes.c.state.in_(sa.bindparam("l_states", expanding=True)))
    if "l_category" in values:
        query = query.where(wishes.c.category == bound("l_category"))
    if "l_inside" in values:
        inside = sa.select(orgs.c.id).where(orgs.c.path.like(bound("l_inside"), escape="/"))
        query = query.where(wishes.c.org_id.in_(inside))
    if escalated is not None:
        query = query.where(wishes.c.level > 0 if escalated else wishes.c.level == 0)
    if "l_since" in values:
        query = query.where(wishes.c.created_at >= bound("l_since"))
    if "l_until" in values:
        query = query.where(wishes.c.created_at < bound("l_until"))
    if "l_text" in values:
        query = query.where(
            sa.or_(
                wishes.c.title.like(bound("l_text"), escape="/"),
                wishes.c.description.like(bound("l_text"), escape="/"),
            )
        )
    if "l_cursor" in values:
        query = query.where(wishes.c.id < bound("l_cursor"))
    return query.order_by(wishes.c.id.desc()).limit(bound("l_limit"))


def _like_escaped(text: str) -> str:
    """``text`` matched literally inside a LIKE pattern escaped with ``/``."""
    return text.replace("/", "//").replace("%", "/%").replace("_", "/_")


def history(conn: Connection, community_id: str, subject_id: str, *more: str) -> list[Transition]:
    """Every recorded transition of a wish or claim (and of ``more`` of them: a wish's claims,
    in the same statement), oldest first."""
    rows = conn.execute(
        sa.select(transitions)
        .where(
            transitions.c.community_id == community_id,
            transitions.c.subject_id.in_((subject_id, *more)),
        )
        .order_by(transitions.c.id)
    )
    return [sqltypes.to_struct(r, Transition) for r in rows]


def _check_wish_fields(
    rules: CommunityRules,
    kind: WishKind,
    category: str,
    title: str,
    description: str,
    address: str,
    capacity: int,
) -> None:
    WishKind(kind)
    if category not in rules.categories:
        raise InvalidInput("category", Cause("unknown_category"))
    check_text("title", title, most(bounds.Title))
    check_text("description", description, most(bounds.Description), required=False)
    check_text("address", address, most(bounds.Address))
    within("capacity", capacity, bounds.Capacity)


def _check_time(start: dt.datetime, end: dt.datetime, minutes: int, now: dt.datetime) -> None:
    for name, value in (("window_start", start), ("window_end", end)):
        if not isinstance(value, dt.datetime) or value.tzinfo is None:
            raise InvalidInput(name, Cause("needs_time_zone"))
    if end <= start:
        raise InvalidInput("window_end", Cause("after", {"other": "window_start"}))
    if end - start > MAX_WINDOW or start > now + dt.timedelta(days=365):
        raise InvalidInput("window_end", Cause("wish_span", {"days": 90}))
    if end <= now:
        raise InvalidInput("window_end", Cause("in_past"))
    within("estimated_minutes", minutes, bounds.Minutes)
