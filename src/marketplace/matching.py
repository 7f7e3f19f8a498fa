"""Matching (匹配): who may take a micro-wish (微心愿), how well a member fits, and who gets it.

:func:`why_not` lists every reason a member may not claim a wish (empty: eligible). :func:`score`
adds weighted parts, each in [0, 1] (skills, distance in the org tree, free time, fairness,
reliability, urgency, key household, waiting), and explains them in plain Chinese. Built on them:
:func:`recommend` (wishes for a member), :func:`rank_candidates` (派单: members for one wish) and
:func:`auto_dispatch` (a batch). Pure, synchronous and deterministic.
"""

from __future__ import annotations

import bisect
import datetime as dt
import functools
import heapq
import math
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from typing import Annotated

import msgspec

from marketplace.lifecycle import CLAIMABLE_WISH_STATES, CLAIMING, UNIT, Role
from marketplace.model import Urgency, Wish
from points import Cause

Window = tuple[dt.datetime, dt.datetime]


class Candidate(msgspec.Struct, frozen=True, kw_only=True):
    """A member as matching sees them; ``member_id`` is unique within one call."""

    member_id: str
    roles: frozenset[Role]  # org roles on the wish's community or an ancestor (or a paired unit's)
    skills: frozenset[str] = frozenset()
    home_path: str = ""  # org path of where they live, e.g. "/d1/s1/c1/g2/" ("" unknown)
    unit_id: str | None = None  # in-service party member's unit (在职党员)
    available: tuple[Window, ...] = ()  # windows they said they are free; () = no statement
    open_claims: int = 0  # claims they hold now (active or checked in)
    claim_limit: int = 3  # the community's per-member open-claim limit
    claimed_wish_ids: frozenset[str] = frozenset()  # wishes they already hold a claim on
    recent_minutes: int = 0  # minutes served in the last 30 days
    completed: int = 0  # claims completed (confirmed)
    no_shows: int = 0
    average_rating: float | None = None  # 1..5


class Target(msgspec.Struct, frozen=True, kw_only=True):
    """What matching needs to know about a wish."""

    wish: Wish
    path: str  # org path of wish.org_id, e.g. "/d1/s1/c1/g2/"
    key_household: bool = False  # 重点家庭: used only for priority, never shown
    paired_unit_ids: frozenset[str] = frozenset()  # units paired with the community (结对共建)


Weight = Annotated[float, msgspec.Meta(ge=0, le=100)]


