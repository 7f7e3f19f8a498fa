"""Accrual policy (积分规则): how a community turns verified service minutes into points.

An `AccrualPolicy` is a versioned table of parameters; `compute_accrual` applies it to one
`Activity` and returns an `Accrual` whose steps explain every adjustment to the member.
Everything here is pure and exact: minutes and points are ints, and so is every intermediate
value (a numerator over one scale per computation, see `compute_accrual`).
"""

import datetime
import enum
import math
from typing import Annotated

import msgspec
from msgspec import Meta

from points.causes import Cause
from points.errors import InvalidRequest

__all__ = [
    "ONE_LINE",
    "STAR_THRESHOLDS_HOURS",
    "Accrual",
    "AccrualPolicy",
    "Activity",
    "Category",
    "DonationRule",
    "InvalidActivity",
    "RoundingMode",
    "Step",
    "bounds_problems",
    "compute_accrual",
    "hours_display",
    "star_level",
]

MAX_ACTIVITY_MINUTES = 10_000
MAX_CATEGORIES = 100  # category multipliers a policy may set
MAX_HOLIDAYS = 1000  # holiday dates a policy may list (decades of them)
STAR_THRESHOLDS_HOURS = (100, 300, 600, 1000, 1500)


class RoundingMode(enum.StrEnum):
    DOWN = "down"
    HALF_UP = "half_up"
    UP = "up"


class DonationRule(enum.StrEnum):
    """Whom members may donate points to: nobody, the community pool, or anyone."""

    NONE = "none"
    POOL = "pool"
    ANY = "any"


Percent = Annotated[int, Meta(ge=0, le=1000)]
Hour = Annotated[int, Meta(ge=0, le=23)]
ONE_LINE = r"^[^\u0000-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]*$"
"""One line of free text: no control character (C0, C1, DEL) and no bidi override or isolate.
The HTTP service's free-text rule (service/text.py) is this pattern; it lives here so that the
library's own Structs (a category name) carry it in their types."""
Category = Annotated[str, Meta(min_length=1, max_length=32, pattern=ONE_LINE)]
"""A category name (服务类别): one line of free text, as a community's rules and policy name it."""


def bounds_problems(value: msgspec.Struct, prefix: str = "") -> list[Cause]:
    """Where ``value`` breaks the bounds its Struct type declares (``Annotated[int, Meta(ge=,
    le=)]``, a collection's ``max_length``, a name's length), in nested Structs too. A Struct
    made in code skips msgspec's checks; this runs the same bounds, so each is written once:
    in the type, which also tells an HTTP API's schema. Each problem is a :class:`Cause` naming
    its field (``deadlines.claim_hours``; a dict's entry ``category_multipliers['助老']``)."""
    found: list[Cause] = []
    info = msgspec.inspect.type_info(type(value))
    assert isinstance(info, msgspec.inspect.StructType)
    for field in info.fields:
        found += _out_of_bounds(f"{prefix}{field.name}", getattr(value, field.name), field.type)
    return found


def _out_of_bounds(name: str, value: object, kind: msgspec.inspect.Type) -> list[Cause]:
    if isinstance(kind, msgspec.inspect.UnionType):
        members = [m for m in kind.types if not isinstance(m, msgspec.inspect.NoneType)]
        return [] if value is None or len(members) != 1 else _out_of_bounds(name, value, members[0])
    if isinstance(kind, msgspec.inspect.StructType) and isinstance(value, msgspec.Struct):
        return bounds_problems(value, f"{name}.")
    if isinstance(kind, msgspec.inspect.IntType) and isinstance(value, int):
        low = -(2**63) if kind.ge is None else kind.ge
        high = 2**63 - 1 if kind.le is None else kind.le
        if low <= value <= high:
            return []
        return [Cause("range", {"low": low, "high": high}, field=name)]
    found = []
    shortest, longest = getattr(kind, "min_length", None), getattr(kind, "max_length", None)
    if isinstance(value, str) and not (shortest or 0) <= len(value) <= (longest or len(value)):
        found.append(Cause("length", {"low": shortest or 0, "high": longest or 0}, field=name))
    sized = isinstance(value, dict | list | tuple | frozenset | set)
    if sized and longest is not None and len(value) > longest:  # type: ignore[arg-type]
        found.append(Cause("too_many", {"high": longest}, field=name))
    if isinstance(kind, msgspec.inspect.DictType) and isinstance(value, dict):
        for key, item in sorted(value.items()):
            found += _out_of_bounds(f"{name}[{key!r}]", item, kind.value_type)
            keys = _out_of_bounds(repr(key), key, kind.key_type)  # a key at fault names the dict
            found += [msgspec.structs.replace(p, field=name) for p in keys]
    return found


