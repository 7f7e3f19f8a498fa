"""Pure rule tests for the accrual policy: exact points and the steps explaining them."""

import datetime
import math
from fractions import Fraction

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from points.policy import (
    Accrual,
    AccrualPolicy,
    Activity,
    DonationRule,
    InvalidActivity,
    RoundingMode,
    Step,
    compute_accrual,
    hours_display,
    star_level,
)

MORNING = datetime.datetime(2025, 3, 4, 9, 0)
NATIONAL_DAY = datetime.date(2025, 10, 1)


def activity(
    minutes: int,
    *,
    category: str = "助老",
    started_at: datetime.datetime = MORNING,
    key_household: bool = False,
) -> Activity:
    return Activity(
        minutes=minutes, category=category, started_at=started_at, key_household=key_household
    )


def codes(accrual: Accrual) -> list[str]:
    return [step.code for step in accrual.steps]


# Base rate and the minutes that count


def test_base_points_are_minutes_times_hourly_rate() -> None:
    accrual = compute_accrual(AccrualPolicy(), activity(90))

    assert accrual.points == 15
    assert accrual.minutes_counted == 90
    assert codes(accrual) == ["base"]
    assert accrual.steps[0].detail == "基础积分：90分钟 × 10分/小时 = 15"
    assert accrual.steps[0].change == "+15"
    assert accrual.steps[0].points == 15


def test_zero_minutes_earn_zero_points_with_a_base_step() -> None:
    accrual = compute_accrual(AccrualPolicy(), activity(0))

    assert accrual.points == 0
    assert codes(accrual) == ["base"]


def test_fractional_base_is_rounded_down_and_the_rounding_is_explained() -> None:
    accrual = compute_accrual(AccrualPolicy(), activity(7))  # 7/6 points

    assert accrual.points == 1
    assert codes(accrual) == ["base", "rounding"]
    assert accrual.steps[0].change == "+1.17"
    assert accrual.steps[0].points == 1
    assert accrual.steps[1].change == "-0.17"


def test_activity_shorter_than_minimum_earns_no_points_but_keeps_its_minutes() -> None:
    accrual = compute_accrual(AccrualPolicy(min_minutes=30), activity(20))

    assert accrual.points == 0
    assert accrual.minutes_counted == 20
    assert codes(accrual) == ["below_minimum"]
    assert accrual.steps[0].points == 0


def test_activity_of_exactly_the_minimum_earns_points() -> None:
    accrual = compute_accrual(AccrualPolicy(min_minutes=30), activity(30))

    assert accrual.points == 5
    assert codes(accrual) == ["base"]


def test_minutes_beyond_activity_maximum_are_not_counted() -> None:
    accrual = compute_accrual(AccrualPolicy(max_minutes_per_activity=120), activity(150))

    assert accrual.points == 20
    assert accrual.minutes_counted == 120
    assert codes(accrual) == ["minutes_capped", "base"]
    assert accrual.steps[0].change == "-30分钟"


def test_activity_at_the_maximum_is_counted_in_full() -> None:
    accrual = compute_accrual(AccrualPolicy(max_minutes_per_activity=120), activity(120))

    assert accrual.minutes_counted == 120
    assert codes(accrual) == ["base"]


# Category multiplier


def test_category_multiplier_scales_base_points() -> None:
    policy = AccrualPolicy(category_multipliers={"助老": 150})

    accrual = compute_accrual(policy, activity(60, category="助老"))

    assert accrual.points == 15
    assert codes(accrual) == ["base", "category"]
    assert accrual.steps[1].change == "×1.5"


def test_unlisted_category_counts_at_one_hundred_percent() -> None:
    policy = AccrualPolicy(category_multipliers={"助老": 150})

    accrual = compute_accrual(policy, activity(60, category="环保"))

    assert accrual.points == 10
    assert codes(accrual) == ["base"]


