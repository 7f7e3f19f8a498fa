"""Statistics (统计) of an org's communities over a period, and 三率 per community and paired unit.

Read from the day rollups the write path keeps (:mod:`marketplace.rollups`): a few indexed reads
whatever the size of the area. An org's subtree is every community whose path starts with the
org's path (a community: itself; a street or a district: all communities below it). Staff or
admins of the org or an ancestor may ask (and ``SYSTEM``); anyone else gets NotFound, as if the
org did not exist (tenancy). The period is ``[since, until)`` between two China-time midnights
(:mod:`marketplace.periods`: the figures are kept per day): an event at ``since`` counts, one at
``until`` does not. Each figure counts by the time of its event:

- posted: wishes created in the period; ``by_category`` splits them by category and ``by_state``
  by their state *now* (so each sums to posted).
- verified, rejected, cancelled, expired, disputed: wishes with a recorded transition of that
  action (verify, reject, cancel, expire, dispute) in the period; escalated: wishes whose *first*
  escalation (吹哨, level 0 → 1) is in the period; confirmed: wishes with a ``confirm`` (resident,
  staff or the auto-accept sweep) or ``resolve_for_volunteer`` transition in the period.
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
over its wishes where one of its claims was checked out. The units' figures are read from their
claims and wishes (:mod:`marketplace.unit_rates`, one query over the subtree's claims), not from
the rollups: a member's home unit decides them as of the query.

:func:`dashboard` is the staff dashboard's one call: the statistics, 三率 and the figures of each
day of the period (for the lines over time), the area checked once.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Callable, Sequence
from decimal import ROUND_HALF_UP, Decimal
from typing import TypeVar

import msgspec
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from marketplace import lifecycle
from marketplace.errors import InvalidInput, NotFound
from marketplace.kept import Kept
from marketplace.lifecycle import Act, ClaimState
from marketplace.model import Org, OrgKind
from marketplace.periods import Period, day_of, whole_days
from marketplace.rules import DEFAULT_RULES, CommunityRules
from marketplace.schema import (
    claims,
    members,
    orgs,
    pairings,
    settings,
    stat_days,
)
from marketplace.standing import standing_at
from marketplace.unit_rates import unit_tallies
from points import Cause, utcnow

AREAS = frozenset({OrgKind.DISTRICT, OrgKind.STREET, OrgKind.COMMUNITY})
TOP = 10
TOP_FIGURE = "top volunteers"
"""The statistics statement's rows of the top volunteers (no rollup figure has a space)."""
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


class Day(msgspec.Struct, frozen=True, kw_only=True):
    """One China-time day's figures, for the lines over time."""

    day: dt.date
    posted: int = 0
    completed: int = 0
    volunteer_minutes: int = 0
    by_category: dict[str, int] = {}


class Dashboard(msgspec.Struct, frozen=True, kw_only=True):
    """What the staff dashboard shows of an area and period (:func:`dashboard`)."""

    statistics: Statistics
    rates: list[Rates]
    days: tuple[Day, ...]  # every day of the period, in order


SERIES = ("posted", "completed", "volunteer_minutes")
"""The rollup figures :class:`Day` reads (posted split by category too)."""


def statistics(
    conn: Connection,
    actor: str,
    org_id: str,
    *,
    since: dt.datetime,
    until: dt.datetime,
    kept: Kept[Statistics] | None = None,
    now: dt.datetime | None = None,
) -> Statistics:
    """统计: what happened to the wishes of the org's communities in ``[since, until)``, two
    China-time midnights: summed from the day rollups (:mod:`marketplace.rollups`).

    With ``kept`` (:class:`~marketplace.kept.Kept`), an area's figures made in the last few
    seconds (at ``now``) are answered again while no write has added to the rollups since (the
    latest write's batch id, read with the top volunteers' names in one statement): the
    actor's right to read them is checked every time, a write shows at once, and a volunteer
    who opts out of the honour roll, or is deleted, is masked at once. A unit's figures (read
    from its claims) are never kept."""
    period = whole_days(since, until)
    area = _area(conn, actor, org_id)
    if area.kind is OrgKind.UNIT:
        return _as_chosen(*unit_statistics(conn, area, period))
    key = ("statistics", area.id, period.since, period.until)
    return _keep(conn, kept, key, now, lambda: _statistics(conn, area, period))