_ROUNDING_LABELS = {
    RoundingMode.DOWN: "向下",
    RoundingMode.HALF_UP: "四舍五入",
    RoundingMode.UP: "向上",
}


class AccrualPolicy(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """One version of a community's 积分规则. Percentages are integer percent (150 = ×1.5)."""

    points_per_hour: Annotated[int, Meta(ge=0, le=10_000)] = 10
    category_multipliers: Annotated[
        dict[Category, Annotated[int, Meta(ge=0, le=1000)]], Meta(max_length=MAX_CATEGORIES)
    ] = msgspec.field(default_factory=dict)
    rounding_step: Annotated[int, Meta(ge=1, le=1000)] = 1
    rounding_mode: RoundingMode = RoundingMode.DOWN
    min_minutes: Annotated[int, Meta(ge=0, le=1440)] = 0
    max_minutes_per_activity: Annotated[int, Meta(ge=1, le=1440)] = 480
    daily_cap: Annotated[int, Meta(ge=1, le=10_000_000)] | None = None
    monthly_cap: Annotated[int, Meta(ge=1, le=10_000_000)] | None = None
    key_household_bonus_percent: Percent = 0
    night_bonus_percent: Percent = 0
    night_start_hour: Hour = 22
    night_end_hour: Hour = 6
    holiday_bonus_percent: Percent = 0
    holidays: Annotated[frozenset[datetime.date], Meta(max_length=MAX_HOLIDAYS)] = frozenset()
    expiry_days: Annotated[int, Meta(ge=1, le=36_500)] | None = 365
    donations: DonationRule = DonationRule.POOL

    def problems(self) -> tuple[Cause, ...]:
        """What is wrong with this policy, each naming its field; empty when it may be stored
        and applied."""
        found = bounds_problems(self)
        if self.max_minutes_per_activity < self.min_minutes:
            below = Cause("not_below", {"other": "min_minutes"}, field="max_minutes_per_activity")
            found.append(below)
        if self.night_bonus_percent and self.night_start_hour == self.night_end_hour:
            found.append(
                Cause("must_differ", {"other": "night_end_hour"}, field="night_start_hour")
            )
        return tuple(found)


class Activity(msgspec.Struct, frozen=True, kw_only=True):
    """Verified service by one member. `started_at` is the community's local wall-clock time."""

    minutes: int
    category: str
    started_at: datetime.datetime
    key_household: bool = False


class Step(msgspec.Struct, frozen=True, kw_only=True):
    """One line of the breakdown. `points` is the running total, rounded down for display."""

    code: str
    detail: str
    points: int
    change: str


class Accrual(msgspec.Struct, frozen=True, kw_only=True):
    points: int
    minutes_counted: int
    steps: tuple[Step, ...]


class InvalidActivity(InvalidRequest):
    """The activity or the member's earnings so far cannot be accrued (a caller error)."""

    code = "invalid_activity"


def compute_accrual(
    policy: AccrualPolicy,
    activity: Activity,
    *,
    earned_today: int = 0,
    earned_this_month: int = 0,
) -> Accrual:
    """Points for one activity, with a step for every rule that changed the value.

    Order:
    1. fewer minutes than `min_minutes`: 0 points, step "below_minimum"; the minutes are still
       counted as service hours (`minutes_counted` = all of them), only points are withheld;
    2. minutes beyond `max_minutes_per_activity` are dropped ("minutes_capped");
    3. base = minutes × points_per_hour / 60 ("base", always present from here on);
    4. category multiplier ("category"; unlisted categories are 100%);
    5. bonuses, each a percentage of the value after step 4 and added together:
       "key_household", "night" (only for the share of counted minutes inside
       [night_start_hour, night_end_hour), which may span midnight and several nights),
       "holiday" (the activity starts on a date in `holidays`);
    6. rounding to a multiple of `rounding_step` ("rounding");
    7. caps on what the member may still earn today ("daily_cap") and this month ("monthly_cap").
    Steps after "base" appear only when they change the value. The caller supplies the member's
    earnings for the community's local day and month. The policy is assumed to be valid (see
    `AccrualPolicy.problems`); it is not checked here.
    """
    _check(activity, earned_today=earned_today, earned_this_month=earned_this_month)
    if activity.minutes < policy.min_minutes:
        below = Step(
            code="below_minimum",
            detail=f"服务{activity.minutes}分钟，不足{policy.min_minutes}分钟，"
            "不计积分（服务时长照常累计）",
            points=0,
            change="+0",
        )
        return Accrual(points=0, minutes_counted=activity.minutes, steps=(below,))

    minutes = min(activity.minutes, policy.max_minutes_per_activity)
    bonus_percent = policy.night_bonus_percent
    night = _night_micros(policy, activity.started_at, minutes) if bonus_percent else 0
    # The value is the exact fraction value / scale: one scale for the whole computation, so
    # every step below is integer arithmetic (no rounding until the "rounding" step).
    night_part, night_whole = _lowest_terms(night, _MICROS_PER_MINUTE * minutes or 1)
    scale = _SCALE * night_whole
    steps: list[Step] = []

    def record(code: str, detail: str, value: int, change: str) -> None:
        steps.append(Step(code=code, detail=detail, points=value // scale, change=change))

    if dropped := activity.minutes - minutes:
        limit = f"单次最多计{policy.max_minutes_per_activity}分钟"
        record("minutes_capped", f"{limit}，超出的{dropped}分钟不计", 0, f"-{dropped}分钟")
    value = minutes * policy.points_per_hour * (scale // 60)
    shown = _number(value, scale)
    base = f"基础积分：{minutes}分钟 × {policy.points_per_hour}分/小时 = {shown}"
    record("base", base, value, f"+{shown}" if value >= 0 else shown)

    percent = policy.category_multipliers.get(activity.category, 100)
    if percent != 100 and value:
        value = value * percent // 100  # exact: the scale holds the factor 100
        factor = _number(percent, 100)
        record("category", f"服务类别「{activity.category}」：× {factor}", value, f"×{factor}")

    before_bonuses = value
    bonuses = (
        ("key_household", policy.key_household_bonus_percent, activity.key_household),
        ("night", bonus_percent, night),
        ("holiday", policy.holiday_bonus_percent, activity.started_at.date() in policy.holidays),
    )
    for code, percent, applies in bonuses:
        if not (percent and applies and before_bonuses):
            continue
        bonus = before_bonuses * percent // 100  # exact, as the category's
        if code == "night":  # only the share of the minutes at night: exact too (the scale)
            bonus = bonus * night_part // night_whole
            reason = f"夜间服务{_number(night, _MICROS_PER_MINUTE)}/{minutes}分钟"
        else:
            reason = _BONUS_REASONS[code]
        if bonus:
            value += bonus
            change = _signed(bonus, scale)
            record(code, f"{reason}，加成{percent}%：{change}", value, change)

    rounded = _round(value, policy.rounding_step * scale, policy.rounding_mode)
    if rounded != value:
        label = f"按{policy.rounding_step}分{_ROUNDING_LABELS[policy.rounding_mode]}取整"
        change = _signed(rounded - value, scale)
        record("rounding", f"{label}：{_number(rounded, scale)}", rounded, change)
        value = rounded

    caps = (
        ("daily_cap", "今日", policy.daily_cap, earned_today),
        ("monthly_cap", "本月", policy.monthly_cap, earned_this_month),
    )
    for code, period, cap, earned in caps:
        if cap is not None and value > (room := max(0, cap - earned)) * scale:
            change = _signed(room * scale - value, scale)
            value = room * scale
            record(code, f"{period}上限{cap}分，已得{earned}分，本次最多{room}分", value, change)

    points = value // scale if value >= 0 else -(-value // scale)  # toward zero, as int() is
    return Accrual(points=points, minutes_counted=minutes, steps=tuple(steps))


_SCALE = 60 * 100 * 100
"""The scale of a value without a night bonus: per hour (60), a category's percent (100) and a
bonus's percent (100) divide it exactly."""
_MICROS_PER_MINUTE = 60_000_000
_BONUS_REASONS = {"key_household": "重点家庭服务", "holiday": "节假日服务"}


def _lowest_terms(part: int, whole: int) -> tuple[int, int]:
    common = math.gcd(part, whole)
    return part // common, whole // common


def star_level(
    total_minutes: int, thresholds_hours: tuple[int, ...] = STAR_THRESHOLDS_HOURS
) -> int:
    """Volunteer star level (志愿者星级): how many hour thresholds the member has reached."""
    return sum(1 for hours in thresholds_hours if total_minutes >= hours * 60)


def hours_display(minutes: int) -> str:
    """Minutes as hours with one decimal, rounded half up: 90 -> "1.5", 100 -> "1.7"."""
    tenths = (abs(minutes) + 3) // 6
    sign = "-" if minutes < 0 and tenths else ""
    return f"{sign}{tenths // 10}.{tenths % 10}"


def _check(activity: Activity, *, earned_today: int, earned_this_month: int) -> None:
    minutes = activity.minutes
    if isinstance(minutes, bool) or not isinstance(minutes, int):
        raise InvalidActivity(Cause("integer", field="minutes"))
    if not 0 <= minutes <= MAX_ACTIVITY_MINUTES:
        raise InvalidActivity(
            Cause("range", {"low": 0, "high": MAX_ACTIVITY_MINUTES}, field="minutes")
        )
    for name, earned in (("earned_today", earned_today), ("earned_this_month", earned_this_month)):
        if earned < 0:
            raise InvalidActivity(Cause("not_negative", field=name))


def _night_micros(policy: AccrualPolicy, started_at: datetime.datetime, minutes: int) -> int:
    """How many microseconds of the minutes from `started_at` (wall clock) fall inside the
    nightly window."""
    start_hour, end_hour = policy.night_start_hour, policy.night_end_hour
    if start_hour == end_hour:
        return 0
    start = started_at.replace(tzinfo=None)
    end = start + datetime.timedelta(minutes=minutes)
    overlap = datetime.timedelta()
    day = start.date() - datetime.timedelta(days=1)  # the window may have opened the evening before
    while day <= end.date():
        midnight = datetime.datetime.combine(day, datetime.time())
        opens = midnight + datetime.timedelta(hours=start_hour)
        closes = midnight + datetime.timedelta(
            days=1 if end_hour < start_hour else 0, hours=end_hour
        )
        overlap += max(datetime.timedelta(), min(end, closes) - max(start, opens))
        day += datetime.timedelta(days=1)
    return overlap // datetime.timedelta(microseconds=1)


def _round(value: int, step: int, mode: RoundingMode) -> int:
    """``value`` to a multiple of ``step`` (both on one scale)."""
    if mode is RoundingMode.UP:
        return -(-value // step) * step
    if mode is RoundingMode.HALF_UP:
        return (2 * value + step) // (2 * step) * step
    return value // step * step


def _number(value: int, scale: int) -> str:
    """The exact value ``value / scale`` for members: whole numbers as is, others to at most two
    decimals (rounded half up)."""
    whole, rest = divmod(value, scale)
    if not rest:
        return str(whole)
    hundredths = (200 * abs(value) + scale) // (2 * scale)
    text = f"{hundredths // 100}.{hundredths % 100:02d}".rstrip("0").rstrip(".")
    return f"-{text}" if value < 0 else text


def _signed(delta: int, scale: int) -> str:
    return _number(delta, scale) if delta < 0 else f"+{_number(delta, scale)}"
