"""Volunteer service certificates (志愿服务记录证明), issued from the hours record.

"谁记录谁证明": only the community that recorded the service certifies it, so a certificate covers
one member's records in one community for a period (served from, to; both included). A volunteer
asks for one themself, or office of the community issues it; issuing is free, is kept (who, when:
the certificate's row is the log) and never changes the record.

What is printed follows 民发〔2015〕149号: the volunteer's name, ID type and number (only when the
member recorded one with consent: :mod:`marketplace.identity`; masked but the last 4), volunteer
number; hours to one decimal and the content of the service; the issuing organisation, its person
in charge, the handler and a contact; the certificate number, the issue date and the seal.

Each certificate keeps a digest of the records it covers. :func:`verify` (public: the QR code on
the certificate leads there) recomputes it: a certificate whose records were later corrected is
superseded, and names the later certificate of the same member, community and period that
matches the record as it is now. The verification shows the masked name, hours and issuer only.
"""

from __future__ import annotations

import datetime as dt
import enum
import hashlib
import re
import secrets
from typing import Any

import msgspec
import sqlalchemy as sa
from sqlalchemy.engine import Connection

import points
from marketplace import identity, lifecycle
from marketplace.errors import InvalidInput, NotFound
from marketplace.issuers import Issuer, issuer_of
from marketplace.lifecycle import Act, Role
from marketplace.model import CHINA, Member, Org, OrgKind
from marketplace.orgs import get_member, get_org
from marketplace.records import Entry, describe
from marketplace.schema import certificates, members
from marketplace.wallet import community_roles
from points import Cause, sqltypes, utcnow

ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"  # Crockford's base 32: no I, L, O, U
NUMBER = re.compile(r"^\d{4}-[0-9A-HJKMNP-TV-Z]{4}-[0-9A-HJKMNP-TV-Z]{4}$")
ACTIVITIES = 10  # activities listed by name; the rest are counted (one page, ordinary cases)


class Status(enum.StrEnum):
    VALID = "valid"  # 有效
    SUPERSEDED = "superseded"  # 已更正作废: the records it covers changed after it was issued
    UNKNOWN = "unknown"  # 查无此证


class Line(msgspec.Struct, frozen=True, kw_only=True):
    """The hours of one category of service in the period."""

    category: str
    times: int  # records (corrections not counted as services)
    minutes: int
    hours: str


class Activity(msgspec.Struct, frozen=True, kw_only=True):
    served_on: dt.date
    title: str
    place: str
    category: str
    hours: str


class Body(msgspec.Struct, frozen=True, kw_only=True):
    """What a certificate printed besides the person's own fields, as it was when issued."""

    community_name: str
    lines: tuple[Line, ...]
    activities: tuple[Activity, ...]  # the latest ACTIVITIES, oldest first
    more_activities: int  # those not listed by name
    organisation: str
    person_in_charge: str
    handler: str
    contact: str


class Certificate(msgspec.Struct, frozen=True, kw_only=True):
    """A certificate as printed: the person's fields are read when it is printed (a deleted
    member's certificate prints 已注销用户 and no ID)."""

    number: str
    community_id: str
    member_id: str  # the volunteer number (志愿者编号)
    name: str
    id_kind: identity.IdKind | None
    id_masked: str | None  # all but the last 4 masked; None: no ID recorded with consent
    period_from: dt.date | None
    period_to: dt.date
    minutes: int
    hours: str
    records: int
    body: Body
    issued_by: str
    issued_at: dt.datetime
    issued_on: dt.date  # China Standard Time
    has_seal: bool


class Verification(msgspec.Struct, frozen=True, kw_only=True):
    """What /verify/{number} shows, and nothing more."""

    number: str
    status: Status
    masked_name: str = ""
    hours: str = ""
    issuer: str = ""
    issued_on: dt.date | None = None
    period_from: dt.date | None = None
    period_to: dt.date | None = None
    superseded_by: str | None = None  # the later certificate matching the record as it is now