def three_rates(
    conn: Connection, actor: str, org_id: str, *, since: dt.datetime, until: dt.datetime
) -> list[Rates]:
    """三率 of each community in the org's subtree (from the day rollups), then of each unit
    paired with them (from the wishes and claims)."""
    period = whole_days(since, until)
    return _three_rates(conn, _area(conn, actor, org_id), period)


def dashboard(
    conn: Connection,
    actor: str,
    org_id: str,
    *,
    since: dt.datetime,
    until: dt.datetime,
    kept: Kept[Dashboard] | None = None,
    now: dt.datetime | None = None,
) -> Dashboard:
    """统计分析: the statistics, 三率 and each day's figures of the org over ``[since, until)``
    (two China-time midnights), the area checked once; ``kept`` as for :func:`statistics`."""
    period = whole_days(since, until)
    area = _area(conn, actor, org_id)
    if area.kind is OrgKind.UNIT:
        return Dashboard(
            statistics=_as_chosen(*unit_statistics(conn, area, period)),
            rates=_three_rates(conn, area, period),
            days=_days(conn, area, period),  # a unit keeps no day rollups: zeros
        )

    def made() -> tuple[Dashboard, frozenset[str], str]:
        figures, public, latest = _statistics(conn, area, period)
        rates, days = _three_rates(conn, area, period), _days(conn, area, period)
        return Dashboard(statistics=figures, rates=rates, days=days), public, latest

    key = ("dashboard", area.id, period.since, period.until)
    return _keep(conn, kept, key, now, made)


Figured = TypeVar("Figured", Statistics, Dashboard)


def _keep(
    conn: Connection,
    kept: Kept[Figured] | None,
    key: tuple[object, ...],
    now: dt.datetime | None,
    made: Callable[[], tuple[Figured, frozenset[str], str]],
) -> Figured:
    """An area's statistics (or dashboard) as kept while no rollup write came since, else
    ``made()`` (kept when ``kept``); its top volunteers shown as each chooses."""
    at = now or utcnow()
    entry = kept.peek(key, at) if kept is not None else None
    if entry is not None:
        stamp, found = entry
        latest, shown = _as_now(conn, _figures_of(found))
        if latest == stamp:
            return _with_figures(found, shown)
    found, public, latest = made()
    if kept is not None:
        kept.put(key, latest, at, found)
    return _with_figures(found, _as_chosen(_figures_of(found), public))


def _figures_of(found: Statistics | Dashboard) -> Statistics:
    return found if isinstance(found, Statistics) else found.statistics


def _with_figures(found: Figured, figures: Statistics) -> Figured:
    if isinstance(found, Dashboard):
        return msgspec.structs.replace(found, statistics=figures)
    return figures


def _bounds(area: Org, period: Period) -> dict[str, str]:
    """The bind parameters of the prebuilt rollup reads: the area's path prefix (a ``LIKE``
    pattern) and the period's first and past-the-last days."""
    escaped = area.path.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    first, last = (day_of(p).isoformat() for p in (period.since, period.until))
    return {"prefix": escaped + "%", "first": first, "last": last}


