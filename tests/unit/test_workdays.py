"""Working days on China's official calendar (工作日, 调休 included): pure arithmetic."""

from __future__ import annotations

import datetime as dt

import pytest

from marketplace.calendars import parse_days
from marketplace.errors import InvalidInput
from marketplace.workdays import (
    CHINA,
    PACKAGE,
    PACKAGE_YEARS,
    Calendar,
    CalendarYearMissing,
    Year,
    add_working_days,
    deadline,
)

D = dt.date


def at(day: dt.date, hour: int = 10) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(hour), CHINA).astimezone(dt.UTC)


def test_the_package_covers_2026_and_not_2027() -> None:
    assert 2026 in PACKAGE_YEARS
    assert 2004 in PACKAGE_YEARS
    assert 2027 not in PACKAGE_YEARS
    assert PACKAGE.covers(2026)
    assert not PACKAGE.covers(2027)


@pytest.mark.parametrize(
    ("day", "works"),
    [
        (D(2026, 1, 4), True),  # Sunday worked (调休 for New Year)
        (D(2026, 2, 14), True),  # Saturday worked before the Spring Festival
        (D(2026, 2, 28), True),  # Saturday worked after it
        (D(2026, 9, 20), True),  # Sunday worked before National Day
        (D(2026, 10, 10), True),  # Saturday worked after Golden Week
        (D(2026, 10, 1), False),  # National Day
        (D(2026, 10, 7), False),  # Wednesday off (调休)
        (D(2026, 2, 20), False),  # Friday off (调休)
        (D(2026, 12, 5), False),  # a plain Saturday
        (D(2026, 12, 7), True),  # a plain Monday
    ],
)
def test_official_2026_days_including_tiaoxiu(day: dt.date, works: bool) -> None:
    assert PACKAGE.is_workday(day) is works


def test_golden_week_is_skipped_and_its_saturday_counts() -> None:
    # Wednesday 30 September: 1–7 October are off, so the 1st working day after is Thursday
    # 8 October, the 3rd Saturday 10 October (worked), the 4th Monday 12 October
    start = D(2026, 9, 30)
    assert add_working_days(PACKAGE, start, 1) == D(2026, 10, 8)
    assert add_working_days(PACKAGE, start, 3) == D(2026, 10, 10)
    assert add_working_days(PACKAGE, start, 4) == D(2026, 10, 12)


def test_a_tiaoxiu_saturday_counts_as_a_working_day() -> None:
    # Friday 13 Feb 2026 → Saturday 14 Feb is worked
    assert add_working_days(PACKAGE, D(2026, 2, 13), 1) == D(2026, 2, 14)


def test_a_rest_day_start_is_not_counted_and_counting_begins_the_next_day() -> None:
    # raised on Saturday 5 Dec, Sunday 6 Dec or Friday 4 Dec: 1 working day after is Monday 7 Dec
    for start in (D(2026, 12, 4), D(2026, 12, 5), D(2026, 12, 6)):
        assert add_working_days(PACKAGE, start, 1) == D(2026, 12, 7)
    # Monday 7 Dec → the 5th working day after is Monday 14 Dec
    assert add_working_days(PACKAGE, D(2026, 12, 7), 5) == D(2026, 12, 14)


def test_a_deadline_is_the_end_of_the_last_working_day_in_china_time() -> None:
    due = deadline(PACKAGE, at(D(2026, 12, 4), 23), 1)  # Friday 23:00 China
    assert due == dt.datetime(2026, 12, 8, 0, 0, tzinfo=CHINA)  # Monday 24:00
    assert due.tzinfo is dt.UTC


def test_a_year_nobody_covers_is_refused_then_counted_once_loaded() -> None:
    with pytest.raises(CalendarYearMissing) as refused:
        add_working_days(PACKAGE, D(2026, 12, 30), 3)  # runs into January 2027
    assert refused.value.year == 2027
    assert refused.value.code == "calendar_year_missing"
    days = parse_days("# 2027 notice\n2027-01-01,休,元旦\n2027-02-20,班,春节调休\n")
    year = Year(year=2027, rest=frozenset({d.day for d in days if not d.workday}),
                work=frozenset({d.day for d in days if d.workday}))  # fmt: skip
    loaded = Calendar(loaded={2027: year})
    # Wed 30 Dec, Thu 31 Dec (1st), Fri 1 Jan off, Mon 4 Jan (2nd), Tue 5 Jan (3rd)
    assert add_working_days(loaded, D(2026, 12, 30), 3) == D(2027, 1, 5)
    assert loaded.is_workday(D(2027, 2, 20))  # a loaded 班 Saturday
    assert not loaded.is_workday(D(2027, 1, 2))  # a plain Saturday


@pytest.mark.parametrize(
    "text",
    ["", "2027-01-01", "2027-01-01,休息,元旦", "2027-13-01,休", "2027-01-01,休\n2028-01-01,休"],
)
def test_a_bad_calendar_file_is_refused(text: str) -> None:
    with pytest.raises(InvalidInput):
        parse_days(text)
