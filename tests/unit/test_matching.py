"""Pure rule tests for matching: eligibility reasons, scores and their words, and dispatch."""

from __future__ import annotations

import datetime as dt
import itertools
import math
import random
from collections import Counter

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from marketplace.lifecycle import Role, WishState
from marketplace.matching import (
    DEFAULT_WEIGHTS,
    PARTS,
    REASON_CODES,
    Assignment,
    Candidate,
    Target,
    Weights,
    auto_dispatch,
    rank_candidates,
    recommend,
    score,
    why_not,
)
from marketplace.model import Urgency, Wish, WishKind

NOW = dt.datetime(2025, 6, 2, 9, 0, tzinfo=dt.UTC)
HOUR = dt.timedelta(hours=1)
GRID = "/d1/s1/c1/x1/g1/"  # district / street / community / compound / grid
BUILDING = GRID + "b1/"
OTHER_GRID = "/d1/s1/c1/x1/g2/"
OTHER_COMPOUND = "/d1/s1/c1/x2/g1/"
OTHER_COMMUNITY = "/d1/s1/c2/x1/g1/"
OTHER_STREET = "/d1/s2/c3/x1/g1/"
OTHER_DISTRICT = "/d2/s9/c9/x1/g1/"
SENSITIVE = ("独居", "残疾", "大病", "低保", "留守")


def wish(
    wish_id: str = "w1",
    *,
    state: WishState = WishState.PUBLISHED,
    capacity: int = 1,
    places_taken: int = 0,
    skills: frozenset[str] = frozenset(),
    urgency: Urgency = Urgency.NORMAL,
    start: dt.datetime = NOW + 2 * HOUR,
    hours: int = 2,
    created_at: dt.datetime = NOW - HOUR,
    published_at: dt.datetime | None = None,
    beneficiary_id: str = "resident",
    posted_by: str = "resident",
) -> Wish:
    return Wish(
        community_id="c1",
        id=wish_id,
        kind=WishKind.SERVICE,
        category="助老陪护",
        title="陪老人去医院复查",
        description="需要一位志愿者陪同",
        org_id="g1",
        address="1号楼",
        location=None,
        window_start=start,
        window_end=start + hours * HOUR,
        capacity=capacity,
        estimated_minutes=120,
        urgency=urgency,
        skills=skills,
        beneficiary_id=beneficiary_id,
        posted_by=posted_by,
        proxy_note=None,
        offer_id=None,
        state=state,
        level=0,
        deadline_at=None,
        places_taken=places_taken,
        confirmation_code="4821",
        rating=None,
        rating_comment=None,
        created_at=created_at,
        published_at=published_at,
        first_claimed_at=None,
        served_at=None,
        closed_at=None,
    )


def target(
    w: Wish | None = None,
    *,
    path: str = GRID,
    key_household: bool = False,
    paired: frozenset[str] = frozenset(),
) -> Target:
    return Target(wish=w or wish(), path=path, key_household=key_household, paired_unit_ids=paired)


def member(member_id: str = "m1", **fields: object) -> Candidate:
    fields.setdefault("roles", frozenset({Role.VOLUNTEER}))
    fields.setdefault("home_path", GRID)
    return Candidate(member_id=member_id, **fields)  # type: ignore[arg-type]


def codes(t: Target, c: Candidate, now: dt.datetime = NOW) -> list[str]:
    return [reason.code for reason in why_not(t, c, now)]


# Who may take a wish (why_not)


def test_an_eligible_member_has_no_reasons() -> None:
    assert why_not(target(), member(), NOW) == ()


