"""The community office's pages (社区办公): batch entry of an offline event's hours (线下活动时长
录入), the accrual policy (积分规则, a new version), and members and roles (成员与角色). Every rule
is the library's (:mod:`marketplace.wallet`, :mod:`marketplace.people`); these pages only ask and
show."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

import msgspec
from litestar import Request, Response, get, post
from litestar.response import Template

import marketplace as mk
from marketplace import Role
from points import AccrualPolicy
from service import auth, codes
from service.api.common import MEMBER, Now, PersonName, Title, Tx
from service.pages.common import (
    CST,
    PAGE,
    Cursor,
    See,
    Viewer,
    after,
    china,
    done,
    handle,
    page,
    render,
    shown_once,
)
from service.pages.forms import Fields, Form, Invalid
from service.text import text

Count = Annotated[int, msgspec.Meta(ge=0, le=1_000_000_000)]
GRANTABLE = (Role.RESIDENT, Role.VOLUNTEER, Role.PARTY_MEMBER, Role.GRID_WORKER, Role.STAFF)


class EventForm(Fields, frozen=True, kw_only=True):
    event_id: Annotated[str, msgspec.Meta(pattern=r"^[A-Za-z0-9][A-Za-z0-9._:@-]{0,63}$")]
    category: Annotated[str, text(1, 32)]
    title: Title
    date: Annotated[str, msgspec.Meta(pattern=r"^\d{4}-\d{2}-\d{2}$")]
    time: Annotated[str, msgspec.Meta(pattern=r"^\d{2}:\d{2}(:\d{2})?$")]


def _policy_form(required: str, *optional: str) -> type[Fields]:
    """The policy's fields the page shows, each with the library's own type (its bounds written
    once, in :class:`points.AccrualPolicy`): an emptied field with no value to fall back on (a
    cap, the expiry) means none; any other, the library's default."""
    policy = {f.name: f for f in msgspec.structs.fields(AccrualPolicy)}
    fields: list[tuple[str, Any] | tuple[str, Any, Any]] = [(required, policy[required].type)]
    for name in optional:
        field = policy[name]
        nullable = isinstance(msgspec.inspect.type_info(field.type), msgspec.inspect.UnionType)
        fields.append((name, field.type, None if nullable else field.default))
    made = msgspec.defstruct("PolicyForm", fields, bases=(Fields,), frozen=True, kw_only=True)
    assert issubclass(made, Fields)
    return made


PolicyForm = _policy_form(
    "points_per_hour",
    "rounding_step",
    "min_minutes",
    "max_minutes_per_activity",
    "daily_cap",
    "monthly_cap",
    "key_household_bonus_percent",
    "night_bonus_percent",
    "expiry_days",
    "donations",
)


class GrantForm(Fields, frozen=True, kw_only=True):
    member_id: Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
    role: Literal["resident", "volunteer", "party_member", "grid_worker", "staff"]


class CodeForm(Fields, frozen=True, kw_only=True):
    member_id: Annotated[str, msgspec.Meta(min_length=1, max_length=64)]


class RegisterForm(Fields, frozen=True, kw_only=True):
    name: PersonName
    role: Literal["resident", "volunteer", "party_member", "grid_worker"]
    phone: Annotated[str, msgspec.Meta(pattern=r"^1\d{10}$")] | None = None
    password: Annotated[str, msgspec.Meta(min_length=8, max_length=128)] | None = None


# --- offline events -------------------------------------------------------------------------


def _volunteers(tx: Tx, viewer: Viewer) -> list[mk.Member]:
    found: list[mk.Member] = []
    cursor = None
    while True:
        page = mk.list_members(tx, viewer.id, viewer.community(), cursor=cursor, limit=200)
        found.extend(
            line.member
            for line in page.items
            if any(g.role in mk.CLAIMING for g in line.grants)  # who serves (the library's set)
        )
        if page.next_cursor is None or len(found) >= 400:
            return found
        cursor = page.next_cursor


def _events_page(
    request: Request[Any, Any, Any],
    tx: Tx,
    viewer: Viewer,
    now: dt.datetime,
) -> Template:
    rules = mk.community_rules(tx, viewer.community())
    local = now.astimezone(CST)
    defaults = {
        "event_id": f"event-{local:%Y%m%d-%H%M}",
        "date": local.date().isoformat(),
        "time": "09:00",
    }
    return render(
        request,
        "events.html",
        viewer,
        values=defaults,
        categories=rules.categories,
        people=_volunteers(tx, viewer),
    )


