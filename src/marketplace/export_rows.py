"""The rows of each export kind (:mod:`marketplace.exports`): one streaming query each.

Every query runs with ``yield_per`` (a server-side cursor on PostgreSQL, SQLite's own cursor) and
yields one row at a time; the ledger's side comes from :mod:`points.reports`, joined here to the
marketplace's names and orgs. Codes (a state, a role) are yielded as they are; the caller says
them in words. The national kinds (``volunteers``, ``records``) keep only members whose consent
to the transfer is in force (:func:`marketplace.consents.consenting`) and count the others.
"""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Iterator, Sequence
from typing import Any, NamedTuple

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from marketplace.consents import NATIONAL_REGISTRY, consenting
from marketplace.lifecycle import Role
from marketplace.model import Org, OrgKind
from marketplace.periods import Period, day_of
from marketplace.privacy import mask_address
from marketplace.schema import claims, consents, members, orgs, roles, wishes
from marketplace.stats import _days, _three_rates
from points import reports

BATCH = 1000
"""Rows fetched from the database at a time."""

Row = Sequence[object]


class Scope(NamedTuple):
    """What one export covers: the area, its communities and the period."""

    area: Org
    period: Period
    name: str  # the period as named (``2026-Q3``)

    @property
    def communities(self) -> sa.Select[tuple[str]]:
        return sa.select(orgs.c.id).where(
            orgs.c.kind == OrgKind.COMMUNITY.value,
            orgs.c.path.startswith(self.area.path, autoescape=True),
        )

    @property
    def days(self) -> tuple[dt.date, dt.date]:
        """The period's first and past-the-last China-time days (``served_on``'s kind)."""
        return day_of(self.period.since), day_of(self.period.until)


def _stream(conn: Connection, query: sa.Select[Any]) -> Iterator[Any]:
    yield from conn.execute(query.execution_options(yield_per=BATCH))


_home = orgs.alias("home")
_home_community = orgs.alias("home_community")
_unit = orgs.alias("unit")
_place = orgs.alias("place")


def roster(conn: Connection, scope: Scope) -> Iterator[Row]:
    inside = sa.and_(
        _place.c.id == roles.c.org_id, _place.c.path.startswith(scope.area.path, autoescape=True)
    )
    query = (
        sa.select(
            members.c.id,
            members.c.name,
            members.c.phone,
            _home_community.c.name,
            _home.c.name,
            _unit.c.name,
            roles.c.role,
            members.c.skills,
            members.c.public_profile,
            members.c.created_at,
        )
        .select_from(
            members.join(roles, roles.c.member_id == members.c.id)
            .join(_place, inside)
            .outerjoin(_home, _home.c.id == members.c.home_org_id)
            .outerjoin(_home_community, _home_community.c.id == _home.c.community_id)
            .outerjoin(_unit, _unit.c.id == members.c.home_unit_id)
        )
        .order_by(members.c.id, roles.c.role)
    )
    for _, grants in itertools.groupby(_stream(conn, query), key=lambda r: r[0]):
        first, *rest = grants
        held = tuple(dict.fromkeys([first[6], *(r[6] for r in rest)]))
        skills = tuple(sorted(first[7] or ()))
        yield (*first[:6], held, skills, first[8], first[9])


def hours(conn: Connection, scope: Scope) -> Iterator[Row]:
    grouped = reports.hours_by_member(scope.communities, *scope.days).subquery()
    community = orgs.alias("community")
    query = (
        sa.select(
            community.c.name, grouped.c.member_id, members.c.name, grouped.c.records,
            grouped.c.minutes,
        )
        .select_from(
            grouped.join(community, community.c.id == grouped.c.community_id).outerjoin(
                members, members.c.id == grouped.c.member_id
            )
        )
        .order_by(community.c.path, grouped.c.member_id)
    )  # fmt: skip
    for place, member_id, name, count, total in _stream(conn, query):
        yield place, member_id, name, int(count), int(total), round(int(total) / 60, 1)


def member_points(conn: Connection, scope: Scope) -> Iterator[Row]:
    since, until = scope.period.since, scope.period.until
    moved = reports.points_by_member(scope.communities, since, until).subquery()
    community = orgs.alias("community")
    query = (
        sa.select(
            community.c.name,
            moved.c.member_id,
            members.c.name,
            *(moved.c[name] for name in reports.POINT_COLUMNS),
        )
        .select_from(
            moved.join(community, community.c.id == moved.c.community_id).outerjoin(
                members, members.c.id == moved.c.member_id
            )
        )
        .order_by(community.c.path, moved.c.member_id)
    )
    for row in _stream(conn, query):
        yield (*row[:3], *(int(amount or 0) for amount in row[3:]))