_s = stat_days.c
_AREA = sa.select(orgs.c.id).where(
    orgs.c.kind == OrgKind.COMMUNITY.value, orgs.c.path.like(sa.bindparam("prefix"), escape="\\")
)
"""The communities of the area (its path's prefix), as :func:`_bounds` binds it."""
_IN_DAYS = sa.and_(
    _s.community_id.in_(_AREA), _s.day >= sa.bindparam("first"), _s.day < sa.bindparam("last")
)
_SUM = sa.func.sum(_s.n)
_LATEST = sa.func.coalesce(
    sa.select(sa.func.max(_s.batch)).where(_s.batch != "").scalar_subquery(), ""
)
"""The batch id of the latest write that added to the rollups and is not yet folded (ids grow
with time; folding changes it too): kept figures are answered only while it is the same."""
LATEST_FIGURE = "~latest"
_TOP = (
    sa.select(_s.key, members.c.name, members.c.public_profile, _SUM.label("n"))
    .join(members, members.c.id == _s.key)
    .where(_IN_DAYS, _s.figure == "minutes")
    .group_by(_s.key, members.c.name, members.c.public_profile)
    .having(_SUM > 0)
    .order_by(_SUM.desc(), _s.key)
    .limit(TOP)
    .subquery("top")
)
_NO_NAME = sa.literal("", type_=members.c.name.type)
_NOT_PUBLIC = sa.literal(False, type_=members.c.public_profile.type)
_FIGURES = sa.union_all(
    sa.select(_s.figure, _s.key, _NO_NAME, _NOT_PUBLIC, _SUM)
    .where(_IN_DAYS, _s.figure != "minutes")
    .group_by(_s.figure, _s.key),
    sa.select(
        sa.literal("communities"), sa.literal(""), _NO_NAME, _NOT_PUBLIC, sa.func.count()
    ).where(orgs.c.id.in_(_AREA)),
    sa.select(sa.literal(TOP_FIGURE), _TOP.c.key, _TOP.c.name, _TOP.c.public_profile, _TOP.c.n),
    sa.select(sa.literal(LATEST_FIGURE), _LATEST, _NO_NAME, _NOT_PUBLIC, sa.literal(0)),
)
"""Every figure of the period summed per key (the volunteers' minutes aside), the number of
communities in the area, the ``TOP`` volunteers by minutes with their names (figure
``TOP_FIGURE``) and the latest rollup write (``LATEST_FIGURE``): one statement, built once."""
_NOW = sa.union_all(
    sa.select(sa.literal(""), _NO_NAME, _NOT_PUBLIC, _LATEST),
    sa.select(members.c.id, members.c.name, members.c.public_profile, sa.literal("")).where(
        members.c.id.in_(sa.bindparam("ids", expanding=True))
    ),
)
"""For a kept answer: the latest rollup write, and its top volunteers' names and opt-in now."""
_BY_DAY = (
    sa.select(_s.day, _s.figure, _s.key, _SUM)
    .where(_IN_DAYS, _s.figure.in_(SERIES))
    .group_by(_s.day, _s.figure, _s.key)
)


def _days(conn: Connection, area: Org, period: Period) -> tuple[Day, ...]:
    rows = conn.execute(_BY_DAY, _bounds(area, period))
    found: dict[str, dict[str, int]] = {}
    categories: dict[str, dict[str, int]] = {}
    for day, figure, key, n in rows:
        found.setdefault(day, {}).setdefault(figure, 0)
        found[day][figure] += int(n)
        if figure == "posted" and n:
            categories.setdefault(day, {})[key] = int(n)
    first = day_of(period.since)
    days = []
    for offset in range((period.until - period.since).days):
        on = first + dt.timedelta(days=offset)
        key = on.isoformat()
        figures, split = found.get(key, {}), categories.get(key, {})
        days.append(
            Day(
                day=on,
                posted=figures.get("posted", 0),
                completed=figures.get("completed", 0),
                volunteer_minutes=figures.get("volunteer_minutes", 0),
                by_category=dict(sorted(split.items())),
            )
        )
    return tuple(days)


def _top(
    top: Sequence[tuple[str, str, bool, int]],
) -> tuple[tuple[VolunteerTime, ...], frozenset[str]]:
    """The top volunteers by id and name, and the ids of those who opted in."""
    volunteers = tuple(VolunteerTime(member_id=m, name=name, minutes=n) for m, name, _, n in top)
    return volunteers, frozenset(m for m, _, public, _ in top if public)


def _as_chosen(figures: Statistics, public: frozenset[str]) -> Statistics:
    """The top volunteers as shown: named if they opted in (``public``), else masked."""
    top = tuple(
        v if v.member_id in public else VolunteerTime(
            member_id=mask(v.member_id), name=ANONYMOUS, minutes=v.minutes)
        for v in figures.top_volunteers
    )  # fmt: skip
    return msgspec.structs.replace(figures, top_volunteers=top)


def _as_now(conn: Connection, kept: Statistics) -> tuple[str, Statistics]:
    """The latest rollup write's batch (:data:`_LATEST`), and kept figures with their top
    volunteers as each chooses now (names and whether they opted in): one statement."""
    ids = [v.member_id for v in kept.top_volunteers]
    latest = ""
    names: dict[str, str] = {}
    public: set[str] = set()
    for member_id, name, opted_in, batch in conn.execute(_NOW, {"ids": ids}):
        if member_id == "":
            latest = batch
            continue
        names[member_id] = name
        if opted_in:
            public.add(member_id)
    named = tuple(
        msgspec.structs.replace(v, name=names.get(v.member_id, "")) for v in kept.top_volunteers
    )
    return latest, _as_chosen(
        msgspec.structs.replace(kept, top_volunteers=named), frozenset(public)
    )


