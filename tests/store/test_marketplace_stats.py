"""Statistics (统计) and 三率 over a small known history, counted exactly, on both backends.

The history (c1's rules: verify within 4 h, first claim within 1 h; T0 = 09:00 China time)::

    w1  posted T0, verified +10m, vol1 claims +30m, serves 60 min (out +3h), rated 5 at +4h
    w2  posted T0, verified +20m, vol2 claims +1h20m (exactly 1 h), serves 90 min, rated 4 at +5h
    w3  家电维修, posted T0, verified +30m, unit u1 claims +2h (late) and assigns party,
        who serves 30 min (out +2h30m); rated 2 at +6h
    w4  posted T0, rejected +15m
    w5  文体活动, posted T0, verified +40m, cancelled by the resident +50m
    w6  posted T0, never verified: escalated at +4h and again at +8h
    w8  posted 23:05 the day before (before the period), verified 65 min later, expired at +3h
    w9  posted exactly at the end of the period (D3, midnight), verified at T0+48h
    w10 posted T0, verified +1h, vol4 claims +1h30m, serves 20 min, disputed +3h,
        resolved against the volunteer +3h30m
    w11 posted T0, verified +1h, party claims at once, serves 40 min, disputed +3h10m,
        resolved for the volunteer +3h40m
    x1  in c2: posted T0, verified +1h, outsider claims +1h30m, serves 45 min, rated 5 at +3h
    y1  in c3 (another street s2 of the district): posted T0+10h

vol2 (王芳) opted in to the honour roll; nobody else did. The period is two China-time days,
D1 (T0's, from midnight) and D2; statistics are kept per day.
"""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy.engine import Connection

import marketplace as mk
import marketplace_world as world
import points
from marketplace import OrgKind, Rate, Rates, Role, VolunteerTime, statistics, three_rates
from marketplace.model import CHINA
from marketplace.periods import named_period
from marketplace.rules import CommunityRules, Deadlines
from marketplace.stats import mask, rate
from marketplace_world import T0

H, M = dt.timedelta(hours=1), dt.timedelta(minutes=1)
D1 = T0 - 9 * H  # midnight in China
D2, D3, D4 = (D1 + n * 24 * H for n in (1, 2, 3))
PERIOD = {"since": D1, "until": D3}


def post(
    tx: Connection,
    wish_id: str,
    at: dt.datetime,
    *,
    category: str = "助老陪护",
    actor: str = "res",
    community: str = "c1",
    start: dt.datetime = T0 + 2 * H,
    hours: int = 10,
) -> mk.Wish:
    return mk.post_wish(
        tx,
        actor,
        community_id=community,
        kind=mk.WishKind.SERVICE,
        category=category,
        title="上门帮忙",
        description="",
        org_id="g1" if community == "c1" else community,
        address="幸福路1号3栋",
        window_start=start,
        window_end=start + hours * H,
        estimated_minutes=60,
        id=wish_id,
        now=at,
    )


def serve(
    tx: Connection, actor: str, wish: mk.Wish, claim_id: str, at: dt.datetime, minutes: int
) -> None:
    code = wish.confirmation_code
    mk.check_in(tx, actor, wish.community_id, claim_id, code=code, now=at)
    mk.check_out(tx, actor, wish.community_id, claim_id, now=at + minutes * M)


