"""通知 outbox: events written in the transaction of what caused them, and the message centre.

:func:`emit` is the one call that tells someone something: one ``INSERT`` of ``mk_outbox`` rows
on the caller's connection, so a rolled-back request tells nobody and a committed one cannot
forget to. Every recorded wish or claim move passes through :func:`from_changes` (called by
``moves.record_all``), which writes the notices :func:`marketplace.notices.of_change` finds in
that same statement. Timed events (reminders before a service, a forgotten check-out, points about
to expire) are found by :func:`notify_due`, a sweep, each written once under a key.

A member's rows are their message centre (消息中心: :func:`inbox`, :func:`unread`,
:func:`mark_read`); the dispatcher (:mod:`marketplace.deliveries`) carries them further.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import msgspec
import sqlalchemy as sa
from sqlalchemy.engine import Connection

import points
from marketplace import notices
from marketplace.errors import InvalidInput
from marketplace.model import CHINA
from marketplace.notices import EVENTS, STAFF, Notice
from marketplace.schema import claims, orgs, outbox, roles, wishes
from points import Cause, new_id, sqltypes, utcnow

if TYPE_CHECKING:
    from marketplace.rollups import Change


class Message(msgspec.Struct, frozen=True, kw_only=True):
    """One line of a member's message centre."""

    community_id: str
    id: str
    type: str
    text: str
    data: dict[str, Any]
    critical: bool
    created_at: dt.datetime
    read: bool


def emit(
    conn: Connection,
    community_id: str,
    type_: str,
    data: Mapping[str, Any],
    *,
    to: Iterable[str] = (),
    key: str | None = None,
    now: dt.datetime | None = None,
) -> int:
    """Tell ``to`` (members; none: the community's systems only) that ``type_`` happened, in the
    caller's transaction: one statement. ``key``: written once per community (a second emit
    with the same key writes nothing). Returns the rows written."""
    members: list[str | None] = [*to] or [None]
    return write(
        conn,
        [Notice(community_id=community_id, type=type_, member_id=m, data=data,
                key=None if key is None else f"{key}:{m or ''}") for m in members],
        now=now or utcnow(),
    )  # fmt: skip


def write(conn: Connection, told: Sequence[Notice], *, now: dt.datetime) -> int:
    """Write notices: one statement (an escalation's, addressed to an office, reads who holds
    it first)."""
    rows = []
    for n in told:
        if n.type not in EVENTS:
            raise InvalidInput("type", Cause("notice_type"))
        members = _office(conn, n) if n.audience == STAFF else [n.member_id]
        for member in members:
            rows.append({
                "community_id": n.community_id, "id": new_id(), "type": n.type,
                "member_id": member, "key": n.key, "data": notices.safe(n.data),
                "critical": EVENTS[n.type].critical, "created_at": now, "read_at": None,
                "fanned": False,
            })  # fmt: skip
    if not rows:
        return 0
    if all(row["key"] is None for row in rows):  # nothing to conflict on: the bulk path
        sqltypes.insert_many(conn, outbox, rows)
        return len(rows)
    done = conn.execute(_insert(conn), rows).rowcount
    return len(rows) if done is None or done < 0 else int(done)


@sqltypes.per_dialect
def _insert(dialect: str) -> Any:
    return sqltypes.dialect_insert(dialect, outbox).on_conflict_do_nothing(
        index_elements=[outbox.c.community_id, outbox.c.key]
    )


def _office(conn: Connection, n: Notice) -> list[str | None]:
    """Staff and admins of the org at the notice's level above its community (0: the community,
    1: its street, 2: its district)."""
    path = conn.scalar(sa.select(orgs.c.path).where(orgs.c.id == n.community_id))
    parts = [p for p in (path or "").split("/") if p]
    if not parts:
        return []
    org = parts[max(0, len(parts) - 1 - n.level)]
    held = conn.execute(
        sa.select(roles.c.member_id)
        .where(roles.c.org_id == org, roles.c.role.in_(("staff", "admin")))
        .distinct()
        .order_by(roles.c.member_id)
    )
    return [r[0] for r in held]


def from_changes(conn: Connection, changes: Sequence[Change]) -> int:
    """The notices of recorded moves, written with them (``moves.record_all``)."""
    told = [n for c in changes for n in notices.of_change(c.move, c.wish, c.claim)]
    if not told:
        return 0
    return write(conn, told, now=changes[0].move["at"])


# ── the message centre ─────────────────────────────────────────────────────────────────────


def inbox(
    conn: Connection, member_id: str, *, limit: int = 50, before: str | None = None
) -> list[Message]:
    """A member's messages, newest first (``before``: a message id, the page's cursor)."""
    query = (
        sa.select(outbox)
        .where(outbox.c.member_id == member_id)
        .order_by(outbox.c.created_at.desc(), outbox.c.id.desc())
        .limit(max(1, min(limit, 200)))
    )
    if before is not None:
        at = sa.select(outbox.c.created_at).where(
            outbox.c.member_id == member_id, outbox.c.id == before
        )
        query = query.where(
            sa.or_(
                outbox.c.created_at < at.scalar_subquery(),
                sa.and_(outbox.c.created_at == at.scalar_subquery(), outbox.c.id < before),
            )
        )
    return [
        Message(
            community_id=r.community_id, id=r.id, type=r.type, text=notices.text(r.type, r.data),
            data=dict(r.data), critical=bool(r.critical), created_at=r.created_at,
            read=r.read_at is not None,
        )
        for r in conn.execute(query)
    ]  # fmt: skip