def _statistics(
    conn: Connection, area: Org, period: Period
) -> tuple[Statistics, frozenset[str], str]:
    """The figures with every top volunteer by id and name, the ids of those who opted in
    (:func:`_as_chosen` masks the others), and the latest rollup write's batch."""
    figures: dict[str, dict[str, int]] = {}
    top: list[tuple[str, str, bool, int]] = []
    latest = ""
    for figure, key, name, public, n in conn.execute(_FIGURES, _bounds(area, period)):
        if figure == LATEST_FIGURE:
            latest = key
        elif figure == TOP_FIGURE:
            top.append((key, name, public, int(n)))
        elif n:
            figures.setdefault(figure, {})[key] = int(n)
    top.sort(key=lambda volunteer: (-volunteer[3], volunteer[0]))  # the order _TOP keeps

    def total(figure: str) -> int:
        return sum(figures.get(figure, {}).values())

    volunteers, public = _top(top)
    found = Statistics(
        org_id=area.id,
        since=period.since,
        until=period.until,
        communities=total("communities"),
        posted=total("posted"),
        verified=total("verified"),
        rejected=total("rejected"),
        claimed=total("claimed"),
        completed=total("completed"),
        confirmed=total("confirmed"),
        disputed=total("disputed"),
        escalated=total("escalated"),
        cancelled=total("cancelled"),
        expired=total("expired"),
        median_minutes_to_verify=_median(figures.get("to_verify", {})),
        median_minutes_to_first_claim=_median(figures.get("to_claim", {})),
        median_minutes_to_completion=_median(figures.get("to_complete", {})),
        satisfaction=rate(total("satisfied"), total("rated")),
        volunteer_minutes=total("volunteer_minutes"),
        top_volunteers=volunteers,
        by_category=dict(sorted(figures.get("posted", {}).items())),
        by_state=dict(sorted(figures.get("state", {}).items())),
    )
    return found, public, latest


def _median(histogram: dict[str, int]) -> int | None:
    """The lower middle of the minutes counted (keys: whole minutes, values: how many wishes)."""
    counted = sorted((int(minutes), n) for minutes, n in histogram.items() if n > 0)
    middle = (sum(n for _, n in counted) - 1) // 2
    for minutes, n in counted:
        if middle < n:
            return minutes
        middle -= n
    return None


def _rules(conn: Connection, inside: sa.Select[tuple[str]]) -> dict[str, CommunityRules]:
    stored = sa.select(settings.c.community_id, settings.c.body)
    return {
        community_id: msgspec.convert(body, CommunityRules)
        for community_id, body in conn.execute(stored.where(settings.c.community_id.in_(inside)))
    }


def _unit_tally(conn: Connection, unit: Org, period: Period) -> Counter[str]:
    """A unit's own figures, over the wishes of the communities it is paired with."""
    inside = sa.select(pairings.c.community_id).where(pairings.c.unit_id == unit.id)
    itself = sa.select(orgs.c.id).where(orgs.c.id == unit.id)
    found = unit_tallies(conn, inside, itself, _rules(conn, inside), period)
    return found.get(unit.id, Counter())


def unit_statistics(
    conn: Connection, unit: Org, period: Period
) -> tuple[Statistics, frozenset[str]]:
    """统计 of a unit (its admin's own figures): the wishes it took part in (a claim by the unit
    or by a member whose home unit it is). claimed: its earliest claim in the period; completed,
    confirmed (resolved) and satisfaction as in its 三率; volunteer_minutes and top_volunteers:
    its members' claims confirmed in the period. A unit neither posts nor verifies wishes: the
    community's own figures (posted, verified, rejected, cancelled, expired, disputed, escalated,
    the medians, by_category, by_state) stay 0, None or empty. With the ids of the top
    volunteers who opted in (:func:`_as_chosen` masks the others)."""
    n = _unit_tally(conn, unit, period)
    c = claims.c
    minutes = sa.func.sum(c.minutes)
    top = conn.execute(
        sa.select(c.member_id, members.c.name, members.c.public_profile, minutes)
        .join(members, members.c.id == c.member_id)
        .where(
            members.c.home_unit_id == unit.id,
            c.state == ClaimState.CONFIRMED.value,
            period.holds(c.closed_at),
        )
        .group_by(c.member_id, members.c.name, members.c.public_profile)
        .having(minutes > 0)
        .order_by(minutes.desc(), c.member_id)
    ).all()
    paired = conn.scalar(sa.select(sa.func.count()).where(pairings.c.unit_id == unit.id))
    volunteers, public = _top(top[:TOP])
    found = Statistics(
        org_id=unit.id,
        since=period.since,
        until=period.until,
        communities=int(paired or 0),
        posted=0,
        verified=0,
        rejected=0,
        claimed=n["claimed"],
        completed=n["completed"],
        confirmed=n["resolved"],
        disputed=0,
        escalated=0,
        cancelled=0,
        expired=0,
        median_minutes_to_verify=None,
        median_minutes_to_first_claim=None,
        median_minutes_to_completion=None,
        satisfaction=rate(n["satisfied"], n["rated"]),
        volunteer_minutes=sum(int(m) for *_, m in top),
        top_volunteers=volunteers,
        by_category={},
        by_state={},
    )
    return found, public


