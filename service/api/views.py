"""Response bodies built from the libraries' views (never from rows): what each caller may see.

The privacy rules live in :mod:`marketplace.privacy`; these functions only copy its views into
the shapes the API documents. Library values that carry nothing private (claims, orgs, offers,
transitions, items, orders, statements) are returned as they are.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import msgspec

import marketplace as mk
from marketplace import Claim, Org, Transition
from points import Page
from service.api.common import issue_cursor


class PointOut(msgspec.Struct, frozen=True, kw_only=True):
    lat: float
    lng: float


class ContactOut(msgspec.Struct, frozen=True, kw_only=True):
    """The resident a wish is for, as the caller may see them (masked unless allowed)."""

    member_id: str
    name: str
    phone: str | None
    address: str
    key_household: list[str] | None  # null: not shown to this caller
    masked: bool


class WishOut(msgspec.Struct, frozen=True, kw_only=True):
    community_id: str
    id: str
    kind: str
    category: str
    title: str
    description: str
    org_id: str
    address: str  # masked to the building unless the caller may reach the resident
    location: PointOut | None
    window_start: dt.datetime
    window_end: dt.datetime
    capacity: int
    places_taken: int
    estimated_minutes: int
    urgency: int
    skills: list[str]
    state: str
    level: int  # escalation: 0 community, 1 street, 2 district
    deadline_at: dt.datetime | None
    beneficiary_id: str
    posted_by: str
    proxy_note: str | None
    offer_id: str | None
    rating: int | None
    rating_comment: str | None
    created_at: dt.datetime
    published_at: dt.datetime | None
    first_claimed_at: dt.datetime | None
    served_at: dt.datetime | None
    closed_at: dt.datetime | None
    contact: ContactOut
    confirmation_code: str | None  # the resident's and office's only
    my_claim: Claim | None
    viewer_roles: list[str]


class WishPage(msgspec.Struct, frozen=True, kw_only=True):
    items: list[WishOut]
    next_cursor: str | None


class ClaimPage(msgspec.Struct, frozen=True, kw_only=True):
    items: list[Claim]
    next_cursor: str | None


class ClaimLineOut(msgspec.Struct, frozen=True, kw_only=True):
    claim: Claim
    member_name: str | None


class ClaimLines(msgspec.Struct, frozen=True, kw_only=True):
    """Every claim on one wish: one page (a wish has few), shaped as every list is."""

    items: list[ClaimLineOut]
    next_cursor: None = None


class HistoryOut(msgspec.Struct, frozen=True, kw_only=True):
    """A wish's transitions: one page (a wish has few), shaped as every list is."""

    items: list[Transition]
    next_cursor: None = None


class OrgPage(msgspec.Struct, frozen=True, kw_only=True):
    items: list[Org]
    next_cursor: str | None


class GrantOut(msgspec.Struct, frozen=True, kw_only=True):
    org_id: str
    org_name: str
    role: str


class MemberOut(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    name: str
    phone: str | None
    home_org_id: str | None
    home_unit_id: str | None
    skills: list[str]
    public_profile: bool
    key_household: list[str] | None  # null: not shown to this caller
    key_household_consent: mk.Consent | None
    created_at: dt.datetime
    roles: list[GrantOut] = []
    room: str | None = None  # 房号
    address: str | None = None  # 住址
    availability: str | None = None  # 可服务时间


class MemberChangeOut(msgspec.Struct, frozen=True, kw_only=True):
    """One logged change of a profile (资料变更记录): who, when, which field, old → new."""

    id: str
    field: str
    old: Any
    new: Any
    actor_id: str
    source: str  # profile, office, import
    import_id: str | None
    at: dt.datetime


class MemberPage(msgspec.Struct, frozen=True, kw_only=True):
    items: list[MemberOut]
    next_cursor: str | None


def wish_out(view: mk.WishView) -> WishOut:
    w, c = view.wish, view.contact
    return WishOut(
        community_id=w.community_id,
        id=w.id,
        kind=w.kind.value,
        category=w.category,
        title=w.title,
        description=w.description,
        org_id=w.org_id,
        address=w.address,
        location=PointOut(lat=w.location.lat, lng=w.location.lng) if w.location else None,
        window_start=w.window_start,
        window_end=w.window_end,
        capacity=w.capacity,
        places_taken=w.places_taken,
        estimated_minutes=w.estimated_minutes,
        urgency=int(w.urgency),
        skills=sorted(w.skills),
        state=w.state.value,
        level=w.level,
        deadline_at=w.deadline_at,
        beneficiary_id=w.beneficiary_id,
        posted_by=w.posted_by,
        proxy_note=w.proxy_note,
        offer_id=w.offer_id,
        rating=w.rating,
        rating_comment=w.rating_comment,
        created_at=w.created_at,
        published_at=w.published_at,
        first_claimed_at=w.first_claimed_at,
        served_at=w.served_at,
        closed_at=w.closed_at,
        contact=ContactOut(
            member_id=c.member_id,
            name=c.name,
            phone=c.phone,
            address=c.address,
            key_household=[k.value for k in c.key_household]
            if c.key_household is not None
            else None,
            masked=c.masked,
        ),
        confirmation_code=view.confirmation_code,
        my_claim=view.my_claim,
        viewer_roles=sorted(r.value for r in view.viewer_roles),
    )


def wish_page(page: Page, listing: str) -> WishPage:
    """A page of wishes from the list ``listing`` (its cursor: :func:`issue_cursor`)."""
    return WishPage(
        items=[wish_out(v) for v in page.items], next_cursor=issue_cursor(listing, page.next_cursor)
    )


def member_out(view: mk.MemberView, grants: tuple[mk.Grant, ...] = ()) -> MemberOut:
    m = view.member
    return MemberOut(
        id=m.id,
        name=m.name,
        phone=m.phone,
        home_org_id=m.home_org_id,
        home_unit_id=m.home_unit_id,
        skills=sorted(m.skills),
        public_profile=m.public_profile,
        key_household=sorted(k.value for k in m.key_household) if view.sensitive_shown else None,
        key_household_consent=m.key_household_consent if view.sensitive_shown else None,
        created_at=m.created_at,
        roles=[GrantOut(org_id=g.org_id, org_name=g.org_name, role=g.role.value) for g in grants],
        room=m.room,
        address=m.address,
        availability=m.availability,
    )