@pytest.mark.parametrize(
    ("t", "c", "code"),
    [
        (target(wish(state=WishState.SUBMITTED)), member(), "not_open"),
        (target(wish(state=WishState.CLAIMED, capacity=2, places_taken=1)), member(), "not_open"),
        (target(wish(capacity=2, places_taken=2)), member(), "full"),
        (target(), member(claimed_wish_ids=frozenset({"w1"})), "already_claimed"),
        (target(), member(open_claims=3, claim_limit=3), "claim_limit"),
        (target(), member(claim_limit=0), "claim_limit"),
        (target(), member(roles=frozenset({Role.RESIDENT, Role.STAFF})), "needs_role"),
        (target(), member(roles=frozenset()), "needs_role"),
        (target(wish(beneficiary_id="m1")), member(), "own_wish"),
        (target(wish(posted_by="m1")), member(), "own_wish"),  # a grid worker's 代点单
        (target(wish(skills=frozenset({"家电维修"}))), member(), "missing_skills"),
        (target(wish(start=NOW - 3 * HOUR)), member(), "window_over"),
        (target(), member(home_path=OTHER_COMMUNITY), "outside_community"),
        (target(), member(home_path="/d1/s1/c10/x1/"), "outside_community"),
    ],
)
def test_each_rule_gives_its_one_reason(t: Target, c: Candidate, code: str) -> None:
    reasons = why_not(t, c, NOW)

    assert [reason.code for reason in reasons] == [code]
    assert reasons[0].detail  # Chinese words for the member


def test_a_window_is_over_at_its_end_exactly() -> None:
    t = target(wish(start=NOW - 2 * HOUR, hours=2))

    assert codes(t, member(), NOW) == ["window_over"]
    assert codes(t, member(), NOW - dt.timedelta(seconds=1)) == []


@pytest.mark.parametrize("role", [Role.VOLUNTEER, Role.PARTY_MEMBER, Role.UNIT_ADMIN])
def test_volunteers_party_members_and_unit_admins_may_claim(role: Role) -> None:
    assert why_not(target(), member(roles=frozenset({Role.RESIDENT, role})), NOW) == ()


def test_missing_skills_names_only_the_missing_ones() -> None:
    t = target(wish(skills=frozenset({"家电维修", "电工", "驾驶"})))
    (reason,) = why_not(t, member(skills=frozenset({"驾驶", "烹饪"})), NOW)

    assert reason.code == "missing_skills"
    assert reason.detail == "缺少技能：家电维修、电工"


def test_a_member_of_a_paired_unit_may_claim_outside_their_home_community() -> None:
    c = member(home_path=OTHER_STREET, unit_id="u-tax")

    assert codes(target(paired=frozenset({"u-tax"})), c) == []
    assert codes(target(paired=frozenset({"u-other"})), c) == ["outside_community"]


def test_a_member_with_an_unknown_home_is_not_outside() -> None:
    assert why_not(target(), member(home_path=""), NOW) == ()


def test_a_member_anywhere_in_the_community_is_inside() -> None:
    for home in (GRID, BUILDING, OTHER_GRID, OTHER_COMPOUND, "/d1/s1/c1/"):
        assert codes(target(), member(home_path=home)) == [], home


def test_every_reason_that_applies_is_given_in_a_fixed_order() -> None:
    t = target(
        wish(
            state=WishState.CLAIMED,
            places_taken=1,
            skills=frozenset({"电工"}),
            start=NOW - 5 * HOUR,
            beneficiary_id="m1",
        )
    )
    c = member(
        roles=frozenset({Role.RESIDENT}),
        claimed_wish_ids=frozenset({"w1"}),
        open_claims=3,
        home_path=OTHER_DISTRICT,
    )

    assert codes(t, c) == list(REASON_CODES)
    assert len(REASON_CODES) == 9


# How well a member fits (score)


def part(t: Target, c: Candidate, name: str, weights: Weights = DEFAULT_WEIGHTS) -> float:
    return score(t, c, weights, NOW).parts[name]


