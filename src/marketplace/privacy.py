"""Privacy (个人信息保护): what of a person each viewer may see (DESIGN.md section 8).

- Phone numbers and exact addresses are masked (``138****1234``; the building without the flat)
  for everyone but office (staff or admin on the wish's place or above), the person themself, and
  a volunteer holding an active claim (active or checked in: until the claim ends).
- Key-household types (重点家庭) are shown only to staff of the person's community, the person,
  and a volunteer holding an active claim on their wish; never to anyone else.
- The confirmation code (确认码) is for the resident and office: the volunteer hears it at the door.

The rules are pure functions (:func:`sight_of`, :func:`mask_phone`, :func:`mask_address`,
:func:`view_of` for a wish a use case has loaded already); the others load what they need and
return views the service can show as they are.
"""

from __future__ import annotations

import datetime as dt
import enum
import re
from collections.abc import Iterable, Mapping
from typing import Any

import msgspec
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from marketplace.errors import NotFound
from marketplace.lifecycle import (
    ACTIVE_CLAIM_STATES,
    HOLDS_CODE,
    OFFICE,
    OWNER,
    SERVING_CLAIM_STATES,
    ClaimAction,
    Facts,
    Role,
    WishAction,
    claim_actions,
    wish_actions,
)
from marketplace.loads import Seen, labelled
from marketplace.model import Claim, KeyHousehold, Member, Wish
from marketplace.moves import load_wish, roles_for
from marketplace.orgs import get_member, get_org, roles_on
from marketplace.schema import claims, members, orgs, roles, wishes
from marketplace.wishes import Filters, listed, member_of
from points import Page, sqltypes

_BUILDING = re.compile(r"^.*?(?:\d+|[一二三四五六七八九十]+)\s*(?:号楼|栋|幢|座)")
_FLAT = re.compile(r"[-－—]?\s*\d+\s*(?:室|户|号房)?\s*$")


class Sight(enum.IntEnum):
    """How much of a person a viewer sees, from least to most."""

    MASKED = 1  # masked phone and address, no sensitive flags
    CONTACT = 2  # phone and address in full, no sensitive flags
    FULL = 3  # and the key-household types


class Contact(msgspec.Struct, frozen=True, kw_only=True):
    """The resident a wish is for, as the viewer may see them."""

    member_id: str
    name: str
    phone: str | None  # masked unless the viewer may reach them
    address: str  # the wish's place: masked to the building unless the viewer may reach them
    key_household: tuple[KeyHousehold, ...] | None  # None: not shown to this viewer
    masked: bool


class WishView(msgspec.Struct, frozen=True, kw_only=True):
    """A wish as one viewer may see it. ``wish`` is already redacted: its address is the shown
    one, its confirmation code and consent note are empty unless the viewer may see them."""

    wish: Wish
    contact: Contact
    confirmation_code: str | None
    viewer_roles: frozenset[Role]
    my_claim: Claim | None  # the viewer's own claim on the wish, if any


class MemberView(msgspec.Struct, frozen=True, kw_only=True):
    member: Member  # phone masked and sensitive fields emptied unless the viewer may see them
    sensitive_shown: bool


def mask_phone(phone: str | None) -> str | None:
    """``13812341234`` → ``138****1234``."""
    if phone is None:
        return None
    return phone[:3] + "****" + phone[-4:] if len(phone) >= 7 else "****"


def mask_address(address: str) -> str:
    """The building without the flat: ``阳光路8号2栋301室`` → ``阳光路8号2栋``."""
    building = _BUILDING.match(address)
    if building:
        return building.group(0)
    without_flat = _FLAT.sub("", address)
    if without_flat and without_flat != address:
        return without_flat
    street_number = address.find("号")
    if street_number > 0:
        return address[: street_number + 1]
    return address[: max(0, len(address) - 4)] + "****" if len(address) > 4 else "****"


