"""Intake from other systems (对接平台): partner systems post requests that become wishes.

A partner system (a city platform such as 智慧长乐, a FixMyStreet-style app) is issued a key
for one community by an admin of that community or above (:func:`issue_key`); the key is shown
once and stored as its SHA-256 (a key is a long random secret, so a plain digest is enough: there
is nothing to guess). Each partner posts as a member of its own (``partner:<id>``, a resident of
the community), so a request goes through :func:`marketplace.post_wish` with the same checks and
bounds as any 点单 and waits in 待审核 for staff; :data:`wish_origins` records which partner sent
it, under which service code, and the requester's contact details (for staff only).

What the partners may read back (:func:`public_requests`) is what the public board could show:
the wishes they sent, by category and title, the state mapped to open/closed, the address cut to
the building and the location rounded to about 100 m — never the requester, the resident or
the description.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import secrets
from collections.abc import Collection

import msgspec
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from marketplace import lifecycle
from marketplace.errors import InvalidInput, NotFound
from marketplace.lifecycle import OFFICE, Act, Role, WishState
from marketplace.model import OrgKind, Point, Urgency, Wish, WishKind
from marketplace.orgs import add_member, check_text, community_rules, grant_role
from marketplace.privacy import WishView, mask_address
from marketplace.schema import orgs, partners, wish_origins, wishes
from marketplace.standing import SYSTEM_ACTOR, standing_at
from marketplace.wishes import post_wish
from points import Cause, new_id, sqltypes, utcnow

KEY_PREFIX = "l311_"
CLOSED = frozenset(
    {WishState.CONFIRMED, WishState.CLOSED, WishState.REJECTED, WishState.EXPIRED,
     WishState.CANCELLED}
)  # fmt: skip
"""Wish states a partner reads as ``closed`` (done, or never to be done); the rest are open."""
MAX_LISTED = 1000
DEFAULT_MINUTES, DEFAULT_DAYS = 60, 7


class Partner(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    community_id: str
    name: str
    member_id: str
    created_by: str
    created_at: dt.datetime
    revoked_at: dt.datetime | None = None


class Contact(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """The requester as the partner names them: kept for staff, never listed back."""

    first_name: str = ""
    last_name: str = ""
    email: str = ""
    phone: str = ""
    device_id: str = ""
    account_id: str = ""


NOBODY = Contact()


class PublicRequest(msgspec.Struct, frozen=True, kw_only=True):
    """A wish sent by a partner, as any partner may read it back."""

    id: str
    community_id: str
    service_code: str  # the category
    title: str
    state: WishState
    open: bool
    requested_at: dt.datetime
    updated_at: dt.datetime
    address: str  # the building, not the flat
    location: Point | None  # rounded to three decimals (about 100 m)


KEY = re.compile(r"l311_[A-Za-z0-9_-]{43}")
"""A key as :func:`draw_key` draws it: 32 random bytes, URL-safe base64."""


def draw_key() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(32)


def partners_of(conn: Connection, actor: str, community_id: str) -> tuple[Partner, ...]:
    """The partner systems of a community, newest first (its admins, as :func:`issue_key`)."""
    community, held = standing_at(conn, actor, community_id)
    if community is None or community.kind is not OrgKind.COMMUNITY:
        raise NotFound("org", community_id)
    lifecycle.require(Act.ISSUE_PARTNER_KEY, held.on(community.path), where="community")
    rows = conn.execute(
        sa.select(*(c for c in partners.c if c.name != "key_hash"))
        .where(partners.c.community_id == community_id)
        .order_by(partners.c.created_at.desc(), partners.c.id)
    )
    return tuple(sqltypes.to_struct(r, Partner) for r in rows)


def digest(api_key: str) -> str:
    return hashlib.sha256(api_key.encode("utf-8", "replace")).hexdigest()


def issue_key(
    conn: Connection,
    actor: str,
    *,
    community_id: str,
    name: str,
    key: str | None = None,
    now: dt.datetime | None = None,
) -> tuple[Partner, str]:
    """A partner system for ``community_id`` and its key, shown this once (admins of the
    community or above; NotFound for a community that is not there). ``key``: one drawn
    beforehand with :func:`draw_key` (a page shows it before the admin confirms); else drawn
    here."""
    now = now or utcnow()
    check_text("name", name, 100)
    key = key or draw_key()
    if not KEY.fullmatch(key):
        raise InvalidInput("key", Cause("open311_key"))
    community, held = standing_at(conn, actor, community_id)
    if community is None or community.kind is not OrgKind.COMMUNITY:
        raise NotFound("org", community_id)
    lifecycle.require(Act.ISSUE_PARTNER_KEY, held.on(community.path), where="community")
    partner_id = new_id()
    member_id = f"partner:{partner_id}"
    add_member(conn, id=member_id, name=name, now=now)
    grant_role(conn, SYSTEM_ACTOR, member_id, community_id, Role.RESIDENT, now=now)
    row = {
        "id": partner_id,
        "community_id": community_id,
        "name": name,
        "key_hash": digest(key),
        "member_id": member_id,
        "created_by": actor,
        "created_at": now,
    }
    conn.execute(partners.insert().values(**row))
    del row["key_hash"]
    return msgspec.convert(row, Partner), key


def revoke_key(
    conn: Connection,
    actor: str,
    community_id: str,
    partner_id: str,
    *,
    now: dt.datetime | None = None,
) -> Partner:
    """停用: the partner's key stops working at once (its requests get the spec's 403, as an
    unknown key's); its wishes and their origins stay. The admins who may issue keys for the
    community (NotFound for a partner of another community); revoking again changes nothing."""
    now = now or utcnow()
    community, held = standing_at(conn, actor, community_id)
    if community is None or community.kind is not OrgKind.COMMUNITY:
        raise NotFound("org", community_id)
    lifecycle.require(Act.ISSUE_PARTNER_KEY, held.on(community.path), where="community")
    mine = sa.and_(partners.c.id == partner_id, partners.c.community_id == community_id)
    conn.execute(
        partners.update().where(mine, partners.c.revoked_at.is_(None)).values(revoked_at=now)
    )
    row = conn.execute(sa.select(*(c for c in partners.c if c.name != "key_hash")).where(mine))
    found = row.first()
    if found is None:
        raise NotFound("partner", partner_id)
    return sqltypes.to_struct(found, Partner)


def partner_of(conn: Connection, api_key: str) -> Partner | None:
    """The partner holding ``api_key`` (None: no such key, or revoked)."""
    if not api_key.startswith(KEY_PREFIX) or len(api_key) > 200:
        return None
    row = conn.execute(
        sa.select(*(c for c in partners.c if c.name != "key_hash")).where(
            partners.c.key_hash == digest(api_key), partners.c.revoked_at.is_(None)
        )
    ).first()
    return None if row is None else sqltypes.to_struct(row, Partner)


def services(conn: Connection, community_id: str) -> tuple[str, ...]:
    """The service codes a community takes: its wish categories (NotFound: no such community)."""
    return tuple(community_rules(conn, _community(conn, community_id)).categories)


def post_request(
    conn: Connection,
    partner: Partner,
    *,
    service_code: str,
    description: str,
    title: str = "",
    location: Point | None = None,
    address: str = "",
    estimated_minutes: int = DEFAULT_MINUTES,
    urgency: int = Urgency.NORMAL,
    window_days: int = DEFAULT_DAYS,
    contact: Contact = NOBODY,
    now: dt.datetime | None = None,
) -> Wish:
    """A partner's request as a wish in 待审核, through :func:`post_wish` (its checks and bounds),
    with its origin recorded. A location or an address is required; the wish's window runs from
    an hour from now for ``window_days``."""
    now = now or utcnow()
    if location is None and not address.strip():
        raise InvalidInput("address_string", Cause("open311_location"))
    if location is not None and not (-90 <= location.lat <= 90 and -180 <= location.lng <= 180):
        raise InvalidInput("lat", Cause("open311_location"))
    if isinstance(window_days, bool) or not isinstance(window_days, int):
        raise InvalidInput("window_days", Cause("range", {"low": 1, "high": 90}))
    if not 1 <= window_days <= 90:
        raise InvalidInput("window_days", Cause("range", {"low": 1, "high": 90}))
    if urgency not in tuple(Urgency):
        raise InvalidInput("urgency", Cause("range", {"low": 1, "high": 4}))
    if location is not None and not address.strip():
        address = f"{location.lat:.5f},{location.lng:.5f}"
    lines = description.strip().splitlines()
    heading = title.strip() or (lines[0][:100] if lines else "")
    start = now + dt.timedelta(hours=1)
    wish = post_wish(
        conn,
        partner.member_id,
        community_id=partner.community_id,
        kind=WishKind.SERVICE,
        category=service_code,
        title=heading or service_code,
        description=description,
        org_id=partner.community_id,
        address=address,
        window_start=start,
        window_end=start + dt.timedelta(days=window_days),
        estimated_minutes=estimated_minutes,
        urgency=Urgency(urgency),
        location=location,
        now=now,
    )
    conn.execute(
        wish_origins.insert().values(
            community_id=wish.community_id,
            wish_id=wish.id,
            partner_id=partner.id,
            service_code=service_code,
            contact=msgspec.to_builtins(contact),
            created_at=now,
        )
    )
    return wish


def public_requests(
    conn: Connection,
    community_id: str,
    *,
    ids: Collection[str] = (),
    codes: Collection[str] = (),
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
    open: bool | None = None,
    limit: int = MAX_LISTED,
) -> tuple[PublicRequest, ...]:
    """The wishes partners sent to ``community_id``, newest first, filtered as GeoReport's GET
    requests filters them (NotFound: no such community)."""
    _community(conn, community_id)
    w, o = wishes.c, wish_origins.c
    query = (
        sa.select(
            w.id,
            w.community_id,
            w.category,
            w.title,
            w.state,
            w.created_at,
            w.address,
            w.location,
            w.published_at,
            w.first_claimed_at,
            w.served_at,
            w.closed_at,
        )
        .join(
            wish_origins,
            sa.and_(o.community_id == w.community_id, o.wish_id == w.id),
        )
        .where(w.community_id == community_id)
    )
    if ids:
        query = query.where(w.id.in_(sorted(ids)))
    if codes:
        query = query.where(w.category.in_(sorted(codes)))
    if since is not None:
        query = query.where(w.created_at >= since)
    if until is not None:
        query = query.where(w.created_at <= until)
    if open is not None:
        closed = [s.value for s in CLOSED]
        query = query.where(w.state.not_in(closed) if open else w.state.in_(closed))
    rows = conn.execute(query.order_by(w.created_at.desc(), w.id.desc()).limit(limit))
    found = []
    for row in rows:
        state = WishState(row.state)
        times = [t for t in (row.created_at, row.published_at, row.first_claimed_at,
                             row.served_at, row.closed_at) if t is not None]  # fmt: skip
        point = msgspec.convert(row.location, Point) if row.location else None
        found.append(
            PublicRequest(
                id=row.id,
                community_id=row.community_id,
                service_code=row.category,
                title=row.title,
                state=state,
                open=state not in CLOSED,
                requested_at=row.created_at,
                updated_at=max(times),
                address=mask_address(row.address),
                location=Point(lat=round(point.lat, 3), lng=round(point.lng, 3)) if point else None,
            )
        )
    return tuple(found)


class Origin(msgspec.Struct, frozen=True, kw_only=True):
    """Where a wish came from: the partner system, its service code and the requester."""

    partner_id: str
    partner_name: str
    service_code: str
    contact: Contact


def origin_of(conn: Connection, view: WishView) -> Origin | None:
    """The origin of a wish a partner sent, for the community's office (the requester's contact
    is theirs to see); None for anyone else, or a wish posted here (one statement, office only)."""
    if not view.viewer_roles & OFFICE:
        return None
    o, p = wish_origins.c, partners.c
    row = conn.execute(
        sa.select(o.partner_id, p.name, o.service_code, o.contact)
        .join(partners, p.id == o.partner_id)
        .where(o.community_id == view.wish.community_id, o.wish_id == view.wish.id)
    ).first()
    if row is None:
        return None
    partner_id, name, code, contact = row
    return Origin(
        partner_id=partner_id,
        partner_name=name,
        service_code=code,
        contact=msgspec.convert(contact, Contact),
    )


def _community(conn: Connection, community_id: str) -> str:
    kind = conn.scalar(sa.select(orgs.c.kind).where(orgs.c.id == community_id))
    if kind != OrgKind.COMMUNITY.value:
        raise NotFound("org", community_id)
    return community_id