def history(db: points.Database) -> None:
    with db.transaction() as tx:
        mk.add_member(tx, id="vol2", name="王芳", public_profile=True, now=T0)
        world.build(tx)
        mk.create_org(
            tx, mk.SYSTEM, id="s2", kind=OrgKind.STREET, name="友谊街道", parent_id="d1", now=T0
        )
        mk.create_org(
            tx, mk.SYSTEM, id="c3", kind=OrgKind.COMMUNITY, name="星光社区", parent_id="s2", now=T0
        )
        rules = CommunityRules(deadlines=Deadlines(verify_hours=4, claim_hours=1))
        mk.set_community_rules(tx, "staff", "c1", rules, now=T0)
        w = {n: post(tx, n, T0) for n in ("w1", "w2", "w4", "w6", "w10", "w11")}
        w["w3"] = post(tx, "w3", T0, category="家电维修")
        w["w5"] = post(tx, "w5", T0, category="文体活动")
        w["w8"] = post(tx, "w8", D1 - 55 * M, start=T0 + H, hours=2)
        mk.verify(tx, "staff", "c1", "w8", now=D1 + 10 * M)
        for name, after in (("w1", 10), ("w2", 20), ("w3", 30), ("w5", 40)):
            mk.verify(tx, "staff", "c1", name, now=T0 + after * M)
        for name in ("w10", "w11"):
            mk.verify(tx, "staff", "c1", name, now=T0 + H)
        mk.reject(tx, "staff", "c1", "w4", reason="不属于服务范围", now=T0 + 15 * M)
        mk.cancel(tx, "res", "c1", "w5", reason="已解决", now=T0 + 50 * M)
        c1 = mk.claim(tx, "vol1", "c1", "w1", now=T0 + 30 * M)
        c2 = mk.claim(tx, "vol2", "c1", "w2", now=T0 + 80 * M)
        c10 = mk.claim(tx, "vol4", "c1", "w10", now=T0 + 90 * M)
        c11 = mk.claim(tx, "party", "c1", "w11", now=T0 + H)
        unit = mk.claim_for_unit(tx, "uadmin", "c1", "w3", "u1", now=T0 + 2 * H)
        c3 = mk.assign(tx, "uadmin", "c1", unit.id, "party", now=T0 + 2 * H)
        serve(tx, "vol1", w["w1"], c1.id, T0 + 2 * H, 60)
        serve(tx, "vol2", w["w2"], c2.id, T0 + 2 * H, 90)
        serve(tx, "party", w["w3"], c3.id, T0 + 2 * H, 30)
        serve(tx, "vol4", w["w10"], c10.id, T0 + 2 * H, 20)
        serve(tx, "party", w["w11"], c11.id, T0 + 2 * H, 40)
        mk.dispute(tx, "res", "c1", "w10", reason="没来", now=T0 + 3 * H)
        mk.dispute(tx, "res", "c1", "w11", reason="迟到", now=T0 + 190 * M)
        mk.resolve(tx, "staff", "c1", "w10", for_volunteer=False, reason="核实", now=T0 + 210 * M)
        mk.resolve(tx, "staff", "c1", "w11", for_volunteer=True, reason="核实", now=T0 + 220 * M)
        for name, stars, hours in (("w1", 5, 4), ("w2", 4, 5), ("w3", 2, 6)):
            mk.confirm(tx, "res", "c1", name, rating=stars, now=T0 + hours * H)
        x1 = post(tx, "x1", T0, actor="admin", community="c2")
        mk.verify(tx, "admin", "c2", "x1", now=T0 + H)
        cx = mk.claim(tx, "outsider", "c2", "x1", now=T0 + 90 * M)
        serve(tx, "outsider", x1, cx.id, T0 + 2 * H, 45)
        mk.confirm(tx, "admin", "c2", "x1", rating=5, now=T0 + 3 * H)
        assert (mk.expire_wishes(tx, now=T0 + 3 * H)).handled == ("w8",)
        assert (mk.escalate_due(tx, now=T0 + 4 * H)).handled == ("w6",)
        assert (mk.escalate_due(tx, now=T0 + 8 * H)).handled == ("w6",)
        post(tx, "y1", T0 + 10 * H, actor="admin", community="c3")
        post(tx, "w9", D3, start=T0 + 50 * H)
        mk.verify(tx, "staff", "c1", "w9", now=T0 + 48 * H)


def top(*rows: tuple[str, str, int]) -> tuple[VolunteerTime, ...]:
    return tuple(VolunteerTime(member_id=m, name=n, minutes=minutes) for m, n, minutes in rows)


def rates(org_id: str, kind: OrgKind, name: str, *figures: tuple[int, int]) -> Rates:
    response, resolution, satisfaction = (rate(n, d) for n, d in figures)
    return Rates(
        org_id=org_id,
        kind=kind,
        name=name,
        response=response,
        resolution=resolution,
        satisfaction=satisfaction,
    )


def test_a_community_counts_every_event_of_the_period_by_its_time(
    db: points.Database,
) -> None:
    history(db)
    with db.snapshot() as tx:
        got = statistics(tx, "staff", "c1", **PERIOD)
    counts = (got.posted, got.verified, got.rejected, got.claimed, got.completed, got.confirmed)
    assert counts == (8, 7, 1, 5, 5, 4)  # w8 posted before, w9 at the end: left out
    assert (got.disputed, got.escalated, got.cancelled, got.expired) == (2, 1, 1, 1)
    assert got.communities == 1
    # verify [10, 20, 30, 40, 60, 60, 65]; claim [0, 20, 30, 60, 90]; done [80, 100, 120, 170, 190]
    assert got.median_minutes_to_verify == 40
    assert got.median_minutes_to_first_claim == 30
    assert got.median_minutes_to_completion == 120
    assert got.satisfaction == Rate(numerator=2, denominator=3, percent=66.7)
    assert got.volunteer_minutes == 60 + 90 + 30 + 40  # vol4's voided 20 minutes do not count
    assert got.top_volunteers == top(
        ("vol2", "王芳", 90), ("p***y", "志愿者", 70), ("v***1", "志愿者", 60)
    )
    assert got.by_category == {"助老陪护": 6, "家电维修": 1, "文体活动": 1}
    assert got.by_state == {"cancelled": 1, "closed": 5, "rejected": 1, "submitted": 1}


