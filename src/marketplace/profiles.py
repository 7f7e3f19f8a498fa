"""Profiles (个人资料) and their change log (资料变更记录).

A member edits their own address, skills and availability (:func:`edit_profile`); the office of
their community edits where they live (grid or building, room), their home unit and their roles
there (:func:`edit_member`); a roster file updates any of these (:mod:`marketplace.imports`).
Every change is logged as wish transitions are: who, when, which field, old → new
(:func:`history`). Key-household types are logged as changed, their values shown only to whom
the member's sensitive fields are shown. A member's deletion erases the logged values and keeps
who and when (:func:`marketplace.people.anonymise`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from typing import Any

import msgspec
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from marketplace import bounds
from marketplace.errors import InvalidInput, NotFound
from marketplace.lifecycle import ORG_ROLES, Act, Role
from marketplace.model import Member, Org, OrgKind
from marketplace.orgs import check_text, get_member, get_org, grant_role, require
from marketplace.people import revoke
from marketplace.privacy import member_view
from marketplace.schema import member_changes, members, orgs, pairings, roles
from points import Cause, new_id, sqltypes, utcnow

LOGGED = (
    "name",
    "phone",
    "home_org_id",
    "room",
    "home_unit_id",
    "roles",
    "skills",
    "key_household",
    "address",
    "availability",
)
"""The fields whose changes are logged, in the order a page lists them."""
SENSITIVE = frozenset({"key_household"})
TEXT = bounds.most(bounds.ProfileText)
ROOM = bounds.most(bounds.Room)


class Change(msgspec.Struct, frozen=True, kw_only=True):
    field: str
    old: Any  # a text, a sorted list (skills, roles, key-household types), or None
    new: Any


class MemberChange(msgspec.Struct, frozen=True, kw_only=True):
    """One logged change of a member's profile."""

    member_id: str
    id: str
    community_id: str | None  # where the office acted; None for the member's own edit
    field: str
    old: Any
    new: Any
    actor_id: str
    source: str  # profile (the member), office (staff), import (a roster file)
    import_id: str | None
    at: dt.datetime


def value_of(member: Member, field: str) -> Any:
    """A profile field as the log keeps it (sets as sorted lists)."""
    value = getattr(member, field)
    if isinstance(value, frozenset):
        return sorted(str(v) for v in value)
    return value


def diff(before: Member, after: Member, fields: Iterable[str] = LOGGED) -> tuple[Change, ...]:
    """The logged fields that differ (``roles`` is not a member field: see :func:`role_change`)."""
    found = []
    for field in fields:
        if field == "roles":
            continue
        old, new = value_of(before, field), value_of(after, field)
        if old != new:
            found.append(Change(field=field, old=old, new=new))
    return tuple(found)


def role_change(old: Iterable[Role], new: Iterable[Role]) -> tuple[Change, ...]:
    was, now = sorted(r.value for r in set(old)), sorted(r.value for r in set(new))
    return () if was == now else (Change(field="roles", old=was, new=now),)


def change_rows(
    member_id: str,
    changes: Sequence[Change],
    *,
    actor: str,
    community_id: str | None,
    source: str,
    now: dt.datetime,
    import_id: str | None = None,
) -> list[dict[str, Any]]:
    """The log's rows for one member's changes (written with :func:`log`)."""
    return [
        {
            "member_id": member_id,
            "id": new_id(),
            "community_id": community_id,
            "field": c.field,
            "old": c.old,
            "new": c.new,
            "actor_id": actor,
            "source": source,
            "import_id": import_id,
            "at": now,
        }
        for c in changes
    ]


def log(conn: Connection, rows: Sequence[dict[str, Any]]) -> None:
    sqltypes.insert_many(conn, member_changes, rows)


def history(
    conn: Connection, actor: str, member_id: str, *, limit: int = 100
) -> tuple[MemberChange, ...]:
    """The member's logged changes, newest first, for the member or the office over them
    (NotFound for anyone else); key-household values only where they may be seen."""
    view = member_view(conn, actor, member_id)
    rows = conn.execute(
        sa.select(member_changes)
        .where(member_changes.c.member_id == member_id)
        .order_by(member_changes.c.at.desc(), member_changes.c.id.desc())
        .limit(min(max(limit, 1), 500))
    )
    found = [sqltypes.to_struct(r, MemberChange) for r in rows]
    if not view.sensitive_shown:
        found = [
            msgspec.structs.replace(c, old=None, new=None) if c.field in SENSITIVE else c
            for c in found
        ]
    return tuple(found)


def _text(field: str, value: str | None, high: int = TEXT) -> str | None:
    if value is None or not value.strip():
        return None
    return check_text(field, value.strip(), high)