@pytest.mark.parametrize(
    ("home", "fraction"),
    [
        (BUILDING, 1.0),
        (GRID, 1.0),
        (OTHER_GRID, 0.75),  # same compound
        (OTHER_COMPOUND, 0.5),  # same community
        (OTHER_COMMUNITY, 0.25),  # same street
        (OTHER_STREET, 0.0),
        (OTHER_DISTRICT, 0.0),
        ("", 0.25),  # unknown
    ],
)
def test_distance_is_the_depth_shared_in_the_org_tree(home: str, fraction: float) -> None:
    assert part(target(), member(home_path=home), "distance") == 2.0 * fraction


def test_same_grid_beats_same_street() -> None:
    near = score(target(), member(home_path=GRID), DEFAULT_WEIGHTS, NOW)
    far = score(target(), member(home_path=OTHER_COMMUNITY), DEFAULT_WEIGHTS, NOW)

    assert near.total > far.total
    assert "同一网格" in near.explain
    assert "同一街道" in far.explain


def test_skills_part_is_the_share_of_required_skills_held() -> None:
    t = target(wish(skills=frozenset({"家电维修", "电工"})))

    assert part(t, member(skills=frozenset({"电工"})), "skills") == 3.0 * 0.5
    assert part(t, member(skills=frozenset({"电工", "家电维修"})), "skills") == 3.0
    assert part(target(), member(), "skills") == 3.0  # nothing required
    assert (
        "技能匹配 1/2" in score(t, member(skills=frozenset({"电工"})), DEFAULT_WEIGHTS, NOW).explain
    )


def test_availability_is_the_share_of_the_window_covered() -> None:
    start = NOW + 2 * HOUR  # the wish's window: start .. start + 2h

    def availability(*windows: tuple[dt.datetime, dt.datetime]) -> float:
        return part(target(), member(available=windows), "availability") / 1.5

    assert availability() == 0.5  # no statement
    assert availability((start - 5 * HOUR, start - 3 * HOUR)) == 0.0
    assert availability((start + HOUR, start + 9 * HOUR)) == 0.5
    assert availability((start - HOUR, start + 3 * HOUR)) == 1.0
    # two overlapping windows cover it together, counted once
    assert (
        availability(
            (start, start + 90 * dt.timedelta(minutes=1)), (start + HOUR, start + 2 * HOUR)
        )
        == 1.0
    )
    assert availability((start, start + HOUR), (start, start + HOUR)) == 0.5


def test_fairness_favours_members_who_served_less_recently() -> None:
    assert part(target(), member(recent_minutes=0), "fairness") == 1.0
    assert part(target(), member(recent_minutes=600), "fairness") == 0.5
    assert part(target(), member(recent_minutes=1800), "fairness") == 0.25


def test_reliability_grows_with_completions_and_rating_and_falls_with_no_shows() -> None:
    def reliability(**fields: object) -> float:
        return part(target(), member(**fields), "reliability") / 1.5

    assert reliability() == 0.5  # a newcomer is neither trusted nor distrusted
    assert reliability(completed=9) == pytest.approx(10 / 11)
    assert reliability(completed=1, no_shows=3) == pytest.approx(2 / 6)
    assert reliability(average_rating=5.0) == 0.75  # (0.5 + 5/5) / 2
    assert reliability(completed=9, average_rating=4.0) > reliability(completed=9, no_shows=1)


def test_urgency_key_household_and_waiting_raise_a_wishes_score() -> None:
    assert part(target(wish(urgency=Urgency.LOW)), member(), "urgency") == 0.0
    assert part(target(wish(urgency=Urgency.URGENT)), member(), "urgency") == 1.0
    assert part(target(key_household=True), member(), "key_household") == 1.0
    assert part(target(), member(), "key_household") == 0.0
    published = target(wish(created_at=NOW - 90 * HOUR, published_at=NOW - 36 * HOUR))
    assert part(published, member(), "waiting") == 0.5 * 0.5
    assert part(target(wish(created_at=NOW - 36 * HOUR)), member(), "waiting") == 0.5 * 0.5
    assert part(target(wish(created_at=NOW - 500 * HOUR)), member(), "waiting") == 0.5


