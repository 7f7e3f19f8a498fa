"""Matching against the database: recommendations for a member, candidates for 派单, and
batch auto-dispatch. Loads what the pure rules in :mod:`marketplace.matching` need, in a few
set-based queries; recommendations read a shortlist (:mod:`marketplace.shortlist`), and
auto-dispatch writes its plan through the rules of one dispatch (:mod:`marketplace.dispatches`).
"""

from __future__ import annotations

import datetime as dt
from collections import Counter, defaultdict
from typing import Any

import msgspec
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from marketplace import lifecycle
from marketplace.claims import DISPATCHED, within_limit
from marketplace.dispatches import Dispatched, Left, dispatch_many
from marketplace.errors import ClaimLimitReached, NotFound
from marketplace.kept import Kept
from marketplace.lifecycle import (
    ACTIVE_CLAIM_STATES,
    CLAIMABLE_WISH_STATES,
    CLAIMING,
    UNIT,
    Act,
    ClaimState,
    Role,
)
from marketplace.matching import (
    KEY_HOUSEHOLD_PHRASE,
    Candidate,
    Match,
    Reason,
    Target,
    auto_dispatch,
    rank_candidates,
    why_not,
)
from marketplace.model import Org, OrgKind, Wish
from marketplace.orgs import ancestor_paths, community_rules, get_org, roles_on, rules_from
from marketplace.periods import day_of
from marketplace.rules import CommunityRules
from marketplace.schema import (
    claims,
    member_load,
    members,
    orgs,
    pairings,
    roles,
    settings,
    stat_days,
    wishes,
)
from marketplace.shortlist import best_wishes
from points import sqltypes, utcnow

CANDIDATES = CLAIMING | UNIT
"""Whom matching ranks: volunteers, party members, and the admins of paired units."""
RECENT = dt.timedelta(days=30)


def recommendations(
    conn: Connection,
    member_id: str,
    community_id: str,
    *,
    limit: int = 20,
    now: dt.datetime | None = None,
    kept: Kept[list[Match]] | None = None,
) -> list[Match]:
    """Published wishes that fit the member best, with the score's parts (为你推荐).

    With ``kept`` (:class:`~marketplace.kept.Kept`), a list made for the member in the last few
    seconds is answered again while everything of the member that the ranking reads is as it
    was (:func:`_stamp`, one statement): their claims, open-claim count, no-shows, skills, home
    and roles, and the wishes the community published today. So a member's own claim,
    withdrawal, check-out or profile change, and a wish the office publishes, show in their next
    list whichever process serves it. Others' claims (a wish claimed full) show within the kept
    seconds; a claim on a wish that filled meanwhile is refused as it would be from any page
    left open. A list of 20 is ≈ 22 KB of objects."""
    now = now or utcnow()
    if kept is None or not kept.span:
        return _recommendations(conn, member_id, community_id, limit, now)
    key = ("recommendations", community_id, member_id, limit)
    stamp = _stamp(conn, member_id, community_id, now)
    found = kept.get(key, stamp, now)
    if found is None:
        found = _recommendations(conn, member_id, community_id, limit, now)
        kept.put(key, stamp, now, found)
    return list(found)


def _recommendations(
    conn: Connection, member_id: str, community_id: str, limit: int, now: dt.datetime
) -> list[Match]:
    community, units, rules = _paired(conn, community_id)
    candidates = _candidates(conn, community, now, rules.claim_limit, member_id)
    if not candidates:
        return []
    found = best_wishes(conn, community, candidates[0], units, rules.weights, now, limit)
    return [_for_volunteer(m) for m in found]


def at_claim_limit(conn: Connection, member_id: str, community_id: str) -> tuple[int, int] | None:
    """The member's open claims in the community and its limit (认领上限) when the claim rule
    (:func:`claims.within_limit`) refuses them another, else None: then nothing can be
    recommended, and a page says so instead of an empty list."""
    rules = community_rules(conn, community_id)
    held = conn.scalar(
        sa.select(member_load.c.open_claims).where(
            member_load.c.community_id == community_id, member_load.c.member_id == member_id
        )
    )
    try:
        within_limit(member_id, int(held or 0), rules.claim_limit)
    except ClaimLimitReached:
        return int(held or 0), rules.claim_limit
    return None


