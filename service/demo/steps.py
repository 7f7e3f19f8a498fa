"""The demo's past as timed steps: each one library call at a moment of the last ninety days.

A :class:`Story` is one wish; :class:`Steps` turns what happens to it (点单, 审核, 接单, 报到,
签退, 评单, …) into steps that run the real library functions with ``now`` set to that moment.
Steps of all wishes run in time order, so what a step needs (the resident's confirmation code,
the claim it checks in) was made by an earlier one. Who takes a place is chosen when the step runs,
among the members still under the community's claim limit.
"""

from __future__ import annotations

import datetime as dt
import random
from collections import Counter
from collections.abc import Callable, Iterable

import msgspec
from sqlalchemy.engine import Connection

import marketplace as mk
from marketplace import Urgency, WishKind
from service.demo.district import PARTY, SEED, VOLUNTEER, Population
from service.demo.words import (
    CANCELLATIONS,
    COMMENTS,
    DISPUTES,
    GOODS,
    HOURS,
    MINUTES,
    OVERRIDE,
    PROXY_NOTE,
    RATINGS,
    REJECTIONS,
    RESOLVED_AGAINST,
    RESOLVED_FOR,
    STAFF_CANCELLATIONS,
    WISH_SKILL,
    WITHDRAWALS,
)

Run = Callable[[Connection], None]
CST = dt.timezone(dt.timedelta(hours=8), "CST")
MINUTE, HOUR, DAY = dt.timedelta(minutes=1), dt.timedelta(hours=1), dt.timedelta(days=1)
CLAIM_LIMIT = mk.DEFAULT_RULES.claim_limit


def time_id(at: dt.datetime, rng: random.Random) -> str:
    """An id laid out like :func:`points.new_id` for the moment ``at``: lists that show the
    newest first (by id) show the demo in its own order, and below anything made later."""
    ms = int(at.timestamp() * 1000)
    rand = rng.getrandbits(74)
    value = (ms << 80) | (0x7 << 76) | (((rand >> 62) & 0xFFF) << 64)
    value |= (0b10 << 62) | (rand & ((1 << 62) - 1))
    return f"{value:032x}"


class Way(msgspec.Struct, frozen=True, kw_only=True):
    """How a wish's places are filled: claims, a unit's claim (单位接单), staff dispatch (派单),
    or a volunteer withdrawing before another claims (退单); and whether staff check the
    volunteer in for the resident (代报到)."""

    unit: str | None = None
    dispatched: bool = False
    withdrawn: bool = False
    override: bool = False


class Story:
    """One wish as planned, and what the run learns on the way (its code, its claims)."""

    def __init__(
        self,
        *,
        id: str,
        community: str,
        grid: str,
        beneficiary: str,
        poster: str,
        category: str,
        title: str,
        description: str,
        address: str,
        capacity: int,
        minutes: int,
        urgency: Urgency,
        window: tuple[dt.datetime, dt.datetime],
    ) -> None:
        self.id = id
        self.community = community
        self.grid = grid
        self.beneficiary = beneficiary
        self.poster = poster
        self.category = category
        self.kind = WishKind.GOODS if category == GOODS else WishKind.SERVICE
        self.title = title
        self.description = description
        self.address = address
        self.capacity = capacity
        self.minutes = minutes
        self.urgency = urgency
        self.start, self.end = window
        self.offer: str | None = None  # a request from this mutual-help offer (key)
        self.code = ""
        self.claims: dict[int, tuple[str, str]] = {}  # place → (claim id, member id)
        self.unit = ""
        self.unit_claim = ""
        self.passed: set[str] = set()  # members who withdrew

    @property
    def owner(self) -> str:
        """Who speaks for the resident: whoever posted it (the grid worker, for 代点单)."""
        return self.poster


