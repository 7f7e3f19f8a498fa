"""Ninety days of the demo district: which wishes were posted and how each one ended.

:data:`MIX` says how the 600 wishes end, so every state of the lifecycle is there: most served
and rated (评单), some auto-accepted by the sweep, disputed, rejected, cancelled, expired (one in
five after a no-show), and the open ones of today, some escalated (吹哨) to the street or the
district. The demo accounts' own wishes are planned by hand (:meth:`Simulation.pinned`). Around
them: mutual-help offers and their requests, orders in the points stores, offline events whose
hours staff enter in one go, a policy change, and the background sweeps every six hours.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy.engine import Connection

import marketplace as mk
import points
from marketplace import Urgency
from service.demo.district import (
    COMMUNITY_IDS,
    HOME,
    HOME_GRID,
    HOME_UNIT,
    PARTY,
    RESIDENT,
    STAFF,
    UNITS,
    VOLUNTEER,
    Population,
)
from service.demo.steps import CST, DAY, HOUR, MINUTE, Run, Steps, Story, Way, time_id
from service.demo.words import (
    CATEGORY_WEIGHTS,
    COMMENTS,
    CONSENT,
    EVENTS,
    ITEMS,
    MINUTES,
    OFFERS,
    TITLES,
)

MIX = {
    "closed": 233, "closed_unrated": 10, "closed_auto": 34, "resolved_for": 8,
    "resolved_against": 6, "served": 23, "disputed": 8, "in_service": 12, "claimed": 28,
    "published": 46, "submitted": 30, "rejected": 36, "expired": 38, "no_show": 8,
    "cancelled_submitted": 15, "cancelled_published": 12, "cancelled_claimed": 12,
}  # fmt: skip
"""How the wishes not planned by hand end (the pinned 17 and the offers' 24 make 600)."""
SHARES = {
    "yangguang": 88, "xinghe": 96, "jinqiao": 92, "mingyue": 94, "qingquan": 96, "taoyuan": 93,
}  # fmt: skip
OFFERS_PER_COMMUNITY, REQUESTS_PER_OFFER = 2, 2
ORDERS_PER_COMMUNITY = 20
CLOSED = ("closed", "closed_unrated", "closed_auto", "resolved_for", "resolved_against")


class Simulation(Steps):
    """Plans the ninety days as steps (:meth:`plan`) after :meth:`setup` made the stage."""

    def __init__(self, pop: Population, now: dt.datetime) -> None:
        super().__init__(pop, now)
        self.offer_of: dict[str, tuple[str, str, str, str, str]] = {}
        owners: set[str] = set()
        for community in COMMUNITY_IDS:
            volunteers = [m for m in pop.claimers[community] if m.startswith("vol-")]
            chosen = self.rng.sample(volunteers, OFFERS_PER_COMMUNITY)
            kinds = self.rng.sample(OFFERS, OFFERS_PER_COMMUNITY)
            for k, (member, offer) in enumerate(zip(chosen, kinds, strict=True), start=1):
                self.offer_of[f"{community}-offer-{k}"] = (member, community, *offer)
                owners.add(member)  # they serve their offers' requests, nothing else
        for community in COMMUNITY_IDS:
            pool = [m for m in pop.claimers[community] if m not in owners]
            keen = [min(8.0, self.rng.paretovariate(1.6)) for _ in pool]  # a few do most
            for unit_id, _, paired in UNITS:
                if community in paired:
                    pool += pop.unit_party[unit_id]
                    keen += [0.6] * len(pop.unit_party[unit_id])
            self.pools[community] = (pool, keen)
            self.earners[community] = []
        self.placed: dict[str, str] = {}  # order id → the member who placed it
        years = (now.year - 1, now.year, now.year + 1)
        self.holidays = frozenset(
            {dt.date(y, 1, 1) for y in years}
            | {dt.date(y, 5, d) for y in years for d in range(1, 6)}
            | {dt.date(y, 10, d) for y in years for d in range(1, 8)}
        )

    # -- before the ninety days --

    def setup(self, tx: Connection) -> None:
        """Pairings, key households with their consent, rules, policies, stores, offers."""
        rng, pop, before = self.rng, self.pop, self.start - 30 * DAY
        for unit_id, _, paired in UNITS:
            for community in paired:
                staff = pop.staff[community][0]
                mk.pair_unit(tx, staff, unit_id, community, now=self.start - 200 * DAY)
        for community in ("xinghe", "taoyuan"):  # a donor of goods earns points there
            mk.set_community_rules(
                tx,
                pop.staff[community][0],
                community,
                mk.CommunityRules(goods_points=5),
                now=self.start - 60 * DAY,
            )
        for community, keyed in pop.key_households.items():
            for member_id in keyed:
                mk.set_key_household(
                    tx,
                    pop.staff[community][0],
                    member_id,
                    community,
                    pop.people[member_id].key_household,
                    purpose=CONSENT,
                    now=self.start - rng.randint(20, 300) * DAY,
                )
        for n, community in enumerate(COMMUNITY_IDS):
            staff = pop.staff[community][0]
            points.set_policy(tx, community, self.policy(n), actor=staff, now=before)
            for key, name, cost, kind, stock, limit, _ in ITEMS:
                points.add_item(
                    tx,
                    community_id=community,
                    id=f"{community}-{key}",
                    name=name,
                    cost=cost,
                    kind=kind,
                    stock=stock,
                    per_member_limit=limit,
                    limit_period=points.LimitPeriod.MONTH,
                    now=before,
                )
        for key, (member, community, category, title, schedule) in self.offer_of.items():
            offer = mk.publish_offer(
                tx,
                member,
                community,
                category=category,
                title=title,
                schedule=schedule,
                capacity_per_week=2,
                now=self.start - rng.randint(5, 40) * DAY,
            )
            self.offers[key] = offer.id

    def policy(self, n: int, per_hour: int | None = None) -> points.AccrualPolicy:
        """A community's 积分规则: ten to twelve points an hour, more for care and advice."""
        return points.AccrualPolicy(
            points_per_hour=per_hour or (10, 10, 12, 10, 12, 10)[n],
            category_multipliers={"助老陪护": 120, "心理疏导": 120, "法律咨询": 150},
            key_household_bonus_percent=20,
            night_bonus_percent=50,
            holiday_bonus_percent=50,
            holidays=self.holidays,
            expiry_days=365,
        )

    # -- the ninety days --

    def plan(self) -> list[tuple[dt.datetime, int, Run]]:
        """Every step of the ninety days, in time order."""
        self.pinned()
        self.offer_requests()
        kinds = [kind for kind, n in MIX.items() for _ in range(n)]
        places = [c for c, n in SHARES.items() for _ in range(n)]
        self.rng.shuffle(places)
        for kind, community in zip(kinds, places, strict=True):
            self.wish(kind, community)
        self.orders()
        self.events()
        self.policy_change()
        self.sweeps()
        return sorted(self.steps, key=lambda step: (step[0], step[1]))

    def category(self) -> str:
        return self.rng.choices(list(CATEGORY_WEIGHTS), list(CATEGORY_WEIGHTS.values()))[0]

    def story(
        self,
        community: str,
        posted: dt.datetime,
        window: tuple[dt.datetime, dt.datetime],
        category: str,
        *,
        beneficiary: str | None = None,
        proxy: bool | None = None,
        capacity: int | None = None,
        title: tuple[str, str] | None = None,
    ) -> Story:
        """A wish posted at ``posted``: for a resident (key households more often), by them or
        by their grid worker (代点单)."""
        rng = self.rng
        if beneficiary is None:
            keyed = [m for m in self.pop.key_households[community] if m != RESIDENT]
            beneficiary = RESIDENT
            if keyed and rng.random() < 0.12:
                beneficiary = rng.choice(keyed)
            while beneficiary == RESIDENT:  # the demo resident's wishes are all planned
                beneficiary = rng.choice(self.pop.residents[community])
        person = self.pop.people[beneficiary]
        assert person.home_org_id is not None
        if proxy is None:
            proxy = rng.random() < (0.7 if person.key_household else 0.04)
        if capacity is None:
            capacity = 1
            if category == "文体活动":
                capacity = rng.choice((2, 2, 3))
            elif category == "助老陪护" and rng.random() < 0.08:
                capacity = 2
        urgency = Urgency.HIGH if person.key_household else Urgency.NORMAL
        if rng.random() < 0.08:
            urgency = rng.choice((Urgency.LOW, Urgency.URGENT))
        what, description = title or rng.choice(TITLES[category])
        low, high = MINUTES[category]
        return Story(
            id=time_id(posted, rng),
            community=community,
            grid=person.home_org_id,
            beneficiary=beneficiary,
            poster=self.pop.grid_worker[person.home_org_id] if proxy else beneficiary,
            category=category,
            title=what,
            description=description,
            address=person.address,
            capacity=capacity,
            minutes=rng.randrange(low, high + 1, 5),
            urgency=urgency,
            window=window,
        )

    def past(
        self,
        community: str,
        days_ago: int,
        category: str | None = None,
        *,
        beneficiary: str | None = None,
        proxy: bool | None = None,
        capacity: int | None = None,
        title: tuple[str, str] | None = None,
    ) -> tuple[Story, dt.datetime, dt.datetime]:
        """A wish whose window opened ``days_ago`` days ago: (story, posted, verified)."""
        rng = self.rng
        category = category or self.category()
        lead = rng.choices((1, 2, 3, 4), (40, 30, 20, 10))[0]
        posted = self.day(days_ago + lead, rng.randint(7, 21), rng.randint(0, 59))
        slow = lead >= 3 and rng.random() < 0.25  # verified late, escalated on the way
        hours = rng.uniform(26, 40) if slow else rng.uniform(0.3, 6)
        verified = (posted + hours * HOUR).replace(second=0, microsecond=0)
        s = self.story(
            community,
            posted,
            self.window(category, days_ago),
            category,
            beneficiary=beneficiary,
            proxy=proxy,
            capacity=capacity,
            title=title,
        )
        return s, posted, verified

    def way(self, community: str) -> Way:
        rng = self.rng
        units = [u for u, _, paired in UNITS if community in paired]
        draw = rng.random()
        if draw < 0.08 and units:
            return Way(unit=rng.choice(units))
        if draw < 0.13:
            return Way(dispatched=True)
        if draw < 0.17:
            return Way(withdrawn=True)
        if draw < 0.20:
            return Way(override=True)
        return Way()

    def wish(self, kind: str, community: str) -> None:
        """One wish that ends as ``kind`` says (a key of :data:`MIX`)."""
        rng = self.rng
        if kind in CLOSED or kind in ("served", "disputed"):
            days = {"closed_auto": (9, 84), "served": (1, 5), "disputed": (2, 8)}.get(kind, (3, 84))
            s, posted, verified = self.past(community, rng.randint(*days))
            done = self.serve(s, posted, verified, self.way(community))
            if kind in ("closed", "closed_unrated"):
                self.confirm(s, self.after(done, 0.5, 36), rated=kind == "closed")
            elif kind.startswith("resolved"):
                disputed = self.after(done, 2, 30)
                self.dispute(s, disputed)
                self.resolve(s, self.after(disputed, 3, 48), for_volunteer=kind == "resolved_for")
            elif kind == "disputed":
                self.dispute(s, self.after(done, 2, 30))
            return  # closed_auto: the sweep accepts it a week after the service
        if kind == "in_service":
            self.in_service(community)
            return
        if kind in ("claimed", "published", "submitted"):
            self.open(kind, community)
            return
        s, posted, verified = self.past(community, rng.randint(6, 84))
        if kind == "cancelled_claimed":  # staff call it off once volunteers are on their way
            claimed = self.serve(s, posted, verified, Way(), served=False)
            self.cancel(s, self.after(claimed, 0.1, 20, by=s.start), by_staff=True)
            return
        self.post(s, posted)
        if kind == "rejected":
            self.reject(s, self.after(posted, 0.3, 20))
        elif kind == "cancelled_submitted":
            self.cancel(s, self.after(posted, 0.5, 10))
        elif kind == "cancelled_published":
            self.verify(s, verified)
            self.cancel(s, self.after(verified, 1, 30, by=s.start - HOUR))
        elif kind in ("expired", "no_show"):
            self.verify(s, verified)
            if kind == "no_show":
                self.claim(s, 0, self.after(verified, 0.5, 10, by=s.start - HOUR))
                self.no_show(s, 0, s.end + 7 * HOUR)
        else:
            raise AssertionError(kind)

    def in_service(self, community: str) -> None:
        """Checked in within the last two and a half hours; still there."""
        rng = self.rng
        arrived = self.now - rng.randint(15, 150) * MINUTE
        start = (arrived + rng.randint(-20, 45) * MINUTE).replace(second=0, microsecond=0)
        posted = self.day(rng.randint(1, 3), rng.randint(8, 16), rng.randint(0, 59))
        s = self.story(
            community,
            posted,
            (start, start + 4 * HOUR),
            "助老陪护",
            capacity=1,
            title=("住院期间陪护", "家属在外地，需要有人在医院陪护半天"),
        )
        verified = self.after(posted, 0.3, 4)
        self.post(s, posted)
        self.verify(s, verified)
        self.claim(s, 0, self.after(verified, 0.1, 20, by=arrived - 30 * MINUTE))
        self.check_in(s, 0, arrived)

    def open(self, kind: str, community: str) -> None:
        """A wish still open, its window ahead: submitted, published, or every place taken."""
        rng = self.rng
        category = self.category()
        window = self.window(category, -rng.randint(1, 8))
        if kind == "submitted":
            choices = (self.ago(0.3, 20), self.ago(28, 44), self.ago(56, 70))
            posted = rng.choices(choices, (60, 25, 15))[0]
            self.post(self.story(community, posted, window, category), posted)
            return
        if kind == "published":
            choices = (self.ago(3, 40), self.ago(50, 90), self.ago(106, 140))
            verified = rng.choices(choices, (50, 30, 20))[0]
            posted = verified - rng.randint(20, 300) * MINUTE
            s = self.story(community, posted, window, category)
            self.post(s, posted)
            self.verify(s, verified)
            if s.capacity > 1:  # a place taken, others still open
                self.claim(s, 0, self.after(verified, 0.5, 30))
            return
        posted = self.ago(20, 96)
        s = self.story(community, posted, window, category)
        verified = self.after(posted, 0.3, 4)
        self.post(s, posted)
        self.verify(s, verified)
        at = self.after(verified, 0.1, 10)
        units = [u for u, _, paired in UNITS if community in paired]
        if units and rng.random() < 0.25:
            self.unit_claim(s, rng.choice(units), at)
            for place in range(s.capacity):
                at = self.after(at, 0.1, 6)
                self.assign(s, place, at)
            return
        for place in range(s.capacity):
            self.claim(s, place, at)
            at = self.after(at, 0.1, 10)

    def pinned(self) -> None:
        """The demo accounts' own wishes, all in 阳光社区 (see ``ACCOUNTS``)."""
        c = HOME
        neighbours = [m for m in self.pop.key_households[c] if m != RESIDENT]
        next_door = [m for m in neighbours if self.pop.people[m].home_org_id == HOME_GRID]
        # the resident: two wishes done, one served and waiting for her rating, one published,
        # one waiting for verification, one she cancelled
        s, posted, verified = self.past(
            c, 30, "助老陪护", beneficiary=RESIDENT, proxy=False, capacity=1,
            title=("陪我去医院复诊", "去区人民医院心内科复诊，需要有人陪着挂号、取药"),
        )  # fmt: skip
        done = self.serve(s, posted, verified, Way(), members=[VOLUNTEER])
        self.confirm(s, self.after(done, 2, 20), fixed=(5, "小林很耐心，陪我排队挂号取药，谢谢！"))
        s, posted, verified = self.past(
            c, 12, "家电维修", beneficiary=RESIDENT, proxy=True, capacity=1,
            title=("厨房水龙头漏水", "水龙头关不紧，一直滴水，老人自己修不了"),
        )  # fmt: skip
        done = self.serve(s, posted, verified, Way())
        self.confirm(s, self.after(done, 1, 20), fixed=(4, "修好了，师傅很细心，就是来晚了一点"))
        s, posted, verified = self.past(
            c, 1, "代办跑腿", beneficiary=RESIDENT, proxy=False, capacity=1,
            title=("帮忙取药", "社区卫生服务站开的降压药，腿脚不方便，麻烦帮忙取一下"),
        )  # fmt: skip
        self.serve(s, posted, verified, Way(), members=[VOLUNTEER])
        posted = self.day(1, 10, 12)
        s = self.story(
            c, posted, self.window("助老陪护", -3), "助老陪护", beneficiary=RESIDENT,
            proxy=False, capacity=1, title=("周末陪我去公园散步", "想去公园走走，需要有人推轮椅"),
        )  # fmt: skip
        self.post(s, posted)
        self.verify(s, self.day(1, 14, 5))
        posted = self.ago(1, 3)
        s = self.story(
            c, posted, self.window("家电维修", -2), "家电维修", beneficiary=RESIDENT,
            proxy=False, capacity=1, title=("客厅灯不亮了", "换了灯泡还是不亮，可能是开关坏了"),
        )  # fmt: skip
        self.post(s, posted)
        s, posted, _ = self.past(
            c, 18, "代办跑腿", beneficiary=RESIDENT, proxy=False, capacity=1,
            title=("代缴水电费", "不会用手机缴费，需要帮忙去营业厅"),
        )  # fmt: skip
        self.post(s, posted)
        self.cancel(s, self.after(posted, 1, 6))
        # the volunteer: five more services (points, hours), and a claim for the day after next
        for days, category, rating in (
            (80, "家电维修", 5), (64, "助老陪护", 5), (47, "代办跑腿", 4), (38, "家电维修", 5),
            (18, "助老陪护", 5),
        ):  # fmt: skip
            s, posted, verified = self.past(c, days, category, capacity=1)
            done = self.serve(s, posted, verified, Way(), members=[VOLUNTEER])
            self.confirm(s, self.after(done, 1, 30), fixed=(rating, COMMENTS[rating][0]))
        posted = self.day(1, 9, 20)
        s = self.story(
            c, posted, self.window("托幼辅导", -2), "托幼辅导", capacity=1,
            title=("辅导孙子数学作业", "孙子四年级，数学应用题需要有人辅导"),
        )  # fmt: skip
        self.post(s, posted)
        self.verify(s, self.day(1, 10, 30))
        self.claim(s, 0, self.day(1, 12, 40), VOLUNTEER)
        # the party member through the unit: two services done, a place taken for next week
        # beside one the unit admin has still to assign
        for days in (55, 26):
            s, posted, verified = self.past(
                c, days, "助老陪护", capacity=1,
                title=("上门测血压、讲解用药", "老人有高血压，想请懂医的人上门看看"),
            )  # fmt: skip
            done = self.serve(s, posted, verified, Way(unit=HOME_UNIT), members=[PARTY])
            self.confirm(s, self.after(done, 1, 24), fixed=(5, "赵医生讲得很清楚，谢谢！"))
        posted = self.day(2, 10, 0)
        s = self.story(
            c, posted, self.window("助老陪护", -4), "助老陪护",
            beneficiary=self.rng.choice(neighbours), proxy=False, capacity=2,
            title=("帮独居老人搬运家具", "老人要把卧室家具挪一挪，需要两个人帮忙"),
        )  # fmt: skip
        self.post(s, posted)
        self.verify(s, self.day(2, 11, 20))
        self.unit_claim(s, HOME_UNIT, self.day(1, 9, 0))
        self.assign(s, 0, self.day(1, 10, 15), PARTY)
        # the grid worker's 代点单 for the neighbours: one waiting for verification for over a
        # day (escalated to the street), one nobody claimed in four days (to the district)
        posted = self.ago(28, 40)
        s = self.story(
            c, posted, self.window("助老陪护", -3), "助老陪护", beneficiary=next_door[0],
            proxy=True, capacity=1, title=("上门理发", "老人卧床，想请志愿者上门理发"),
        )  # fmt: skip
        self.post(s, posted)
        verified = self.ago(106, 130)
        posted = verified - 2 * HOUR
        s = self.story(
            c, posted, self.window("代办跑腿", -3), "代办跑腿", beneficiary=next_door[-1],
            proxy=True, capacity=1, title=("每周代买蔬菜", "老人腿脚不便，需要有人每周帮忙买菜"),
        )  # fmt: skip
        self.post(s, posted)
        self.verify(s, verified)

    def offer_requests(self) -> None:
        """Residents' requests from the mutual-help offers, served by the offerer."""
        for key, (_, community, category, title, _) in self.offer_of.items():
            for days_ago in self.rng.sample(range(5, 80, 9), REQUESTS_PER_OFFER):
                s, posted, verified = self.past(
                    community, days_ago, category, proxy=False, capacity=1,
                    title=(title, "通过互助项目预约"),
                )  # fmt: skip
                s.offer = key
                done = self.serve(s, posted, verified, Way())
                self.confirm(s, self.after(done, 0.5, 30))

    def orders(self) -> None:
        """兑换 in the stores, more of them lately; 核销, cancelled, expired or still reserved."""
        rng = self.rng
        for community in COMMUNITY_IDS:
            for _ in range(ORDERS_PER_COMMUNITY):
                days = int(1 + 80 * rng.random() ** 1.6)
                at = self.day(days, rng.randint(9, 19), rng.randint(0, 59))
                key, _, cost, *_ = rng.choices(ITEMS, [item[-1] for item in ITEMS])[0]
                if days <= 5:
                    outcome = rng.choices(("reserved", "fulfilled"), (70, 30))[0]
                else:
                    outcome = rng.choices(("fulfilled", "cancelled", "expired"), (78, 12, 10))[0]
                self.order(community, at, key, cost, outcome)
        self.order(HOME, self.day(25, 16, 20), "tissue", 15, "fulfilled", VOLUNTEER)
        self.order(HOME, self.day(1, 19, 10), "rice", 50, "reserved", VOLUNTEER)

    def order(
        self,
        community: str,
        at: dt.datetime,
        item: str,
        cost: int,
        outcome: str,
        member: str | None = None,
    ) -> None:
        """An order by ``member``, or by someone with the points when the step runs; then 核销,
        a cancellation, or nothing (still reserved, or expired by the sweep a week later)."""
        order_id, item_id = time_id(at, self.rng), f"{community}-{item}"
        staff = self.staff_of(community)

        def reserve(tx: Connection) -> None:
            earners = self.earners[community]
            buyers = [member] if member else self.chance.sample(earners, min(6, len(earners)))
            for buyer in buyers:
                wallet = points.account_id(points.AccountKind.MEMBER, buyer)
                try:
                    account = points.get_account(tx, community, wallet)
                except points.AccountNotFound:
                    continue
                if account.available < cost:
                    continue
                try:
                    with tx.begin_nested():
                        points.redeem(
                            tx,
                            community_id=community,
                            member_id=buyer,
                            item_id=item_id,
                            id=order_id,
                            now=at,
                        )
                except (points.LimitReached, points.OutOfStock):
                    continue
                self.placed[order_id] = buyer
                return
            assert member is None, f"{member} cannot pay for {item_id}"

        self._at(at, reserve)
        if outcome not in ("fulfilled", "cancelled"):
            return
        closed = self.after(at, 1, 60)

        def close(tx: Connection) -> None:
            buyer = self.placed.get(order_id)
            if buyer is None:
                return
            if outcome == "fulfilled":
                points.fulfil(tx, community, order_id, actor=staff, now=closed)
            else:
                points.cancel(tx, community, order_id, actor=buyer, now=closed)

        self._at(closed, close)

    def events(self) -> None:
        """Two offline events per community whose hours staff enter in one go (线下活动)."""
        rng = self.rng
        for n, community in enumerate(COMMUNITY_IDS):
            for k, days in enumerate((rng.randint(60, 72), rng.randint(25, 36)), start=1):
                category, title = EVENTS[(n + k) % len(EVENTS)]
                people = rng.sample(self.pop.claimers[community], rng.randint(8, 10))
                if community == HOME and k == 1:
                    people.append(VOLUNTEER)
                attendance = tuple(
                    mk.EventHours(member_id=m, minutes=rng.choice((120, 150, 180))) for m in people
                )
                event_id = f"{community}-event-{k}"
                self.event(community, event_id, category, title, days, attendance)

    def event(
        self,
        community: str,
        event_id: str,
        category: str,
        title: str,
        days_ago: int,
        attendance: tuple[mk.EventHours, ...],
    ) -> None:
        started, entered = self.day(days_ago, 9), self.day(days_ago - 1, 10, 30)
        staff = self.staff_of(community)

        def run(tx: Connection) -> None:
            mk.wallet.record_event(
                tx,
                staff,
                community,
                event_id=event_id,
                category=category,
                title=title,
                started_at=started,
                attendance=attendance,
                now=entered,
            )
            for a in attendance:
                self.earned(community, a.member_id)

        self._at(entered, run)

    def policy_change(self) -> None:
        """阳光社区 raised its points per hour forty days ago (version 2 of its policy)."""
        at = self.day(40, 9, 30)

        def run(tx: Connection) -> None:
            mk.wallet.set_policy(tx, STAFF, HOME, self.policy(0, 12), now=at)

        self._at(at, run)

    def sweeps(self) -> None:
        """The service's sweeps every six hours of the past (0, 6, 12, 18 local), and now."""
        local = self.start.astimezone(CST)
        tick = local.replace(hour=local.hour - local.hour % 6, minute=0) + 6 * HOUR
        while tick < self.now:
            self.sweep(tick.astimezone(dt.UTC))
            tick += 6 * HOUR
        self.sweep(self.now)

    def sweep(self, at: dt.datetime) -> None:
        def run(tx: Connection) -> None:
            mk.escalate_due(tx, now=at)
            mk.auto_accept_due(tx, now=at)
            mk.release_no_shows(tx, now=at)
            mk.expire_wishes(tx, now=at)
            points.expire_orders(tx, now=at)

        self._at(at, run)