def _for_volunteer(match: Match) -> Match:
    """A match as a volunteer sees it before claiming: whether the resident is a key household
    (重点家庭) is sensitive (DESIGN.md section 8), so its part is shown inside urgency and not
    named; the total, and so the order, stay the same."""
    parts = dict(match.score.parts)
    hidden = parts.pop("key_household", 0.0)
    parts["urgency"] = parts.get("urgency", 0.0) + hidden
    parts["key_household"] = 0.0
    explain = tuple(p for p in match.score.explain if p != KEY_HOUSEHOLD_PHRASE)
    score = msgspec.structs.replace(match.score, parts=parts, explain=explain)
    return msgspec.structs.replace(match, score=score)


def reasons(
    conn: Connection,
    member_id: str,
    community_id: str,
    wish_id: str,
    *,
    now: dt.datetime | None = None,
) -> tuple[Reason, ...]:
    """Why the member cannot take the wish (empty: they can)."""
    now = now or utcnow()
    community, units, rules = _paired(conn, community_id)
    targets = [
        t for t in _targets(conn, community_id, wish_id, units=units) if t.wish.id == wish_id
    ]
    if not targets:
        raise NotFound("wish", wish_id)
    found = _candidates(conn, community, now, rules.claim_limit, member_id)
    candidate = found[0] if found else Candidate(member_id=member_id, roles=frozenset())
    return why_not(targets[0], candidate, now)


def candidates(
    conn: Connection,
    actor: str,
    community_id: str,
    wish_id: str,
    *,
    limit: int = 20,
    now: dt.datetime | None = None,
) -> list[Match]:
    """Members ranked for one wish, for staff dispatching it (派单候选人)."""
    now = now or utcnow()
    _require_office(conn, actor, community_id)
    community, units, rules = _paired(conn, community_id)
    targets = _targets(conn, community_id, wish_id, units=units)
    if not targets:
        raise NotFound("wish", wish_id)
    pool = _candidates(conn, community, now, rules.claim_limit)
    return rank_candidates(targets[0], pool, rules.weights, now, limit=limit)


def dispatch_all(
    conn: Connection, actor: str, community_id: str, *, now: dt.datetime | None = None
) -> Dispatched:
    """Auto-dispatch (批量派单): assign members to the community's wishes open for claims,
    honouring capacity and each member's open-claim limit: one plan
    (:func:`matching.auto_dispatch`), written in bulk through the rules of one dispatch
    (:func:`dispatches.dispatch_many`). Says which claims were made and which places were left,
    and why."""
    now = now or utcnow()
    _require_office(conn, actor, community_id)
    community, units, rules = _paired(conn, community_id)
    targets = _targets(conn, community_id, units=units, lock=True)
    pool = _candidates(conn, community, now, rules.claim_limit)
    plan = auto_dispatch(targets, [c for c in pool if c.roles & DISPATCHED], rules.weights, now)
    known = {t.wish.id: (t.wish, t.path) for t in targets}
    done = dispatch_many(conn, actor, community_id, plan, rules, now=now, known=known)
    planned = Counter(step.wish_id for step in plan)
    unfilled = [
        Left(wish_id=t.wish.id, member_id=None,
             code="window_over" if now >= t.wish.window_end else "no_candidate")
        for t in targets
        if t.wish.capacity - t.wish.places_taken > planned[t.wish.id]
    ]  # fmt: skip
    return Dispatched(claims=done.claims, left=[*done.left, *unfilled])


def _require_office(conn: Connection, actor: str, community_id: str) -> None:
    community = get_org(conn, community_id)
    held = roles_on(conn, actor, community.path, community_id)
    in_community = held if community.kind is OrgKind.COMMUNITY else frozenset()
    lifecycle.require(Act.RANK_CANDIDATES, in_community, where="community")


def _targets(
    conn: Connection,
    community_id: str,
    wish_id: str | None = None,
    *,
    units: frozenset[str] | None = None,
    lock: bool = False,
) -> list[Target]:
    """The wish (or every wish open for claims) as matching sees it; ``units``: the units paired
    with the community when the caller has them (else they are read); ``lock``: the wishes stay
    as loaded until the transaction ends (PostgreSQL; SQLite has one writer anyway)."""
    query = (
        sa.select(
            wishes,
            orgs.c.path.label("place_path"),
            members.c.key_household.label("resident_key_household"),
        )
        .join(orgs, orgs.c.id == wishes.c.org_id)
        .outerjoin(members, members.c.id == wishes.c.beneficiary_id)
        .where(wishes.c.community_id == community_id)
    )
    if wish_id is None:
        query = query.where(wishes.c.state.in_(sorted(s.value for s in CLAIMABLE_WISH_STATES)))
    else:
        query = query.where(wishes.c.id == wish_id)
    if lock:
        query = query.with_for_update(of=wishes)
    if units is None:
        _, units, _ = _paired(conn, community_id)
    rows = conn.execute(query)
    to_wish = sqltypes.picker(list(rows.keys()), wishes, "", Wish)
    return [
        Target(
            wish=to_wish(r),
            path=r.place_path,
            key_household=bool(r.resident_key_household),
            paired_unit_ids=units,
        )
        for r in rows
    ]