def test_category_multiplier_of_zero_earns_nothing() -> None:
    policy = AccrualPolicy(category_multipliers={"宣传": 0})

    accrual = compute_accrual(policy, activity(60, category="宣传"))

    assert accrual.points == 0
    assert codes(accrual) == ["base", "category"]
    assert accrual.steps[1].change == "×0"


# Bonuses


def test_serving_a_key_household_adds_its_bonus() -> None:
    policy = AccrualPolicy(key_household_bonus_percent=20)

    accrual = compute_accrual(policy, activity(60, key_household=True))

    assert accrual.points == 12
    assert codes(accrual) == ["base", "key_household"]
    assert accrual.steps[1].change == "+2"


def test_key_household_bonus_needs_a_key_household() -> None:
    policy = AccrualPolicy(key_household_bonus_percent=20)

    accrual = compute_accrual(policy, activity(60, key_household=False))

    assert accrual.points == 10
    assert codes(accrual) == ["base"]


NIGHT_POLICY = AccrualPolicy(night_bonus_percent=50, max_minutes_per_activity=1440)


def test_night_bonus_covers_only_the_minutes_after_night_starts() -> None:
    evening = datetime.datetime(2025, 3, 4, 21, 0)  # 21:00-23:00, half at night

    accrual = compute_accrual(NIGHT_POLICY, activity(120, started_at=evening))

    assert accrual.points == 25  # 20 + 20 × 50% × 1/2
    assert codes(accrual) == ["base", "night"]
    assert accrual.steps[1].change == "+5"


def test_night_bonus_applies_across_midnight() -> None:
    late = datetime.datetime(2025, 3, 4, 23, 0)  # 23:00-01:00

    accrual = compute_accrual(NIGHT_POLICY, activity(120, started_at=late))

    assert accrual.points == 30
    assert codes(accrual) == ["base", "night"]


def test_daytime_activity_gets_no_night_bonus() -> None:
    accrual = compute_accrual(NIGHT_POLICY, activity(120, started_at=MORNING))

    assert accrual.points == 20
    assert codes(accrual) == ["base"]


def test_night_bonus_counts_the_end_of_one_night_and_the_start_of_the_next() -> None:
    dawn = datetime.datetime(2025, 3, 4, 5, 0)  # 05:00 to 05:00 next day: 60 + 420 night minutes

    accrual = compute_accrual(NIGHT_POLICY, activity(1440, started_at=dawn))

    assert accrual.points == 280  # 240 + 240 × 50% × 480/1440


def test_night_window_that_does_not_span_midnight() -> None:
    policy = AccrualPolicy(night_bonus_percent=50, night_start_hour=0, night_end_hour=6)
    late = datetime.datetime(2025, 3, 4, 22, 0)  # 22:00-02:00, two hours after midnight

    accrual = compute_accrual(policy, activity(240, started_at=late))

    assert accrual.points == 50  # 40 + 40 × 50% × 1/2


def test_night_is_read_from_the_local_wall_clock_of_an_aware_time() -> None:
    shanghai = datetime.timezone(datetime.timedelta(hours=8))
    late = datetime.datetime(2025, 3, 4, 23, 0, tzinfo=shanghai)

    accrual = compute_accrual(NIGHT_POLICY, activity(60, started_at=late))

    assert accrual.points == 15


def test_activity_starting_on_a_holiday_earns_the_holiday_bonus() -> None:
    policy = AccrualPolicy(holiday_bonus_percent=100, holidays=frozenset({NATIONAL_DAY}))
    started_at = datetime.datetime.combine(NATIONAL_DAY, datetime.time(9))

    accrual = compute_accrual(policy, activity(60, started_at=started_at))

    assert accrual.points == 20
    assert codes(accrual) == ["base", "holiday"]
    assert accrual.steps[1].change == "+10"


def test_holiday_bonus_depends_on_the_start_date_only() -> None:
    policy = AccrualPolicy(holiday_bonus_percent=100, holidays=frozenset({NATIONAL_DAY}))
    eve = datetime.datetime(2025, 9, 30, 23, 0)  # runs into the holiday

    accrual = compute_accrual(policy, activity(120, started_at=eve))

    assert accrual.points == 20
    assert codes(accrual) == ["base"]