def test_parts_are_named_after_the_weights_and_add_up_to_the_total() -> None:
    result = score(target(key_household=True), member(completed=3), DEFAULT_WEIGHTS, NOW)

    assert tuple(result.parts) == PARTS == Weights.__struct_fields__
    assert result.total == math.fsum(result.parts.values())
    assert all(0.0 <= result.parts[name] <= getattr(DEFAULT_WEIGHTS, name) for name in PARTS)


def test_a_zero_weight_removes_a_part_and_its_words() -> None:
    weights = Weights(distance=0.0, fairness=0.0)
    result = score(target(), member(), weights, NOW)

    assert result.parts["distance"] == 0.0 == result.parts["fairness"]
    assert "同一网格" not in result.explain
    assert "近期服务较少" not in result.explain


def test_explain_says_why_in_plain_words() -> None:
    start = NOW + 2 * HOUR
    t = target(
        wish(
            skills=frozenset({"电工", "驾驶"}), urgency=Urgency.URGENT, created_at=NOW - 50 * HOUR
        ),
        key_household=True,
    )
    c = member(
        skills=frozenset({"电工", "驾驶"}),
        available=((start, start + 2 * HOUR),),
        recent_minutes=120,
        completed=12,
        average_rating=4.8,
    )

    assert score(t, c, DEFAULT_WEIGHTS, NOW).explain == (
        "技能匹配 2/2",
        "同一网格",
        "时间合适",
        "近期服务较少",
        "评分4.8",
        "已完成12次",
        "紧急",
        "优先帮扶对象",
        "已等待2天",
    )


def test_explain_leaves_out_what_does_not_matter() -> None:
    result = score(target(), member(home_path="", recent_minutes=6000), DEFAULT_WEIGHTS, NOW)

    assert result.explain == ()


def test_explain_never_names_the_key_household_type() -> None:
    homes = (GRID, OTHER_COMMUNITY, "")
    for home, key, rating in itertools.product(homes, (True, False), (None, 4.5)):
        t = target(wish(urgency=Urgency.URGENT), key_household=key)
        result = score(t, member(home_path=home, average_rating=rating), DEFAULT_WEIGHTS, NOW)
        text = msgspec.json.encode(result).decode()
        assert not any(word in text for word in SENSITIVE), text
        assert ("优先帮扶对象" in result.explain) is key


def test_default_weights_have_no_problems() -> None:
    assert DEFAULT_WEIGHTS.problems() == ()


def test_weights_out_of_range_are_problems() -> None:
    weights = Weights(skills=-1.0, distance=math.nan, waiting=math.inf, urgency=101.0)

    assert [problem.field for problem in weights.problems()] == [
        "skills",
        "distance",
        "urgency",
        "waiting",
    ]


# Candidates for a wish (派单)


def test_rank_candidates_orders_eligible_members_best_first() -> None:
    start = NOW + 2 * HOUR
    whole_window = ((start, start + 2 * HOUR),)
    members = [
        # same grid 2.0 + no statement 0.75 + fairness 1.0 + newcomer 0.75 = 4.5
        member("ana"),
        # same grid 2.0 + free all along 1.5 + 600 recent minutes 0.5 + newcomer 0.75 = 4.75
        member("bo", available=whole_window, recent_minutes=600),
        # same community 1.0 + 1.5 + 1.0 + reliability ((9/10 + 5/5) / 2 = 0.95) x 1.5 = 4.925
        member(
            "chen",
            home_path=OTHER_COMPOUND,
            available=whole_window,
            completed=8,
            average_rating=5.0,
        ),
        # a paired unit's member from the next community: same street 0.5 + .75 + 1.0 + .75 = 3.0
        member(
            "dai", home_path=OTHER_COMMUNITY, unit_id="u1", roles=frozenset({Role.PARTY_MEMBER})
        ),
        # a resident cannot claim: left out
        member("eve", roles=frozenset({Role.RESIDENT})),
        # exactly as ana: the tie goes by member id, after ana
        member("fan"),
    ]
    t = target(paired=frozenset({"u1"}))

    ranked = rank_candidates(t, reversed(members), DEFAULT_WEIGHTS, NOW)

    assert [m.member_id for m in ranked] == ["chen", "bo", "ana", "fan", "dai"]
    assert ranked[0].wish_id == "w1"
    assert ranked[0].score == score(t, members[2], DEFAULT_WEIGHTS, NOW)
    assert [m.member_id for m in rank_candidates(t, members, DEFAULT_WEIGHTS, NOW, limit=2)] == [
        "chen",
        "bo",
    ]


