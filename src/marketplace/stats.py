"""Statistics (统计) of an org's communities over a period, and 三率 per community and paired unit.

Read-only, set-based queries. An org's subtree is every community whose path starts with the
org's path (a community: itself; a street or a district: all communities below it). Staff or
admins of the org or an ancestor may ask (and ``SYSTEM``); anyone else gets NotFound, as if the
org did not exist (tenancy). The period is ``[since, until)``: an event at ``since`` counts, one
at ``until`` does not. Each figure counts by the time of its event:

- posted: wishes created in the period; ``by_category`` splits them by category and ``by_state``
  by their state *now* (so each sums to posted).
- verified, rejected, cancelled, expired, disputed: wishes with a recorded transition of that
  action (verify, reject, cancel, expire, dispute) in the period; escalated: wishes with at least
  one escalate transition in the period (once per wish, however many levels it rose); confirmed:
  wishes with a ``confirm`` (resident, staff or the auto-accept sweep) or ``resolve_for_volunteer``
  transition in the period.
- claimed: wishes whose first claim (``first_claimed_at``) is in the period; completed: wishes
  whose ``served_at`` (the last check-out) is in the period.
- Medians, in minutes, of time to verify (published_at − created_at), to first claim
  (first_claimed_at − published_at) and to completion (served_at − published_at), each over the
  wishes having both times with the later one in the period. Each duration is cut to whole minutes;
  for an even count the median is the lower middle value (always one wish's real figure). None when
  no wish qualifies.
- satisfaction (满意率): ratings ≥ 4 / rated wishes, over wishes closed (closed_at) in the period.
- volunteer_minutes: minutes of claims confirmed (the claim's closed_at) in the period; claims
  voided by a dispute do not count. top_volunteers: the ten with most such minutes (ties by member
  id); members who opted in (public_profile) by name and id, others as 志愿者 with a masked id.

A :class:`Rate` is numerator, denominator and percent = 100 × numerator / denominator rounded half
up to one decimal (None when the denominator is 0).

三率 (:func:`three_rates`): one row per community of the subtree, then one per unit paired with any
of them. Cohorts are chosen by the period; their outcome is read as of the query.

- response (响应率): of the wishes published in the period, those whose first claim came within
  the claim deadline: first_claimed_at ≤ published_at + claim_hours (the community's current rules
  for the wish's category; escalation does not extend it).
- resolution (办结率): of the wishes served (served_at) in the period, those now closed through
  confirm or resolve_for_volunteer (a dispute resolved against the volunteer is not resolved).
- satisfaction (满意率): as in the statistics.

For a unit the same three, over the wishes of the subtree it took part in: a wish is the unit's when
it holds a claim by the unit (claims.unit_id, the places it assigned included) or by a member whose
home unit it is (members.home_unit_id). Response: of its wishes published in the period, those where
its earliest claim came within the claim deadline. Resolution and satisfaction: as for communities,
over its wishes where one of its claims was checked out.
"""

from __future__ import annotations

import datetime as dt
import statistics as pystats
from collections import Counter
from decimal import ROUND_HALF_UP, Decimal

import msgspec
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from marketplace import lifecycle
from marketplace.errors import InvalidInput, NotFound
from marketplace.lifecycle import Act, ClaimState, WishAction, WishState
from marketplace.model import Org, OrgKind
from marketplace.orgs import get_org, roles_on
from marketplace.rules import DEFAULT_RULES, CommunityRules
from marketplace.schema import claims, members, orgs, pairings, settings, transitions, wishes
from points import Cause

AREAS = frozenset({OrgKind.DISTRICT, OrgKind.STREET, OrgKind.COMMUNITY})
CONFIRMING = (WishAction.CONFIRM, WishAction.RESOLVE_FOR_VOLUNTEER)
COUNTED: dict[str, str] = {  # recorded wish action → the figure it counts in
    WishAction.VERIFY: "verified",
    WishAction.REJECT: "rejected",
    WishAction.CANCEL: "cancelled",
    WishAction.EXPIRE: "expired",
    WishAction.DISPUTE: "disputed",
    WishAction.ESCALATE: "escalated",
    **dict.fromkeys(CONFIRMING, "confirmed"),
}
TOP = 10
ANONYMOUS = "志愿者"