class Steps:
    """The clock of the demo's past and the library calls made in it."""

    def __init__(self, pop: Population, now: dt.datetime) -> None:
        self.pop = pop
        self.now = now
        self.start = now - 90 * DAY
        self.today = now.astimezone(CST).replace(hour=0, minute=0)
        self.rng = random.Random(SEED + 1)  # plans
        self.chance = random.Random(SEED + 2)  # choices made while running
        self.steps: list[tuple[dt.datetime, int, Run]] = []
        self.pools: dict[str, tuple[list[str], list[float]]] = {}  # who claims, how keenly
        self.load: Counter[tuple[str, str]] = Counter()  # open claims (community, member)
        self.offers: dict[str, str] = {}  # offer key → offer id, once published
        self.earners: dict[str, list[str]] = {}  # members with points, by community

    # -- time --

    def day(self, days_ago: int, hour: int, minute: int = 0) -> dt.datetime:
        """Local wall time on a day before (or, negative, after) today."""
        local = self.today - dt.timedelta(days=days_ago)
        return local.replace(hour=hour, minute=minute).astimezone(dt.UTC)

    def ago(self, low: float, high: float) -> dt.datetime:
        """A moment ``low`` to ``high`` hours ago, in the local daytime when there is one."""
        hours = [h for h in range(int(low) + 1, int(high) + 1) if _daytime(self.now - h * HOUR)]
        if hours:
            moment = self.now - self.rng.choice(hours) * HOUR + self.rng.randint(0, 50) * MINUTE
        else:
            moment = self.now - self.rng.uniform(low, high) * HOUR
        return moment.replace(second=0, microsecond=0)

    def after(
        self, at: dt.datetime, low: float, high: float, *, by: dt.datetime | None = None
    ) -> dt.datetime:
        """``low`` to ``high`` hours after ``at``, and before ``by`` and now."""
        limit = min(by or self.now, self.now) - MINUTE
        moment = min(at + self.rng.uniform(low, high) * HOUR, limit)
        moment = moment.replace(second=0, microsecond=0)
        if moment <= at:
            moment = at + (limit - at) / 2
        assert at < moment <= limit, (at, moment, limit)
        return moment

    def window(self, category: str, days_ago: int) -> tuple[dt.datetime, dt.datetime]:
        """The time window of a wish of ``category`` opening on that day."""
        first, last = HOURS[category]
        start = self.day(days_ago, self.rng.randint(first, last), self.rng.choice((0, 0, 30, 15)))
        if category == GOODS:
            return start, start + 6 * HOUR
        hours = max(2.0, MINUTES[category][1] * 1.5 / 60)
        return start, start + dt.timedelta(hours=round(hours * 2) / 2)

    def staff_of(self, community: str) -> str:
        return self.rng.choice(self.pop.staff[community])

    def _at(self, at: dt.datetime, run: Run) -> None:
        assert at <= self.now, (at, self.now)
        self.steps.append((at, len(self.steps), run))

    # -- one wish's steps --

    def post(self, s: Story, at: dt.datetime) -> None:
        skills = frozenset({WISH_SKILL[s.category]}) if s.category in WISH_SKILL else frozenset()

        def run(tx: Connection) -> None:
            wish = mk.post_wish(
                tx,
                s.poster,
                community_id=s.community,
                kind=s.kind,
                category=s.category,
                title=s.title,
                description=s.description,
                org_id=s.grid,
                address=s.address,
                window_start=s.start,
                window_end=s.end,
                estimated_minutes=s.minutes,
                capacity=s.capacity,
                urgency=s.urgency,
                skills=skills,
                beneficiary_id=s.beneficiary,
                proxy_note=PROXY_NOTE if s.poster != s.beneficiary else None,
                offer_id=self.offers[s.offer] if s.offer else None,
                id=s.id,
                now=at,
            )
            s.code = wish.confirmation_code

        self._at(at, run)

    def verify(self, s: Story, at: dt.datetime) -> None:
        """审核通过; a request from an offer is claimed by its offerer in the same step."""
        actor = self.staff_of(s.community)

        def run(tx: Connection) -> None:
            if s.offer is None:
                mk.verify(tx, actor, s.community, s.id, now=at)
                return
            _, made = mk.claim_for_offer(tx, actor, s.community, s.id, now=at)
            assert made.member_id is not None
            s.claims[0] = (made.id, made.member_id)
            self.load[(s.community, made.member_id)] += 1

        self._at(at, run)

    def reject(self, s: Story, at: dt.datetime) -> None:
        actor, reason = self.staff_of(s.community), self.rng.choice(REJECTIONS)

        def run(tx: Connection) -> None:
            mk.reject(tx, actor, s.community, s.id, reason=reason, now=at)

        self._at(at, run)

    def cancel(self, s: Story, at: dt.datetime, *, by_staff: bool = False) -> None:
        actor = self.staff_of(s.community) if by_staff else s.owner
        reason = self.rng.choice(STAFF_CANCELLATIONS if by_staff else CANCELLATIONS)

        def run(tx: Connection) -> None:
            mk.cancel(tx, actor, s.community, s.id, reason=reason, now=at)
            for _, member in s.claims.values():
                self.load[(s.community, member)] -= 1
            s.claims.clear()

        self._at(at, run)

    def claim(self, s: Story, place: int, at: dt.datetime, member: str | None = None) -> None:
        claim_id = time_id(at, self.rng)

        def run(tx: Connection) -> None:
            chosen = member or self._pick(s)
            made = mk.claim(tx, chosen, s.community, s.id, id=claim_id, now=at)
            s.claims[place] = (made.id, chosen)
            self.load[(s.community, chosen)] += 1

        self._at(at, run)

    def dispatch(self, s: Story, place: int, at: dt.datetime) -> None:
        actor = self.staff_of(s.community)

        def run(tx: Connection) -> None:
            chosen = self._pick(s)
            made = mk.dispatch(tx, actor, s.community, s.id, chosen, now=at)
            s.claims[place] = (made.id, chosen)
            self.load[(s.community, chosen)] += 1

        self._at(at, run)

    def unit_claim(self, s: Story, unit_id: str, at: dt.datetime) -> None:
        admin = self.pop.unit_admin[unit_id]
        s.unit = unit_id

        def run(tx: Connection) -> None:
            made = mk.claim_for_unit(
                tx, admin, s.community, s.id, unit_id, places=s.capacity, now=at
            )
            s.unit_claim = made.id

        self._at(at, run)

    def assign(self, s: Story, place: int, at: dt.datetime, member: str | None = None) -> None:
        admin = self.pop.unit_admin[s.unit]

        def run(tx: Connection) -> None:
            chosen = member or self._pick(s, self.pop.unit_party[s.unit])
            made = mk.assign(tx, admin, s.community, s.unit_claim, chosen, now=at)
            s.claims[place] = (made.id, chosen)
            self.load[(s.community, chosen)] += 1

        self._at(at, run)

    def withdraw(self, s: Story, place: int, at: dt.datetime) -> None:
        reason = self.rng.choice(WITHDRAWALS)

        def run(tx: Connection) -> None:
            claim_id, member = s.claims.pop(place)
            mk.withdraw(tx, member, s.community, claim_id, reason=reason, now=at)
            self.load[(s.community, member)] -= 1
            s.passed.add(member)

        self._at(at, run)

    def check_in(self, s: Story, place: int, at: dt.datetime, *, override: bool = False) -> None:
        staff = self.staff_of(s.community)

        def run(tx: Connection) -> None:
            claim_id, member = s.claims[place]
            if override:
                mk.check_in(tx, staff, s.community, claim_id, override_reason=OVERRIDE, now=at)
            else:
                mk.check_in(tx, member, s.community, claim_id, code=s.code, now=at)

        self._at(at, run)

    def check_out(self, s: Story, place: int, at: dt.datetime) -> None:
        def run(tx: Connection) -> None:
            claim_id, member = s.claims[place]
            mk.check_out(tx, member, s.community, claim_id, now=at)
            self.load[(s.community, member)] -= 1
            self.earned(s.community, member)

        self._at(at, run)

    def no_show(self, s: Story, place: int, at: dt.datetime) -> None:
        """After the sweep released a claim nobody checked in to: the member is free again."""

        def run(tx: Connection) -> None:
            _, member = s.claims.pop(place)
            self.load[(s.community, member)] -= 1

        self._at(at, run)

    def confirm(
        self,
        s: Story,
        at: dt.datetime,
        *,
        rated: bool = True,
        fixed: tuple[int, str] | None = None,
    ) -> None:
        """评单 by the resident, or by the grid worker who posted it for them."""
        rng = self.rng
        rating: int | None = None
        comment = ""
        if fixed is not None:
            rating, comment = fixed
        elif rated:
            rating = rng.choices([r for r, _ in RATINGS], [w for _, w in RATINGS])[0]
            comment = rng.choice(COMMENTS[rating]) if rng.random() < 0.7 else ""
        actor = s.poster if rng.random() < 0.7 else s.beneficiary

        def run(tx: Connection) -> None:
            mk.confirm(tx, actor, s.community, s.id, rating=rating, comment=comment, now=at)

        self._at(at, run)

    def dispute(self, s: Story, at: dt.datetime) -> None:
        reason = self.rng.choice(DISPUTES)

        def run(tx: Connection) -> None:
            mk.dispute(tx, s.owner, s.community, s.id, reason=reason, now=at)

        self._at(at, run)

    def resolve(self, s: Story, at: dt.datetime, *, for_volunteer: bool) -> None:
        actor = self.staff_of(s.community)
        reason = RESOLVED_FOR if for_volunteer else RESOLVED_AGAINST

        def run(tx: Connection) -> None:
            mk.resolve(
                tx, actor, s.community, s.id, for_volunteer=for_volunteer, reason=reason, now=at
            )

        self._at(at, run)

    def earned(self, community: str, member: str) -> None:
        """Note a member with points to spend (the demo accounts' orders are their own)."""
        earners = self.earners.setdefault(community, [])
        if member not in earners and member not in (VOLUNTEER, PARTY):
            earners.append(member)

    def _pick(self, s: Story, pool: list[str] | None = None) -> str:
        """A member free to take a place on the wish: under the claim limit, not its owner,
        not already serving it."""
        members, weights = (pool, [1.0] * len(pool)) if pool else self.pools[s.community]
        taken = {m for _, m in s.claims.values()} | s.passed | {s.beneficiary, s.poster}
        for _ in range(500):
            chosen = self.chance.choices(members, weights)[0]
            if chosen not in taken and self.load[(s.community, chosen)] < CLAIM_LIMIT:
                return chosen
        raise RuntimeError(f"nobody free to serve wish {s.id} in {s.community}")

    # -- the whole flow --

    def serve(
        self,
        s: Story,
        posted: dt.datetime,
        verified: dt.datetime,
        way: Way,
        *,
        members: Iterable[str] = (),
        served: bool = True,
    ) -> dt.datetime:
        """Post, verify, fill every place (``members`` first), then check everyone in and out:
        the last check-out (or, not ``served``, the last claim)."""
        self.post(s, posted)
        self.verify(s, verified)
        first, last = verified + 10 * MINUTE, s.start - 30 * MINUTE
        assert first < last, (s.title, first, last)
        span = (last - first).total_seconds() / 3600
        named = list(members)
        places = range(1 if s.offer else 0, s.capacity)
        times = sorted(self.after(first, 0, span, by=last) for _ in places)
        if way.unit is not None and not s.offer:
            self.unit_claim(s, way.unit, first)
            for place, at in zip(places, times, strict=True):
                self.assign(s, place, at, named[place] if place < len(named) else None)
        elif way.dispatched and s.capacity == 1 and not s.offer:
            self.dispatch(s, 0, times[0])
        else:
            for place, at in zip(places, times, strict=True):
                self.claim(s, place, at, named[place] if place < len(named) else None)
            if way.withdrawn and s.capacity == 1 and not s.offer and last - times[0] > 2 * HOUR:
                gone = self.after(times[0], 0.2, span, by=last - HOUR)
                again = self.after(gone, 0.1, span, by=last)
                self.withdraw(s, 0, gone)
                self.claim(s, 0, again)
                times.append(again)
        if not served:
            return max(times, default=verified)
        checked_out = []
        for place in range(s.capacity):
            late = (0, 300) if s.kind is WishKind.GOODS else (-25, 15)
            arrived = s.start + self.rng.randint(*late) * MINUTE
            took = max(10, round(s.minutes * self.rng.uniform(0.8, 1.25) / 5) * 5) * MINUTE
            self.check_in(s, place, arrived, override=way.override and place == 0)
            self.check_out(s, place, arrived + took)
            checked_out.append(arrived + took)
        return max(checked_out)


def _daytime(at: dt.datetime) -> bool:
    return 8 <= at.astimezone(CST).hour <= 20
