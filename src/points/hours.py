"""The hours record (志愿服务时长): verified minutes served, kept apart from points.

Hours are a record, not a currency: never spent, never expired, never traded. Each record is
written once under a unique reference (e.g. ``claim:<id>``); a mistake is corrected by a further
record with signed minutes and a reason. Totals give the star level (志愿者星级).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import msgspec
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from points.causes import Cause
from points.errors import IdempotencyMismatch, InvalidRequest, NotFound
from points.model import Page, check_id, check_limit, check_text, new_id, utcnow
from points.policy import STAR_THRESHOLDS_HOURS, hours_display, star_level
from points.schema import service_records
from points.sqltypes import insert_ignoring_conflicts, to_struct

MAX_RECORD_MINUTES = 24 * 60
_FIX = "fix:"  # the reference prefix of corrections


class ServiceRecord(msgspec.Struct, frozen=True, kw_only=True):
    community_id: str
    id: str
    member_id: str
    category: str
    minutes: int
    served_on: dt.date
    reference: str
    actor: str
    memo: str
    created_at: dt.datetime


class HoursSummary(msgspec.Struct, frozen=True, kw_only=True):
    member_id: str
    minutes: int
    hours: str  # minutes / 60 to one decimal, for display
    star_level: int
    by_category: dict[str, int]
    by_community: dict[str, int] = {}  # filled when counted everywhere (志愿记录 per person)


def record_service(
    conn: Connection,
    *,
    community_id: str,
    member_id: str,
    category: str,
    minutes: int,
    served_on: dt.date,
    reference: str,
    actor: str,
    memo: str = "",
    now: dt.datetime | None = None,
) -> ServiceRecord:
    """Record verified minutes served; the same reference twice returns the first record."""
    check_id("community_id", community_id)
    check_id("member_id", member_id)
    check_text("category", category, 32)
    check_text("reference", reference, 128)
    check_text("memo", memo, 500)
    if isinstance(minutes, bool) or not isinstance(minutes, int):
        raise InvalidRequest(Cause("integer", field="minutes"))
    if not 1 <= minutes <= MAX_RECORD_MINUTES:
        raise InvalidRequest(
            Cause("range", {"low": 1, "high": MAX_RECORD_MINUTES}, field="minutes")
        )
    if not category.strip():
        raise InvalidRequest(Cause("empty", field="category"))
    if reference.startswith(_FIX):
        raise InvalidRequest(Cause("reserved_reference", {"prefix": _FIX}, field="reference"))
    return _write(
        conn, community_id, member_id, category, minutes, served_on, reference, actor, memo, now
    )


def correct_service(
    conn: Connection,
    *,
    community_id: str,
    reference: str,
    minutes: int,
    reason: str,
    actor: str,
    now: dt.datetime | None = None,
) -> ServiceRecord:
    """Correct the record under ``reference`` by signed ``minutes`` (更正), with a reason."""
    if isinstance(minutes, bool) or not isinstance(minutes, int) or minutes == 0:
        raise InvalidRequest(Cause("non_zero", field="minutes"))
    if not reason.strip():
        raise InvalidRequest(Cause("empty", field="reason"))
    check_text("reason", reason, 500)
    original = _by_reference(conn, community_id, reference)
    if original is None:
        raise NotFound("service record", reference)
    if original.reference.startswith(_FIX):
        raise InvalidRequest(Cause("correct_original"))
    if conn.dialect.name != "sqlite":  # one correction of a record at a time (count and total)
        conn.execute(
            sa.select(service_records.c.id)
            .where(service_records.c.community_id == community_id)
            .where(service_records.c.id == original.id)
            .with_for_update()
        )
    count = conn.scalar(
        sa.select(sa.func.count()).where(
            service_records.c.community_id == community_id,
            service_records.c.reference.like(f"fix:{original.id}:%"),
        )
    )
    total = _total(conn, community_id, original.id)
    if total + minutes < 0:
        raise InvalidRequest(Cause("below_zero", {"total": total}, field="minutes"))
    return _write(
        conn,
        community_id,
        original.member_id,
        original.category,
        minutes,
        original.served_on,
        f"fix:{original.id}:{count}",
        actor,
        reason,
        now,
    )


def hours_summary(
    conn: Connection,
    member_id: str,
    *,
    community_id: str | None = None,
    thresholds_hours: tuple[int, ...] = STAR_THRESHOLDS_HOURS,
) -> HoursSummary:
    """A member's verified minutes (in one community, or everywhere: then ``by_community`` too)
    and star level. The star level is the person's, from their minutes everywhere: hours are a
    record of the person, not of one community (志愿者星级, 民发〔2015〕149号)."""
    rows = conn.execute(
        sa.select(
            service_records.c.community_id,
            service_records.c.category,
            sa.func.sum(service_records.c.minutes),
        )
        .where(service_records.c.member_id == member_id)
        .group_by(service_records.c.community_id, service_records.c.category)
    ).all()
    by_category: dict[str, int] = {}
    by_community: dict[str, int] = {}
    everywhere = 0
    for community, category, minutes in rows:
        everywhere += int(minutes or 0)
        if community_id is not None and community != community_id:
            continue
        if minutes:
            by_category[category] = by_category.get(category, 0) + int(minutes)
        by_community[community] = by_community.get(community, 0) + int(minutes or 0)
    total = sum(by_category.values())
    return HoursSummary(
        member_id=member_id,
        minutes=total,
        hours=hours_display(total),
        star_level=star_level(everywhere, thresholds_hours),
        by_category=by_category,
        by_community={c: m for c, m in by_community.items() if m} if community_id is None else {},
    )


def minutes_everywhere(conn: Connection, member_ids: Sequence[str]) -> dict[str, int]:
    """Each member's verified minutes in every community together (their star level's base);
    a member with none is absent."""
    if not member_ids:
        return {}
    total = sa.func.sum(service_records.c.minutes)
    rows = conn.execute(
        sa.select(service_records.c.member_id, total)
        .where(service_records.c.member_id.in_(sorted(set(member_ids))))
        .group_by(service_records.c.member_id)
    )
    return {member_id: int(minutes) for member_id, minutes in rows.all() if minutes}


def records_between(
    conn: Connection,
    community_id: str,
    member_id: str,
    *,
    since: dt.date | None = None,
    until: dt.date | None = None,
) -> tuple[ServiceRecord, ...]:
    """The member's records (corrections included) in one community served from ``since`` to
    ``until`` (both included; None: no bound), oldest served first: what a certificate of the
    period covers (志愿服务记录证明)."""
    query = sa.select(service_records).where(
        service_records.c.community_id == community_id,
        service_records.c.member_id == member_id,
    )
    if since is not None:
        query = query.where(service_records.c.served_on >= since.isoformat())
    if until is not None:
        query = query.where(service_records.c.served_on <= until.isoformat())
    rows = conn.execute(query.order_by(service_records.c.served_on, service_records.c.id))
    return tuple(to_struct(r, ServiceRecord) for r in rows.all())


def top_hours(
    conn: Connection,
    community_id: str,
    *,
    limit: int = 10,
    thresholds_hours: tuple[int, ...] = STAR_THRESHOLDS_HOURS,
) -> tuple[HoursSummary, ...]:
    """The members with the most verified minutes in the community (光荣榜), most first (ties by
    member id); ``by_category`` is left empty."""
    check_limit(limit)
    total = sa.func.sum(service_records.c.minutes)
    rows = conn.execute(
        sa.select(service_records.c.member_id, total)
        .where(service_records.c.community_id == community_id)
        .group_by(service_records.c.member_id)
        .having(total > 0)
        .order_by(total.desc(), service_records.c.member_id)
        .limit(limit)
    )
    return tuple(
        HoursSummary(
            member_id=member_id,
            minutes=int(minutes),
            hours=hours_display(int(minutes)),
            star_level=star_level(int(minutes), thresholds_hours),
            by_category={},
        )
        for member_id, minutes in rows.all()
    )


def hours_records(
    conn: Connection,
    member_id: str,
    *,
    community_id: str | None = None,
    cursor: str | None = None,
    limit: int = 50,
) -> Page:
    """A member's hours records (and corrections), newest first."""
    check_limit(limit)
    query = sa.select(service_records).where(service_records.c.member_id == member_id)
    if community_id is not None:
        query = query.where(service_records.c.community_id == community_id)
    if cursor is not None:
        query = query.where(service_records.c.id < check_id("cursor", cursor))
    rows = (conn.execute(query.order_by(service_records.c.id.desc()).limit(limit + 1))).all()
    items = tuple(to_struct(r, ServiceRecord) for r in rows[:limit])
    return Page(items=items, next_cursor=items[-1].id if len(rows) > limit else None)