def test_bonuses_are_percentages_of_the_value_after_the_category_and_add_up() -> None:
    policy = AccrualPolicy(
        category_multipliers={"助老": 200},
        key_household_bonus_percent=10,
        night_bonus_percent=50,
        holiday_bonus_percent=100,
        holidays=frozenset({NATIONAL_DAY}),
    )
    late = datetime.datetime.combine(NATIONAL_DAY, datetime.time(23))

    accrual = compute_accrual(policy, activity(60, started_at=late, key_household=True))

    assert accrual.points == 52  # 20 + 2 + 10 + 20
    assert [step.change for step in accrual.steps] == ["+10", "×2", "+2", "+10", "+20"]


# Rounding


@pytest.mark.parametrize(
    ("mode", "minutes", "expected"),
    [
        (RoundingMode.DOWN, 72, 10),  # 12
        (RoundingMode.DOWN, 78, 10),  # 13
        (RoundingMode.HALF_UP, 72, 10),
        (RoundingMode.HALF_UP, 75, 15),  # 12.5
        (RoundingMode.HALF_UP, 78, 15),
        (RoundingMode.UP, 66, 15),  # 11
        (RoundingMode.UP, 72, 15),
    ],
)
def test_rounding_to_a_step_of_five_follows_the_mode(
    mode: RoundingMode, minutes: int, expected: int
) -> None:
    policy = AccrualPolicy(rounding_step=5, rounding_mode=mode)

    accrual = compute_accrual(policy, activity(minutes))

    assert accrual.points == expected
    assert codes(accrual) == ["base", "rounding"]


def test_value_already_on_the_rounding_step_adds_no_rounding_step() -> None:
    policy = AccrualPolicy(rounding_step=5, rounding_mode=RoundingMode.UP)

    accrual = compute_accrual(policy, activity(60))

    assert accrual.points == 10
    assert codes(accrual) == ["base"]


def test_rounding_step_shows_the_signed_change() -> None:
    policy = AccrualPolicy(rounding_step=5, rounding_mode=RoundingMode.UP)

    accrual = compute_accrual(policy, activity(66))

    assert accrual.steps[-1].change == "+4"
    assert accrual.steps[-1].points == 15


# Caps


def test_daily_cap_limits_points_to_the_room_left_today() -> None:
    policy = AccrualPolicy(daily_cap=20)

    accrual = compute_accrual(policy, activity(60), earned_today=15)

    assert accrual.points == 5
    assert codes(accrual) == ["base", "daily_cap"]
    assert accrual.steps[-1].change == "-5"


@pytest.mark.parametrize("earned_today", [20, 25])
def test_exhausted_daily_cap_leaves_zero_points_and_says_so(earned_today: int) -> None:
    policy = AccrualPolicy(daily_cap=20)

    accrual = compute_accrual(policy, activity(60), earned_today=earned_today)

    assert accrual.points == 0
    assert accrual.minutes_counted == 60
    assert codes(accrual) == ["base", "daily_cap"]
    assert accrual.steps[-1].change == "-10"


def test_daily_cap_with_room_to_spare_changes_nothing() -> None:
    accrual = compute_accrual(AccrualPolicy(daily_cap=20), activity(60), earned_today=10)

    assert accrual.points == 10
    assert codes(accrual) == ["base"]


def test_monthly_cap_limits_points_to_the_room_left_this_month() -> None:
    policy = AccrualPolicy(monthly_cap=100)

    accrual = compute_accrual(policy, activity(60), earned_this_month=97)

    assert accrual.points == 3
    assert codes(accrual) == ["base", "monthly_cap"]


def test_exhausted_monthly_cap_leaves_zero_points_and_says_so() -> None:
    policy = AccrualPolicy(monthly_cap=100)

    accrual = compute_accrual(policy, activity(60), earned_this_month=100)

    assert accrual.points == 0
    assert codes(accrual) == ["base", "monthly_cap"]