def _paired(conn: Connection, community_id: str) -> tuple[Org, frozenset[str], CommunityRules]:
    """The community, the units paired with it (结对共建) and its rules, in one statement."""
    rows = conn.execute(_PAIRED, {"community": community_id}).all()
    if not rows:
        raise NotFound("org", community_id)
    units = frozenset(r.paired_unit for r in rows if r.paired_unit is not None)
    return sqltypes.to_struct(rows[0], Org), units, rules_from(rows[0].rules)


_PAIRED = (
    sa.select(orgs, pairings.c.unit_id.label("paired_unit"), settings.c.body.label("rules"))
    .outerjoin(pairings, pairings.c.community_id == orgs.c.id)
    .outerjoin(settings, settings.c.community_id == orgs.c.id)
    .where(orgs.c.id == sa.bindparam("community"))
)


def _candidates(
    conn: Connection,
    community: Org,
    now: dt.datetime,
    claim_limit: int,
    member_id: str | None = None,
) -> list[Candidate]:
    """Members who may claim in the community: volunteers and party members holding the role
    on the community or above, and party members of paired units."""
    given = {
        "community": community.id,
        "ancestors": ancestor_paths(community.path),
        "within": _escaped(community.path),
        "member": member_id,
    }
    held: dict[str, set[Role]] = defaultdict(set)
    for mid, role in conn.execute(_HELD[member_id is not None], given).all():
        held[mid].add(Role(role))
    if not held:
        return []
    ids = sorted(held)
    given["ids"] = ids
    people = {r.id: r for r in conn.execute(_PEOPLE, given)}
    history = conn.execute(_HISTORY, given)
    claimed: dict[str, set[str]] = defaultdict(set)
    recent: dict[str, int] = defaultdict(int)
    completed: dict[str, int] = defaultdict(int)
    ratings: dict[str, list[int]] = defaultdict(list)
    for mid, wid, state, minutes, closed_at, rating in history:
        if ClaimState(state) in ACTIVE_CLAIM_STATES:
            claimed[mid].add(wid)
        if state == ClaimState.CONFIRMED.value:
            completed[mid] += 1
            if rating is not None:
                ratings[mid].append(rating)
            if minutes and closed_at is not None and closed_at >= now - RECENT:
                recent[mid] += minutes
    found = []
    for mid in ids:
        person = people.get(mid)
        rated = ratings[mid]
        found.append(
            Candidate(
                member_id=mid,
                roles=frozenset(held[mid]),
                skills=frozenset(person.skills) if person else frozenset(),
                home_path=(person.path or "") if person else "",
                unit_id=person.home_unit_id if person else None,
                open_claims=(person.open_claims or 0) if person else 0,
                claim_limit=claim_limit,
                claimed_wish_ids=frozenset(claimed[mid]),
                recent_minutes=recent[mid],
                completed=completed[mid],
                no_shows=(person.no_shows or 0) if person else 0,
                average_rating=sum(rated) / len(rated) if rated else None,
            )
        )
    return found


def _held(single: bool) -> sa.CompoundSelect[str, str]:
    """Who holds a role that lets them be a candidate in the community (``single``: the one
    member ``:member``): on the community or above (``:ancestors``), inside it (``:within``,
    its path escaped for LIKE), or on a unit paired with it."""
    in_tree = (
        sa.select(roles.c.member_id, roles.c.role)
        .join(orgs, orgs.c.id == roles.c.org_id)
        .where(roles.c.role.in_([r.value for r in CANDIDATES]))
        .where(
            sa.or_(
                orgs.c.path.in_(sa.bindparam("ancestors", expanding=True)),
                orgs.c.path.startswith(sa.bindparam("within"), escape="/"),
            )
        )
    )
    from_units = (
        sa.select(roles.c.member_id, roles.c.role)
        .join(pairings, pairings.c.unit_id == roles.c.org_id)
        .where(pairings.c.community_id == sa.bindparam("community"))
        .where(roles.c.role.in_([Role.PARTY_MEMBER.value, Role.UNIT_ADMIN.value]))
    )
    if single:
        in_tree = in_tree.where(roles.c.member_id == sa.bindparam("member"))
        from_units = from_units.where(roles.c.member_id == sa.bindparam("member"))
    return sa.union_all(in_tree, from_units)


