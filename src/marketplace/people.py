"""People (成员): registering members in an org, listing them, and their rights over their data.

Office (staff or admin on an org or above) registers residents and volunteers and lists who holds
which role. A member may download everything kept about them, and ask for deletion: their personal
fields are then anonymised (the ID document kept for certificates deleted), while ledger entries
and the hours record stay, tied to the same opaque id, because they are records the law
requires (志愿服务条例 art. 20).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

import msgspec
import sqlalchemy as sa
from sqlalchemy.engine import Connection

import points
from marketplace import identity, lifecycle
from marketplace.deliveries import forget_notices
from marketplace.errors import InvalidInput, NotFound
from marketplace.lifecycle import OFFICE, Act, Role
from marketplace.model import Member, RoleGrant
from marketplace.orgs import (
    add_member,
    check_id,
    get_member,
    get_org,
    grant_role,
    require,
    roles_on,
)
from marketplace.privacy import mask_address, member_view
from marketplace.schema import (
    claims,
    consents,
    corrections,
    member_changes,
    members,
    notice_prefs,
    offers,
    orgs,
    outbox,
    photos,
    roles,
    transitions,
    wishes,
)
from marketplace.standing import standing
from points import Cause, Page, new_id, sqltypes, utcnow

ANONYMOUS_NAME = "已注销用户"
ERASED = "（已删除）"


class Grant(msgspec.Struct, frozen=True, kw_only=True):
    org_id: str
    org_name: str
    role: Role


class Listed(msgspec.Struct, frozen=True, kw_only=True):
    member: Member
    grants: tuple[Grant, ...]  # the member's roles within the listed org's subtree


class Export(msgspec.Struct, frozen=True, kw_only=True):
    """Everything kept about one member (个人信息副本)."""

    member: Member
    roles: tuple[Grant, ...]
    wishes: tuple[dict[str, Any], ...]  # wishes they posted or that were for them
    claims: tuple[dict[str, Any], ...]
    offers: tuple[dict[str, Any], ...]
    transitions: tuple[dict[str, Any], ...]  # what they did, as recorded
    profile_changes: tuple[dict[str, Any], ...]  # their profile's logged changes (资料变更记录)
    accounts: tuple[dict[str, Any], ...]  # their wallets, one per community
    transfers: tuple[dict[str, Any], ...]  # the ledger entries of those wallets
    service_records: tuple[dict[str, Any], ...]
    corrections: tuple[dict[str, Any], ...] = ()  # their requests to correct their record
    id_document: identity.IdDocument | None  # masked: the number never leaves but on a certificate
    messages: tuple[dict[str, Any], ...] = ()  # 消息: what they were told (the outbox)
    notice_settings: dict[str, Any] | None = None
    exported_at: dt.datetime
    consents: tuple[dict[str, Any], ...] = ()  # 单独同意 given or withdrawn, oldest first


def register(
    conn: Connection,
    actor: str,
    org_id: str,
    *,
    name: str,
    role: Role,
    phone: str | None = None,
    home_org_id: str | None = None,
    home_unit_id: str | None = None,
    skills: frozenset[str] = frozenset(),
    public_profile: bool = False,
    id: str | None = None,
    now: dt.datetime | None = None,
) -> Member:
    """Register a new person and grant them ``role`` on ``org_id`` (office of the org or above;
    staff and admin roles need an admin). Ids are made here, so nobody can take over a person
    registered elsewhere by guessing their id."""
    now = now or utcnow()
    org = get_org(conn, org_id)
    require(conn, actor, org.path, Act.REGISTER)
    member_id = check_id("id", id or new_id())
    try:
        get_member(conn, member_id)
    except NotFound:
        pass
    else:
        raise InvalidInput("id", Cause("id_taken", {"what": "member"}))
    if home_org_id is not None:
        home = get_org(conn, home_org_id)
        if not home.path.startswith(org.path) and not org.path.startswith(home.path):
            raise InvalidInput("home_org_id", Cause("outside_member_org"))
    member = add_member(
        conn,
        id=member_id,
        name=name,
        phone=phone,
        home_org_id=home_org_id or (org_id if org.community_id else None),
        home_unit_id=home_unit_id,
        skills=skills,
        public_profile=public_profile,
        now=now,
    )
    grant_role(conn, actor, member_id, org_id, role, now=now)
    return member


def grant(conn: Connection, actor: str, member_id: str, org_id: str, role: Role) -> RoleGrant:
    """Grant an existing member a role (the library's :func:`grant_role`), NotFound for a member
    the actor cannot see (no role of theirs in the actor's orgs, and not the actor)."""
    member_view(conn, actor, member_id)
    return grant_role(conn, actor, member_id, org_id, role)


def revoke(conn: Connection, actor: str, member_id: str, org_id: str, role: Role) -> None:
    """Take a role away (the same people who may grant it)."""
    role = Role(role)
    org = get_org(conn, org_id)
    held = require(conn, actor, org.path, Act.GRANT_OFFICE if role in OFFICE else Act.GRANT_ROLE)
    if member_id == actor and role in OFFICE:
        lifecycle.require(Act.REVOKE_OWN_OFFICE, held)
    gone = conn.execute(
        roles.delete().where(
            roles.c.org_id == org_id, roles.c.member_id == member_id, roles.c.role == role.value
        )
    )
    if gone.rowcount == 0:
        raise NotFound("role", f"{member_id}:{org_id}:{role.value}")


def list_members(
    conn: Connection,
    actor: str,
    org_id: str,
    *,
    role: Role | None = None,
    cursor: str | None = None,
    limit: int = 50,
) -> Page:
    """Members holding a role on the org or inside it, by id; office of the org or above only
    (NotFound for anyone else). Items are :class:`Listed`."""
    org = get_org(conn, org_id)
    if not lifecycle.can(Act.LIST_MEMBERS, roles_on(conn, actor, org.path)):
        raise NotFound("org", org_id)
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= 200:
        raise InvalidInput("limit", Cause("range", {"low": 1, "high": 200}))
    inside = sa.and_(roles.c.org_id == orgs.c.id, orgs.c.path.startswith(org.path, autoescape=True))
    held = sa.select(roles.c.member_id).select_from(roles.join(orgs, inside))
    if role is not None:
        held = held.where(roles.c.role == Role(role).value)
    query = sa.select(members).where(members.c.id.in_(held))
    if cursor is not None:
        query = query.where(members.c.id > check_id("cursor", cursor))
    rows = (conn.execute(query.order_by(members.c.id).limit(limit + 1))).all()
    found = [sqltypes.to_struct(r, Member) for r in rows[:limit]]
    grants: dict[str, list[Grant]] = {m.id: [] for m in found}
    if found:
        granted = conn.execute(
            sa.select(roles.c.member_id, roles.c.org_id, orgs.c.name, roles.c.role)
            .select_from(roles.join(orgs, inside))
            .where(roles.c.member_id.in_(list(grants)))
            .order_by(roles.c.member_id, orgs.c.path, roles.c.role)
        )
        for member_id, gid, gname, grole in granted:
            grants[member_id].append(Grant(org_id=gid, org_name=gname, role=Role(grole)))
    items = tuple(Listed(member=m, grants=tuple(grants[m.id])) for m in found)
    return Page(items=items, next_cursor=found[-1].id if len(rows) > limit else None)


def members_in_care(
    conn: Connection,
    actor: str,
    community_id: str,
    member_ids: Sequence[str],
    act: Act,
    *,
    office_act: Act | None = None,
) -> tuple[Member, ...]:
    """The members of a community (each holds a role on it or inside it) that ``actor`` acts
    for with ``act``, in the order asked, when the table lets the actor take ``act`` on the
    community (office of it or above; NotFound for anyone else, as :func:`list_members`).
    NotFound names the first member who is not the community's: no member is acted for
    outside the actor's community, and nothing is half done. With ``office_act``, acting for a
    member who holds an office role there (staff, admin) needs that act too (NotAllowed): staff
    do not act for their peers as they act for residents. Three statements per 500 members."""
    community = get_org(conn, community_id)
    if community.community_id != community.id:
        raise NotFound("community", community_id)
    held_roles = roles_on(conn, actor, community.path)
    if not lifecycle.can(act, held_roles):
        raise NotFound("community", community_id)
    wanted = list(dict.fromkeys(check_id("member_id", m) for m in member_ids))
    inside = sa.and_(
        roles.c.org_id == orgs.c.id, orgs.c.path.startswith(community.path, autoescape=True)
    )
    held = sa.select(roles.c.member_id).select_from(roles.join(orgs, inside))
    found: dict[str, Member] = {}
    office: set[str] = set()
    for start in range(0, len(wanted), 500):  # bound the statement's parameters
        chunk = wanted[start : start + 500]
        rows = conn.execute(
            sa.select(members).where(members.c.id.in_(chunk), members.c.id.in_(held))
        )
        found.update((r.id, sqltypes.to_struct(r, Member)) for r in rows)
        if office_act is not None:
            office.update(
                conn.scalars(
                    held.where(
                        roles.c.member_id.in_(chunk), roles.c.role.in_([r.value for r in OFFICE])
                    )
                )
            )
    for member_id in wanted:
        if member_id not in found:
            raise NotFound("member", member_id)
    if office and office_act is not None:
        lifecycle.require(office_act, held_roles, where="member")
    return tuple(found[m] for m in wanted)


def grants_of(conn: Connection, member_id: str) -> tuple[Grant, ...]:
    """Every role the member holds, where."""
    rows = conn.execute(
        sa.select(roles.c.org_id, orgs.c.name, roles.c.role)
        .select_from(roles.join(orgs, orgs.c.id == roles.c.org_id))
        .where(roles.c.member_id == member_id)
        .order_by(orgs.c.path, roles.c.role)
    )
    return tuple(Grant(org_id=o, org_name=n, role=Role(r)) for o, n, r in rows)


def set_public_profile(conn: Connection, actor: str, public: bool) -> Member:
    """Opt in to (or out of) the public board and honour roll: the member decides alone."""
    get_member(conn, actor)
    conn.execute(members.update().where(members.c.id == actor).values(public_profile=bool(public)))
    return get_member(conn, actor)


def export_member(
    conn: Connection, actor: str, member_id: str, *, now: dt.datetime | None = None
) -> Export:
    """Everything kept about the member, for the member alone (NotFound for anyone else)."""
    if actor != member_id:
        raise NotFound("member", member_id)
    member = get_member(conn, member_id)
    theirs = sa.or_(wishes.c.beneficiary_id == member_id, wishes.c.posted_by == member_id)
    own_wishes = _rows(conn, sa.select(wishes).where(theirs))
    for w in own_wishes:
        w.pop("confirmation_code", None)
        if w["beneficiary_id"] != member_id:  # 代点单: the resident's place as the poster sees it
            w["address"] = mask_address(w["address"])
    own_claims = _rows(conn, sa.select(claims).where(claims.c.member_id == member_id))
    own_offers = _rows(conn, sa.select(offers).where(offers.c.member_id == member_id))
    done = _rows(conn, sa.select(transitions).where(transitions.c.actor_id == member_id))
    changed = _rows(
        conn,
        sa.select(member_changes)
        .where(member_changes.c.member_id == member_id)
        .order_by(member_changes.c.at, member_changes.c.id),
    )
    wallets, moves, served = _ledger(conn, member_id)
    told = _rows(conn, sa.select(outbox).where(outbox.c.member_id == member_id)
                 .order_by(outbox.c.created_at, outbox.c.id))  # fmt: skip
    prefs = _rows(conn, sa.select(notice_prefs).where(notice_prefs.c.member_id == member_id))
    return Export(
        member=member,
        roles=grants_of(conn, member_id),
        wishes=tuple(own_wishes),
        claims=tuple(own_claims),
        offers=tuple(own_offers),
        transitions=tuple(done),
        profile_changes=tuple(changed),
        accounts=tuple(wallets),
        transfers=tuple(moves),
        service_records=tuple(served),
        corrections=tuple(
            _rows(conn, sa.select(corrections).where(corrections.c.member_id == member_id))
        ),
        id_document=identity.document(conn, member_id, member_id),
        messages=tuple(told),
        notice_settings=prefs[0] if prefs else None,
        exported_at=now or utcnow(),
        consents=tuple(
            _rows(
                conn,
                sa.select(consents)
                .where(consents.c.member_id == member_id)
                .order_by(consents.c.purpose, consents.c.seq),
            )
        ),
    )


def anonymise(
    conn: Connection, actor: str, member_id: str, *, now: dt.datetime | None = None
) -> Member:
    """删除个人信息: the member (or an admin over them) erases the personal fields. The name
    becomes 已注销用户; phone, skills, key-household flags and consent go; the addresses,
    descriptions, comments and notes of wishes for them are erased, and their photos (a photo
    shows the home) and ID document deleted, their messages (消息) and notice settings too; their
    room, address and availability go, and the log of their profile's changes keeps who changed
    what when, without the values. Roles end. Ledger entries and the hours record stay."""
    member = get_member(conn, member_id)
    if actor != member_id:
        grants = grants_of(conn, member_id)
        mine = standing(conn, actor)
        allowed = any(
            lifecycle.can(Act.ANONYMISE_OTHER, mine.on(get_org(conn, g.org_id).path))
            for g in grants
        )
        if not allowed:
            raise NotFound("member", member_id)
    conn.execute(
        members.update()
        .where(members.c.id == member.id)
        .values(
            name=ANONYMOUS_NAME,
            phone=None,
            skills=[],
            key_household=[],
            key_household_consent=None,
            public_profile=False,
            room=None,
            address=None,
            availability=None,
            anonymised_at=sa.func.coalesce(members.c.anonymised_at, now or utcnow()),
        )
    )
    # the log of their profile's changes keeps who and when, not the values
    conn.execute(
        member_changes.update()
        .where(member_changes.c.member_id == member.id)
        .values(old=None, new=None)
    )
    conn.execute(
        wishes.update()
        .where(wishes.c.beneficiary_id == member.id)
        .values(
            address=ERASED,
            description=ERASED,  # free text: may hold health notes
            rating_comment=None,
            proxy_note=None,
            location=None,
            key_household=False,
        )
    )
    of_their_wishes = sa.exists().where(
        wishes.c.community_id == photos.c.community_id,
        wishes.c.id == photos.c.wish_id,
        wishes.c.beneficiary_id == member.id,
    )
    conn.execute(photos.delete().where(of_their_wishes))
    conn.execute(roles.delete().where(roles.c.member_id == member.id))
    identity.erase(conn, member.id)  # the ID document kept for certificates
    forget_notices(conn, member.id)
    return get_member(conn, member.id)


def _rows(conn: Connection, query: sa.Select[Any]) -> list[dict[str, Any]]:
    return [{str(k): _plain(v) for k, v in r._mapping.items()} for r in conn.execute(query)]


def _plain(value: Any) -> Any:
    return msgspec.to_builtins(value) if not isinstance(value, str | int | None) else value


def _ledger(
    conn: Connection, member_id: str
) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[dict[str, Any]]]:
    """The member's wallets with their statements, and their hours records, in every community."""
    wallets: list[dict[str, Any]] = []
    moves: list[dict[str, Any]] = []
    for account in points.accounts_of(conn, points.AccountKind.MEMBER, member_id):
        wallets.append(msgspec.to_builtins(account))
        cursor = None
        while True:
            page = points.statement(
                conn, account.community_id, account.id, cursor=cursor, limit=200
            )
            moves.extend(
                {"community_id": account.community_id, **msgspec.to_builtins(e)} for e in page.items
            )
            if page.next_cursor is None:
                break
            cursor = page.next_cursor
    served: list[dict[str, Any]] = []
    cursor = None
    while True:
        records = points.hours_records(conn, member_id, cursor=cursor, limit=200)
        served.extend(msgspec.to_builtins(r) for r in records.items)
        if records.next_cursor is None:
            break
        cursor = records.next_cursor
    return wallets, moves, served