def test_every_rule_applies_in_the_documented_order() -> None:
    policy = AccrualPolicy(
        max_minutes_per_activity=60,
        category_multipliers={"助老": 150},
        key_household_bonus_percent=20,
        night_bonus_percent=50,
        holiday_bonus_percent=100,
        holidays=frozenset({NATIONAL_DAY}),
        daily_cap=50,
        monthly_cap=100,
    )
    late = datetime.datetime.combine(NATIONAL_DAY, datetime.time(23))

    accrual = compute_accrual(
        policy,
        activity(90, started_at=late, key_household=True),
        earned_today=20,
        earned_this_month=75,
    )

    assert codes(accrual) == [
        "minutes_capped",
        "base",
        "category",
        "key_household",
        "night",
        "holiday",
        "rounding",
        "daily_cap",
        "monthly_cap",
    ]
    # 10 → ×1.5 = 15 → +3 → +7.5 → +15 = 40.5 → 40 → 30 left today → 25 left this month
    assert [step.points for step in accrual.steps] == [0, 10, 15, 18, 25, 40, 40, 30, 25]
    assert accrual.points == 25
    assert accrual.minutes_counted == 60


# Invalid input


@pytest.mark.parametrize("minutes", [-1, 10_001, True, 1.5])
def test_activity_with_impossible_minutes_is_refused(minutes: int) -> None:
    with pytest.raises(InvalidActivity, match="minutes"):
        compute_accrual(AccrualPolicy(), activity(minutes))


@pytest.mark.parametrize("earned", [{"earned_today": -1}, {"earned_this_month": -1}])
def test_negative_earnings_so_far_are_refused(earned: dict[str, int]) -> None:
    with pytest.raises(InvalidActivity, match="must not be negative"):
        compute_accrual(AccrualPolicy(), activity(60), **earned)


def test_invalid_activity_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="minutes must be 0 to 10000"):
        compute_accrual(AccrualPolicy(), activity(-5))


def test_longest_allowed_activity_is_accepted() -> None:
    accrual = compute_accrual(AccrualPolicy(), activity(10_000))

    assert accrual.minutes_counted == 480


# Policy problems


def test_default_policy_has_no_problems() -> None:
    assert AccrualPolicy().problems() == ()


def test_policy_at_every_boundary_has_no_problems() -> None:
    low = AccrualPolicy(
        points_per_hour=0,
        category_multipliers={"x": 0},
        rounding_step=1,
        min_minutes=0,
        max_minutes_per_activity=1,
        daily_cap=1,
        monthly_cap=1,
        night_start_hour=0,
        night_end_hour=23,
        expiry_days=1,
    )
    high = AccrualPolicy(
        points_per_hour=10_000,
        category_multipliers={"x" * 32: 1000},
        rounding_step=1000,
        min_minutes=1440,
        max_minutes_per_activity=1440,
        daily_cap=10_000_000,
        monthly_cap=10_000_000,
        key_household_bonus_percent=1000,
        night_bonus_percent=1000,
        holiday_bonus_percent=1000,
        night_start_hour=23,
        night_end_hour=0,
        expiry_days=36_500,
    )

    assert low.problems() == ()
    assert high.problems() == ()
    assert AccrualPolicy(daily_cap=None, monthly_cap=None, expiry_days=None).problems() == ()