class Rate(msgspec.Struct, frozen=True, kw_only=True):
    numerator: int
    denominator: int
    percent: float | None  # one decimal, half up; None when the denominator is 0


class VolunteerTime(msgspec.Struct, frozen=True, kw_only=True):
    member_id: str  # masked ("v***1") unless the member opted in
    name: str  # 志愿者 unless the member opted in
    minutes: int


class Statistics(msgspec.Struct, frozen=True, kw_only=True):
    org_id: str
    since: dt.datetime
    until: dt.datetime
    communities: int
    posted: int
    verified: int
    rejected: int
    claimed: int
    completed: int
    confirmed: int
    disputed: int
    escalated: int
    cancelled: int
    expired: int
    median_minutes_to_verify: int | None
    median_minutes_to_first_claim: int | None
    median_minutes_to_completion: int | None
    satisfaction: Rate
    volunteer_minutes: int
    top_volunteers: tuple[VolunteerTime, ...]
    by_category: dict[str, int]
    by_state: dict[str, int]


class Rates(msgspec.Struct, frozen=True, kw_only=True):
    """三率 of one community or unit."""

    org_id: str
    kind: OrgKind
    name: str
    response: Rate  # 响应率
    resolution: Rate  # 办结率
    satisfaction: Rate  # 满意率


def rate(numerator: int, denominator: int) -> Rate:
    if denominator == 0:
        return Rate(numerator=numerator, denominator=0, percent=None)
    exact = Decimal(100 * numerator) / Decimal(denominator)
    percent = float(exact.quantize(Decimal("0.1"), rounding=ROUND_HALF_UP))
    return Rate(numerator=numerator, denominator=denominator, percent=percent)


def mask(member_id: str) -> str:
    """First and last character of an id, the rest hidden: ``vol1`` → ``v***1``."""
    return f"{member_id[0]}***{member_id[-1]}" if len(member_id) > 2 else "***"