def test_an_event_at_since_counts_and_one_at_until_does_not(db: points.Database) -> None:
    history(db)
    with db.snapshot() as tx:
        after = statistics(tx, "staff", "c1", since=D3, until=D4)
        first = statistics(tx, "staff", "c1", since=D1, until=D2)
        second = statistics(tx, "staff", "c1", since=D2, until=D3)
        both = statistics(tx, "staff", "c1", **PERIOD)
    assert (after.posted, after.verified, after.by_state) == (1, 1, {"published": 1})  # w9
    assert after.median_minutes_to_verify == 9 * 60
    assert (second.posted, second.verified, second.volunteer_minutes) == (0, 0, 0)
    additive = ("posted", "verified", "claimed", "completed", "confirmed", "escalated")
    assert all(getattr(first, f) + getattr(second, f) == getattr(both, f) for f in additive)


def test_a_period_must_run_from_midnight_to_midnight_in_china(db: points.Database) -> None:
    history(db)
    with db.snapshot() as tx:
        for since, until, field in ((T0, D2, "since"), (D1, T0 + 48 * H, "until")):
            with pytest.raises(mk.InvalidInput) as refused:
                statistics(tx, "staff", "c1", since=since, until=until)
            assert (refused.value.field, refused.value.reason.code) == (field, "day_start")
            with pytest.raises(mk.InvalidInput):
                three_rates(tx, "staff", "c1", since=since, until=until)
        utc_midnight = dt.datetime(2026, 12, 1, tzinfo=dt.UTC)  # 08:00 in China
        with pytest.raises(mk.InvalidInput):
            statistics(tx, "staff", "c1", since=utc_midnight, until=D3)


@pytest.mark.parametrize(
    ("text", "since", "until"),
    [
        ("2026", (2026, 1, 1), (2027, 1, 1)),
        ("2026-Q3", (2026, 7, 1), (2026, 10, 1)),
        ("2026-Q4", (2026, 10, 1), (2027, 1, 1)),
        ("2026-11", (2026, 11, 1), (2026, 12, 1)),
        ("2026-12", (2026, 12, 1), (2027, 1, 1)),
        ("7d", (2026, 11, 25), (2026, 12, 2)),  # the last 7 days, today (Dec 1) included
        ("1d", (2026, 12, 1), (2026, 12, 2)),
        ("2026-01-05..2026-03-31", (2026, 1, 5), (2026, 4, 1)),  # both days included
        ("2026-11-30..2026-11-30", (2026, 11, 30), (2026, 12, 1)),
        ("2026-01..2026-03", (2026, 1, 1), (2026, 4, 1)),
        ("2025-Q4..2026-02-10", (2025, 10, 1), (2026, 2, 11)),
        ("2020..2029", (2020, 1, 1), (2030, 1, 1)),  # ten years: the longest
    ],
)
def test_a_named_period_runs_between_china_midnights(
    text: str, since: tuple[int, int, int], until: tuple[int, int, int]
) -> None:
    got = named_period(text, now=T0)
    assert got == (dt.datetime(*since, tzinfo=CHINA), dt.datetime(*until, tzinfo=CHINA))


@pytest.mark.parametrize("text", ["", "26", "2026-13", "2026-00", "2026-Q5", "0d", "367d",
                                  "2026-11-01", "1999", "30", "2026-q3"])  # fmt: skip
def test_a_badly_named_period_is_refused(text: str) -> None:
    with pytest.raises(mk.InvalidInput) as refused:
        named_period(text, now=T0)
    assert (refused.value.field, refused.value.reason.code) == ("period", "period_format")


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("2026-03-01..2026-01-31", "period_order"),
        ("2026-Q2..2026-01", "period_order"),
        ("2019-12-31..2029-12-31", "period_too_long"),
        ("2026-02-30..2026-03-01", "period_format"),
        ("2026-01-01..", "period_format"),
        ("..2026-01-01", "period_format"),
        ("30d..2026-12-01", "period_format"),
        ("2026-01-01..2026-02-01..2026-03-01", "period_format"),
    ],
)
def test_a_bad_range_is_refused_by_its_reason(text: str, code: str) -> None:
    with pytest.raises(mk.InvalidInput) as refused:
        named_period(text, now=T0)
    assert (refused.value.field, refused.value.reason.code) == ("period", code)


