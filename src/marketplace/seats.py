"""Seats (身份): the roles a member holds and where each one acts, for a member holding several.

A seat is one role on one org, with the community whose wishes it works on: a resident on a grid
acts in the grid's community; a unit's admin or party member acts in each community the unit is
paired with (one seat per pairing); a street or district role works across communities (no
community). The service lets a member switch between their seats; the rules stay in the
lifecycle table, which reads the roles themselves, never the seat chosen.

:func:`find_residents` is how a grid worker or staff member finds the resident they post a wish
for (代点单): names and masked phone numbers of residents of the places they serve, nothing more;
:func:`unit_members` is how a unit's admin finds the members to name for the unit's places.
"""

from __future__ import annotations

import msgspec
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from marketplace.errors import InvalidInput
from marketplace.lifecycle import Act, Role
from marketplace.model import Member, OrgKind
from marketplace.orgs import get_org, require
from marketplace.privacy import mask_phone
from marketplace.schema import members, orgs, pairings, roles
from marketplace.standing import standing_at
from points import Cause, sqltypes


class Seat(msgspec.Struct, frozen=True, kw_only=True):
    role: Role
    org_id: str
    org_name: str
    org_kind: OrgKind
    community_id: str | None  # None: a street or district role, across communities
    community_name: str | None

    @property
    def key(self) -> str:
        """A stable name for the seat, e.g. ``volunteer@c1@c1``."""
        return f"{self.role.value}@{self.org_id}@{self.community_id or ''}"


class Resident(msgspec.Struct, frozen=True, kw_only=True):
    """A resident found for 代点单: the phone is masked and nothing sensitive is included."""

    member: Member
    org_id: str  # where they hold the resident role: the place a wish for them is posted at
    org_name: str


def seats(conn: Connection, member_id: str) -> tuple[Seat, ...]:
    """Every seat of the member, by org path then role."""
    community = orgs.alias("community")
    rows = conn.execute(
        sa.select(
            roles.c.role,
            orgs.c.id,
            orgs.c.name,
            orgs.c.kind,
            orgs.c.community_id,
            community.c.name.label("community_name"),
        )
        .join(orgs, orgs.c.id == roles.c.org_id)
        .outerjoin(community, community.c.id == orgs.c.community_id)
        .where(roles.c.member_id == member_id)
        .order_by(orgs.c.path, roles.c.role)
    )
    found: list[Seat] = []
    for role, org_id, name, kind, community_id, community_name in rows.all():
        base = Seat(
            role=Role(role),
            org_id=org_id,
            org_name=name,
            org_kind=OrgKind(kind),
            community_id=community_id,
            community_name=community_name,
        )
        if base.org_kind is not OrgKind.UNIT:
            found.append(base)
            continue
        paired = conn.execute(
            sa.select(orgs.c.id, orgs.c.name)
            .join(pairings, pairings.c.community_id == orgs.c.id)
            .where(pairings.c.unit_id == org_id)
            .order_by(orgs.c.path)
        )
        places = paired.all()
        found.extend(
            msgspec.structs.replace(base, community_id=cid, community_name=cname)
            for cid, cname in places
        )
        if not places:
            found.append(base)
    return tuple(found)


def seat_roles(conn: Connection, member_id: str, seat: Seat) -> frozenset[Role]:
    """The roles the member acts with in ``seat``, as the lifecycle table reads them: held on the
    seat's org or an ancestor, plus a paired unit's roles in the seat's community (one
    statement). The seat only picks the place; the roles held there decide."""
    org, mine = standing_at(conn, member_id, seat.org_id)
    return frozenset() if org is None else mine.on(org.path, seat.community_id)


def find_residents(
    conn: Connection, actor: str, org_id: str, *, text: str = "", limit: int = 20
) -> tuple[Resident, ...]:
    """Residents of ``org_id`` or inside it whose name contains ``text`` or whose phone ends with
    it, by name; for grid workers and office of the org or above (NotAllowed otherwise)."""
    org = get_org(conn, org_id)
    require(conn, actor, org.path, Act.FIND_RESIDENTS)
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= 100:
        raise InvalidInput("limit", Cause("range", {"low": 1, "high": 100}))
    text = text.strip()
    if len(text) > 50:
        raise InvalidInput("text", Cause("too_long", {"high": 50}))
    query = (
        sa.select(members, orgs.c.id.label("place_id"), orgs.c.name.label("place_name"))
        .join(roles, roles.c.member_id == members.c.id)
        .join(orgs, orgs.c.id == roles.c.org_id)
        .where(
            roles.c.role == Role.RESIDENT.value,
            orgs.c.path.startswith(org.path, autoescape=True),
        )
    )
    if text:
        query = query.where(
            sa.or_(
                members.c.name.contains(text, autoescape=True),
                members.c.phone.endswith(text, autoescape=True),
            )
        )
    rows = conn.execute(query.order_by(members.c.name, members.c.id).limit(limit))
    found = []
    for row in rows.all():
        member = sqltypes.to_struct(row, Member)
        shown = msgspec.structs.replace(
            member,
            phone=mask_phone(member.phone),
            key_household=frozenset(),
            key_household_consent=None,
        )
        found.append(Resident(member=shown, org_id=row.place_id, org_name=row.place_name))
    return tuple(found)


def unit_members(conn: Connection, actor: str, unit_id: str) -> tuple[Member, ...]:
    """The members whose home unit it is (在职党员), for the unit's admin to assign the unit's
    places to; phones masked, nothing sensitive. NotAllowed for anyone but the unit's admin or
    office above it."""
    unit = get_org(conn, unit_id)
    if unit.kind is not OrgKind.UNIT:
        raise InvalidInput("unit_id", Cause("not_unit"))
    require(conn, actor, unit.path, Act.UNIT_MEMBERS)
    rows = conn.execute(
        sa.select(members).where(members.c.home_unit_id == unit_id).order_by(members.c.name)
    )
    return tuple(
        msgspec.structs.replace(
            m, phone=mask_phone(m.phone), key_household=frozenset(), key_household_consent=None
        )
        for m in (sqltypes.to_struct(r, Member) for r in rows.all())
    )