def sight_of(roles: frozenset[Role], *, serving: bool, community_staff: bool) -> Sight:
    """What the viewer may see of the resident a wish is for.

    ``roles``: the viewer's roles and relations on the wish; ``serving``: the viewer holds an
    active or checked-in claim on it; ``community_staff``: staff or admin of the wish's community.
    """
    if Role.BENEFICIARY in roles or serving or (community_staff and roles & OFFICE):
        return Sight.FULL
    if roles & OFFICE:
        return Sight.CONTACT
    return Sight.MASKED


def sees_address(sight: Sight) -> bool:
    """Whether a viewer with this sight sees the wish's exact address, and so its photos (照片
    show the home inside): office, the resident, a volunteer still serving."""
    return sight >= Sight.CONTACT


def redact(
    wish: Wish,
    resident: Member | None,
    viewer_roles: frozenset[Role],
    sight: Sight,
    my_claim: Claim | None,
) -> WishView:
    full = sees_address(sight)
    sees_code = bool(viewer_roles & HOLDS_CODE)
    contact = Contact(
        member_id=wish.beneficiary_id,
        name=resident.name if resident else "",
        phone=(resident.phone if full else mask_phone(resident.phone)) if resident else None,
        address=wish.address if full else mask_address(wish.address),
        key_household=(
            tuple(sorted(resident.key_household)) if resident and sight is Sight.FULL else None
        ),
        masked=not full,
    )
    shown = msgspec.structs.replace(
        wish,
        address=contact.address,
        confirmation_code=wish.confirmation_code if sees_code else "",
        proxy_note=wish.proxy_note if viewer_roles & (OWNER | OFFICE) else None,
        location=wish.location if full else None,  # coordinates are the exact address
    )
    return WishView(
        wish=shown,
        contact=contact,
        confirmation_code=wish.confirmation_code if sees_code else None,
        viewer_roles=viewer_roles,
        my_claim=my_claim,
    )


class Offered(msgspec.Struct, frozen=True, kw_only=True):
    """What a viewer may do now: the wish's actions and their own claim's (what a page offers;
    the action itself still decides, on the stored state)."""

    wish: frozenset[WishAction]
    claim: frozenset[ClaimAction]


def offered(view: WishView, now: dt.datetime) -> Offered:
    """Ask the tables what this viewer may do with the wish now (:mod:`marketplace.lifecycle`)."""
    mine = view.my_claim
    roles = view.viewer_roles | ({Role.CLAIMANT} if mine is not None else frozenset())
    facts = Facts(places_taken=view.wish.places_taken, window_over=now >= view.wish.window_end)
    wish = wish_actions(view.wish.state, roles, facts)
    if mine is not None and mine.state in ACTIVE_CLAIM_STATES:
        wish -= {WishAction.CLAIM}  # one place per member and wish
    if view.wish.places_taken >= view.wish.capacity:  # every place taken
        wish -= {WishAction.CLAIM, WishAction.CLAIM_FOR_UNIT, WishAction.DISPATCH}
    claim = (
        claim_actions(mine.state, frozenset({Role.CLAIMANT})) if mine is not None else frozenset()
    )
    return Offered(wish=wish, claim=claim)


def view_of(seen: Seen, roles: frozenset[Role], my_claim: Claim | None) -> WishView:
    """A loaded wish as its actor may see it, with ``roles`` (relations included) and the
    actor's own claim on it: no statement."""
    serving = my_claim is not None and my_claim.state in SERVING_CLAIM_STATES
    community_staff = seen.standing.office_of(seen.wish.community_id)
    sight = sight_of(roles, serving=serving, community_staff=community_staff)
    return redact(seen.wish, seen.resident, roles, sight, my_claim)


def wish_view(conn: Connection, actor: str, community_id: str, wish_id: str) -> WishView:
    """One wish as ``actor`` may see it (NotFound when they have no business with it)."""
    wish = load_wish(conn, community_id, wish_id)
    held = roles_for(conn, actor, wish)
    views = _views(conn, actor, community_id, [wish], {wish.id: held})
    return views[0]