@pytest.mark.parametrize(
    ("fields", "mentions"),
    [
        ({"points_per_hour": -1}, "points_per_hour"),
        ({"points_per_hour": 10_001}, "points_per_hour"),
        ({"category_multipliers": {"助老": -1}}, "category_multipliers['助老']"),
        ({"category_multipliers": {"助老": 1001}}, "category_multipliers['助老']"),
        ({"category_multipliers": {"": 100}}, "category_multipliers must be 1 to 32 characters"),
        ({"category_multipliers": {"x" * 33: 100}}, "1 to 32 characters"),
        ({"rounding_step": 0}, "rounding_step"),
        ({"rounding_step": 1001}, "rounding_step"),
        ({"min_minutes": -1}, "min_minutes"),
        ({"max_minutes_per_activity": 0}, "max_minutes_per_activity"),
        ({"max_minutes_per_activity": 1441}, "max_minutes_per_activity"),
        ({"min_minutes": 60, "max_minutes_per_activity": 30}, "must not be below"),
        ({"daily_cap": 0}, "daily_cap"),
        ({"daily_cap": 10_000_001}, "daily_cap"),
        ({"monthly_cap": 0}, "monthly_cap"),
        ({"monthly_cap": 10_000_001}, "monthly_cap"),
        ({"key_household_bonus_percent": -1}, "key_household_bonus_percent"),
        ({"key_household_bonus_percent": 1001}, "key_household_bonus_percent"),
        ({"night_bonus_percent": -1}, "night_bonus_percent"),
        ({"night_bonus_percent": 1001}, "night_bonus_percent"),
        ({"holiday_bonus_percent": -1}, "holiday_bonus_percent"),
        ({"holiday_bonus_percent": 1001}, "holiday_bonus_percent"),
        ({"night_start_hour": -1}, "night_start_hour"),
        ({"night_start_hour": 24}, "night_start_hour"),
        ({"night_end_hour": -1}, "night_end_hour"),
        ({"night_end_hour": 24}, "night_end_hour"),
        ({"night_bonus_percent": 50, "night_start_hour": 3, "night_end_hour": 3}, "must differ"),
        ({"expiry_days": 0}, "expiry_days"),
        ({"expiry_days": 36_501}, "expiry_days"),
    ],
)
def test_policy_reports_each_invalid_field(fields: dict[str, object], mentions: str) -> None:
    problems = AccrualPolicy(**fields).problems()  # type: ignore[arg-type]

    assert len(problems) == 1
    assert mentions in str(problems[0])


def test_minimum_beyond_a_day_is_out_of_range_and_above_the_maximum() -> None:
    problems = AccrualPolicy(min_minutes=1441).problems()

    assert [str(problem) for problem in problems] == [
        "min_minutes must be 0 to 1440",
        "max_minutes_per_activity must not be below min_minutes",
    ]
    assert [(p.code, p.field) for p in problems] == [
        ("range", "min_minutes"),
        ("not_below", "max_minutes_per_activity"),
    ]


def test_policy_reports_all_its_problems_at_once() -> None:
    policy = AccrualPolicy(points_per_hour=-1, rounding_step=0, expiry_days=0)

    assert len(policy.problems()) == 3


def test_compute_accrual_does_not_check_the_policy() -> None:
    accrual = compute_accrual(AccrualPolicy(points_per_hour=20_000), activity(60))

    assert accrual.points == 20_000


# Stars and hours


@pytest.mark.parametrize(
    ("total_minutes", "stars"),
    [
        (0, 0),
        (5999, 0),
        (6000, 1),
        (17_999, 1),
        (18_000, 2),
        (36_000, 3),
        (60_000, 4),
        (89_999, 4),
        (90_000, 5),
        (1_000_000, 5),
    ],
)
def test_star_level_counts_the_hour_thresholds_reached(total_minutes: int, stars: int) -> None:
    assert star_level(total_minutes) == stars


def test_star_level_with_community_thresholds() -> None:
    assert star_level(600, thresholds_hours=(10, 20)) == 1
    assert star_level(1200, thresholds_hours=(10, 20)) == 2
    assert star_level(1200, thresholds_hours=()) == 0


@pytest.mark.parametrize(
    ("minutes", "shown"),
    [(0, "0.0"), (2, "0.0"), (3, "0.1"), (60, "1.0"), (90, "1.5"), (100, "1.7"), (33, "0.6")],
)
def test_hours_display_has_one_decimal_rounded_half_up(minutes: int, shown: str) -> None:
    assert hours_display(minutes) == shown


def test_hours_display_of_many_hours() -> None:
    assert hours_display(90_000) == "1500.0"


# Serialisation