def statistics(
    conn: Connection, actor: str, org_id: str, *, since: dt.datetime, until: dt.datetime
) -> Statistics:
    """统计: what happened to the wishes of the org's communities in ``[since, until)``."""
    period = _period(since, until)
    inside = _communities(_area(conn, actor, org_id))
    w, t, c = wishes, transitions, claims
    mine = w.c.community_id.in_(inside)
    rated = sa.and_(period.holds(w.c.closed_at), w.c.rating.is_not(None))
    posted, claimed, completed, satisfied, rated_n = (
        conn.execute(
            sa.select(
                _count(period.holds(w.c.created_at)),
                _count(period.holds(w.c.first_claimed_at)),
                _count(period.holds(w.c.served_at)),
                _count(sa.and_(rated, w.c.rating >= 4)),
                _count(rated),
            ).where(mine)
        )
    ).one()
    per_wish = (  # one row per action and wish: a wish escalated twice counts once
        sa.select(t.c.action)
        .where(t.c.community_id.in_(inside), t.c.subject == "wish", period.holds(t.c.at))
        .where(t.c.action.in_(sorted(COUNTED)))
        .group_by(t.c.action, t.c.community_id, t.c.subject_id)
        .subquery()
    )
    events: Counter[str] = Counter()
    counted = sa.select(per_wish.c.action, sa.func.count()).group_by(per_wish.c.action)
    for action, n in conn.execute(counted):
        events[COUNTED[action]] += n
    stamps = (w.c.created_at, w.c.published_at, w.c.first_claimed_at, w.c.served_at)
    durations: dict[str, list[int]] = {"verify": [], "claim": [], "complete": []}
    rows = conn.execute(
        sa.select(*stamps).where(mine, sa.or_(*(period.holds(s) for s in stamps[1:])))
    )
    for created, published, first_claim, served in rows:
        for name, start, end in (
            ("verify", created, published),
            ("claim", published, first_claim),
            ("complete", published, served),
        ):
            if start is not None and end in period:
                durations[name].append(int((end - start).total_seconds() // 60))
    median = {k: pystats.median_low(v) if v else None for k, v in durations.items()}
    credited = sa.and_(
        c.c.community_id.in_(inside),
        c.c.state == ClaimState.CONFIRMED.value,
        period.holds(c.c.closed_at),
        c.c.member_id.is_not(None),
        c.c.minutes > 0,
    )
    minutes = sa.func.sum(c.c.minutes)
    total_minutes = conn.scalar(sa.select(sa.func.coalesce(minutes, 0)).where(credited))
    top = conn.execute(
        sa.select(c.c.member_id, members.c.name, members.c.public_profile, minutes)
        .join(members, members.c.id == c.c.member_id)
        .where(credited)
        .group_by(c.c.member_id, members.c.name, members.c.public_profile)
        .order_by(minutes.desc(), c.c.member_id)
        .limit(TOP)
    )
    new = sa.and_(mine, period.holds(w.c.created_at))
    return Statistics(
        org_id=org_id,
        since=since,
        until=until,
        communities=conn.scalar(sa.select(sa.func.count()).where(orgs.c.id.in_(inside))) or 0,
        posted=int(posted),
        verified=events["verified"],
        rejected=events["rejected"],
        claimed=int(claimed),
        completed=int(completed),
        confirmed=events["confirmed"],
        disputed=events["disputed"],
        escalated=events["escalated"],
        cancelled=events["cancelled"],
        expired=events["expired"],
        median_minutes_to_verify=median["verify"],
        median_minutes_to_first_claim=median["claim"],
        median_minutes_to_completion=median["complete"],
        satisfaction=rate(int(satisfied), int(rated_n)),
        volunteer_minutes=int(total_minutes or 0),
        top_volunteers=tuple(
            VolunteerTime(member_id=m, name=name, minutes=int(n))
            if public
            else VolunteerTime(member_id=mask(m), name=ANONYMOUS, minutes=int(n))
            for m, name, public, n in top
        ),
        by_category=_grouped(conn, w.c.category, new),
        by_state=_grouped(conn, w.c.state, new),
    )


def three_rates(
    conn: Connection, actor: str, org_id: str, *, since: dt.datetime, until: dt.datetime
) -> list[Rates]:
    """三率 of each community in the org's subtree, then of each unit paired with them."""
    period = _period(since, until)
    inside = _communities(_area(conn, actor, org_id))
    w, c = wishes, claims
    stored = sa.select(settings.c.community_id, settings.c.body)
    rules = {
        community_id: msgspec.convert(body, CommunityRules)
        for community_id, body in conn.execute(stored.where(settings.c.community_id.in_(inside)))
    }
    touched = sa.or_(*(period.holds(s) for s in (w.c.published_at, w.c.served_at, w.c.closed_at)))
    resolved = sa.case((_resolved(), 1), else_=0)
    facts = (w.c.category, w.c.published_at, w.c.served_at, w.c.closed_at, w.c.rating, resolved)
    # Rows of (community or unit, community, facts, first claim, served by it): one per wish.
    by_community = sa.select(
        w.c.community_id.label("key"), w.c.community_id, *facts, w.c.first_claimed_at, w.c.served_at
    ).where(w.c.community_id.in_(inside), touched)
    paired = sa.select(pairings.c.unit_id).where(pairings.c.community_id.in_(inside))
    unit = sa.func.coalesce(c.c.unit_id, members.c.home_unit_id)
    on_wish = sa.and_(w.c.community_id == c.c.community_id, w.c.id == c.c.wish_id)
    by_unit = (
        sa.select(unit, w.c.community_id, *facts)
        .add_columns(sa.func.min(c.c.created_at), sa.func.max(c.c.checked_out_at))
        .select_from(c.join(w, on_wish).outerjoin(members, members.c.id == c.c.member_id))
        .where(c.c.community_id.in_(inside), unit.in_(paired), touched)
        .group_by(unit, w.c.community_id, w.c.id, w.c.state, *facts[:-1])
    )
    tallies: dict[str, Counter[str]] = {}
    for query in (by_community, by_unit):
        for row in conn.execute(query):
            key, community_id, category, published, served, closed, rating, done, first, took = row
            n = tallies.setdefault(key, Counter())
            if published in period:
                deadlines = rules.get(community_id, DEFAULT_RULES).deadlines_for(category)
                deadline = published + dt.timedelta(hours=deadlines.claim_hours)
                n["published"] += 1
                n["answered"] += first is not None and first <= deadline
            if took is not None and served in period:
                n["served"] += 1
                n["resolved"] += done
            if took is not None and rating is not None and closed in period:
                n["rated"] += 1
                n["satisfied"] += rating >= 4
    places = conn.execute(
        sa.select(orgs.c.id, orgs.c.kind, orgs.c.name)
        .where(sa.or_(orgs.c.id.in_(inside), orgs.c.id.in_(paired)))
        .order_by(orgs.c.kind != OrgKind.COMMUNITY.value, orgs.c.path)
    )
    return [
        Rates(
            org_id=place_id,
            kind=OrgKind(kind),
            name=name,
            response=rate((n := tallies.get(place_id, Counter()))["answered"], n["published"]),
            resolution=rate(n["resolved"], n["served"]),
            satisfaction=rate(n["satisfied"], n["rated"]),
        )
        for place_id, kind, name in places
    ]


class _Period(msgspec.Struct, frozen=True):
    """``[since, until)``, as an SQL condition on a column and as a Python test."""

    since: dt.datetime
    until: dt.datetime

    def holds(self, column: sa.ColumnElement[dt.datetime]) -> sa.ColumnElement[bool]:
        return sa.and_(column >= self.since, column < self.until)

    def __contains__(self, moment: dt.datetime | None) -> bool:
        return moment is not None and self.since <= moment < self.until


def _period(since: dt.datetime, until: dt.datetime) -> _Period:
    for name, value in (("since", since), ("until", until)):
        if not isinstance(value, dt.datetime) or value.tzinfo is None:
            raise InvalidInput(name, Cause("needs_time_zone"))
    if until <= since:
        raise InvalidInput("until", Cause("after", {"other": "since"}))
    return _Period(since, until)


def _area(conn: Connection, actor: str, org_id: str) -> Org:
    """The org asked about, once the actor may read it (NotFound otherwise: tenancy)."""
    org = get_org(conn, org_id)
    if not lifecycle.can(Act.SEE_STATISTICS, roles_on(conn, actor, org.path)):
        raise NotFound("org", org_id)
    if org.kind not in AREAS:
        raise InvalidInput("org_id", Cause("stats_level"))
    return org


def _communities(org: Org) -> sa.Select[tuple[str]]:
    return sa.select(orgs.c.id).where(
        orgs.c.kind == OrgKind.COMMUNITY.value, orgs.c.path.startswith(org.path, autoescape=True)
    )


def _resolved() -> sa.ColumnElement[bool]:
    """办结: the wish is closed through a confirmation, not through a dispute lost."""
    t = transitions
    return sa.and_(
        wishes.c.state == WishState.CLOSED.value,
        wishes.c.closed_at.is_not(None),
        sa.exists().where(
            t.c.community_id == wishes.c.community_id,
            t.c.subject_id == wishes.c.id,
            t.c.subject == "wish",
            t.c.action.in_(CONFIRMING),
        ),
    )


def _count(condition: sa.ColumnElement[bool]) -> sa.ColumnElement[int]:
    return sa.func.coalesce(sa.func.sum(sa.case((condition, 1), else_=0)), 0)


def _grouped(
    conn: Connection, key: sa.Column[str], where: sa.ColumnElement[bool]
) -> dict[str, int]:
    rows = conn.execute(sa.select(key, sa.func.count()).where(where).group_by(key))
    return {k: int(n) for k, n in sorted(rows.all())}
