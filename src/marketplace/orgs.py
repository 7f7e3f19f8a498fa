"""Orgs, members and roles: who is where, and what they may see and do.

Orgs form a tree (district → street → community → compound → grid → building); each org keeps its
path from the root, so "a role on this org or an ancestor" is a prefix test. Units (驻区/县直单位)
sit beside the tree and are paired with communities (结对共建): a unit's admin acts for the unit in
its paired communities. A community is the tenant boundary: nobody sees a community's wishes
without a role on it, an ancestor, or a paired unit, or a relation to the wish.
"""

from __future__ import annotations

import datetime as dt
import re

import msgspec
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from marketplace import bounds, lifecycle
from marketplace.bounds import most
from marketplace.errors import InvalidInput, NotFound
from marketplace.lifecycle import OFFICE, ORG_ROLES, Act, Role
from marketplace.model import ORG_LEVELS, Consent, KeyHousehold, Member, Org, OrgKind, RoleGrant
from marketplace.rules import DEFAULT_RULES, CommunityRules
from marketplace.schema import members, orgs, pairings, roles, settings, wishes
from marketplace.standing import SYSTEM_ACTOR, standing
from points import Cause, sqltypes, utcnow

SYSTEM = SYSTEM_ACTOR
"""The actor id of background sweeps."""

_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:@-]{0,63}$")
_PHONE = re.compile(r"^1\d{10}$")


def check_id(field: str, value: object) -> str:
    if not isinstance(value, str) or not _ID.fullmatch(value):
        raise InvalidInput(field, Cause("id_chars"))
    return value


def check_text(field: str, value: object, max_length: int, *, required: bool = True) -> str:
    if not isinstance(value, str):
        raise InvalidInput(field, Cause("text"))
    if required and not value.strip():
        raise InvalidInput(field, Cause("empty"))
    if len(value) > max_length:
        raise InvalidInput(field, Cause("too_long", {"high": max_length}))
    return value


def create_org(
    conn: Connection,
    actor: str,
    *,
    id: str,
    kind: OrgKind,
    name: str,
    parent_id: str | None = None,
    now: dt.datetime | None = None,
) -> Org:
    """Add an org. Under a parent it needs an admin on the parent or above; a root (a district,
    or a unit) is made by the system (``actor="system"``) when a deployment is set up."""
    check_id("id", id)
    check_text("name", name, most(bounds.Title))
    kind = OrgKind(kind)
    parent = get_org(conn, parent_id) if parent_id else None
    if parent is None:
        lifecycle.require(Act.CREATE_ROOT, roles_on(conn, actor, "/"), where="root")
        path = f"/{id}/"
    else:
        require(conn, actor, parent.path, Act.CREATE_ORG, where=parent.kind.value)
        if kind is OrgKind.UNIT or ORG_LEVELS.index(kind) <= _level(parent.kind):
            raise InvalidInput("kind", Cause("org_parent", {"kind": kind, "parent": parent.kind}))
        path = f"{parent.path}{id}/"
    community_id = id if kind is OrgKind.COMMUNITY else (parent.community_id if parent else None)
    conn.execute(
        sqltypes.insert_ignoring_conflicts(conn, orgs).values(
            id=id,
            kind=kind.value,
            name=name,
            parent_id=parent_id,
            community_id=community_id,
            path=path,
            created_at=now or utcnow(),
        )
    )
    org = get_org(conn, id)
    if (org.kind, org.parent_id) != (kind, parent_id):
        raise InvalidInput("id", Cause("id_taken", {"what": "org"}))
    return org


_ORG = sa.select(orgs).where(orgs.c.id == sa.bindparam("id"))
"""An org by its id, built once (a statement built per call costs more than SQLite's work)."""


def _level(kind: OrgKind) -> int:
    return ORG_LEVELS.index(kind) if kind in ORG_LEVELS else -1


def get_org(conn: Connection, org_id: str | None) -> Org:
    row = conn.execute(_ORG, {"id": org_id}).first()
    if row is None:
        raise NotFound("org", str(org_id))
    return sqltypes.to_struct(row, Org)


def pair_unit(
    conn: Connection,
    actor: str,
    unit_id: str,
    community_id: str,
    now: dt.datetime | None = None,
) -> None:
    """Pair a unit with a community (结对共建); staff or admin of the community decide."""
    unit, community = get_org(conn, unit_id), get_org(conn, community_id)
    if unit.kind is not OrgKind.UNIT or community.kind is not OrgKind.COMMUNITY:
        raise InvalidInput("unit_id", Cause("pair_unit_community"))
    require(conn, actor, community.path, Act.PAIR_UNIT)
    conn.execute(
        sqltypes.insert_ignoring_conflicts(conn, pairings).values(
            community_id=community_id, unit_id=unit_id, created_at=now or utcnow()
        )
    )