# Wishes for a member (recommend)


def test_recommend_gives_eligible_wishes_best_first_within_the_limit() -> None:
    targets = [
        target(wish("near")),
        target(wish("far"), path=OTHER_COMPOUND),
        target(wish("urgent", urgency=Urgency.URGENT)),
        target(wish("full", capacity=1, places_taken=1)),
        target(wish("needs-skill", skills=frozenset({"家电维修"}))),
        target(wish("mine", beneficiary_id="m1")),
        target(wish("elsewhere"), path=OTHER_STREET),
    ]

    found = recommend(member(), targets, DEFAULT_WEIGHTS, NOW)

    assert [m.wish_id for m in found] == ["urgent", "near", "far"]
    assert {m.member_id for m in found} == {"m1"}
    assert [m.wish_id for m in recommend(member(), targets, DEFAULT_WEIGHTS, NOW, limit=1)] == [
        "urgent"
    ]
    assert recommend(member(), targets, DEFAULT_WEIGHTS, NOW, limit=0) == []


def test_recommend_breaks_ties_by_urgency_then_start_then_id() -> None:
    weights = Weights(urgency=0.0)  # urgency no longer moves the total: only the tie-break
    targets = [
        target(wish("b-late", start=NOW + 5 * HOUR)),
        target(wish("b-early")),
        target(wish("a-early")),
        target(wish("urgent", urgency=Urgency.URGENT, start=NOW + 9 * HOUR)),
    ]

    found = recommend(member(), targets, weights, NOW)

    assert len({m.score.total for m in found}) == 1
    assert [m.wish_id for m in found] == ["urgent", "a-early", "b-early", "b-late"]


def test_recommend_streams_a_hundred_thousand_wishes() -> None:
    base = wish()
    stream = (
        target(msgspec.structs.replace(base, id=f"w{n:06d}", urgency=Urgency(1 + n % 4)))
        for n in range(100_000)
    )

    found = recommend(member(), stream, DEFAULT_WEIGHTS, NOW, limit=5)

    assert [m.wish_id for m in found] == ["w000003", "w000007", "w000011", "w000015", "w000019"]


# Batch dispatch


def test_auto_dispatch_fills_a_wish_with_its_best_candidates() -> None:
    t = target(wish(capacity=3, places_taken=1))
    members = [member("a", home_path=OTHER_COMPOUND), member("b"), member("c", completed=5)]

    assigned = auto_dispatch([t], members, DEFAULT_WEIGHTS, NOW)

    assert [(a.wish_id, a.member_id) for a in assigned] == [("w1", "c"), ("w1", "b")]
    assert assigned[0].score == score(t, members[2], DEFAULT_WEIGHTS, NOW).total


def test_auto_dispatch_serves_the_most_urgent_and_then_key_households_first() -> None:
    old = NOW - 48 * HOUR
    targets = [
        target(wish("old-normal", created_at=old)),
        target(wish("key-normal"), key_household=True),
        target(wish("urgent", urgency=Urgency.URGENT)),
    ]
    members = [member("a", claim_limit=1), member("b", claim_limit=1)]

    assigned = auto_dispatch(targets, members, DEFAULT_WEIGHTS, NOW)

    assert [a.wish_id for a in assigned] == ["urgent", "key-normal"]