def wish_views(conn: Connection, actor: str, community_id: str, page: Page) -> Page:
    """A page of wishes (from :func:`marketplace.list_wishes`) as ``actor`` may see them."""
    wishes_: list[Wish] = list(page.items)
    community = get_org(conn, community_id)
    held = roles_on(conn, actor, community.path, community_id)
    relations = {
        w.id: held
        | ({Role.BENEFICIARY} if w.beneficiary_id == actor else set())
        | ({Role.POSTER} if w.posted_by == actor else set())
        for w in wishes_
    }
    views = _views(conn, actor, community_id, wishes_, relations)
    return Page(items=tuple(views), next_cursor=page.next_cursor)


def browse_wishes(conn: Connection, actor: str, community_id: str, given: Filters) -> Page:
    """A page of the community's wishes (:func:`marketplace.list_wishes`' filters) as ``actor``
    may see them, in two statements: the actor's standing with the community, then the wishes
    with the residents they are for and the actor's own latest claim on each."""
    community, mine = member_of(conn, actor, community_id)
    on_community = mine.on(community.path, community_id)
    result = listed(conn, community_id, given, _browsed, {"actor": actor})
    keys = tuple(result.keys())
    wish_in = sqltypes.picker(keys, wishes, "", Wish)
    claim_in = sqltypes.picker(keys, _MY_CLAIM, "c_", Claim)
    resident_in = sqltypes.picker(keys, members, "b_", Member)
    claim_at, resident_at = keys.index("c_id"), keys.index("b_id")
    rows = result.all()
    staff = mine.office_of(community_id)
    views = []
    for row in rows[: given.limit]:
        w = wish_in(row)
        held = set(on_community)
        if w.beneficiary_id == actor:
            held.add(Role.BENEFICIARY)
        if w.posted_by == actor:
            held.add(Role.POSTER)
        claim = claim_in(row) if row[claim_at] is not None else None
        if claim is not None:
            held.add(Role.CLAIMANT)
        resident = resident_in(row) if row[resident_at] is not None else None
        serving = claim is not None and claim.state in SERVING_CLAIM_STATES
        roles_here = frozenset(held)
        sight = sight_of(roles_here, serving=serving, community_staff=staff)
        views.append(redact(w, resident, roles_here, sight, claim))
    more = len(rows) > given.limit
    return Page(items=tuple(views), next_cursor=views[-1].wish.id if more and views else None)


_MY_CLAIM = claims.alias("my_claim")


def _browsed() -> sa.Select[Any]:
    """Each wish with the resident it is for and the actor's (``actor``) latest claim on it."""
    mine_latest = (
        sa.select(claims.c.id)
        .where(
            claims.c.community_id == wishes.c.community_id,
            claims.c.wish_id == wishes.c.id,
            claims.c.member_id == sa.bindparam("actor"),
        )
        .order_by(claims.c.created_at.desc(), claims.c.id.desc())
        .limit(1)
        .scalar_subquery()
    )
    my_claim = _MY_CLAIM
    return sa.select(*wishes.c, *labelled(members, "b_"), *labelled(my_claim, "c_")).select_from(
        wishes.outerjoin(members, members.c.id == wishes.c.beneficiary_id).outerjoin(
            my_claim,
            sa.and_(my_claim.c.community_id == wishes.c.community_id, my_claim.c.id == mine_latest),
        )
    )


def member_view(conn: Connection, actor: str, member_id: str) -> MemberView:
    """A member as ``actor`` may see them: themself, or office over where they live or serve.

    NotFound for anyone else (a member's existence is not shown across communities)."""
    member = get_member(conn, member_id)
    if actor == member_id:
        return MemberView(member=member, sensitive_shown=True)
    places = _member_orgs(conn, member_id)
    office = False
    for path in sorted(set(places.values())):
        office = office or bool((roles_on(conn, actor, path)) & OFFICE)
    if not office:
        raise NotFound("member", member_id)
    community_staff = False
    for community in sorted(c for c in places if c is not None):
        community_staff = community_staff or _staff_of(conn, actor, community)
    return _member(member, show_phone=True, sensitive=community_staff)