def test_policy_round_trips_through_json() -> None:
    policy = AccrualPolicy(
        points_per_hour=12,
        category_multipliers={"助老": 150, "环保": 80},
        rounding_step=5,
        rounding_mode=RoundingMode.HALF_UP,
        min_minutes=15,
        daily_cap=40,
        monthly_cap=400,
        key_household_bonus_percent=20,
        night_bonus_percent=50,
        holiday_bonus_percent=100,
        holidays=frozenset({NATIONAL_DAY, datetime.date(2025, 1, 29)}),
        expiry_days=None,
        donations=DonationRule.ANY,
    )

    decoded = msgspec.json.decode(msgspec.json.encode(policy), type=AccrualPolicy)

    assert decoded == policy
    assert decoded.holidays == frozenset({NATIONAL_DAY, datetime.date(2025, 1, 29)})


def test_empty_json_object_decodes_to_the_default_policy() -> None:
    assert msgspec.json.decode(b"{}", type=AccrualPolicy) == AccrualPolicy()


@pytest.mark.parametrize(
    "document",
    [
        b'{"points_per_hour": 1.5}',
        b'{"points_per_hour": "10"}',
        b'{"rounding_mode": "sideways"}',
        b'{"holidays": ["2025-13-01"]}',
    ],
)
def test_decoding_a_malformed_policy_fails(document: bytes) -> None:
    with pytest.raises(msgspec.ValidationError):
        msgspec.json.decode(document, type=AccrualPolicy)


# Properties

CATEGORIES = ["助老", "环保", "巡逻"]
FIRST_DAY = datetime.date(2025, 1, 1)
LAST_DAY = datetime.date(2025, 1, 7)

valid_policies = st.builds(
    AccrualPolicy,
    points_per_hour=st.integers(0, 10_000),
    category_multipliers=st.dictionaries(st.sampled_from(CATEGORIES), st.integers(0, 1000)),
    rounding_step=st.integers(1, 1000),
    rounding_mode=st.sampled_from(RoundingMode),
    max_minutes_per_activity=st.integers(1, 1440),
    daily_cap=st.none() | st.integers(1, 10_000_000),
    monthly_cap=st.none() | st.integers(1, 10_000_000),
    key_household_bonus_percent=st.integers(0, 1000),
    night_bonus_percent=st.integers(0, 1000),
    night_start_hour=st.integers(0, 23),
    night_end_hour=st.integers(0, 23),
    holiday_bonus_percent=st.integers(0, 1000),
    holidays=st.frozensets(st.dates(FIRST_DAY, LAST_DAY)),
).filter(lambda policy: not policy.problems())


@given(
    policy=valid_policies,
    category=st.sampled_from(CATEGORIES),
    started_at=st.datetimes(
        datetime.datetime.combine(FIRST_DAY, datetime.time()),
        datetime.datetime.combine(LAST_DAY, datetime.time(23, 59)),
    ),
    key_household=st.booleans(),
    minutes=st.lists(st.integers(0, 10_000), min_size=2, max_size=2).map(sorted),
    earned_today=st.integers(0, 20_000_000),
    earned_this_month=st.integers(0, 20_000_000),
)
def test_points_are_never_negative_stay_within_caps_and_grow_with_minutes(
    policy: AccrualPolicy,
    category: str,
    started_at: datetime.datetime,
    key_household: bool,
    minutes: list[int],
    earned_today: int,
    earned_this_month: int,
) -> None:
    def points_for(served: int) -> Accrual:
        return compute_accrual(
            policy,
            Activity(
                minutes=served,
                category=category,
                started_at=started_at,
                key_household=key_household,
            ),
            earned_today=earned_today,
            earned_this_month=earned_this_month,
        )

    shorter, longer = (points_for(served) for served in minutes)

    assert shorter.points >= 0
    if policy.daily_cap is not None:
        assert longer.points <= max(0, policy.daily_cap - earned_today)
    if policy.monthly_cap is not None:
        assert longer.points <= max(0, policy.monthly_cap - earned_this_month)
    assert shorter.points <= longer.points
    assert longer.steps[-1].points == longer.points
    assert points_for(minutes[1]) == longer