def test_a_street_counts_its_communities_and_a_district_its_streets(
    db: points.Database,
) -> None:
    history(db)
    with db.snapshot() as tx:
        street = statistics(tx, "admin", "s1", **PERIOD)
        district = statistics(tx, "admin", "d1", **PERIOD)
        alone = statistics(tx, "admin", "c2", **PERIOD)
    assert (alone.posted, alone.confirmed, alone.volunteer_minutes) == (1, 1, 45)
    assert alone.median_minutes_to_completion == 105
    assert (street.communities, street.posted, street.verified, street.confirmed) == (2, 9, 8, 5)
    assert (street.claimed, street.completed, street.escalated) == (6, 6, 1)
    # verify [10, 20, 30, 40, 60, 60, 60, 65]: the lower middle of an even count
    assert street.median_minutes_to_verify == 40
    assert street.median_minutes_to_first_claim == 30  # [0, 20, 30, 30, 60, 90]
    assert street.median_minutes_to_completion == 105  # [80, 100, 105, 120, 170, 190]
    assert street.satisfaction == Rate(numerator=3, denominator=4, percent=75.0)
    assert street.volunteer_minutes == 265
    assert street.top_volunteers[-1] == VolunteerTime(member_id="o***r", name="志愿者", minutes=45)
    assert (district.communities, district.posted) == (3, 10)
    assert district.by_state["submitted"] == 2
    assert district.by_category == {"助老陪护": 8, "家电维修": 1, "文体活动": 1}
    same = ("verified", "claimed", "completed", "confirmed", "volunteer_minutes", "satisfaction")
    assert all(getattr(district, f) == getattr(street, f) for f in same)


def test_three_rates_per_community_and_paired_unit(db: points.Database) -> None:
    history(db)
    with db.snapshot() as tx:
        own = three_rates(tx, "staff", "c1", **PERIOD)
        district = three_rates(tx, "admin", "d1", **PERIOD)
    c1 = rates("c1", OrgKind.COMMUNITY, "阳光社区", (4, 7), (4, 5), (2, 3))
    u1 = rates("u1", OrgKind.UNIT, "区卫健局", (1, 2), (2, 2), (0, 1))
    assert own == [c1, u1]
    assert [r.response.percent for r in own] == [57.1, 50.0]
    c2 = rates("c2", OrgKind.COMMUNITY, "月亮社区", (1, 1), (1, 1), (1, 1))
    c3 = rates("c3", OrgKind.COMMUNITY, "星光社区", (0, 0), (0, 0), (0, 0))
    assert district == [c1, c2, c3, u1]
    assert c3.response.percent is None


def test_staff_of_one_community_cannot_read_another_or_the_street(
    db: points.Database,
) -> None:
    history(db)
    with db.snapshot() as tx:
        for org_id in ("c2", "s1", "d1", "nowhere"):
            with pytest.raises(mk.NotFound):
                statistics(tx, "staff", org_id, **PERIOD)
            with pytest.raises(mk.NotFound):
                three_rates(tx, "staff", org_id, **PERIOD)


def test_volunteers_residents_and_unit_admins_get_not_found(db: points.Database) -> None:
    history(db)
    with db.transaction() as tx:
        mk.add_member(tx, id="sstaff", name="街道干部", now=T0)
        mk.grant_role(tx, mk.SYSTEM, "sstaff", "s1", Role.STAFF, now=T0)
    with db.snapshot() as tx:
        for actor in ("vol1", "res", "grid", "uadmin", "party", "outsider"):
            with pytest.raises(mk.NotFound):
                statistics(tx, actor, "c1", **PERIOD)
            with pytest.raises(mk.NotFound):
                three_rates(tx, actor, "c1", **PERIOD)
        seen = statistics(tx, "sstaff", "c2", **PERIOD)  # staff of the street above
        assert seen.posted == 1
        with pytest.raises(mk.NotFound):
            statistics(tx, "sstaff", "c3", **PERIOD)


def test_a_period_must_be_aware_and_forward_and_the_org_an_area(
    db: points.Database,
) -> None:
    history(db)
    with db.snapshot() as tx:
        with pytest.raises(mk.InvalidInput):
            statistics(tx, "staff", "c1", since=D1, until=D1)
        with pytest.raises(mk.InvalidInput):
            three_rates(tx, "staff", "c1", since=D1.replace(tzinfo=None), until=D2)
        with pytest.raises(mk.InvalidInput):
            statistics(tx, "staff", "g1", **PERIOD)  # a grid: ask its community
        empty = statistics(tx, "staff", "c1", since=D4, until=D4 + 240 * H)
    assert (empty.posted, empty.confirmed, empty.volunteer_minutes, empty.top_volunteers) == (
        0,
        0,
        0,
        (),
    )
    assert empty.median_minutes_to_completion is None
    assert empty.satisfaction.percent is None