def _three_rates(conn: Connection, area: Org, period: Period) -> list[Rates]:
    if area.kind is OrgKind.UNIT:
        n = _unit_tally(conn, area, period)
        return [
            Rates(
                org_id=area.id,
                kind=area.kind,
                name=area.name,
                response=rate(n["answered"], n["published"]),
                resolution=rate(n["resolved"], n["completed"]),
                satisfaction=rate(n["satisfied"], n["rated"]),
            )
        ]
    inside = _communities(area)
    rules = _rules(conn, inside)
    rows = conn.execute(_RATES, _bounds(area, period))
    tallies: dict[str, Counter[str]] = {}
    for community_id, figure, key, n in rows:
        tally = tallies.setdefault(community_id, Counter())
        if figure != "claim_wait":
            tally[figure] += int(n)
            continue
        minutes, category = key.split(":", 1)
        hours = rules.get(community_id, DEFAULT_RULES).deadlines_for(category).claim_hours
        tally["answered"] += int(n) if int(minutes) <= 60 * hours else 0
    paired = sa.select(pairings.c.unit_id).where(pairings.c.community_id.in_(inside))
    shown = (orgs.c.id, orgs.c.kind, orgs.c.name, orgs.c.path)
    both = sa.union_all(
        sa.select(*shown).where(orgs.c.id.in_(inside)),
        sa.select(*shown).where(orgs.c.id.in_(paired)),
    ).subquery()
    places = conn.execute(
        sa.select(both.c.id, both.c.kind, both.c.name).order_by(
            both.c.kind != OrgKind.COMMUNITY.value, both.c.path
        )
    ).all()
    if any(kind == OrgKind.UNIT.value for _, kind, _ in places):
        tallies.update(unit_tallies(conn, inside, paired, rules, period))
    return [
        Rates(
            org_id=place_id,
            kind=OrgKind(kind),
            name=name,
            response=rate((n := tallies.get(place_id, Counter()))["answered"], n["published"]),
            resolution=rate(n["resolved"], n["completed"]),
            satisfaction=rate(n["satisfied"], n["rated"]),
        )
        for place_id, kind, name in places
    ]


RATE_FIGURES = ("published", "claim_wait", "completed", "resolved", "rated", "satisfied")
"""The rollup figures 三率 reads: response = answered (a claim_wait within the category's claim
deadline) / published; resolution = resolved / completed; satisfaction = satisfied / rated."""
_RATES = (
    sa.select(_s.community_id, _s.figure, _s.key, _SUM)
    .where(_IN_DAYS, _s.figure.in_(RATE_FIGURES))
    .group_by(_s.community_id, _s.figure, _s.key)
)


def _area(conn: Connection, actor: str, org_id: str) -> Org:
    """The org asked about, once the actor may read it (NotFound otherwise: tenancy): the org
    and the actor's standing in one statement."""
    org, standing = standing_at(conn, actor, org_id)
    if org is None:
        raise NotFound("org", org_id)
    held = standing.on(org.path)
    if org.kind is OrgKind.UNIT:  # a unit's own figures, for its admin (单位报表)
        if not lifecycle.can(Act.SEE_UNIT_REPORT, held):
            raise NotFound("org", org_id)
        return org
    if not lifecycle.can(Act.SEE_STATISTICS, held):
        raise NotFound("org", org_id)
    if org.kind not in AREAS:
        raise InvalidInput("org_id", Cause("stats_level"))
    return org


def _communities(org: Org) -> sa.Select[tuple[str]]:
    return sa.select(orgs.c.id).where(
        orgs.c.kind == OrgKind.COMMUNITY.value, orgs.c.path.startswith(org.path, autoescape=True)
    )
