"""通知投递: the outbox's messages carried to webhooks and SMS, each exactly as often as needed.

The dispatcher (``service.dispatcher``) works in three units of work, each safe with several
processes at once:

1. :func:`fan_out` takes new outbox rows (``FOR UPDATE SKIP LOCKED`` on PostgreSQL; SQLite's
   single writer) and writes one ``mk_deliveries`` row per channel that should carry each: every
   active webhook of its community, and an SMS to its member (a phone, an SMS template for the
   event, not opted out unless the message is service-critical; due after the quiet hours).
   Its id is the **delivery id** receivers drop duplicates by.
2. :func:`claim_due` leases due deliveries (``attempts`` + 1, ``lease_until``), committed before
   anything is sent: another process skips them until the lease ends; a process killed while
   sending leaves them to be sent again, with the same delivery id, once the lease ends.
3. :func:`settle` records each outcome: sent; or tried again after an exponential backoff
   (``notices.backoff``); or, after ``max_attempts``, dead (死信), listed for staff
   (:func:`dead_letters`) who may send it again (:func:`retry`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from typing import Any
from urllib.parse import urlsplit

import msgspec
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from marketplace import notices
from marketplace.errors import InvalidInput, NotFound
from marketplace.lifecycle import Act
from marketplace.orgs import get_org, require
from marketplace.schema import deliveries, members, notice_prefs, outbox, webhooks
from points import Cause, new_id, sqltypes, utcnow

WEBHOOK, SMS = "webhook", "sms"


class Delivery(msgspec.Struct, frozen=True, kw_only=True):
    """A leased delivery with what sending it needs."""

    community_id: str
    id: str  # the delivery id
    message_id: str
    channel: str
    target: str
    attempts: int  # this one included
    type: str
    member_id: str | None
    data: dict[str, Any]
    created_at: dt.datetime
    url: str | None = None  # a webhook's
    secret: str | None = None
    phone: str | None = None  # an SMS's; a webhook's only when it is the community's own system


class Outcome(msgspec.Struct, frozen=True, kw_only=True):
    community_id: str
    id: str
    attempts: int
    error: str | None = None  # None: sent


class Webhook(msgspec.Struct, frozen=True, kw_only=True):
    community_id: str
    id: str
    url: str
    own_system: bool
    active: bool
    created_at: dt.datetime


class Dead(msgspec.Struct, frozen=True, kw_only=True):
    community_id: str
    id: str
    message_id: str
    type: str
    channel: str
    target: str
    attempts: int
    last_error: str | None
    created_at: dt.datetime


class NoticePrefs(msgspec.Struct, frozen=True, kw_only=True):
    """A member's 通知设置 (service-critical messages go regardless of the opt-outs)."""

    sms: bool = True
    webhook: bool = True
    quiet_from: int = notices.QUIET[0]  # minute of the day, community time
    quiet_to: int = notices.QUIET[1]


def _locking(conn: Connection, query: Any) -> Any:
    return query.with_for_update(skip_locked=True) if conn.dialect.name != "sqlite" else query


# ── 1. fan out ────────────────────────────────────────────────────────────────────────────


def fan_out(
    conn: Connection,
    *,
    now: dt.datetime | None = None,
    sms_types: Iterable[str] = (),
    limit: int = 1000,
) -> int:
    """Turn up to ``limit`` new outbox rows into deliveries (``sms_types``: the events an SMS
    template is configured for). Returns the messages taken."""
    now = now or utcnow()
    o = outbox.c
    new = _locking(
        conn,
        sa.select(o.community_id, o.id).where(o.fanned == sa.false())
        .order_by(o.created_at).limit(limit),
    ).subquery()  # fmt: skip
    taken = conn.execute(
        outbox.update()
        .where(sa.tuple_(o.community_id, o.id).in_(sa.select(new.c.community_id, new.c.id)))
        .values(fanned=True)
        .returning(o.community_id, o.id, o.type, o.member_id, o.critical, o.created_at)
    ).all()
    if not taken:
        return 0
    hooks: dict[str, list[str]] = {}
    for community, hook in conn.execute(
        sa.select(webhooks.c.community_id, webhooks.c.id).where(
            webhooks.c.community_id.in_({t.community_id for t in taken}),
            webhooks.c.active == sa.true(),
        )
    ):
        hooks.setdefault(community, []).append(hook)
    sms_types = frozenset(sms_types)
    told = {t.member_id for t in taken if t.member_id}
    prefs: dict[str, NoticePrefs] = {}
    phones: dict[str, str] = {}
    if told:
        prefs = _prefs_of(conn, told)
        if sms_types:
            with_phone = sa.select(members.c.id, members.c.phone).where(
                members.c.id.in_(told), members.c.phone.is_not(None)
            )
            phones = {str(r[0]): str(r[1]) for r in conn.execute(with_phone)}
    rows = []
    for t in taken:
        pref = prefs.get(t.member_id or "", NoticePrefs())
        if t.critical or pref.webhook or t.member_id is None:
            rows += [_row(t, WEBHOOK, hook, now) for hook in hooks.get(t.community_id, ())]
        if t.type in sms_types and t.member_id in phones and (t.critical or pref.sms):
            due = notices.after_quiet(max(now, t.created_at), pref.quiet_from, pref.quiet_to)
            rows.append(_row(t, SMS, t.member_id, due))
    if rows:
        conn.execute(deliveries.insert(), rows)
    return len(taken)