# The integer formula against the Fraction formula it replaced (the reference, kept here)


def fraction_accrual(
    policy: AccrualPolicy, activity: Activity, *, earned_today: int, earned_this_month: int
) -> Accrual:
    """``compute_accrual`` as it was written with ``Fraction`` values (until 2026-12)."""
    if activity.minutes < policy.min_minutes:
        below = Step(
            code="below_minimum",
            detail=f"服务{activity.minutes}分钟，不足{policy.min_minutes}分钟，"
            "不计积分（服务时长照常累计）",
            points=0,
            change="+0",
        )
        return Accrual(points=0, minutes_counted=activity.minutes, steps=(below,))
    steps: list[Step] = []

    def record(code: str, detail: str, value: Fraction, change: str) -> None:
        steps.append(Step(code=code, detail=detail, points=math.floor(value), change=change))

    minutes = min(activity.minutes, policy.max_minutes_per_activity)
    if dropped := activity.minutes - minutes:
        limit = f"单次最多计{policy.max_minutes_per_activity}分钟"
        record(
            "minutes_capped", f"{limit}，超出的{dropped}分钟不计", Fraction(0), f"-{dropped}分钟"
        )
    value = Fraction(minutes * policy.points_per_hour, 60)
    record(
        "base",
        f"基础积分：{minutes}分钟 × {policy.points_per_hour}分/小时 = {number(value)}",
        value,
        signed(value),
    )
    percent = policy.category_multipliers.get(activity.category, 100)
    if percent != 100 and value:
        value = value * percent / 100
        factor = number(Fraction(percent, 100))
        record("category", f"服务类别「{activity.category}」：× {factor}", value, f"×{factor}")
    before_bonuses = value
    night = night_minutes(policy, activity.started_at, minutes)
    at_night = night / minutes if minutes else Fraction(0)
    on_holiday = activity.started_at.date() in policy.holidays
    bonuses: list[tuple[str, str, int, int | Fraction]] = [
        ("key_household", "重点家庭服务", policy.key_household_bonus_percent,
         activity.key_household),
        ("night", f"夜间服务{number(night)}/{minutes}分钟", policy.night_bonus_percent, at_night),
        ("holiday", "节假日服务", policy.holiday_bonus_percent, on_holiday),
    ]  # fmt: skip
    for code, reason, bonus_percent, share in bonuses:
        if bonus := before_bonuses * bonus_percent / 100 * share:
            value += bonus
            record(code, f"{reason}，加成{bonus_percent}%：{signed(bonus)}", value, signed(bonus))
    quotient = value / policy.rounding_step
    if policy.rounding_mode is RoundingMode.UP:
        rounded = Fraction(math.ceil(quotient) * policy.rounding_step)
    else:
        if policy.rounding_mode is RoundingMode.HALF_UP:
            quotient += Fraction(1, 2)
        rounded = Fraction(math.floor(quotient) * policy.rounding_step)
    if rounded != value:
        labels = {"down": "向下", "half_up": "四舍五入", "up": "向上"}
        label = f"按{policy.rounding_step}分{labels[policy.rounding_mode]}取整"
        record("rounding", f"{label}：{number(rounded)}", rounded, signed(rounded - value))
        value = rounded
    caps = [
        ("daily_cap", "今日", policy.daily_cap, earned_today),
        ("monthly_cap", "本月", policy.monthly_cap, earned_this_month),
    ]
    for code, period, cap, earned in caps:
        if cap is not None and value > (room := max(0, cap - earned)):
            change = signed(room - value)
            value = Fraction(room)
            record(code, f"{period}上限{cap}分，已得{earned}分，本次最多{room}分", value, change)
    return Accrual(points=int(value), minutes_counted=minutes, steps=tuple(steps))


