"""Working days (工作日) on China's official calendar, 调休 included: what deadlines count in.

A day is a working day when it is a weekday that is not a public holiday (法定节假日 and the days
off around it), or a weekend day the State Council's annual notice makes a working day (调休上班,
e.g. Saturday 2026-02-14 before the Spring Festival). The days that differ from the plain week
come from the ``chinesecalendar`` package (1.11.0 covers 2004–2026; it refuses 2027, whose notice it
does not have yet) or, for a year the package does not cover, from a year an admin loaded
(:mod:`marketplace.calendars`, ``linli calendar load FILE``). A year neither covers is refused
with :class:`CalendarYearMissing`: a deadline is never guessed.

"N working days after" a moment (:func:`deadline`) follows the rule of the Civil Code art. 201 for
periods counted in days: the day it starts is not counted; counting begins the next day, and only
working days count. The deadline is the end (24:00, China time) of the Nth working day counted.
So a matter raised on a Saturday, a Friday or a Sunday of the same plain weekend gets the same
deadline: one working day after any of them is the end of the Monday. This module is pure: it
takes a :class:`Calendar` (the package's days plus the loaded years) and does no I/O.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping

import chinese_calendar  # type: ignore[import-untyped]
import msgspec

from marketplace.errors import Conflict
from marketplace.model import CHINA

PACKAGE_YEARS = range(
    min(d.year for d in chinese_calendar.holidays),
    max(d.year for d in chinese_calendar.holidays) + 1,
)
"""The years the installed ``chinesecalendar`` covers (2004–2026 in 1.11.0)."""
MAX_DAYS = 250
"""The most working days one period may count (a year's worth)."""


class CalendarYearMissing(Conflict):
    """Neither the calendar package nor a loaded year covers ``year``: an admin must load that
    year's official days first (``linli calendar load FILE`` or the calendar page)."""

    code = "calendar_year_missing"

    def __init__(self, year: int) -> None:
        super().__init__(
            f"the official working days of {year} are not known: load that year's calendar"
        )
        self.year = year


class Year(msgspec.Struct, frozen=True, kw_only=True):
    """One loaded year: its days that differ from the plain week (休: a weekday off; 班: a
    weekend day worked). Every other weekday works and every other weekend day rests."""

    year: int
    rest: frozenset[dt.date] = frozenset()  # weekdays off (holidays, 调休 days off)
    work: frozenset[dt.date] = frozenset()  # weekend days worked (调休上班)


class Calendar(msgspec.Struct, frozen=True, kw_only=True):
    """The package's years and the loaded ones (a loaded year wins over the package's)."""

    loaded: Mapping[int, Year] = msgspec.field(default_factory=dict)

    def covers(self, year: int) -> bool:
        return year in self.loaded or year in PACKAGE_YEARS

    def is_workday(self, day: dt.date) -> bool:
        """Whether ``day`` is a working day; CalendarYearMissing for a year nobody covers."""
        year = self.loaded.get(day.year)
        if year is not None:
            if day in year.work:
                return True
            return day.weekday() < 5 and day not in year.rest
        if day.year not in PACKAGE_YEARS:
            raise CalendarYearMissing(day.year)
        return bool(chinese_calendar.is_workday(day))


PACKAGE = Calendar()
"""The package's years alone (no year loaded)."""


def china_day(moment: dt.datetime) -> dt.date:
    """The date of ``moment`` in China (UTC+8)."""
    return moment.astimezone(CHINA).date()


def add_working_days(calendar: Calendar, start: dt.date, days: int) -> dt.date:
    """The ``days``-th working day after ``start`` (``start`` itself is not counted, whether it
    works or rests). ``days`` = 0 is ``start``."""
    if not 0 <= days <= MAX_DAYS:
        raise ValueError(f"days must be 0..{MAX_DAYS}")
    day, counted = start, 0
    while counted < days:
        day += dt.timedelta(days=1)
        if calendar.is_workday(day):
            counted += 1
    return day


def end_of(day: dt.date) -> dt.datetime:
    """24:00 China time at the end of ``day`` (as an aware UTC moment)."""
    return dt.datetime.combine(day + dt.timedelta(days=1), dt.time(), CHINA).astimezone(dt.UTC)


def deadline(calendar: Calendar, start: dt.datetime, days: int) -> dt.datetime:
    """The end (24:00 China time) of the ``days``-th working day after ``start``'s day."""
    return end_of(add_working_days(calendar, china_day(start), days))