def _row(message: Any, channel: str, target: str, due: dt.datetime) -> dict[str, Any]:
    return {
        "community_id": message.community_id, "id": new_id(), "message_id": message.id,
        "channel": channel, "target": target, "state": "pending", "attempts": 0,
        "next_at": due, "lease_until": None, "last_error": None, "sent_at": None,
        "created_at": message.created_at,
    }  # fmt: skip


# ── 2. claim ──────────────────────────────────────────────────────────────────────────────


def claim_due(
    conn: Connection,
    *,
    now: dt.datetime | None = None,
    lease: dt.timedelta = dt.timedelta(seconds=60),
    limit: int = 500,
) -> list[Delivery]:
    """Lease up to ``limit`` due deliveries for ``lease`` (one statement on PostgreSQL, two on
    SQLite): until it ends, no other dispatcher takes them. Commit before sending."""
    now = now or utcnow()
    d = deliveries.c
    due = _locking(
        conn,
        sa.select(d.community_id, d.id)
        .where(d.state == "pending", d.next_at <= now,
               sa.or_(d.lease_until.is_(None), d.lease_until <= now))
        .order_by(d.next_at).limit(limit),
    ).subquery()  # fmt: skip
    lease_them = (
        deliveries.update()
        .where(sa.tuple_(d.community_id, d.id).in_(sa.select(due.c.community_id, due.c.id)))
        .values(lease_until=now + lease, attempts=d.attempts + 1)
        .returning(d.community_id, d.id, d.message_id, d.channel, d.target, d.attempts, d.next_at)
    )
    if conn.dialect.name == "sqlite":  # the single writer: the rows leased, then read
        leased = conn.execute(lease_them).all()
        if not leased:
            return []
        claimed: Any = (
            sa.select(d.community_id, d.id, d.message_id, d.channel, d.target, d.attempts,
                      d.next_at)
            .where(sa.tuple_(d.community_id, d.id).in_([(r[0], r[1]) for r in leased]))
            .subquery()
        )  # fmt: skip
    else:  # one statement: the UPDATE … RETURNING as a CTE, joined to what sending needs
        claimed = lease_them.cte("claimed")
    o, h, m, c = outbox.c, webhooks.c, members.c, claimed.c
    rows = conn.execute(
        sa.select(c.community_id, c.id, c.message_id, c.channel, c.target, c.attempts, o.type,
                  o.member_id, o.data, o.created_at, h.url, h.secret, h.own_system, m.phone)
        .select_from(claimed)
        .join(outbox, sa.and_(o.community_id == c.community_id, o.id == c.message_id))
        .outerjoin(webhooks, sa.and_(c.channel == WEBHOOK, h.community_id == c.community_id,
                                     h.id == c.target))
        .outerjoin(members, m.id == o.member_id)
        .order_by(c.next_at, c.id)
    )  # fmt: skip
    return [
        Delivery(
            community_id=r.community_id, id=r.id, message_id=r.message_id, channel=r.channel,
            target=r.target, attempts=r.attempts, type=r.type, member_id=r.member_id,
            data=dict(r.data), created_at=r.created_at, url=r.url, secret=r.secret,
            phone=r.phone if r.channel == SMS or bool(r.own_system) else None,
        )
        for r in rows
    ]  # fmt: skip


# ── 3. settle ─────────────────────────────────────────────────────────────────────────────