def night_minutes(policy: AccrualPolicy, started_at: datetime.datetime, minutes: int) -> Fraction:
    start_hour, end_hour = policy.night_start_hour, policy.night_end_hour
    if start_hour == end_hour:
        return Fraction(0)
    start = started_at.replace(tzinfo=None)
    end = start + datetime.timedelta(minutes=minutes)
    overlap = datetime.timedelta()
    day = start.date() - datetime.timedelta(days=1)
    while day <= end.date():
        midnight = datetime.datetime.combine(day, datetime.time())
        opens = midnight + datetime.timedelta(hours=start_hour)
        closes = midnight + datetime.timedelta(
            days=1 if end_hour < start_hour else 0, hours=end_hour
        )
        overlap += max(datetime.timedelta(), min(end, closes) - max(start, opens))
        day += datetime.timedelta(days=1)
    return Fraction(overlap // datetime.timedelta(microseconds=1), 60_000_000)


def number(value: Fraction) -> str:
    if value.denominator == 1:
        return str(value.numerator)
    hundredths = math.floor(abs(value) * 100 + Fraction(1, 2))
    text = f"{hundredths // 100}.{hundredths % 100:02d}".rstrip("0").rstrip(".")
    return f"-{text}" if value < 0 else text


def signed(delta: Fraction) -> str:
    return number(delta) if delta < 0 else f"+{number(delta)}"


any_policies = st.builds(
    AccrualPolicy,
    points_per_hour=st.integers(0, 10_000),
    category_multipliers=st.dictionaries(st.sampled_from(CATEGORIES), st.integers(0, 1000)),
    rounding_step=st.integers(1, 1000) | st.sampled_from([1, 2, 5, 10, 7, 3]),
    rounding_mode=st.sampled_from(RoundingMode),
    min_minutes=st.integers(0, 1440) | st.just(0),
    max_minutes_per_activity=st.integers(1, 1440),
    daily_cap=st.none() | st.integers(1, 10_000_000) | st.integers(1, 100),
    monthly_cap=st.none() | st.integers(1, 10_000_000) | st.integers(1, 1000),
    key_household_bonus_percent=st.integers(0, 1000),
    night_bonus_percent=st.integers(0, 1000) | st.just(0),
    night_start_hour=st.integers(0, 23),
    night_end_hour=st.integers(0, 23),
    holiday_bonus_percent=st.integers(0, 1000),
    holidays=st.frozensets(st.dates(FIRST_DAY, LAST_DAY)),
).filter(lambda policy: not policy.problems())


@settings(max_examples=2000)
@given(
    policy=any_policies,
    category=st.sampled_from([*CATEGORIES, "其他"]),
    started_at=st.datetimes(
        datetime.datetime.combine(FIRST_DAY, datetime.time()),
        datetime.datetime.combine(LAST_DAY, datetime.time(23, 59)),
        timezones=st.none() | st.just(datetime.timezone(datetime.timedelta(hours=8))),
    )
    | st.datetimes(  # whole minutes, as records mostly are
        datetime.datetime.combine(FIRST_DAY, datetime.time()),
        datetime.datetime.combine(LAST_DAY, datetime.time(23, 59)),
    ).map(lambda moment: moment.replace(second=0, microsecond=0)),
    key_household=st.booleans(),
    minutes=st.integers(0, 10_000) | st.sampled_from([0, 1, 7, 30, 59, 60, 61, 90, 1440]),
    earned_today=st.integers(0, 20_000_000) | st.integers(0, 100),
    earned_this_month=st.integers(0, 20_000_000) | st.integers(0, 1000),
)
def test_the_integer_formula_gives_what_the_fraction_formula_gave(
    policy: AccrualPolicy,
    category: str,
    started_at: datetime.datetime,
    key_household: bool,
    minutes: int,
    earned_today: int,
    earned_this_month: int,
) -> None:
    served = Activity(
        minutes=minutes, category=category, started_at=started_at, key_household=key_household
    )
    earned = {"earned_today": earned_today, "earned_this_month": earned_this_month}

    assert compute_accrual(policy, served, **earned) == fraction_accrual(policy, served, **earned)