def test_auto_dispatch_spreads_the_load_within_a_batch() -> None:
    # a served less lately (fairness 1.0 against b's 1 / (1 + 60/600) = 0.91) and takes w1; the
    # batch counts w1's 120 minutes, a's fairness falls to 1 / (1 + 120/600) = 0.83, b takes w2
    targets = [target(wish("w1")), target(wish("w2"))]
    members = [member("a"), member("b", recent_minutes=60)]

    assigned = auto_dispatch(targets, members, DEFAULT_WEIGHTS, NOW)

    assert [(a.wish_id, a.member_id) for a in assigned] == [("w1", "a"), ("w2", "b")]


def test_auto_dispatch_skips_closed_full_and_past_wishes() -> None:
    targets = [
        target(wish("submitted", state=WishState.SUBMITTED)),
        target(wish("full", capacity=2, places_taken=2)),
        target(wish("past", start=NOW - 9 * HOUR)),
    ]

    assert auto_dispatch(targets, [member("a", claim_limit=9)], DEFAULT_WEIGHTS, NOW) == []


def test_auto_dispatch_reaches_paired_units_and_unknown_homes() -> None:
    t = target(wish(capacity=4), paired=frozenset({"u1"}))
    members = [
        member("unit", home_path=OTHER_DISTRICT, unit_id="u1"),
        member("unknown", home_path=""),
        member("outside", home_path=OTHER_COMMUNITY, unit_id="u2"),
        member("inside-unit", home_path=GRID, unit_id="u1"),
    ]

    assigned = auto_dispatch([t], members, DEFAULT_WEIGHTS, NOW)

    assert sorted(a.member_id for a in assigned) == ["inside-unit", "unit", "unknown"]


SKILLS = ("电工", "驾驶")
PATHS = (GRID, OTHER_GRID, OTHER_COMPOUND, OTHER_COMMUNITY, "/d1/s1/c1/")


@st.composite
def wishes(draw: st.DrawFn) -> list[Target]:
    found = []
    for n in range(draw(st.integers(0, 7))):
        capacity = draw(st.integers(1, 4))
        w = wish(
            f"w{n}",
            state=draw(st.sampled_from([WishState.PUBLISHED] * 4 + [WishState.CLAIMED])),
            capacity=capacity,
            places_taken=draw(st.integers(0, capacity)),
            skills=frozenset(draw(st.sets(st.sampled_from(SKILLS), max_size=2))),
            urgency=draw(st.sampled_from(Urgency)),
            start=NOW + draw(st.integers(-3, 6)) * HOUR,
            created_at=NOW - draw(st.integers(0, 100)) * HOUR,
            beneficiary_id=draw(st.sampled_from(["resident", "m0", "m1"])),
        )
        found.append(
            target(
                w,
                path=draw(st.sampled_from(PATHS)),
                key_household=draw(st.booleans()),
                paired=draw(st.sampled_from([frozenset(), frozenset({"u1"})])),
            )
        )
    return found


@st.composite
def members(draw: st.DrawFn, wish_ids: list[str]) -> list[Candidate]:
    found = []
    for n in range(draw(st.integers(0, 12))):
        offset = draw(st.integers(-2, 6)) * HOUR
        found.append(
            member(
                f"m{n}",
                roles=frozenset(
                    {draw(st.sampled_from([Role.VOLUNTEER, Role.PARTY_MEMBER, Role.RESIDENT]))}
                ),
                skills=frozenset(draw(st.sets(st.sampled_from(SKILLS)))),
                home_path=draw(st.sampled_from((*PATHS, OTHER_STREET, ""))),
                unit_id=draw(st.sampled_from([None, "u1", "u2"])),
                available=draw(st.sampled_from([(), ((NOW + offset, NOW + offset + 3 * HOUR),)])),
                open_claims=draw(st.integers(0, 3)),
                claim_limit=draw(st.integers(0, 4)),
                claimed_wish_ids=frozenset(draw(st.sets(st.sampled_from(wish_ids or ["none"])))),
                recent_minutes=draw(st.integers(0, 3000)),
                completed=draw(st.integers(0, 5)),
                no_shows=draw(st.integers(0, 2)),
                average_rating=draw(st.sampled_from([None, 3.0, 4.5, 5.0])),
            )
        )
    return found