def _write(
    conn: Connection,
    community_id: str,
    member_id: str,
    category: str,
    minutes: int,
    served_on: dt.date,
    reference: str,
    actor: str,
    memo: str,
    now: dt.datetime | None,
) -> ServiceRecord:
    existing = _by_reference(conn, community_id, reference)
    if existing is None:
        conn.execute(
            insert_ignoring_conflicts(conn, service_records).values(
                community_id=community_id,
                id=new_id(),
                member_id=member_id,
                category=category,
                minutes=minutes,
                served_on=served_on.isoformat(),
                reference=reference,
                actor=actor,
                memo=memo,
                created_at=now or utcnow(),
            )
        )
        existing = _by_reference(conn, community_id, reference)
        assert existing is not None
        return existing
    same = (existing.member_id, existing.category, existing.minutes, existing.served_on)
    if same != (member_id, category, minutes, served_on):
        raise IdempotencyMismatch(reference, ("member_id", "category", "minutes", "served_on"))
    return existing


def _by_reference(conn: Connection, community_id: str, reference: str) -> ServiceRecord | None:
    row = (
        conn.execute(
            sa.select(service_records).where(
                service_records.c.community_id == community_id,
                service_records.c.reference == reference,
            )
        )
    ).first()
    if row is None:
        return None
    return to_struct(row, ServiceRecord)


def _total(conn: Connection, community_id: str, record_id: str) -> int:
    value = conn.scalar(
        sa.select(sa.func.coalesce(sa.func.sum(service_records.c.minutes), 0)).where(
            service_records.c.community_id == community_id,
            sa.or_(
                service_records.c.id == record_id,
                service_records.c.reference.like(f"fix:{record_id}:%"),
            ),
        )
    )
    return int(value or 0)