def issue(
    conn: Connection,
    actor: str,
    community_id: str,
    member_id: str,
    *,
    since: dt.date | None = None,
    until: dt.date | None = None,
    now: dt.datetime | None = None,
) -> Certificate:
    """出具证明: the member's records in the community from ``since`` to ``until`` (None: from
    the first; to the issue date). The member asks for their own, office issues anyone's;
    InvalidInput when the period holds no minutes served."""
    now = now or utcnow()
    today = now.astimezone(CHINA).date()
    until = until or today
    community, held = _roles(conn, actor, community_id)
    if actor != member_id:
        lifecycle.require(Act.ISSUE_CERTIFICATE, held, where="community")
    member = get_member(conn, member_id)
    if since is not None and since > until:
        raise InvalidInput("since", Cause("period_order"))
    records = points.records_between(conn, community_id, member_id, since=since, until=until)
    minutes = sum(r.minutes for r in records)
    if minutes <= 0:
        raise InvalidInput("period", Cause("no_service_records"))
    found = issuer_of(conn, community_id)
    handler = found.handler or (_name(conn, actor) if actor != member_id else "")
    body = content(records, describe(conn, records), found, community.name, handler)
    number = _number(today)
    conn.execute(
        certificates.insert().values(
            community_id=community_id,
            number=number,
            member_id=member_id,
            period_from=since.isoformat() if since else None,
            period_to=until.isoformat(),
            minutes=minutes,
            records=len(records),
            digest=digest(records),
            body=msgspec.to_builtins(body),
            issued_by=actor,
            issued_at=now,
        )
    )
    return _certificate(_row(conn, number), member, found, identity.printed(conn, member_id))


def content(
    records: tuple[points.ServiceRecord, ...],
    entries: tuple[Entry, ...],
    found: Issuer,
    community_name: str,
    handler: str,
) -> Body:
    """The certificate's content from the records (pure): hours by category, the activities."""
    by_category: dict[str, list[int]] = {}
    for r in records:
        times_minutes = by_category.setdefault(r.category, [0, 0])
        times_minutes[0] += 0 if r.reference.startswith("fix:") else 1
        times_minutes[1] += r.minutes
    lines = tuple(
        Line(category=c, times=t, minutes=m, hours=points.hours_display(m))
        for c, (t, m) in sorted(by_category.items(), key=lambda item: (-item[1][1], item[0]))
        if m > 0
    )
    served = [e for e in entries if not e.correction]
    shown = served[-ACTIVITIES:]
    return Body(
        community_name=community_name,
        lines=lines,
        activities=tuple(
            Activity(
                served_on=e.served_on,
                title=e.activity,
                place=e.place,
                category=e.category,
                hours=e.hours,
            )
            for e in shown
        ),
        more_activities=len(served) - len(shown),
        organisation=found.organisation or community_name,
        person_in_charge=found.person_in_charge,
        handler=handler,
        contact=found.contact,
    )


def digest(records: tuple[points.ServiceRecord, ...]) -> str:
    """What a certificate covers, as a hash of its records' ids and minutes (pure)."""
    lines = sorted(f"{r.id}:{r.minutes}:{r.served_on.isoformat()}" for r in records)
    return hashlib.sha256("\n".join(lines).encode()).hexdigest()


def certificate(conn: Connection, actor: str, number: str) -> Certificate:
    """A certificate issued before, to print again: for the member or office of its community."""
    row = _row(conn, number) if NUMBER.match(number or "") else None
    if row is None:
        raise NotFound("certificate", number)
    if actor != row.member_id:
        try:
            _, held = community_roles(conn, actor, row.community_id)
        except NotFound:
            raise NotFound("certificate", number) from None
        if not lifecycle.can(Act.ISSUE_CERTIFICATE, held):
            raise NotFound("certificate", number)
    member = get_member(conn, row.member_id)
    document = identity.printed(conn, row.member_id)
    return _certificate(row, member, issuer_of(conn, row.community_id), document)


def issued(
    conn: Connection, actor: str, *, member_id: str | None = None, community_id: str | None = None
) -> tuple[Certificate, ...]:
    """Certificates issued, newest first: a member's own (``member_id`` = the actor), or those
    of a community for its office (optionally of one member); at most 200."""
    query = sa.select(certificates)
    if community_id is not None:
        _, held = _roles(conn, actor, community_id)
        if member_id != actor:
            lifecycle.require(Act.ISSUE_CERTIFICATE, held, where="community")
        query = query.where(certificates.c.community_id == community_id)
    elif member_id != actor:
        raise NotFound("member", member_id or "")
    if member_id is not None:
        query = query.where(certificates.c.member_id == member_id)
    rows = conn.execute(query.order_by(certificates.c.issued_at.desc()).limit(200)).all()
    ids = sorted({r.member_id for r in rows})
    people = {
        m.id: m
        for m in (
            sqltypes.to_struct(row, Member)
            for row in conn.execute(sa.select(members).where(members.c.id.in_(ids)))
        )
    }
    documents = identity.printed_of(conn, ids)
    issuers = {c: issuer_of(conn, c) for c in {r.community_id for r in rows}}
    return tuple(
        _certificate(r, people[r.member_id], issuers[r.community_id], documents.get(r.member_id))
        for r in rows
    )