@st.composite
def batches(draw: st.DrawFn) -> tuple[list[Target], list[Candidate]]:
    targets = draw(wishes())
    return targets, draw(members([t.wish.id for t in targets]))


@given(batches())
def test_auto_dispatch_keeps_capacity_limits_and_eligibility(
    batch: tuple[list[Target], list[Candidate]],
) -> None:
    targets, candidates = batch
    by_wish = {t.wish.id: t for t in targets}
    by_member = {c.member_id: c for c in candidates}

    assigned = auto_dispatch(targets, candidates, DEFAULT_WEIGHTS, NOW)

    pairs = [(a.wish_id, a.member_id) for a in assigned]
    assert len(pairs) == len(set(pairs))
    for wish_id, count in Counter(a.wish_id for a in assigned).items():
        w = by_wish[wish_id].wish
        assert count <= w.capacity - w.places_taken
    per_member = Counter(a.member_id for a in assigned)
    for member_id, count in per_member.items():
        c = by_member[member_id]
        assert count <= c.claim_limit - c.open_claims
    for wish_id, member_id in pairs:
        assert why_not(by_wish[wish_id], by_member[member_id], NOW) == ()
    # no place is left empty while an eligible member still had room
    for t in targets:
        taken = sum(1 for wish_id, _ in pairs if wish_id == t.wish.id)
        if taken < t.wish.capacity - t.wish.places_taken:
            for c in candidates:
                if not why_not(t, c, NOW) and (t.wish.id, c.member_id) not in pairs:
                    assert per_member[c.member_id] == c.claim_limit - c.open_claims


@given(batches(), st.randoms(use_true_random=False))
def test_auto_dispatch_is_deterministic_whatever_the_input_order(
    batch: tuple[list[Target], list[Candidate]], rng: random.Random
) -> None:
    targets, candidates = batch
    first = auto_dispatch(targets, candidates, DEFAULT_WEIGHTS, NOW)

    assert auto_dispatch(targets, candidates, DEFAULT_WEIGHTS, NOW) == first
    shuffled_targets, shuffled_candidates = list(targets), list(candidates)
    rng.shuffle(shuffled_targets)
    rng.shuffle(shuffled_candidates)
    assert auto_dispatch(shuffled_targets, shuffled_candidates, DEFAULT_WEIGHTS, NOW) == first


@given(batches())
def test_auto_dispatch_gives_the_first_wish_the_candidates_ranked_best(
    batch: tuple[list[Target], list[Candidate]],
) -> None:
    targets, candidates = batch
    assigned = auto_dispatch(targets, candidates, DEFAULT_WEIGHTS, NOW)
    if not assigned:
        return
    t = next(t for t in targets if t.wish.id == assigned[0].wish_id)
    places = t.wish.capacity - t.wish.places_taken

    ranked = rank_candidates(t, candidates, DEFAULT_WEIGHTS, NOW, limit=places)

    assert [(a.member_id, a.score) for a in assigned if a.wish_id == t.wish.id] == [
        (m.member_id, m.score.total) for m in ranked
    ]


def dispatch_by_hand(
    targets: list[Target], candidates: list[Candidate], weights: Weights
) -> list[Assignment]:
    """auto_dispatch written the slow and obvious way: score every pair, wish by wish."""

    def priority(t: Target) -> tuple[object, ...]:
        waiting_since = t.wish.published_at or t.wish.created_at
        return -t.wish.urgency, not t.key_household, waiting_since, t.wish.id

    left = {c.member_id: c.claim_limit - c.open_claims for c in candidates}
    minutes = {c.member_id: c.recent_minutes for c in candidates}
    out = []
    for t in sorted(targets, key=priority):
        options = sorted(
            (
                -score(
                    t, msgspec.structs.replace(c, recent_minutes=minutes[c.member_id]), weights, NOW
                ).total,
                c.member_id,
            )
            for c in candidates
            if left[c.member_id] > 0 and not why_not(t, c, NOW)
        )
        for negative, member_id in options[: t.wish.capacity - t.wish.places_taken]:
            out.append(Assignment(wish_id=t.wish.id, member_id=member_id, score=-negative))
            left[member_id] -= 1
            minutes[member_id] += t.wish.estimated_minutes
    return out