@get("/staff/events", opt=MEMBER)
@page.read
def events_page(request: Request[Any, Any, Any], tx: Tx, now: Now, viewer: See) -> Template:
    return _events_page(request, tx, viewer, now)


@post("/staff/events", opt=MEMBER)
@page.write
def record_event(
    request: Request[Any, Any, Any],
    tx: Tx,
    now: Now,
    viewer: See,
    form: Form,
) -> Response[Any]:
    """Several members' minutes at one offline event, in one go (idempotent by event id)."""

    def do() -> Response[Any]:
        data = form.parse(EventForm, ignore=("minutes",))
        attendance = []
        for key, value in form.pairs:
            if key.startswith("minutes:") and value.strip():
                if not value.strip().isdigit():
                    raise Invalid({key: "须为整数"})
                minutes = int(value)
                if minutes > 0:
                    attendance.append(mk.EventHours(member_id=key[8:], minutes=minutes))
        made = mk.wallet.record_event(
            tx,
            viewer.id,
            viewer.community(),
            event_id=data.event_id,
            category=data.category,
            title=data.title,
            started_at=_moment(data.date, data.time),
            attendance=tuple(attendance),
            now=now,
        )
        total = sum(a.points for a in made)
        return done("/staff/events", f"已为 {len(made)} 人录入时长，共发放 {total} 积分")

    return handle(
        request,
        viewer,
        form,
        do,
        ask="确定录入这次活动的志愿时长吗？",
        back="/staff/events",
        show=lambda tx: _events_page(request, tx, viewer, now),
    )


def _moment(date: str, time: str) -> dt.datetime:
    try:
        day, clock = dt.date.fromisoformat(date), dt.time.fromisoformat(time)
    except ValueError:
        raise Invalid({"date": "日期或时间格式不正确"}) from None
    return dt.datetime.combine(day, clock, tzinfo=CST)


# --- the accrual policy ---------------------------------------------------------------------


def _policy_page(
    request: Request[Any, Any, Any],
    tx: Tx,
    viewer: Viewer,
) -> Template:
    version, current = mk.wallet.policy(tx, viewer.id, viewer.community())
    shown = {
        k: "" if v is None else str(getattr(v, "value", v))
        for k, v in msgspec.structs.asdict(current).items()
        if k in PolicyForm.__struct_fields__
    }
    return render(
        request,
        "policy.html",
        viewer,
        values=shown,
        version=version,
        policy=current,
    )


@get("/staff/policy", opt=MEMBER)
@page.read
def policy_page(request: Request[Any, Any, Any], tx: Tx, viewer: See) -> Template:
    return _policy_page(request, tx, viewer)


@post("/staff/policy", opt=MEMBER)
@page.write
def set_policy(
    request: Request[Any, Any, Any],
    tx: Tx,
    now: Now,
    viewer: See,
    form: Form,
) -> Response[Any]:
    """A new version of the policy: the fields shown change, the rest stay as they were."""

    def do() -> Response[Any]:
        community_id = viewer.community()
        data = form.parse(PolicyForm)
        _, current = mk.wallet.policy(tx, viewer.id, community_id)
        changes: dict[str, Any] = msgspec.structs.asdict(data)
        new = msgspec.convert(
            {**msgspec.to_builtins(current), **msgspec.to_builtins(changes)}, AccrualPolicy
        )
        version = mk.wallet.set_policy(tx, viewer.id, community_id, new, now=now)
        return done("/staff/policy", f"积分规则第 {version} 版已生效")

    return handle(
        request,
        viewer,
        form,
        do,
        ask="确定发布新版积分规则吗？之后的服务按新规则计分。",
        back="/staff/policy",
        show=lambda tx: _policy_page(request, tx, viewer),
    )


# --- members and roles ----------------------------------------------------------------------


def _members_page(
    request: Request[Any, Any, Any],
    tx: Tx,
    viewer: Viewer,
    cursor: Cursor = None,
) -> Template:
    page = mk.list_members(tx, viewer.id, viewer.community(), cursor=cursor, limit=PAGE)
    roles = mk.seat_roles(tx, viewer.id, viewer.seat) if viewer.seat else frozenset()
    office_codes = mk.can(mk.Act.ISSUE_OFFICE_SIGN_IN_CODE, roles)
    codes_for = {
        line.member.id
        for line in page.items
        if office_codes or not any(g.role in mk.OFFICE for g in line.grants)
    }  # 发放重置码 where the library's table lets the viewer (a peer's code needs an admin)
    return render(
        request, "members.html", viewer, page=page, grantable=GRANTABLE, codes_for=codes_for
    )


