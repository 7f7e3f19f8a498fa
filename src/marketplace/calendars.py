"""The official working-day calendar as stored (工作日历): the years an admin loaded.

The ``chinesecalendar`` package knows the State Council's holiday notices up to the year it was
released for (:data:`marketplace.workdays.PACKAGE_YEARS`); a year after that is refused until an
admin loads its official days from the year's notice (国务院办公厅关于某年部分节假日安排的通知):
the dates that differ from the plain week, each a 休 (a weekday off) or a 班 (a weekend day worked,
调休上班), as a small table (``linli calendar load FILE``, the calendar page, or the API). A loaded
year replaces the package's for that year (a correction), and may be loaded again.

The file is plain text, one day a line: ``2027-10-01,休,国庆节`` or ``2027-09-26,班,国庆节调休``;
blank lines and lines starting with ``#`` are skipped. All days name one year.
"""

from __future__ import annotations

import datetime as dt

import msgspec
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from marketplace import lifecycle
from marketplace.errors import InvalidInput
from marketplace.lifecycle import Act, Role
from marketplace.model import OrgKind
from marketplace.schema import calendar_days, calendar_years, orgs, roles
from marketplace.standing import SYSTEM_ACTOR
from marketplace.workdays import PACKAGE_YEARS, Calendar, Year
from points import Cause

KINDS = {"休": False, "rest": False, "班": True, "work": True}
"""How a line names its day: a day off (休) or a working day (班)."""
MAX_LINES = 80


class Day(msgspec.Struct, frozen=True, kw_only=True):
    day: dt.date
    workday: bool  # 班 (a weekend day worked) or 休 (a day off)
    name: str = ""  # 元旦, 春节调休, …


class LoadedYear(msgspec.Struct, frozen=True, kw_only=True):
    year: int
    source: str
    days: tuple[Day, ...]
    loaded_by: str
    loaded_at: dt.datetime


class Coverage(msgspec.Struct, frozen=True, kw_only=True):
    """Which years deadlines can be counted in: the package's, and the loaded ones."""

    package_from: int  # the first year the calendar package covers
    package_until: int  # its last year
    loaded: tuple[int, ...]


def parse_days(text: str) -> tuple[Day, ...]:
    """The days of a calendar file (see the module doc); InvalidInput naming the line at fault."""
    found: dict[dt.date, Day] = {}
    lines = [(n, line.strip()) for n, line in enumerate(text.splitlines(), 1)]
    lines = [(n, line) for n, line in lines if line and not line.startswith("#")]
    if not lines:
        raise InvalidInput("days", Cause("empty"))
    if len(lines) > MAX_LINES:
        raise InvalidInput("days", Cause("too_many", {"high": MAX_LINES}))
    for n, line in lines:
        parts = [p.strip() for p in line.replace("，", ",").split(",")]
        if len(parts) not in (2, 3) or parts[1] not in KINDS:
            raise InvalidInput(f"line {n}", Cause("calendar_line"))
        try:
            day = dt.date.fromisoformat(parts[0])
        except ValueError:
            raise InvalidInput(f"line {n}", Cause("calendar_line")) from None
        name = parts[2] if len(parts) == 3 else ""
        if len(name) > 50:
            raise InvalidInput(f"line {n}", Cause("too_long", {"high": 50}))
        found[day] = Day(day=day, workday=KINDS[parts[1]], name=name)
    if len({d.year for d in found}) != 1:
        raise InvalidInput("days", Cause("calendar_one_year"))
    return tuple(sorted(found.values(), key=lambda d: d.day))


def load_year(
    conn: Connection, actor: str, days: tuple[Day, ...], *, source: str, now: dt.datetime
) -> LoadedYear:
    """Store one year's official days (replacing what was loaded for it): an admin of a root
    district, or the system (the CLI)."""
    lifecycle.require(Act.LOAD_CALENDAR, _root_roles(conn, actor), where="calendar")
    if not days or len({d.day.year for d in days}) != 1:
        raise InvalidInput("days", Cause("calendar_one_year"))
    if not source.strip():
        raise InvalidInput("source", Cause("empty"))
    if len(source) > 200:
        raise InvalidInput("source", Cause("too_long", {"high": 200}))
    year = days[0].day.year
    conn.execute(calendar_days.delete().where(calendar_days.c.year == year))
    conn.execute(calendar_years.delete().where(calendar_years.c.year == year))
    conn.execute(
        calendar_days.insert(),
        [
            {"year": year, "day": d.day.isoformat(), "workday": d.workday, "name": d.name}
            for d in days
        ],
    )
    conn.execute(
        calendar_years.insert().values(year=year, source=source, loaded_by=actor, loaded_at=now)
    )
    return LoadedYear(year=year, source=source, days=days, loaded_by=actor, loaded_at=now)


def calendar(conn: Connection) -> Calendar:
    """The calendar deadlines count in: the package's years and the loaded ones (one
    statement; a handful of rows a year)."""
    rows = conn.execute(
        sa.select(calendar_days.c.year, calendar_days.c.day, calendar_days.c.workday).where(
            calendar_days.c.year.in_(sa.select(calendar_years.c.year))
        )
    ).all()
    rest: dict[int, set[dt.date]] = {}
    work: dict[int, set[dt.date]] = {}
    for year, day, workday in rows:
        (work if workday else rest).setdefault(int(year), set()).add(dt.date.fromisoformat(day))
    years = set(rest) | set(work)
    return Calendar(
        loaded={
            y: Year(year=y, rest=frozenset(rest.get(y, ())), work=frozenset(work.get(y, ())))
            for y in years
        }
    )


def coverage(conn: Connection) -> Coverage:
    years = conn.scalars(sa.select(calendar_years.c.year).order_by(calendar_years.c.year))
    return Coverage(
        package_from=PACKAGE_YEARS.start,
        package_until=PACKAGE_YEARS.stop - 1,
        loaded=tuple(int(y) for y in years),
    )


def loaded_year(conn: Connection, year: int) -> LoadedYear | None:
    head = conn.execute(sa.select(calendar_years).where(calendar_years.c.year == year)).first()
    if head is None:
        return None
    rows = conn.execute(
        sa.select(calendar_days).where(calendar_days.c.year == year).order_by(calendar_days.c.day)
    ).all()
    days = tuple(
        Day(day=dt.date.fromisoformat(r.day), workday=bool(r.workday), name=r.name) for r in rows
    )
    return LoadedYear(
        year=year, source=head.source, days=days, loaded_by=head.loaded_by, loaded_at=head.loaded_at
    )


def _root_roles(conn: Connection, actor: str) -> frozenset[Role]:
    """The roles the calendar asks about: admin of a root district (the calendar is the whole
    deployment's), or the system."""
    if actor == SYSTEM_ACTOR:
        return frozenset({Role.SYSTEM})
    admin = conn.scalar(
        sa.select(sa.literal(1))
        .select_from(roles.join(orgs, orgs.c.id == roles.c.org_id))
        .where(
            roles.c.member_id == actor,
            roles.c.role == Role.ADMIN.value,
            orgs.c.parent_id.is_(None),
            orgs.c.kind == OrgKind.DISTRICT.value,
        )
        .limit(1)
    )
    return frozenset({Role.ADMIN}) if admin else frozenset()