def wish_rows(conn: Connection, scope: Scope) -> Iterator[Row]:
    w, community = wishes.c, orgs.alias("community")
    query = (
        sa.select(
            w.id,
            community.c.name,
            w.kind,
            w.category,
            w.title,
            w.address,
            w.state,
            w.urgency,
            w.capacity,
            w.places_taken,
            w.level,
            w.created_at,
            w.published_at,
            w.first_claimed_at,
            w.served_at,
            w.closed_at,
            w.rating,
            w.rating_comment,
        )
        .select_from(wishes.join(community, community.c.id == w.community_id))
        .where(w.community_id.in_(scope.communities), scope.period.holds(w.created_at))
        .order_by(w.created_at, w.id)
    )
    for row in _stream(conn, query):
        yield (*row[:5], mask_address(row[5]), row[6], str(row[7]), *row[8:10], str(row[10]),
               *row[11:])  # fmt: skip


def unit_rates(conn: Connection, scope: Scope) -> Iterator[Row]:
    for r in _three_rates(conn, scope.area, scope.period):
        parts = (r.response, r.resolution, r.satisfaction)
        yield (r.name, r.kind, *itertools.chain.from_iterable(
            (p.percent, p.numerator, p.denominator) for p in parts
        ))  # fmt: skip


def daily(conn: Connection, scope: Scope) -> Iterator[Row]:
    for day in _days(conn, scope.area, scope.period):
        yield day.day, day.posted, day.completed, round(day.volunteer_minutes / 60, 1)


_consenting = consenting(NATIONAL_REGISTRY)


def _served(scope: Scope) -> sa.Select[Any]:
    """The members with service records in the area and period."""
    return reports.members_served(scope.communities, *scope.days)


def withheld_members(conn: Connection, scope: Scope) -> int:
    served = _served(scope).subquery()
    count = conn.scalar(
        sa.select(sa.func.count()).where(served.c.member_id.not_in(_consenting))
    )  # fmt: skip
    return int(count or 0)


def volunteers(conn: Connection, scope: Scope) -> Iterator[Row]:
    party = (
        sa.select(roles.c.member_id)
        .where(roles.c.role == Role.PARTY_MEMBER.value)
        .where(roles.c.member_id == members.c.id)
        .exists()
    )
    lifetime = reports.lifetime_minutes(scope.communities).subquery()
    given = (
        sa.select(sa.func.max(consents.c.recorded_at))
        .where(consents.c.member_id == members.c.id, consents.c.purpose == NATIONAL_REGISTRY)
        .scalar_subquery()
    )
    query = (
        sa.select(
            members.c.id,
            members.c.name,
            members.c.phone,
            _home_community.c.name,
            party,
            members.c.skills,
            members.c.created_at,
            lifetime.c.minutes,
            given,
        )
        .select_from(
            members.join(lifetime, lifetime.c.member_id == members.c.id)
            .outerjoin(_home, _home.c.id == members.c.home_org_id)
            .outerjoin(_home_community, _home_community.c.id == _home.c.community_id)
        )
        .where(members.c.id.in_(_served(scope)), members.c.id.in_(_consenting))
        .order_by(members.c.id)
    )
    for mid, name, phone, place, is_party, skills, joined, minutes, agreed in _stream(conn, query):
        yield ("", mid, name, None, None, None, None, phone, place,
               "中共党员" if is_party else None, tuple(sorted(skills or ())), joined,
               round(int(minutes or 0) / 60, 1), agreed)  # fmt: skip


def records(conn: Connection, scope: Scope) -> Iterator[Row]:
    r = reports.service_records_between(scope.communities, *scope.days).subquery()
    community, recorder = orgs.alias("community"), members.alias("recorder")
    volunteer = members.alias("volunteer")
    claim = sa.and_(
        claims.c.community_id == r.c.community_id,
        r.c.reference.startswith("claim:"),
        claims.c.id == sa.func.substr(r.c.reference, 7),
    )
    wish = sa.and_(wishes.c.community_id == claims.c.community_id, wishes.c.id == claims.c.wish_id)
    query = (
        sa.select(
            r.c.id,
            r.c.member_id,
            volunteer.c.name,
            sa.func.coalesce(wishes.c.title, r.c.memo),
            r.c.served_on,
            community.c.name,
            r.c.category,
            r.c.minutes,
            wishes.c.rating,
            recorder.c.name,
            r.c.created_at,
            r.c.reference,
            r.c.memo,
        )
        .select_from(
            r.join(community, community.c.id == r.c.community_id)
            .join(volunteer, volunteer.c.id == r.c.member_id)
            .outerjoin(claims, claim)
            .outerjoin(wishes, wish)
            .outerjoin(recorder, recorder.c.id == r.c.actor)
        )
        .where(r.c.member_id.in_(_consenting))
        .order_by(r.c.served_on, r.c.id)
    )
    for (rid, mid, name, activity, served_on, place, category, minutes, rating, by, at,
         reference, memo) in _stream(conn, query):  # fmt: skip
        correction = reference.startswith("fix:")
        yield ("", rid, "", mid, name, activity, served_on, place, category,
               round(minutes / 60, 1), minutes, rating, place, by or "系统", at,
               f"更正：{memo}" if correction else None)  # fmt: skip
