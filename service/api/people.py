"""Orgs, members and roles over HTTP, and each member's own data (我的资料, 下载, 注销)."""

from __future__ import annotations

from typing import Annotated, Any, ClassVar

import msgspec
from litestar import Controller, Request, Response, delete, get, post, put
from litestar.exceptions import NotAuthorizedException
from litestar.params import FromPath, FromQuery, JSONBody, PathParameter

import marketplace as mk
from marketplace import CommunityRules, KeyHousehold, Org, OrgKind, OrgRole, Role
from service import auth, uow
from service.api.common import (
    MEMBER,
    Cursor,
    Id,
    Input,
    Limit,
    Me,
    Name,
    Need,
    Now,
    Password,
    PersonName,
    Phone,
    ProfileText,
    Room,
    Skills,
    Tx,
    api,
    issue_cursor,
    problems,
    read_cursor,
)
from service.api.views import MemberChangeOut, MemberOut, MemberPage, OrgPage, member_out
from service.api.wishes import Community
from service.text import text

OrgId = Annotated[str, PathParameter(max_length=64)]
MemberId = Annotated[str, PathParameter(max_length=64)]


class OrgIn(Input, frozen=True, kw_only=True):
    id: Id
    kind: OrgKind
    name: Name
    parent_id: Id | None = None


class RegisterIn(Input, frozen=True, kw_only=True):
    """A new member of the org, with the role they hold there and how they sign in."""

    name: PersonName
    role: OrgRole
    phone: Phone | None = None
    password: Password | None = None  # needs a phone: then the member can sign in
    home_org_id: Id | None = None
    home_unit_id: Id | None = None
    skills: Skills = []
    public_profile: bool = False

    needs: ClassVar[tuple[Need, ...]] = (Need("phone", when="password"),)


class GrantIn(Input, frozen=True, kw_only=True):
    member_id: Id
    role: OrgRole


class PairIn(Input, frozen=True, kw_only=True):
    unit_id: Id


class KeyHouseholdIn(Input, frozen=True, kw_only=True):
    """重点家庭 types with the separate consent the law asks for."""

    flags: Annotated[list[KeyHousehold], msgspec.Meta(max_length=5)]
    purpose: Annotated[str, text(1, 200, lines=True)]  # what the consent covers


class ProfileIn(Input, frozen=True, kw_only=True):
    public_profile: bool  # on the public board and honour roll (公示栏/光荣榜)


class DetailsIn(Input, frozen=True, kw_only=True):
    """个人资料: what a member says of themself (null or empty: none)."""

    address: ProfileText | None = None  # 住址
    skills: Skills = []
    availability: ProfileText | None = None  # 可服务时间 (每周六上午)


class MemberEditIn(Input, frozen=True, kw_only=True):
    """Where a member of the community lives, their home unit, and the roles they hold in it."""

    home_org_id: Id | None = None  # a compound, grid or building of the community
    room: Room | None = None  # 房号
    home_unit_id: Id | None = None  # a unit paired with the community (在职党员)
    roles: Annotated[list[OrgRole], msgspec.Meta(max_length=7)] = []


class PasswordIn(Input, frozen=True, kw_only=True):
    old_password: Annotated[str, msgspec.Meta(min_length=1, max_length=128)]
    new_password: Password


class GrantOut(msgspec.Struct, frozen=True, kw_only=True):
    member_id: str
    org_id: str
    role: str


async def _password_hash(request: Request[Any, Any, Any], given: dict[str, Any]) -> str | None:
    """A new member's password, hashed before the unit of work (argon2 takes ≈ 50 ms)."""
    data: RegisterIn = given["data"]
    return None if data.password is None else await auth.hash_password(data.password)


async def _new_password(request: Request[Any, Any, Any], given: dict[str, Any]) -> auth.NewPassword:
    """The old password checked and the new one hashed, before the unit of work."""
    token = uow.signed(request)
    if token is None:
        raise NotAuthorizedException("sign in first")
    data: PasswordIn = given["data"]
    return await auth.new_password(
        request.app.state.db, token.id, data.old_password, data.new_password
    )