def settle(
    conn: Connection,
    outcomes: Sequence[Outcome],
    *,
    now: dt.datetime | None = None,
    max_attempts: int = 8,
    base_seconds: float = 10.0,
) -> int:
    """Record what sending gave: sent, tried again later, or dead after ``max_attempts``.
    At most two statements. Returns how many went dead."""
    now = now or utcnow()
    sent = [{"c": o.community_id, "i": o.id} for o in outcomes if o.error is None]
    failed = [
        {"c": o.community_id, "i": o.id, "error": (o.error or "")[:500],
         "state": "dead" if o.attempts >= max_attempts else "pending",
         "next": now + notices.backoff(o.attempts, base_seconds)}
        for o in outcomes if o.error is not None
    ]  # fmt: skip
    _update(conn, sent, state="sent", sent_at=now, lease_until=None, last_error=None)
    _update(conn, failed, lease_until=None)
    return sum(1 for f in failed if f["state"] == "dead")


def _update(conn: Connection, rows: list[dict[str, Any]], **fixed: Any) -> None:
    """Each row's pending delivery (``c``, ``i``) updated: the ``fixed`` values, and the row's
    own ``state``, ``next`` and ``error`` when it has them. SQLite: one ``executemany`` (in
    process, cheap); PostgreSQL: one ``UPDATE … FROM (VALUES …)`` (an executemany there was a
    round trip a row: 2.3 s for 1,000)."""
    if not rows:
        return
    d = deliveries.c
    own = {"state": "state", "next": "next_at", "error": "last_error"}
    given = [k for k in own if k in rows[0]]
    if conn.dialect.name == "sqlite":
        mine = sa.and_(d.community_id == sa.bindparam("c"), d.id == sa.bindparam("i"),
                       d.state == "pending")  # fmt: skip
        values = {**fixed, **{own[k]: sa.bindparam(k) for k in given}}
        conn.execute(deliveries.update().where(mine).values(**values), rows)
        return
    columns = [sa.column("c", sa.String), sa.column("i", sa.String)]
    columns += [sa.column(k, deliveries.c[own[k]].type) for k in given]
    table = sa.values(*columns, name="v").data([tuple(r[k] for k in ("c", "i", *given))
                                                for r in rows])  # fmt: skip
    conn.execute(
        deliveries.update()
        .where(d.community_id == table.c.c, d.id == table.c.i, d.state == "pending")
        .values(**fixed, **{own[k]: table.c[k] for k in given})
    )


# ── staff: dead letters and webhooks ──────────────────────────────────────────────────────


def _office(conn: Connection, actor: str, community_id: str) -> None:
    require(conn, actor, get_org(conn, community_id).path, Act.MANAGE_NOTICES, where="community")


def dead_letters(
    conn: Connection, actor: str, community_id: str, *, limit: int = 100
) -> list[Dead]:
    """死信: the community's deliveries that gave up (staff)."""
    _office(conn, actor, community_id)
    d, o = deliveries.c, outbox.c
    rows = conn.execute(
        sa.select(d.community_id, d.id, d.message_id, o.type, d.channel, d.target, d.attempts,
                  d.last_error, d.created_at)
        .join(outbox, sa.and_(o.community_id == d.community_id, o.id == d.message_id))
        .where(d.community_id == community_id, d.state == "dead")
        .order_by(d.created_at.desc(), d.id.desc()).limit(max(1, min(limit, 500)))
    )  # fmt: skip
    return [Dead(**r._mapping) for r in rows]


def retry(
    conn: Connection,
    actor: str,
    community_id: str,
    delivery_ids: Iterable[str] | None = None,
    *,
    now: dt.datetime | None = None,
) -> int:
    """Send dead deliveries again, from their first attempt (``None``: all of the community's)."""
    _office(conn, actor, community_id)
    d = deliveries.c
    statement = (
        deliveries.update()
        .where(d.community_id == community_id, d.state == "dead")
        .values(state="pending", attempts=0, next_at=now or utcnow(), lease_until=None)
    )
    if delivery_ids is not None:
        statement = statement.where(d.id.in_(list(delivery_ids)))
    return int(conn.execute(statement).rowcount or 0)


def _sendable(url: str) -> bool:
    """Whether ``url`` is an http(s) address a request can be sent to: a scheme, a host, a port
    if any in range, nothing a URL parser refuses (``http://[::1`` is no address)."""
    if len(url) > 500 or any(c.isspace() or ord(c) < 32 for c in url):
        return False
    try:
        parts = urlsplit(url)
        _ = parts.port  # raises on a port out of range
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and bool(parts.hostname)