def member_for_list(member: Member, *, sensitive: bool) -> MemberView:
    """A member in a staff list: phone shown, sensitive fields only for community staff."""
    return _member(member, show_phone=True, sensitive=sensitive)


def _member(member: Member, *, show_phone: bool, sensitive: bool) -> MemberView:
    shown = msgspec.structs.replace(
        member,
        phone=member.phone if show_phone else mask_phone(member.phone),
        key_household=member.key_household if sensitive else frozenset(),
        key_household_consent=member.key_household_consent if sensitive else None,
    )
    return MemberView(member=shown, sensitive_shown=sensitive)


def staff_of(conn: Connection, actor: str, community_id: str) -> bool:
    """Whether ``actor`` is staff or admin of the community itself (or an org inside it)."""
    return _staff_of(conn, actor, community_id)


def _staff_of(conn: Connection, actor: str, community_id: str) -> bool:
    found = conn.scalar(
        sa.select(sa.literal(1))
        .select_from(roles.join(orgs, orgs.c.id == roles.c.org_id))
        .where(
            roles.c.member_id == actor,
            orgs.c.community_id == community_id,
            roles.c.role.in_([r.value for r in OFFICE]),
        )
        .limit(1)
    )
    return found is not None


def _member_orgs(conn: Connection, member_id: str) -> dict[str | None, str]:
    """community id → org path of each org the member holds a role on, or lives in."""
    rows = conn.execute(
        sa.select(orgs.c.community_id, orgs.c.path)
        .select_from(roles.join(orgs, orgs.c.id == roles.c.org_id))
        .where(roles.c.member_id == member_id)
    )
    found: dict[str | None, str] = {c: p for c, p in rows.all()}  # noqa: C416
    home = conn.execute(
        sa.select(orgs.c.community_id, orgs.c.path)
        .select_from(members.join(orgs, orgs.c.id == members.c.home_org_id))
        .where(members.c.id == member_id)
    )
    found.update({c: p for c, p in home.all()})  # noqa: C416
    return found


def _views(
    conn: Connection,
    actor: str,
    community_id: str,
    wishes_: list[Wish],
    held: Mapping[str, frozenset[Role] | set[Role]],
) -> list[WishView]:
    if not wishes_:
        return []
    ids = [w.id for w in wishes_]
    mine = {
        c.wish_id: c
        for c in (
            sqltypes.to_struct(r, Claim)
            for r in conn.execute(
                sa.select(claims)
                .where(
                    claims.c.community_id == community_id,
                    claims.c.wish_id.in_(ids),
                    claims.c.member_id == actor,
                )
                .order_by(claims.c.created_at)
            )
        )
    }
    residents = _members(conn, {w.beneficiary_id for w in wishes_})
    community_staff = _staff_of(conn, actor, community_id)
    views = []
    for w in wishes_:
        roles_here = frozenset(held[w.id])
        claim = mine.get(w.id)
        if claim is not None:
            roles_here |= {Role.CLAIMANT}
        serving = claim is not None and claim.state in SERVING_CLAIM_STATES
        sight = sight_of(roles_here, serving=serving, community_staff=community_staff)
        views.append(redact(w, residents.get(w.beneficiary_id), roles_here, sight, claim))
    return views


def _members(conn: Connection, ids: Iterable[str]) -> dict[str, Member]:
    wanted = sorted(set(ids))
    if not wanted:
        return {}
    rows = conn.execute(sa.select(members).where(members.c.id.in_(wanted)))
    return {r.id: sqltypes.to_struct(r, Member) for r in rows}