class OrgController(Controller):
    path = "/orgs"
    tags = ["orgs 组织与成员"]
    opt = MEMBER

    @post(
        "/", status_code=201, responses=problems(403, 404), summary="Create an org under a parent"
    )
    @api.write
    def create(
        self,
        tx: Tx,
        me: Me,
        now: Now,
        data: JSONBody[OrgIn],
    ) -> Org:
        return mk.create_org(
            tx,
            me.id,
            id=data.id,
            kind=data.kind,
            name=data.name,
            parent_id=data.parent_id,
            now=now,
        )

    @get("/{org_id:str}", responses=problems(404), summary="One org")
    @api.read
    def get_org(self, tx: Tx, me: Me, org_id: OrgId) -> Org:
        return mk.visible_org(tx, me.id, org_id)

    @get("/{org_id:str}/children", responses=problems(404), summary="The orgs under this one")
    @api.read
    def children(
        self,
        tx: Tx,
        me: Me,
        org_id: OrgId,
        cursor: Cursor = None,
        limit: Limit = 50,
    ) -> OrgPage:
        page = mk.child_orgs(tx, me.id, org_id, cursor=read_cursor("orgs", cursor), limit=limit)
        return OrgPage(items=list(page.items), next_cursor=issue_cursor("orgs", page.next_cursor))

    @get(
        "/{org_id:str}/members",
        responses=problems(404),
        summary="Members with a role here (office)",
    )
    @api.read
    def members(
        self,
        tx: Tx,
        me: Me,
        org_id: OrgId,
        role: FromQuery[Role | None] = None,
        cursor: Cursor = None,
        limit: Limit = 50,
    ) -> MemberPage:
        page = mk.list_members(
            tx, me.id, org_id, role=role, cursor=read_cursor("members", cursor), limit=limit
        )
        org = mk.get_org(tx, org_id)
        staff = org.community_id is not None and mk.staff_of(tx, me.id, org.community_id)
        items = [
            member_out(mk.privacy.member_for_list(line.member, sensitive=staff), line.grants)
            for line in page.items
        ]
        return MemberPage(items=items, next_cursor=issue_cursor("members", page.next_cursor))

    @post(
        "/{org_id:str}/members",
        status_code=201,
        responses=problems(403, 404, 409),
        summary="Register a member with a role here (office)",
    )
    @api.write_after(password_hash=_password_hash)
    def register(
        self,
        tx: Tx,
        me: Me,
        now: Now,
        org_id: OrgId,
        data: JSONBody[RegisterIn],
        password_hash: str | None,
    ) -> MemberOut:
        member = mk.register(
            tx,
            me.id,
            org_id,
            name=data.name,
            role=Role(data.role),
            phone=data.phone,
            home_org_id=data.home_org_id,
            home_unit_id=data.home_unit_id,
            skills=frozenset(data.skills),
            public_profile=data.public_profile,
            now=now,
        )
        if data.phone is not None and password_hash is not None:
            auth.set_credentials(tx, member.id, data.phone, password_hash)
        view = mk.member_view(tx, me.id, member.id)
        return member_out(view, mk.grants_of(tx, member.id))

    @post(
        "/{org_id:str}/roles",
        status_code=201,
        responses=problems(403, 404),
        summary="Grant a role on this org",
    )
    @api.write
    def grant(
        self,
        tx: Tx,
        me: Me,
        org_id: OrgId,
        data: JSONBody[GrantIn],
    ) -> GrantOut:
        made = mk.grant(tx, me.id, data.member_id, org_id, Role(data.role))
        return GrantOut(member_id=made.member_id, org_id=made.org_id, role=made.role.value)

    @delete(
        "/{org_id:str}/roles/{member_id:str}/{role:str}",
        status_code=204,
        responses=problems(403, 404),
        summary="Take a role away",
    )
    @api.write
    def revoke(
        self,
        tx: Tx,
        me: Me,
        org_id: OrgId,
        member_id: MemberId,
        role: FromPath[Role],
    ) -> None:
        mk.revoke(tx, me.id, member_id, org_id, role)


class CommunityController(Controller):
    path = "/communities/{community_id:str}"
    tags = ["orgs 组织与成员"]
    opt = MEMBER

    @post("/units", status_code=201, responses=problems(403, 404), summary="结对共建: pair a unit")
    @api.write
    def pair(
        self,
        tx: Tx,
        me: Me,
        now: Now,
        community_id: Community,
        data: JSONBody[PairIn],
    ) -> Org:
        mk.pair_unit(tx, me.id, data.unit_id, community_id, now=now)
        return mk.get_org(tx, data.unit_id)

    @get("/rules", responses=problems(404), summary="The community's rules")
    @api.read
    def rules(self, tx: Tx, me: Me, community_id: Community) -> CommunityRules:
        mk.wallet.community_roles(tx, me.id, community_id)
        return mk.community_rules(tx, community_id)

    @put("/rules", responses=problems(403, 404), summary="Set the community's rules (office)")
    @api.write
    def set_rules(
        self,
        tx: Tx,
        me: Me,
        now: Now,
        community_id: Community,
        data: JSONBody[CommunityRules],
    ) -> CommunityRules:
        mk.wallet.community_roles(tx, me.id, community_id)
        return mk.set_community_rules(tx, me.id, community_id, data, now=now)

    @put(
        "/members/{member_id:str}/key-household",
        responses=problems(403, 404),
        summary="重点家庭: record the types with the resident's separate consent",
    )
    @api.write
    def key_household(
        self,
        tx: Tx,
        me: Me,
        now: Now,
        community_id: Community,
        member_id: MemberId,
        data: JSONBody[KeyHouseholdIn],
    ) -> MemberOut:
        mk.member_view(tx, me.id, member_id)
        mk.set_key_household(
            tx,
            me.id,
            member_id,
            community_id,
            frozenset(data.flags),
            purpose=data.purpose,
            now=now,
        )
        return member_out(mk.member_view(tx, me.id, member_id))

    @put(
        "/members/{member_id:str}",
        responses=problems(403, 404),
        summary="Set where a member lives, their home unit and roles here (office; logged)",
    )
    @api.write
    def edit_member(
        self,
        tx: Tx,
        me: Me,
        now: Now,
        community_id: Community,
        member_id: MemberId,
        data: JSONBody[MemberEditIn],
    ) -> MemberOut:
        mk.edit_member(
            tx,
            me.id,
            community_id,
            member_id,
            home_org_id=data.home_org_id,
            room=data.room,
            home_unit_id=data.home_unit_id,
            roles_held=frozenset(Role(r) for r in data.roles),
            now=now,
        )
        return member_out(mk.member_view(tx, me.id, member_id), mk.grants_of(tx, member_id))