def _escaped(path: str) -> str:
    """``path`` for ``LIKE … ESCAPE '/'`` (as SQLAlchemy's ``autoescape`` writes it)."""
    return path.replace("/", "//").replace("%", "/%").replace("_", "/_")


# Built once (the statements of every call differ only in their parameters).
_HELD = {single: _held(single) for single in (False, True)}
_PEOPLE = (
    sa.select(
        members.c.id,
        members.c.skills,
        members.c.home_unit_id,
        orgs.c.path,
        member_load.c.open_claims,
        member_load.c.no_shows,
    )
    .outerjoin(orgs, orgs.c.id == members.c.home_org_id)
    .outerjoin(
        member_load,
        sa.and_(
            member_load.c.community_id == sa.bindparam("community"),
            member_load.c.member_id == members.c.id,
        ),
    )
    .where(members.c.id.in_(sa.bindparam("ids", expanding=True)))
)
_HISTORY = (
    sa.select(
        claims.c.member_id,
        claims.c.wish_id,
        claims.c.state,
        claims.c.minutes,
        claims.c.closed_at,
        wishes.c.rating,
    )
    .join(
        wishes,
        sa.and_(wishes.c.community_id == claims.c.community_id, wishes.c.id == claims.c.wish_id),
    )
    .where(
        claims.c.community_id == sa.bindparam("community"),
        claims.c.member_id.in_(sa.bindparam("ids", expanding=True)),
    )
)


def _stamp(
    conn: Connection, member_id: str, community_id: str, now: dt.datetime
) -> tuple[Any, ...]:
    """What of the member :func:`_candidates` reads, in one statement of index lookups: it
    changes with each of their claims (taken, or closed: withdrawn, confirmed, voided, no-show),
    their open-claim count and no-shows, their skills, home and unit, and their roles (granted
    or revoked; their order in the string may differ between calls, which only costs a list
    made anew). And with every wish the community publishes (today's ``published`` rollup, a
    few rows of its primary key): a wish the office has just published shows in every list at
    once, not an empty 为你推荐 while it is there. Ratings given later, the 30-day window of
    recent minutes and others' claims are left to the kept list's few seconds."""
    given = {"member": member_id, "community": community_id, "today": day_of(now).isoformat()}
    row = conn.execute(_STAMP, given).first()
    if row is None:
        return ()
    return tuple(tuple(v) if isinstance(v, list) else v for v in row)  # skills: a JSON list


def _mine(table: sa.Table, *where: sa.ColumnElement[bool]) -> Any:
    return sa.and_(table.c.member_id == sa.bindparam("member"), *where)


_MY_CLAIMS = _mine(claims, claims.c.community_id == sa.bindparam("community"))
_STAMP = (
    sa.select(
        members.c.skills,
        members.c.home_org_id,
        members.c.home_unit_id,
        sa.select(sa.func.count()).where(_MY_CLAIMS).scalar_subquery(),
        sa.select(sa.func.count(claims.c.closed_at)).where(_MY_CLAIMS).scalar_subquery(),
        sa.select(member_load.c.open_claims)
        .where(_mine(member_load, member_load.c.community_id == sa.bindparam("community")))
        .scalar_subquery(),
        sa.select(member_load.c.no_shows)
        .where(_mine(member_load, member_load.c.community_id == sa.bindparam("community")))
        .scalar_subquery(),
        sa.select(sa.func.aggregate_strings(roles.c.role + ":" + roles.c.org_id, ","))
        .where(_mine(roles))
        .scalar_subquery(),
        sa.select(sa.func.sum(stat_days.c.n))
        .where(
            stat_days.c.community_id == sa.bindparam("community"),
            stat_days.c.day == sa.bindparam("today"),
            stat_days.c.figure == "published",
        )
        .scalar_subquery(),
    )
    .select_from(members)
    .where(members.c.id == sa.bindparam("member"))
)