def add_member(
    conn: Connection,
    *,
    id: str,
    name: str,
    phone: str | None = None,
    home_org_id: str | None = None,
    home_unit_id: str | None = None,
    skills: frozenset[str] = frozenset(),
    public_profile: bool = False,
    now: dt.datetime | None = None,
) -> Member:
    """Register a person (idempotent by id). Roles are granted separately, per org."""
    check_id("id", id)
    check_text("name", name, most(bounds.PersonName))
    if phone is not None and not _PHONE.fullmatch(phone):
        raise InvalidInput("phone", Cause("phone"))
    if any(not 1 <= len(s) <= 32 for s in skills) or len(skills) > 20:
        raise InvalidInput("skills", Cause("skills", {"count": 20, "low": 1, "high": 32}))
    for org_id in (home_org_id, home_unit_id):
        if org_id is not None:
            get_org(conn, org_id)
    conn.execute(
        sqltypes.insert_ignoring_conflicts(conn, members).values(
            id=id,
            name=name,
            phone=phone,
            home_org_id=home_org_id,
            home_unit_id=home_unit_id,
            skills=sorted(skills),
            key_household=[],
            key_household_consent=None,
            public_profile=public_profile,
            created_at=now or utcnow(),
        )
    )
    return get_member(conn, id)


def get_member(conn: Connection, member_id: str) -> Member:
    row = (conn.execute(sa.select(members).where(members.c.id == member_id))).first()
    if row is None:
        raise NotFound("member", member_id)
    return sqltypes.to_struct(row, Member)


def set_key_household(
    conn: Connection,
    actor: str,
    member_id: str,
    community_id: str,
    flags: frozenset[KeyHousehold],
    *,
    purpose: str,
    now: dt.datetime | None = None,
) -> Member:
    """Record a resident's key-household types (重点家庭) with the separate consent the law asks
    for (who recorded it, when, for what). Staff of the community only."""
    community = get_org(conn, community_id)
    require(conn, actor, community.path, Act.SET_KEY_HOUSEHOLD)
    check_text("purpose", purpose, 200)
    consent = Consent(recorded_by=actor, recorded_at=now or utcnow(), purpose=purpose)
    get_member(conn, member_id)
    conn.execute(
        members.update()
        .where(members.c.id == member_id)
        .values(
            key_household=sorted(k.value for k in flags),
            key_household_consent=msgspec.to_builtins(consent) if flags else None,
        )
    )
    # the wishes for them carry it too (matching's order; never shown)
    conn.execute(
        wishes.update()
        .where(wishes.c.beneficiary_id == member_id)
        .values(key_household=bool(flags))
    )
    return get_member(conn, member_id)


def grant_role(
    conn: Connection,
    actor: str,
    member_id: str,
    org_id: str,
    role: Role,
    now: dt.datetime | None = None,
) -> RoleGrant:
    """Grant a role on an org. Staff and admin roles need an admin above; others staff or admin."""
    role = Role(role)
    if role not in ORG_ROLES:
        raise InvalidInput("role", Cause("wish_role", {"role": role}))
    org = get_org(conn, org_id)
    get_member(conn, member_id)
    require(conn, actor, org.path, Act.GRANT_OFFICE if role in OFFICE else Act.GRANT_ROLE)
    conn.execute(
        sqltypes.insert_ignoring_conflicts(conn, roles).values(
            org_id=org_id,
            member_id=member_id,
            role=role.value,
            granted_by=actor,
            granted_at=now or utcnow(),
        )
    )
    return RoleGrant(member_id=member_id, org_id=org_id, role=role)


def roles_on(
    conn: Connection, member_id: str, path: str, community_id: str | None = None
) -> frozenset[Role]:
    """The org roles ``member_id`` holds on the org at ``path`` or any ancestor, plus a paired
    unit's roles when ``community_id`` is given (one statement: :mod:`marketplace.standing`)."""
    return standing(conn, member_id).on(path, community_id)


def require(
    conn: Connection, actor: str, path: str, act: Act, *, where: str = "org"
) -> frozenset[Role]:
    """The actor's roles on the org at ``path``, when the table lets them take ``act`` there."""
    return lifecycle.require(act, roles_on(conn, actor, path), where=where)


def community_rules(conn: Connection, community_id: str) -> CommunityRules:
    body = conn.scalar(sa.select(settings.c.body).where(settings.c.community_id == community_id))
    return rules_from(body)


def rules_from(body: object) -> CommunityRules:
    """A community's rules from their stored document (None: never saved, the defaults)."""
    return DEFAULT_RULES if body is None else msgspec.convert(body, CommunityRules)


def set_community_rules(
    conn: Connection,
    actor: str,
    community_id: str,
    rules: CommunityRules,
    now: dt.datetime | None = None,
) -> CommunityRules:
    community = get_org(conn, community_id)
    require(conn, actor, community.path, Act.SET_COMMUNITY_RULES)
    problems = rules.problems()
    if problems:
        raise InvalidInput("rules", *problems)
    body = msgspec.to_builtins(rules)
    updated = conn.execute(
        settings.update()
        .where(settings.c.community_id == community_id)
        .values(body=body, updated_at=now or utcnow())
    )
    if updated.rowcount == 0:
        conn.execute(
            settings.insert().values(
                community_id=community_id, body=body, updated_at=now or utcnow()
            )
        )
    return rules


def ancestor_paths(path: str) -> list[str]:
    parts = [p for p in path.split("/") if p]
    return ["/" + "/".join(parts[:n]) + "/" for n in range(1, len(parts) + 1)]