@given(batches())
def test_auto_dispatch_matches_scoring_every_pair_by_hand(
    batch: tuple[list[Target], list[Candidate]],
) -> None:
    targets, candidates = batch

    assert auto_dispatch(targets, candidates, DEFAULT_WEIGHTS, NOW) == dispatch_by_hand(
        targets, candidates, DEFAULT_WEIGHTS
    )


def test_auto_dispatch_matches_scoring_every_pair_by_hand_on_a_crowded_community() -> None:
    rng = random.Random(7)
    targets = [
        target(
            wish(
                f"w{n:03d}",
                capacity=rng.randint(1, 4),
                skills=frozenset(rng.sample(SKILLS, rng.choice([0, 0, 1, 2]))),
                urgency=rng.choice(list(Urgency)),
                start=NOW + rng.randint(1, 30) * HOUR,
                created_at=NOW - rng.randint(0, 100) * HOUR,
            ),
            path=rng.choice(PATHS),
            key_household=rng.random() < 0.2,
        )
        for n in range(150)
    ]
    candidates = []
    for n in range(120):
        start = NOW + rng.randint(0, 30) * HOUR
        candidates.append(
            member(
                f"m{n:03d}",
                skills=frozenset(rng.sample(SKILLS, rng.randint(0, 2))),
                home_path=rng.choice((*PATHS, "")),
                available=rng.choice([(), ((start, start + rng.randint(1, 8) * HOUR),)]),
                claim_limit=rng.randint(1, 6),
                recent_minutes=rng.randint(0, 2000),
                completed=rng.randint(0, 20),
                no_shows=rng.randint(0, 3),
                average_rating=rng.choice([None, 3.5, 4.2, 5.0]),
            )
        )
    for weights in (DEFAULT_WEIGHTS, Weights(distance=9.0, availability=0.0, fairness=5.0)):
        expected = dispatch_by_hand(targets, candidates, weights)
        assert len(expected) > 100
        assert auto_dispatch(targets, candidates, weights, NOW) == expected


def test_auto_dispatch_matches_scoring_every_pair_by_hand_when_members_are_alike() -> None:
    # members alike (no history, no statement of free time) give a wish equal totals, ties
    # broken by id: the plan takes a group's first eligible members and leaves the rest unread
    rng = random.Random(11)
    targets = [
        target(
            wish(
                f"w{n:03d}",
                capacity=rng.randint(1, 3),
                skills=frozenset(rng.sample(SKILLS, rng.choice([0, 0, 1, 2]))),
                urgency=rng.choice(list(Urgency)),
                start=NOW + rng.randint(1, 30) * HOUR,
                created_at=NOW - rng.randint(0, 100) * HOUR,
                beneficiary_id=rng.choice(["resident", "m005", "m017"]),
            ),
            path=rng.choice(PATHS),
        )
        for n in range(200)
    ]
    candidates = [
        member(
            f"m{n:03d}",
            skills=frozenset(rng.sample(SKILLS, rng.randint(0, 2))),
            home_path=rng.choice((GRID, OTHER_GRID, "")),
            claim_limit=rng.randint(1, 4),
            claimed_wish_ids=frozenset({f"w{rng.randrange(200):03d}"}),
        )
        for n in range(90)
    ]
    expected = dispatch_by_hand(targets, candidates, DEFAULT_WEIGHTS)
    assert len(expected) > 150
    assert auto_dispatch(targets, candidates, DEFAULT_WEIGHTS, NOW) == expected