class MemberController(Controller):
    path = "/members"
    tags = ["orgs 组织与成员"]
    opt = MEMBER

    @get(
        "/{member_id:str}", responses=problems(404), summary="A member, as the caller may see them"
    )
    @api.read
    def get_member(self, tx: Tx, me: Me, member_id: MemberId) -> MemberOut:
        view = mk.member_view(tx, me.id, member_id)
        return member_out(view, mk.grants_of(tx, member_id))

    @get(
        "/{member_id:str}/changes",
        responses=problems(404),
        summary="资料变更记录: the member's logged profile changes, newest first",
    )
    @api.read
    def changes(
        self, tx: Tx, me: Me, member_id: MemberId, limit: Limit = 50
    ) -> list[MemberChangeOut]:
        return [
            MemberChangeOut(
                id=c.id, field=c.field, old=c.old, new=c.new, actor_id=c.actor_id,
                source=c.source, import_id=c.import_id, at=c.at,
            )
            for c in mk.profile_history(tx, me.id, member_id, limit=limit)
        ]  # fmt: skip


class MeController(Controller):
    path = "/me"
    tags = ["me 我的"]
    opt = MEMBER

    @get("/", responses=problems(), summary="The signed-in member, with their roles")
    @api.read
    def me(self, tx: Tx, me: Me) -> MemberOut:
        view = mk.member_view(tx, me.id, me.id)
        return member_out(view, mk.grants_of(tx, me.id))

    @put("/profile", responses=problems(), summary="Opt in to (or out of) the public board")
    @api.write
    def profile(
        self,
        tx: Tx,
        me: Me,
        data: JSONBody[ProfileIn],
    ) -> MemberOut:
        mk.set_public_profile(tx, me.id, data.public_profile)
        view = mk.member_view(tx, me.id, me.id)
        return member_out(view, mk.grants_of(tx, me.id))

    @put("/details", responses=problems(), summary="个人资料: my address, skills and availability")
    @api.write
    def details(self, tx: Tx, me: Me, now: Now, data: JSONBody[DetailsIn]) -> MemberOut:
        mk.edit_profile(
            tx,
            me.id,
            address=data.address,
            skills=frozenset(data.skills),
            availability=data.availability,
            now=now,
        )
        view = mk.member_view(tx, me.id, me.id)
        return member_out(view, mk.grants_of(tx, me.id))

    @get("/export", responses=problems(), summary="个人信息副本: everything kept about me")
    @api.read
    def export(self, tx: Tx, me: Me, now: Now) -> Response[Any]:
        data = mk.export_member(tx, me.id, me.id, now=now)
        return Response(
            content=data,
            headers={"Content-Disposition": f'attachment; filename="linli-{me.id}.json"'},
        )

    @post(
        "/deletion",
        status_code=200,
        responses=problems(),
        summary="注销: anonymise my personal data (ledger and hours stay)",
    )
    @api.write
    def delete_me(
        self,
        tx: Tx,
        me: Me,
        now: Now,
    ) -> MemberOut:
        member = mk.anonymise(tx, me.id, me.id, now=now)
        auth.forget(tx, me.id)
        return member_out(mk.MemberView(member=member, sensitive_shown=True))

    @post(
        "/password",
        status_code=204,
        responses=problems(),
        summary="Change my password (every earlier token stops working)",
    )
    @api.write_after(new=_new_password)
    def password(
        self,
        tx: Tx,
        me: Me,
        data: JSONBody[PasswordIn],
        new: auth.NewPassword,
    ) -> None:
        auth.store_password(tx, me.id, new)