def test_percentages_round_half_up_to_one_decimal() -> None:
    assert rate(1, 16) == Rate(numerator=1, denominator=16, percent=6.3)  # 6.25
    assert rate(2, 3).percent == 66.7
    assert rate(1, 8).percent == 12.5
    assert rate(0, 0).percent is None


def test_masked_ids_keep_only_the_first_and_last_character() -> None:
    assert (mask("vol1"), mask("13812341234"), mask("ab")) == ("v***1", "1***4", "***")


def test_the_dashboard_gives_the_statistics_rates_and_each_day_adding_up_to_them(
    db: points.Database,
) -> None:
    history(db)
    with db.snapshot() as tx:
        board = mk.dashboard(tx, "admin", "s1", since=D1, until=D4)
        alone = statistics(tx, "admin", "s1", since=D1, until=D4)
        rates = three_rates(tx, "admin", "s1", since=D1, until=D4)
    assert (board.statistics, board.rates) == (alone, rates)
    assert [d.day for d in board.days] == [dt.date(2026, 12, n) for n in (1, 2, 3)]
    assert sum(d.posted for d in board.days) == alone.posted == 10  # w9 on Dec 3 included
    assert board.days[2].posted == 1
    assert sum(d.completed for d in board.days) == alone.completed
    assert sum(d.volunteer_minutes for d in board.days) == alone.volunteer_minutes == 265
    split: dict[str, int] = {}
    for d in board.days:
        for category, n in d.by_category.items():
            split[category] = split.get(category, 0) + n
    assert split == alone.by_category


def test_an_area_counts_only_its_own_communities_whatever_its_id_holds(
    db: points.Database,
) -> None:
    """The area is a path prefix: an underscore in an id is no wildcard."""
    with db.transaction() as tx:
        world.build(tx)
        for street, community in (("s_1", "c_a"), ("sx1", "c_b"), ("s_2", "c_c"), ("s_2x", "c_d")):
            mk.create_org(tx, mk.SYSTEM, id=street, kind=OrgKind.STREET, name=street,
                          parent_id="d1", now=T0)  # fmt: skip
            mk.create_org(tx, mk.SYSTEM, id=community, kind=OrgKind.COMMUNITY, name=community,
                          parent_id=street, now=T0)  # fmt: skip
    with db.snapshot() as tx:
        for street in ("s_1", "s_2"):
            got = statistics(tx, "admin", street, **PERIOD)
            assert got.communities == 1, street
            assert [r.org_id for r in three_rates(tx, "admin", street, **PERIOD)] == [
                {"s_1": "c_a", "s_2": "c_c"}[street]
            ]


def test_a_unit_admin_gets_their_own_units_figures(db: points.Database) -> None:
    """单位报表: u1's admin reads u1's 三率 and figures (its wishes: w3 by the unit, w11 by its
    party member); nobody else reads them, and the admin still reads no community's."""
    history(db)
    with db.snapshot() as tx:
        own = three_rates(tx, "uadmin", "u1", **PERIOD)
        got = statistics(tx, "uadmin", "u1", **PERIOD)
        board = mk.dashboard(tx, "uadmin", "u1", **PERIOD)
        for actor in ("staff", "party", "vol1", "outsider"):
            with pytest.raises(mk.NotFound):
                three_rates(tx, actor, "u1", **PERIOD)
            with pytest.raises(mk.NotFound):
                statistics(tx, actor, "u1", **PERIOD)
        with pytest.raises(mk.NotFound):
            statistics(tx, "uadmin", "u2", **PERIOD)
    assert own == [rates("u1", OrgKind.UNIT, "区卫健局", (1, 2), (2, 2), (0, 1))]
    assert (got.org_id, got.communities, got.claimed, got.completed, got.confirmed) == (
        "u1", 1, 2, 2, 2,
    )  # fmt: skip
    assert (got.posted, got.verified, got.by_state) == (0, 0, {})
    assert got.satisfaction == Rate(numerator=0, denominator=1, percent=0.0)
    assert got.volunteer_minutes == 30 + 40
    assert got.top_volunteers == top(("p***y", "志愿者", 70))
    assert board.statistics == got
    assert board.rates == own