@get("/staff/members", opt=MEMBER)
@page.read
def members(
    request: Request[Any, Any, Any], tx: Tx, viewer: See, cursor: Cursor = None
) -> Template:
    return _members_page(request, tx, viewer, after(request, cursor))


@post("/staff/members/grant", opt=MEMBER)
@page.write
def grant(request: Request[Any, Any, Any], tx: Tx, viewer: See, form: Form) -> Response[Any]:
    def do() -> Response[Any]:
        data = form.parse(GrantForm)
        mk.grant(tx, viewer.id, data.member_id, viewer.community(), Role(data.role))
        return done("/staff/members", "已授予角色")

    return handle(
        request,
        viewer,
        form,
        do,
        back="/staff/members",
        show=lambda tx: _members_page(request, tx, viewer),
        ask="确定授予这个角色吗？",
    )


@post("/staff/members/revoke", opt=MEMBER)
@page.write
def revoke(request: Request[Any, Any, Any], tx: Tx, viewer: See, form: Form) -> Response[Any]:
    def do() -> Response[Any]:
        data = form.parse(GrantForm, ignore=("org_id",))
        mk.revoke(tx, viewer.id, data.member_id, form.get("org_id"), Role(data.role))
        return done("/staff/members", "已收回角色")

    return handle(request, viewer, form, do, ask="确定收回这个角色吗？", back="/staff/members")


@post("/staff/members/new", opt=MEMBER)
@page.write
def register(
    request: Request[Any, Any, Any], tx: Tx, now: Now, viewer: See, form: Form
) -> Response[Any]:
    """Register a new member of the community (with a phone and password to sign in with)."""

    def do() -> Response[Any]:
        data = form.parse(RegisterForm)
        if data.password is not None and data.phone is None:
            raise Invalid({"phone": "设置密码时须填写手机号"})
        member = mk.register(
            tx, viewer.id, viewer.community(), name=data.name, role=Role(data.role),
            phone=data.phone, now=now,
        )  # fmt: skip
        if data.phone is not None and data.password is not None:
            auth.set_credentials(tx, member.id, data.phone, data.password)
        return done("/staff/members", f"已登记：{member.name}")

    return handle(
        request,
        viewer,
        form,
        do,
        back="/staff/members",
        show=lambda tx: _members_page(request, tx, viewer),
        ask="确定登记这位新成员吗？",
    )


@post("/staff/members/code", opt=MEMBER)
@shown_once.write
def issue_code(
    request: Request[Any, Any, Any], tx: Tx, now: Now, viewer: See, form: Form
) -> Response[Any]:
    """发放重置码: a one-time code for a member of the community (激活 for one with no password
    yet), shown once, large, with its expiry (:mod:`service.codes`). The page is kept nowhere:
    the browser is told not to store it, and its address stays the member list's."""

    def do() -> Response[Any]:
        data = form.parse(CodeForm)
        settings = request.app.state.settings
        issued = codes.issue_code(
            tx,
            viewer.id,
            viewer.community(),
            data.member_id,
            secret=settings.secret_key,
            lifetimes=codes.Lifetimes.of(settings),
            now=now,
            address=request.client.host if request.client else None,
        )
        minutes = int((issued.expires_at - now).total_seconds() // 60)
        shown = render(
            request,
            "sign_in_code.html",
            viewer,
            issued=issued,
            grouped=f"{issued.code[:4]} {issued.code[4:]}",
            expires=china(issued.expires_at, "%m月%d日 %H:%M"),
            lifetime=f"{minutes // 60}小时" if minutes >= 60 else f"{minutes}分钟",
        )
        shown.headers["Cache-Control"] = "no-store"
        shown.headers["HX-Push-Url"] = "false"  # a refresh shows the list, never the code again
        return shown

    return handle(
        request,
        viewer,
        form,
        do,
        ask="确定发放一次性验证码吗？该成员之前的验证码将失效。",
        back="/staff/members",
        show=lambda tx: _members_page(request, tx, viewer),
    )


ROUTES = [
    events_page,
    record_event,
    policy_page,
    set_policy,
    members,
    grant,
    revoke,
    register,
    issue_code,
]