def unread(conn: Connection, member_id: str) -> int:
    """How many of a member's messages are unread (the bell's number)."""
    return int(
        conn.scalar(
            sa.select(sa.func.count()).where(
                outbox.c.member_id == member_id, outbox.c.read_at.is_(None)
            )
        )
        or 0
    )


def mark_read(
    conn: Connection,
    member_id: str,
    ids: Iterable[str] | None = None,
    *,
    now: dt.datetime | None = None,
) -> int:
    """Mark a member's messages read (``ids``: these; None: all). Another's ids change nothing."""
    statement = (
        outbox.update()
        .where(outbox.c.member_id == member_id, outbox.c.read_at.is_(None))
        .values(read_at=now or utcnow())
    )
    if ids is not None:
        wanted = list(ids)
        if not wanted:
            return 0
        statement = statement.where(outbox.c.id.in_(wanted))
    return int(conn.execute(statement).rowcount or 0)


# ── timed events ───────────────────────────────────────────────────────────────────────────

FORGOTTEN_HOURS = 4
"""A check-in this old without its check-out is a forgotten check-out (忘记签退)."""
EXPIRING_DAYS = 30


def notify_due(
    conn: Connection,
    *,
    now: dt.datetime | None = None,
    forgotten_hours: int = FORGOTTEN_HOURS,
    expiring_days: int = EXPIRING_DAYS,
) -> int:
    """Write the timed events now due, each once (its key): a reminder the day before a service
    and 2 hours before it, a check-out forgotten, points expiring within ``expiring_days``, and
    in a quarter's first days the last quarter's reports ready, to each community's office."""
    now = now or utcnow()
    told: list[Notice] = []
    coming = conn.execute(
        sa.select(claims.c.community_id, claims.c.id, claims.c.member_id, wishes.c.id,
                  wishes.c.title, wishes.c.window_start)
        .join(wishes, sa.and_(wishes.c.community_id == claims.c.community_id,
                              wishes.c.id == claims.c.wish_id))
        .where(claims.c.state == "active", claims.c.member_id.is_not(None),
               wishes.c.window_start > now,
               wishes.c.window_start <= now + dt.timedelta(hours=24))
    )  # fmt: skip
    for community, claim_id, member, wish_id, title, start in coming:
        soon = start - now <= dt.timedelta(hours=2)
        told.append(Notice(
            community_id=community, type="service.reminder", member_id=member,
            key=f"{'remind2h' if soon else 'remind1d'}:{claim_id}",
            data={"wish_id": wish_id, "title": title, "claim_id": claim_id,
                  "start": start.astimezone(CHINA).strftime("%m-%d %H:%M"),
                  "when": "2小时后" if soon else "明天"},
        ))  # fmt: skip
    forgotten = conn.execute(
        sa.select(claims.c.community_id, claims.c.id, claims.c.member_id, wishes.c.id,
                  wishes.c.title)
        .join(wishes, sa.and_(wishes.c.community_id == claims.c.community_id,
                              wishes.c.id == claims.c.wish_id))
        .where(claims.c.state == "checked_in", claims.c.member_id.is_not(None),
               claims.c.checked_in_at <= now - dt.timedelta(hours=forgotten_hours))
    )  # fmt: skip
    for community, claim_id, member, wish_id, title in forgotten:
        about = {"wish_id": wish_id, "title": title, "claim_id": claim_id}
        told.append(Notice(community_id=community, type="checkout.forgotten", member_id=member,
                           key=f"forgot:{claim_id}", data=about))  # fmt: skip
    communities = conn.scalars(sa.select(orgs.c.id).where(orgs.c.kind == "community"))
    for community in list(communities):
        for lot in points.expiring_soon(conn, community, days=expiring_days, now=now):
            kind, _, member = lot.account_id.partition(":")
            if kind != "member" or lot.expires_at <= now:
                continue
            told.append(Notice(
                community_id=community, type="points.expiring", member_id=member,
                key=f"expiring:{lot.lot_id}",
                data={"amount": lot.remaining, "lot_id": lot.lot_id,
                      "date": lot.expires_at.astimezone(CHINA).date().isoformat()},
            ))  # fmt: skip
    told += _quarter_reports(conn, now)
    return write(conn, told, now=now)


REPORT_DAYS = 3
"""For this many days after a quarter ends, the sweep tells each community's office, once, that
the quarter's statistics (季度报表) are complete."""


def _quarter_reports(conn: Connection, now: dt.datetime) -> list[Notice]:
    today = now.astimezone(CHINA).date()
    first = dt.date(today.year, 3 * ((today.month - 1) // 3) + 1, 1)
    if (today - first).days >= REPORT_DAYS:
        return []
    last = first - dt.timedelta(days=1)
    period = f"{last.year}-Q{(last.month - 1) // 3 + 1}"
    office = conn.execute(
        sa.select(orgs.c.id, roles.c.member_id)
        .join(roles, roles.c.org_id == orgs.c.id)
        .where(orgs.c.kind == "community", roles.c.role.in_(("staff", "admin")))
        .distinct()
    )
    return [
        Notice(community_id=community, type="reports.ready", member_id=member,
               key=f"reports:{period}:{member}", data={"period": period})
        for community, member in office
    ]  # fmt: skip