def add_webhook(
    conn: Connection,
    actor: str,
    community_id: str,
    url: str,
    secret: str,
    *,
    own_system: bool = False,
    now: dt.datetime | None = None,
) -> Webhook:
    """Register a webhook (staff): every event of the community is POSTed to ``url``, signed
    with ``secret``. ``own_system``: the community's own system, which may receive phones."""
    _office(conn, actor, community_id)
    if not _sendable(url):
        raise InvalidInput("url", Cause("webhook_url"))
    if not 16 <= len(secret) <= 200:
        raise InvalidInput("secret", Cause("length", {"low": 16, "high": 200}))
    hook = Webhook(community_id=community_id, id=new_id(), url=url, own_system=own_system,
                   active=True, created_at=now or utcnow())  # fmt: skip
    conn.execute(webhooks.insert().values(
        **msgspec.structs.asdict(hook), secret=secret, created_by=actor))  # fmt: skip
    return hook


def list_webhooks(conn: Connection, actor: str, community_id: str) -> list[Webhook]:
    _office(conn, actor, community_id)
    w = webhooks.c
    rows = conn.execute(
        sa.select(w.community_id, w.id, w.url, w.own_system, w.active, w.created_at)
        .where(w.community_id == community_id)
        .order_by(w.created_at, w.id)
    )
    return [Webhook(**r._mapping) for r in rows]


def remove_webhook(conn: Connection, actor: str, community_id: str, webhook_id: str) -> None:
    """Stop a webhook (its row stays, inactive; its pending deliveries are dropped as dead)."""
    _office(conn, actor, community_id)
    w, d = webhooks.c, deliveries.c
    done = conn.execute(
        webhooks.update().where(w.community_id == community_id, w.id == webhook_id,
                                w.active == sa.true()).values(active=False)
    )  # fmt: skip
    if done.rowcount != 1:
        raise NotFound("webhook", webhook_id)
    conn.execute(
        deliveries.update()
        .where(d.community_id == community_id, d.channel == WEBHOOK, d.target == webhook_id,
               d.state == "pending")
        .values(state="dead", last_error="webhook removed")
    )  # fmt: skip


# ── a member's notice settings ────────────────────────────────────────────────────────────


def _prefs_of(conn: Connection, member_ids: Iterable[str]) -> dict[str, NoticePrefs]:
    p = notice_prefs.c
    rows = conn.execute(
        sa.select(p.member_id, p.sms_off, p.webhook_off, p.quiet_from, p.quiet_to).where(
            p.member_id.in_(list(member_ids))
        )
    )
    return {
        r.member_id: NoticePrefs(sms=not r.sms_off, webhook=not r.webhook_off,
                                 quiet_from=r.quiet_from, quiet_to=r.quiet_to)
        for r in rows
    }  # fmt: skip


def notice_prefs_of(conn: Connection, member_id: str) -> NoticePrefs:
    return _prefs_of(conn, [member_id]).get(member_id, NoticePrefs())


def set_notice_prefs(
    conn: Connection, member_id: str, prefs: NoticePrefs, *, now: dt.datetime | None = None
) -> NoticePrefs:
    """A member sets their own notice settings."""
    for name, minute in (("quiet_from", prefs.quiet_from), ("quiet_to", prefs.quiet_to)):
        if not 0 <= minute < 24 * 60:
            raise InvalidInput(name, Cause("range", {"low": 0, "high": 24 * 60 - 1}))
    row = {"member_id": member_id, "sms_off": not prefs.sms, "webhook_off": not prefs.webhook,
           "quiet_from": prefs.quiet_from, "quiet_to": prefs.quiet_to,
           "updated_at": now or utcnow()}  # fmt: skip
    insert = sqltypes.upsert(conn, notice_prefs)
    conn.execute(
        insert.values(row).on_conflict_do_update(
            index_elements=[notice_prefs.c.member_id],
            set_={k: insert.excluded[k] for k in row if k != "member_id"},
        )
    )
    return prefs


def forget_notices(conn: Connection, member_id: str) -> None:
    """A deleted member's messages go (删除个人信息), with what was still to send of them, and
    their notice settings."""
    o, d = outbox.c, deliveries.c
    theirs = sa.exists().where(o.community_id == d.community_id, o.id == d.message_id,
                               o.member_id == member_id)  # fmt: skip
    conn.execute(deliveries.delete().where(theirs))
    conn.execute(outbox.delete().where(o.member_id == member_id))
    conn.execute(notice_prefs.delete().where(notice_prefs.c.member_id == member_id))