class Weights(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """How much each part counts; per community, each between 0 and 100."""

    skills: Weight = 3.0
    distance: Weight = 2.0
    availability: Weight = 1.5
    fairness: Weight = 1.0
    reliability: Weight = 1.5
    urgency: Weight = 1.0
    key_household: Weight = 1.0
    waiting: Weight = 0.5

    def problems(self) -> tuple[Cause, ...]:
        """What is wrong with these weights, each naming its part; empty when they may be used."""
        found = []
        for name in self.__struct_fields__:
            value = getattr(self, name)
            if not (isinstance(value, int | float) and math.isfinite(value) and 0 <= value <= 100):
                found.append(Cause("range", {"low": 0, "high": 100}, field=name))
        return tuple(found)


DEFAULT_WEIGHTS = Weights()
PARTS: tuple[str, ...] = Weights.__struct_fields__
"""The part names of a :class:`Score`, in the order they are explained."""
REASON_CODES = (
    "not_open", "full", "already_claimed", "claim_limit", "needs_role",
    "own_wish", "missing_skills", "window_over", "outside_community",
)  # fmt: skip
"""Every :class:`Reason` code, in the order :func:`why_not` reports them."""


KEY_HOUSEHOLD_PHRASE = "优先帮扶对象"
"""How the explanation names a key household (重点家庭) to staff dispatching a wish."""


class Reason(msgspec.Struct, frozen=True, kw_only=True):
    code: str  # one of REASON_CODES
    detail: str  # Chinese, for the member: e.g. "缺少技能：家电维修"


class Score(msgspec.Struct, frozen=True, kw_only=True):
    total: float  # the sum of the parts (math.fsum: independent of their order)
    parts: dict[str, float]  # part name (a Weights field) -> weighted contribution
    explain: tuple[str, ...]  # Chinese phrases for the parts that matter, e.g. "同一网格"


class Match(msgspec.Struct, frozen=True, kw_only=True):
    wish_id: str
    member_id: str
    score: Score


class Assignment(msgspec.Struct, frozen=True, kw_only=True):
    wish_id: str
    member_id: str
    score: float


# Eligibility


@functools.lru_cache(maxsize=4096)
def _segments(path: str) -> tuple[str, ...]:
    return tuple(part for part in path.split("/") if part)


def _outside(path: str, paired_unit_ids: frozenset[str], candidate: Candidate) -> bool:
    if not candidate.home_path or candidate.unit_id in paired_unit_ids:
        return False
    community = _segments(path)[:3]  # "/district/street/community/"
    return _segments(candidate.home_path)[: len(community)] != community


def _over_limit(candidate: Candidate) -> bool:
    return candidate.open_claims >= candidate.claim_limit


def _no_role(candidate: Candidate) -> bool:
    return not candidate.roles & (CLAIMING | UNIT)


def why_not(target: Target, candidate: Candidate, now: dt.datetime) -> tuple[Reason, ...]:
    """Every reason the candidate may not claim the wish now, in REASON_CODES order; () if none."""
    wish, found = target.wish, []
    if wish.state not in CLAIMABLE_WISH_STATES:
        found.append(("not_open", "该心愿当前不在认领中"))
    if wish.places_taken >= wish.capacity:
        found.append(("full", f"名额已满（共{wish.capacity}人）"))
    if wish.id in candidate.claimed_wish_ids:
        found.append(("already_claimed", "你已认领该心愿"))
    if _over_limit(candidate):
        found.append(("claim_limit", f"进行中的认领已达上限（{candidate.claim_limit}个）"))
    if _no_role(candidate):
        found.append(("needs_role", "需要志愿者、党员或单位管理员身份"))
    if candidate.member_id in (wish.beneficiary_id, wish.posted_by):
        found.append(("own_wish", "不能认领本人发布或受助的心愿"))
    if missing := wish.skills - candidate.skills:
        found.append(("missing_skills", "缺少技能：" + "、".join(sorted(missing))))
    if now >= wish.window_end:
        found.append(("window_over", "服务时间已过"))
    if _outside(target.path, target.paired_unit_ids, candidate):
        found.append(("outside_community", "不在本社区或结对单位的服务范围内"))
    return tuple(Reason(code=code, detail=detail) for code, detail in found)


def barred(candidate: Candidate, community_path: str, paired_unit_ids: frozenset[str]) -> bool:
    """Whether :func:`why_not` refuses the candidate every wish of the community whatever the
    wish: the claim limit, the role, or a home outside the community (told only for a community
    three levels down, "/district/street/community/", as every wish under it shares that)."""
    outside = len(_segments(community_path)) >= 3 and _outside(
        community_path, paired_unit_ids, candidate
    )
    return _over_limit(candidate) or _no_role(candidate) or outside


# Score parts, each in [0, 1]

_DISTANCE = (0.0, 0.0, 0.25, 0.5, 0.75, 1.0, 1.0)  # by shared depth: street 2 … grid 5, building 6
_PLACE = ("", "", "同一街道", "同一社区", "同一小区", "同一网格", "同一楼栋")


def _depth(home: tuple[str, ...], place: tuple[str, ...]) -> int:
    depth = 0
    for a, b in zip(home, place, strict=False):
        if a != b:
            break
        depth += 1
    return min(depth, len(_DISTANCE) - 1)


def _distance(home_path: str, place: tuple[str, ...]) -> float:
    return _DISTANCE[_depth(_segments(home_path), place)] if home_path else 0.25


def _availability(windows: tuple[Window, ...], start: dt.datetime, end: dt.datetime) -> float:
    """Share of [start, end) covered by the union of the windows; 0.5 without a statement."""
    if not windows:
        return 0.5
    if end <= start:
        return 1.0 if any(a <= start <= b for a, b in windows) else 0.0
    covered, cursor = 0.0, start
    for a, b in sorted(windows):
        a, b = max(a, cursor), min(b, end)
        if b > a:
            covered += (b - a).total_seconds()
            cursor = b
    return min(1.0, covered / (end - start).total_seconds())


def _fairness(recent_minutes: int) -> float:
    return 1.0 / (1.0 + max(0, recent_minutes) / 600)


def _reliability(candidate: Candidate) -> float:
    done, missed = max(0, candidate.completed), max(0, candidate.no_shows)
    record = (done + 1) / (done + missed + 2)
    if candidate.average_rating is None:
        return record
    return (record + min(1.0, max(0.0, candidate.average_rating / 5))) / 2


def _urgency(urgency: int) -> float:
    return min(1.0, max(0.0, (int(urgency) - 1) / 3))


def _wish_fractions(target: Target, now: dt.datetime) -> tuple[float, float, float]:
    """Urgency, key household and waiting: the same for every candidate."""
    wish = target.wish
    urgency = _urgency(wish.urgency)
    waited = (now - (wish.published_at or wish.created_at)).total_seconds() / 3600
    return urgency, float(target.key_household), min(1.0, max(0.0, waited / 72))


def _fractions(target: Target, candidate: Candidate, now: dt.datetime) -> tuple[float, ...]:
    wish = target.wish
    matched = len(wish.skills & candidate.skills) / len(wish.skills) if wish.skills else 1.0
    return (
        matched,
        _distance(candidate.home_path, _segments(target.path)),
        _availability(candidate.available, wish.window_start, wish.window_end),
        _fairness(candidate.recent_minutes),
        _reliability(candidate),
        *_wish_fractions(target, now),
    )


def _weighted(weights: Weights, fractions: tuple[float, ...]) -> tuple[float, ...]:
    """Each part's contribution, in PARTS order (the weights' fields are the parts)."""
    return tuple(w * f for w, f in zip(msgspec.structs.astuple(weights), fractions, strict=True))


def _parts(weights: Weights, fractions: tuple[float, ...]) -> dict[str, float]:
    return dict(zip(PARTS, _weighted(weights, fractions), strict=True))


def _total(parts: Iterable[float]) -> float:
    return math.fsum(parts)  # exactly rounded: the same total whatever the order of the parts


def _explain(
    target: Target, candidate: Candidate, parts: dict[str, float], now: dt.datetime
) -> tuple[str, ...]:
    wish, found = target.wish, []
    if parts["skills"] and wish.skills:
        found.append(f"技能匹配 {len(wish.skills & candidate.skills)}/{len(wish.skills)}")
    if parts["distance"] and candidate.home_path:
        found.append(_PLACE[_depth(_segments(candidate.home_path), _segments(target.path))])
    if parts["availability"] and candidate.available:
        share = _availability(candidate.available, wish.window_start, wish.window_end)
        found.append("时间合适" if share >= 1.0 else "部分时间合适" if share > 0 else "")
    if parts["fairness"] and candidate.recent_minutes <= 600:
        found.append("近期服务较少")
    if parts["reliability"]:
        if candidate.average_rating is not None:
            found.append(f"评分{candidate.average_rating:.1f}")
        if candidate.completed > 0:
            found.append(f"已完成{candidate.completed}次")
    if parts["urgency"] and wish.urgency >= Urgency.HIGH:
        found.append("紧急" if wish.urgency >= Urgency.URGENT else "较急")
    if parts["key_household"]:
        found.append(KEY_HOUSEHOLD_PHRASE)  # never the type; staff only (recommendations hide it)
    waited = now - (wish.published_at or wish.created_at)
    if parts["waiting"] and waited.days >= 1:
        found.append(f"已等待{waited.days}天")
    return tuple(phrase for phrase in found if phrase)


# Uses


def score(target: Target, candidate: Candidate, weights: Weights, now: dt.datetime) -> Score:
    """How well the candidate fits the wish, eligible or not; the parts add up to the total."""
    parts = _parts(weights, _fractions(target, candidate, now))
    explain = _explain(target, candidate, parts, now)
    return Score(total=_total(parts.values()), parts=parts, explain=explain)


def total(target: Target, candidate: Candidate, weights: Weights, now: dt.datetime) -> float:
    """:func:`score`'s total alone (eligible or not)."""
    return _total(_weighted(weights, _fractions(target, candidate, now)))


def place_fraction(home_path: str, place_path: str) -> float:
    """The distance part's fraction for a member living at ``home_path`` and a wish placed at
    ``place_path`` (1.0: the same grid or building … 0.25: unknown home or the same street)."""
    return _distance(home_path, _segments(place_path))


def ceiling(
    candidate: Candidate, weights: Weights, *, urgency: int, key_household: bool, place: float
) -> float:
    """The highest total an eligible wish of this urgency and key household, placed at the
    distance fraction ``place`` (:func:`place_fraction`), can give the candidate: every other
    part that depends on the wish at its best (every skill held, the whole window free, waited
    72 hours or more). Computed as :func:`total` computes totals, so a wish that reaches it has
    this very total, and none exceeds it."""
    free = 1.0 if candidate.available else 0.5  # _availability's best
    fractions = (1.0, place, free, _fairness(candidate.recent_minutes), _reliability(candidate),
                 _urgency(urgency), float(key_household), 1.0)  # fmt: skip
    return _total(_weighted(weights, fractions))


def _best(
    pairs: Iterable[tuple[Target, Candidate]],
    weights: Weights,
    now: dt.datetime,
    limit: int,
    tie: Callable[[Target, Candidate], tuple[object, ...]],
) -> list[Match]:
    """The eligible pairs with the highest totals, ties by ``tie``, through a bounded heap."""
    keyed = (
        ((-total(t, c, weights, now), *tie(t, c)), t, c) for t, c in pairs if not why_not(t, c, now)
    )
    return matches(best_ranked(keyed, limit), weights, now)


Ranked = tuple[tuple[object, ...], Target, Candidate]
"""An eligible pair with its rank: (minus its total, then the tie break), the lower the better."""


def _rank(row: Ranked) -> tuple[object, ...]:
    return row[0]


def matches(best: Iterable[Ranked], weights: Weights, now: dt.datetime) -> list[Match]:
    """The ranked pairs as matches, each with its whole score (parts and explanation)."""
    return [
        Match(wish_id=t.wish.id, member_id=c.member_id, score=score(t, c, weights, now))
        for _, t, c in best
    ]


def recommend(
    candidate: Candidate,
    targets: Iterable[Target],
    weights: Weights,
    now: dt.datetime,
    *,
    limit: int = 20,
) -> list[Match]:
    """The wishes the candidate may claim, best first; ties: more urgent, earlier start, wish id.

    Memory grows with ``limit``, not with the number of targets (a stream is fine).
    """
    pairs = ((target, candidate) for target in targets)
    return _best(pairs, weights, now, limit, _wish_order)


def _wish_order(target: Target, _: Candidate) -> tuple[object, ...]:
    return -int(target.wish.urgency), target.wish.window_start, target.wish.id


def ranked_wish(target: Target, candidate: Candidate, weights: Weights, now: dt.datetime) -> Ranked:
    """An eligible wish ranked as :func:`recommend` ranks it: keep the ``limit`` lowest with
    :func:`best_ranked`, then :func:`matches` gives what :func:`recommend` would."""
    rank = (-total(target, candidate, weights, now), *_wish_order(target, candidate))
    return rank, target, candidate


def best_ranked(rows: Iterable[Ranked], limit: int) -> list[Ranked]:
    """The ``limit`` best ranked pairs, best first."""
    return heapq.nsmallest(limit, rows, key=_rank)


def rank_candidates(
    target: Target,
    candidates: Iterable[Candidate],
    weights: Weights,
    now: dt.datetime,
    *,
    limit: int = 20,
) -> list[Match]:
    """The members who may claim the wish (派单), best first; ties by member id."""
    pairs = ((target, candidate) for candidate in candidates)
    return _best(pairs, weights, now, limit, lambda _, c: (c.member_id,))


def _priority(target: Target) -> tuple[object, ...]:
    wish = target.wish
    waiting_since = wish.published_at or wish.created_at
    return -int(wish.urgency), not target.key_household, waiting_since, wish.id


def auto_dispatch(
    targets: Sequence[Target],
    candidates: Sequence[Candidate],
    weights: Weights,
    now: dt.datetime,
) -> list[Assignment]:
    """Assign members to wishes: only eligible pairs, within free places and members' limits.

    Wishes go in priority order (more urgent, key household, waiting longest, id); each takes its
    best remaining candidates (ties by member id). A member's limit is ``claim_limit -
    open_claims``; within the batch their recent minutes grow by each wish's estimated minutes,
    so fairness spreads the load and ``Assignment.score`` is the score at that moment. Of several
    candidates with one member id, the first counts. Result: in assignment order.

    How it stays fast: members are kept on *shelves*, by where they live (or their unit): one of
    everyone, and one per skill of those holding it. A wish asking for skills visits the shelves
    of the skill fewest members hold (10,000 wishes and members: 2.2 million members looked at,
    95 % of them skipped for a skill, when every wish visited everyone). On a shelf members are
    in *groups* of equal standing (the same exact sum of fairness, reliability and best free
    time; the same home; the same free windows), which give any wish the very same total, so a
    wish takes from a group its first eligible members by id and no more; groups are visited in
    falling standing and the visit stops once a group's best possible total cannot reach the
    totals already kept.
    """
    first: dict[str, Candidate] = {}
    for c in candidates:
        first.setdefault(c.member_id, c)
    pool = [c for c in first.values() if c.roles & (CLAIMING | UNIT)]
    left = [c.claim_limit - c.open_claims for c in pool]
    minutes = [c.recent_minutes for c in pool]
    fair = [weights.fairness * _fairness(m) for m in minutes]
    steady = [weights.reliability * _reliability(c) for c in pool]
    free_max = [weights.availability * (1.0 if c.available else 0.5) for c in pool]
    homes = [("home", *_segments(c.home_path)[:3]) if c.home_path else ("anywhere",) for c in pool]
    places_known = set(homes)
    holders = Counter(skill for c in pool for skill in c.skills)
    on: list[list[_Shelf]] = []  # the shelves each member is on
    shelves: dict[tuple[tuple[str, ...], str | None], _Shelf] = {}  # (place or unit, skill)
    for i, c in enumerate(pool):
        where = [homes[i], *([("unit", c.unit_id)] if c.unit_id is not None else [])]
        on.append([shelves.setdefault((place, skill), _Shelf())
                   for place in where for skill in (None, *sorted(c.skills))])  # fmt: skip

    def group(i: int) -> _Group:
        standing = _exact(fair[i]) + _exact(steady[i]) + _exact(free_max[i])
        return (-standing, pool[i].home_path, pool[i].available)

    at = [group(i) for i in range(len(pool))]
    for i, c in enumerate(pool):
        if left[i] > 0:
            for shelf in on[i]:
                shelf.put(at[i], c.member_id, i)

    out: list[Assignment] = []
    for target in sorted(targets, key=_priority):
        wish = target.wish
        places = wish.capacity - wish.places_taken
        if places <= 0 or wish.state not in CLAIMABLE_WISH_STATES or now >= wish.window_end:
            continue
        place = _segments(target.path)
        community = place[:3]
        near = {("anywhere",), ("home", *community)}
        if len(community) < 3:  # a wish placed above a community: every home under its path
            near |= {
                k for k in places_known if k[0] == "home" and k[1 : 1 + len(community)] == community
            }
        need = min(wish.skills, key=lambda s: (holders[s], s)) if wish.skills else None
        scan = [((key, need), False) for key in sorted(near)] + [
            ((("unit", unit), need), True) for unit in sorted(target.paired_unit_ids)
        ]
        urgency, key_household, waiting = _wish_fractions(target, now)
        fixed = (
            weights.skills,  # an eligible member has every skill asked for
            weights.urgency * urgency,
            weights.key_household * key_household,
            weights.waiting * waiting,
        )
        best_place = weights.distance * max(0.25, _DISTANCE[min(len(place), len(_DISTANCE) - 1)])
        own, start, end = {wish.beneficiary_id, wish.posted_by}, wish.window_start, wish.window_end
        kept: list[tuple[float, str, int]] = []  # the best `places` as (total, -id…), worst first
        for key, from_unit in scan:
            found = shelves.get(key)
            if found is None:
                continue
            for g in found.order:
                members = found.groups[g]
                _, i0 = members[0]
                if len(kept) == places:
                    bound = _total((*fixed, fair[i0], steady[i0], best_place, free_max[i0]))
                    if bound < kept[0][0]:
                        break  # groups come in falling standing: nobody further on makes the cut
                taken = 0
                total = -math.inf  # the group's: the same for every member in it
                for member_id, i in members:
                    c = pool[i]
                    if from_unit and homes[i] in near:
                        continue  # seen with their community
                    if (
                        c.member_id in own
                        or wish.id in c.claimed_wish_ids
                        or not wish.skills <= c.skills
                    ):
                        continue
                    if taken == 0:
                        free = _availability(c.available, start, end) if c.available else 0.5
                        pair = (weights.distance * _distance(c.home_path, place),
                                weights.availability * free)  # fmt: skip
                        total = _total((*fixed, fair[i], steady[i], *pair))
                    entry = (total, _Desc(member_id), i)
                    if len(kept) < places:
                        heapq.heappush(kept, entry)
                    elif entry > kept[0]:
                        heapq.heapreplace(kept, entry)
                    taken += 1
                    if taken >= places:
                        break  # the rest of the group: the same total, a later id
        for total, _, i in sorted(kept, reverse=True):
            out.append(Assignment(wish_id=wish.id, member_id=pool[i].member_id, score=total))
            left[i] -= 1
            minutes[i] += max(0, wish.estimated_minutes)
            for shelf in on[i]:
                shelf.take(at[i], pool[i].member_id, i)
            fair[i] = weights.fairness * _fairness(minutes[i])
            at[i] = group(i)
            if left[i] > 0:
                for shelf in on[i]:
                    shelf.put(at[i], pool[i].member_id, i)
    return out


_Group = tuple[int, str, tuple[Window, ...]]


def _exact(x: float) -> int:
    """``x`` exactly, as a whole number of 2**-1100 (every float is one): sums of these compare
    as the real sums do, which sums of floats, rounded, need not."""
    numerator, denominator = x.as_integer_ratio()
    return numerator << (1100 - (denominator.bit_length() - 1))


class _Desc(str):
    """A member id that sorts the other way round (a higher total first, then a lower id)."""

    __slots__ = ()

    def __lt__(self, other: str) -> bool:
        return str.__gt__(self, other)

    def __gt__(self, other: str) -> bool:
        return str.__lt__(self, other)


class _Shelf:
    """Members in groups of equal standing (see :func:`auto_dispatch`), best group first, each
    group by member id."""

    def __init__(self) -> None:
        self.groups: dict[_Group, list[tuple[str, int]]] = {}
        self.order: list[_Group] = []

    def put(self, g: _Group, member_id: str, i: int) -> None:
        members = self.groups.get(g)
        if members is None:
            members = self.groups[g] = []
            bisect.insort(self.order, g)
        bisect.insort(members, (member_id, i))

    def take(self, g: _Group, member_id: str, i: int) -> None:
        members = self.groups[g]
        members.pop(bisect.bisect_left(members, (member_id, i)))
        if not members:
            del self.groups[g]
            self.order.pop(bisect.bisect_left(self.order, g))
