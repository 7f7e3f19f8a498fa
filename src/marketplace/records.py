"""The volunteer service record of a person (志愿服务记录), across every community they served in.

民政部令第67号 lists what a record holds: the activity (the wish served, or the event), the date,
the place (to the community or the building: the org a wish was posted at, never a flat), the
content (category and title), the minutes served (check-in to check-out: no travel), the
resident's evaluation (the wish's rating), the organiser (the community that recorded it) and the
recorder. A correction is a further record with signed minutes and its reason, listed as it was
written: nothing is edited. The star level (志愿者星级: 一星 to 五星 at 100/300/600/1,000/1,500
hours) is the person's, from the minutes of every community together.

The person sees all of their record; office of a community sees the part that community recorded.
"""

from __future__ import annotations

import datetime as dt

import msgspec
import sqlalchemy as sa
from sqlalchemy.engine import Connection

import points
from marketplace import lifecycle
from marketplace.errors import NotFound
from marketplace.lifecycle import Act
from marketplace.orgs import get_member
from marketplace.schema import claims, members, orgs, wishes
from marketplace.wallet import community_roles

CLAIM = "claim:"  # the reference of a record written when a claim was confirmed
STAR_NAMES = ("", "一星", "二星", "三星", "四星", "五星")


class Entry(msgspec.Struct, frozen=True, kw_only=True):
    """One record as the person's service record shows it."""

    id: str
    community_id: str
    organiser: str  # the community that recorded it (谁组织谁记录)
    served_on: dt.date
    activity: str  # the wish's title, or the record's memo (an event, a correction's reason)
    wish_id: str | None
    place: str  # the org the wish was posted at (a building, grid or the community): no flat
    category: str
    minutes: int  # negative in a correction that takes minutes away
    hours: str
    evaluation: int | None  # the resident's rating, 1-5
    recorder_id: str
    recorder: str  # the recorder's name ("系统" for a sweep)
    correction: bool


class CommunityHours(msgspec.Struct, frozen=True, kw_only=True):
    community_id: str
    name: str
    minutes: int
    hours: str


class ServiceRecord(msgspec.Struct, frozen=True, kw_only=True):
    """A person's record: totals everywhere, the star level, per community, a page of entries."""

    member_id: str
    name: str
    minutes: int  # every community together (or the one asked for)
    hours: str
    star_level: int
    star_name: str  # "" below one star
    next_star_hours: int | None  # the next threshold, None at five stars
    communities: tuple[CommunityHours, ...]
    entries: tuple[Entry, ...]  # newest first
    next_cursor: str | None


def star_name(level: int) -> str:
    """一星 … 五星; "" below one star."""
    return STAR_NAMES[max(0, min(level, len(STAR_NAMES) - 1))]


def service_record(
    conn: Connection,
    actor: str,
    member_id: str,
    *,
    community_id: str | None = None,
    cursor: str | None = None,
    limit: int = 50,
) -> ServiceRecord:
    """The member's service record: theirs in full; office of ``community_id`` sees that
    community's part (NotFound for anyone else)."""
    member = get_member(conn, member_id)
    if actor != member_id and (community_id is None or not _office_of(conn, actor, community_id)):
        raise NotFound("member", member_id)
    summary = points.hours_summary(conn, member_id, community_id=community_id)
    if community_id is not None:
        by_community = {community_id: summary.minutes} if summary.minutes else {}
    else:
        by_community = summary.by_community
    page = points.hours_records(
        conn, member_id, community_id=community_id, cursor=cursor, limit=limit
    )
    records: tuple[points.ServiceRecord, ...] = page.items
    names = _community_names(conn, set(by_community) | {r.community_id for r in records})
    entries = _entries(conn, records, names)
    thresholds = points.STAR_THRESHOLDS_HOURS
    next_star = next((h for h in thresholds if summary.minutes < h * 60), None)
    return ServiceRecord(
        member_id=member_id,
        name=member.name,
        minutes=summary.minutes,
        hours=summary.hours,
        star_level=summary.star_level,
        star_name=star_name(summary.star_level),
        next_star_hours=next_star if community_id is None else None,
        communities=tuple(
            CommunityHours(
                community_id=c, name=names.get(c, c), minutes=m, hours=points.hours_display(m)
            )
            for c, m in sorted(by_community.items(), key=lambda item: (-item[1], item[0]))
        ),
        entries=entries,
        next_cursor=page.next_cursor,
    )


def describe(conn: Connection, records: tuple[points.ServiceRecord, ...]) -> tuple[Entry, ...]:
    """The records as entries (activity, place, evaluation, recorder), in the order given."""
    names = _community_names(conn, {r.community_id for r in records})
    return _entries(conn, records, names)


def _office_of(conn: Connection, actor: str, community_id: str) -> bool:
    try:
        _, held = community_roles(conn, actor, community_id)
    except NotFound:
        return False
    return lifecycle.can(Act.SEE_WALLETS, held)


def _community_names(conn: Connection, ids: set[str]) -> dict[str, str]:
    if not ids:
        return {}
    rows = conn.execute(sa.select(orgs.c.id, orgs.c.name).where(orgs.c.id.in_(sorted(ids))))
    return {org_id: name for org_id, name in rows.all()}  # noqa: C416


def _entries(
    conn: Connection, records: tuple[points.ServiceRecord, ...], names: dict[str, str]
) -> tuple[Entry, ...]:
    """One statement for the wishes behind the claims, their places and the recorders' names."""
    claimed = [(r.community_id, r.reference[len(CLAIM) :]) for r in records if _of_claim(r)]
    served: dict[tuple[str, str], tuple[str, str, str, int | None]] = {}
    if claimed:
        place = orgs.alias("place")
        rows = conn.execute(
            sa.select(
                claims.c.community_id,
                claims.c.id,
                wishes.c.id,
                wishes.c.title,
                place.c.name,
                wishes.c.rating,
            )
            .select_from(
                claims.join(
                    wishes,
                    sa.and_(
                        wishes.c.community_id == claims.c.community_id,
                        wishes.c.id == claims.c.wish_id,
                    ),
                ).join(place, place.c.id == wishes.c.org_id)
            )
            .where(sa.tuple_(claims.c.community_id, claims.c.id).in_(claimed))
        )
        for community, claim_id, wish_id, title, place_name, rating in rows.all():
            served[(community, claim_id)] = (wish_id, title, place_name, rating)
    actors = {r.actor for r in records}
    recorders = dict(
        conn.execute(
            sa.select(members.c.id, members.c.name).where(members.c.id.in_(sorted(actors)))
        ).all()
    )
    entries = []
    for r in records:
        wish = served.get((r.community_id, r.reference[len(CLAIM) :])) if _of_claim(r) else None
        entries.append(
            Entry(
                id=r.id,
                community_id=r.community_id,
                organiser=names.get(r.community_id, r.community_id),
                served_on=r.served_on,
                activity=wish[1] if wish else (r.memo or r.category),
                wish_id=wish[0] if wish else None,
                place=wish[2] if wish else names.get(r.community_id, r.community_id),
                category=r.category,
                minutes=r.minutes,
                hours=points.hours_display(r.minutes),
                evaluation=wish[3] if wish else None,
                recorder_id=r.actor,
                recorder=recorders.get(r.actor) or ("系统" if r.actor == "system" else r.actor),
                correction=r.reference.startswith("fix:"),
            )
        )
    return tuple(entries)


def _of_claim(record: points.ServiceRecord) -> bool:
    return record.reference.startswith(CLAIM)