def verify(conn: Connection, number: str) -> Verification:
    """查验: whether the certificate is genuine and still valid (anyone, signed in or not)."""
    number = (number or "").strip().upper()
    row = _row(conn, number) if NUMBER.match(number) else None
    if row is None:
        return Verification(number=number[:32], status=Status.UNKNOWN)
    since = _date(row.period_from)
    until = _date(row.period_to)
    assert until is not None
    records = points.records_between(
        conn, row.community_id, row.member_id, since=since, until=until
    )
    now_digest = digest(records)
    status, later = Status.VALID, None
    if now_digest != row.digest:
        status = Status.SUPERSEDED
        later = conn.scalar(
            sa.select(certificates.c.number)
            .where(
                certificates.c.community_id == row.community_id,
                certificates.c.member_id == row.member_id,
                certificates.c.period_to == row.period_to,
                certificates.c.period_from.is_(None)
                if row.period_from is None
                else certificates.c.period_from == row.period_from,
                certificates.c.issued_at >= row.issued_at,
                certificates.c.number != row.number,
                certificates.c.digest == now_digest,
            )
            .order_by(certificates.c.issued_at.desc())
            .limit(1)
        )
    name = conn.scalar(sa.select(members.c.name).where(members.c.id == row.member_id)) or ""
    body = msgspec.convert(row.body, Body)
    return Verification(
        number=row.number,
        status=status,
        masked_name=mask_name(name),
        hours=points.hours_display(row.minutes),
        issuer=body.organisation,
        issued_on=row.issued_at.astimezone(CHINA).date(),
        period_from=since,
        period_to=until,
        superseded_by=later,
    )


def mask_name(name: str) -> str:
    """``张三丰`` → ``张**``: the family name only."""
    return name[:1] + "*" * max(1, len(name) - 1) if name else ""


def _roles(conn: Connection, actor: str, community_id: str) -> tuple[Org, frozenset[Role]]:
    """The community and the actor's roles there; the member themself may hold none there (a
    volunteer who moved away still gets a certificate of what they did)."""
    try:
        return community_roles(conn, actor, community_id)
    except NotFound:
        community = get_org(conn, community_id)
        if community.kind is not OrgKind.COMMUNITY:
            raise NotFound("community", community_id) from None
        return community, frozenset()


def _name(conn: Connection, member_id: str) -> str:
    return conn.scalar(sa.select(members.c.name).where(members.c.id == member_id)) or ""


def _number(today: dt.date) -> str:
    """``2026-7K3M-9QXD``: the year and 40 random bits (not guessable, so not listable)."""
    tail = "".join(secrets.choice(ALPHABET) for _ in range(8))
    return f"{today.year}-{tail[:4]}-{tail[4:]}"


def _row(conn: Connection, number: str) -> Any:
    return conn.execute(sa.select(certificates).where(certificates.c.number == number)).first()


def _date(text: str | None) -> dt.date | None:
    return dt.date.fromisoformat(text) if text else None


def _certificate(
    r: Any, member: Member, found: Issuer, document: identity.Printed | None
) -> Certificate:
    until = _date(r.period_to)
    assert until is not None
    return Certificate(
        number=r.number,
        community_id=r.community_id,
        member_id=r.member_id,
        name=member.name,
        id_kind=document.kind if document else None,
        id_masked=document.masked if document else None,
        period_from=_date(r.period_from),
        period_to=until,
        minutes=r.minutes,
        hours=points.hours_display(r.minutes),
        records=r.records,
        body=msgspec.convert(r.body, Body),
        issued_by=r.issued_by,
        issued_at=r.issued_at,
        issued_on=r.issued_at.astimezone(CHINA).date(),
        has_seal=found.has_seal,
    )
