"""Statistics periods (统计期间): whole China-time days, named as staff pick them.

The statistics are kept per community and China-time day (UTC+8, no daylight saving), so a
period is ``[since, until)`` between two China midnights. Staff name one as a year (``2026``), a
quarter (``2026-Q3``), a month (``2026-11``) or the last N days, today included (``30d``: from
the midnight N−1 days before today's to the next one), or as a range ``FROM..TO`` of two days
(``2026-01-05..2026-03-31``, both included) or of two calendar
periods (``2026-01..2026-03``: the start of the first to the end of the last), at most
:data:`MAX_RANGE_DAYS` long. Pure: no I/O.
"""

from __future__ import annotations

import datetime as dt
import re

import msgspec
import sqlalchemy as sa

from marketplace.errors import InvalidInput
from marketplace.model import CHINA
from points import Cause

NAMED = re.compile(r"(20\d\d)(?:-Q([1-4])|-(\d\d))?|(\d{1,3})d")
"""A named period: ``2026``, ``2026-Q3``, ``2026-11`` or ``30d``."""
MAX_ROLLING_DAYS = 366
DAY = re.compile(r"(20\d\d)-(\d\d)-(\d\d)")
"""One day of a range: ``2026-11-05``."""
MAX_RANGE_DAYS = 3653
"""The longest range ``FROM..TO``: ten years."""


class Period(msgspec.Struct, frozen=True):
    """``[since, until)``, as an SQL condition on a column and as a Python test."""

    since: dt.datetime
    until: dt.datetime

    def holds(self, column: sa.ColumnElement[dt.datetime]) -> sa.ColumnElement[bool]:
        return sa.and_(column >= self.since, column < self.until)

    def __contains__(self, moment: dt.datetime | None) -> bool:
        return moment is not None and self.since <= moment < self.until


def midnight(day: dt.date) -> dt.datetime:
    """The China-time midnight that starts ``day``."""
    return dt.datetime.combine(day, dt.time(), CHINA)


def day_of(moment: dt.datetime) -> dt.date:
    """The China-time date of a moment."""
    return moment.astimezone(CHINA).date()


def day_start(name: str, value: object) -> dt.datetime:
    """One end of a period: an aware time that is a China midnight (InvalidInput on ``name``)."""
    if not isinstance(value, dt.datetime) or value.tzinfo is None:
        raise InvalidInput(name, Cause("needs_time_zone"))
    if midnight(day_of(value)) != value:
        raise InvalidInput(name, Cause("day_start"))
    return value


def whole_days(since: dt.datetime, until: dt.datetime) -> Period:
    """The period, once both ends are aware times, ``until`` after ``since``, and both China
    midnights (InvalidInput naming the end at fault otherwise)."""
    for name, value in (("since", since), ("until", until)):
        if not isinstance(value, dt.datetime) or value.tzinfo is None:
            raise InvalidInput(name, Cause("needs_time_zone"))
    if until <= since:
        raise InvalidInput("until", Cause("after", {"other": "since"}))
    return Period(day_start("since", since), day_start("until", until))


def named_period(text: str, *, now: dt.datetime) -> tuple[dt.datetime, dt.datetime]:
    """``[since, until)`` of a period as staff name it (see the module doc); InvalidInput on
    ``period`` for anything else (``period_order``: FROM after TO; ``period_too_long``)."""
    if ".." in text:
        first, _, last = text.partition("..")
        since, until = _calendar(first)[0], _calendar(last)[1]
        if until <= since:
            raise InvalidInput("period", Cause("period_order"))
        if (day_of(until) - day_of(since)).days > MAX_RANGE_DAYS:
            raise InvalidInput("period", Cause("period_too_long", {"days": MAX_RANGE_DAYS}))
        return since, until
    found = NAMED.fullmatch(text)
    if found is None:
        raise InvalidInput("period", Cause("period_format"))
    days = found.group(4)
    if days is not None:
        if not 1 <= int(days) <= MAX_ROLLING_DAYS:
            raise InvalidInput("period", Cause("period_format"))
        end = day_of(now) + dt.timedelta(days=1)
        return midnight(end - dt.timedelta(days=int(days))), midnight(end)
    return _calendar(text)


def _calendar(text: str) -> tuple[dt.datetime, dt.datetime]:
    """``[since, until)`` of one day (``2026-11-05``), month, quarter or year."""
    day = DAY.fullmatch(text)
    if day is not None:
        try:
            start = dt.date(*(int(part) for part in day.groups()))
        except ValueError:
            raise InvalidInput("period", Cause("period_format")) from None
        return midnight(start), midnight(start + dt.timedelta(days=1))
    found = NAMED.fullmatch(text)
    if found is None or found.group(4) is not None:
        raise InvalidInput("period", Cause("period_format"))
    year, quarter, month, _ = found.groups()
    first_month, months = 1, 12
    if quarter is not None:
        first_month, months = 3 * int(quarter) - 2, 3
    elif month is not None:
        if not 1 <= int(month) <= 12:
            raise InvalidInput("period", Cause("period_format"))
        first_month, months = int(month), 1
    after = first_month - 1 + months
    start = dt.date(int(year), first_month, 1)
    return midnight(start), midnight(dt.date(int(year) + after // 12, after % 12 + 1, 1))