def edit_profile(
    conn: Connection,
    actor: str,
    *,
    address: str | None,
    skills: frozenset[str],
    availability: str | None,
    now: dt.datetime | None = None,
) -> Member:
    """The member edits their own address, skills and availability (empty: none); each change
    is logged."""
    now = now or utcnow()
    before = get_member(conn, actor)
    if len(skills) > bounds.SKILLS or any(
        not 1 <= len(s) <= bounds.most(bounds.Skill) for s in skills
    ):
        high = bounds.most(bounds.Skill)
        raise InvalidInput(
            "skills", Cause("skills", {"count": bounds.SKILLS, "low": 1, "high": high})
        )
    after = msgspec.structs.replace(
        before,
        address=_text("address", address),
        skills=frozenset(s.strip() for s in skills),
        availability=_text("availability", availability),
    )
    changes = diff(before, after, ("skills", "address", "availability"))
    if changes:
        conn.execute(
            members.update()
            .where(members.c.id == actor)
            .values(
                address=after.address,
                skills=sorted(after.skills),
                availability=after.availability,
            )
        )
        log(conn, change_rows(actor, changes, actor=actor, community_id=None,
                              source="profile", now=now))  # fmt: skip
    return after


def community_roles(conn: Connection, community_id: str, member_id: str) -> set[tuple[str, Role]]:
    """(org id, role) of each role the member holds on the community or inside it."""
    rows = conn.execute(
        sa.select(roles.c.org_id, roles.c.role)
        .select_from(roles.join(orgs, orgs.c.id == roles.c.org_id))
        .where(roles.c.member_id == member_id, orgs.c.community_id == community_id)
    )
    return {(o, Role(r)) for o, r in rows}


def edit_member(
    conn: Connection,
    actor: str,
    community_id: str,
    member_id: str,
    *,
    home_org_id: str | None,
    room: str | None,
    home_unit_id: str | None,
    roles_held: frozenset[Role],
    now: dt.datetime | None = None,
) -> Member:
    """The office sets where a member of the community lives (a grid, building or compound of
    the community, and the room), their home unit (a unit paired with it, 在职党员) and the roles
    they hold in it (granted on the community; a role taken away goes from every place in it).
    Each change is logged. NotFound for a member who is not in the community."""
    now = now or utcnow()
    community = get_org(conn, community_id)
    require(conn, actor, community.path, Act.EDIT_MEMBER)
    before = get_member(conn, member_id)
    held = community_roles(conn, community_id, member_id)
    home = get_org(conn, before.home_org_id) if before.home_org_id else None
    if not held and (home is None or home.community_id != community_id):
        raise NotFound("member", member_id)
    if home_org_id is not None:
        place = get_org(conn, home_org_id)
        inside = (OrgKind.COMMUNITY, OrgKind.COMPOUND, OrgKind.GRID, OrgKind.BUILDING)
        if place.community_id != community_id or place.kind not in inside:
            raise InvalidInput("home_org_id", Cause("outside_community"))
    if home_unit_id is not None:
        paired = conn.scalar(
            sa.select(pairings.c.unit_id).where(
                pairings.c.community_id == community_id, pairings.c.unit_id == home_unit_id
            )
        )
        if paired is None:
            raise InvalidInput("home_unit_id", Cause("not_unit"))
    if any(r not in ORG_ROLES for r in roles_held):
        raise InvalidInput("roles", Cause("wish_role", {"role": "?"}))
    after = msgspec.structs.replace(
        before,
        home_org_id=home_org_id,
        room=_text("room", room, ROOM),
        home_unit_id=home_unit_id,
    )
    changes = list(diff(before, after, ("home_org_id", "room", "home_unit_id")))
    if changes:
        conn.execute(
            members.update()
            .where(members.c.id == member_id)
            .values(home_org_id=after.home_org_id, room=after.room, home_unit_id=home_unit_id)
        )
    old_roles = {r for _, r in held}
    for role in sorted(roles_held - old_roles):
        grant_role(conn, actor, member_id, community_id, role, now=now)
    for org_id, role in sorted(held):
        if role not in roles_held:
            revoke(conn, actor, member_id, org_id, role)
    changes.extend(role_change(old_roles, roles_held))
    log(conn, change_rows(member_id, changes, actor=actor, community_id=community_id,
                          source="office", now=now))  # fmt: skip
    return get_member(conn, member_id)


def places(
    conn: Connection, actor: str, community_id: str
) -> tuple[tuple[Org, ...], tuple[Org, ...]]:
    """The places a member of the community may live in (its compounds, grids and buildings, by
    path) and the units paired with it, for the office's form."""
    community = get_org(conn, community_id)
    require(conn, actor, community.path, Act.EDIT_MEMBER)
    inside = (OrgKind.COMPOUND.value, OrgKind.GRID.value, OrgKind.BUILDING.value)
    found = tuple(
        sqltypes.to_struct(r, Org)
        for r in conn.execute(
            sa.select(orgs)
            .where(orgs.c.community_id == community_id, orgs.c.kind.in_(inside))
            .order_by(orgs.c.path)
            .limit(2000)
        )
    )
    units = tuple(
        sqltypes.to_struct(r, Org)
        for r in conn.execute(
            sa.select(orgs)
            .join(pairings, pairings.c.unit_id == orgs.c.id)
            .where(pairings.c.community_id == community_id)
            .order_by(orgs.c.name)
        )
    )
    return (community, *found), units
