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
from service import auth
from service.api.common import MEMBER, Now, Tx
from service.pages.common import (
    CST,
    FAILURES,
    PAGE,
    Cursor,
    See,
    Viewer,
    after,
    confirm,
    done,
    failure,
    page,
    refused,
    render,
)
from service.pages.forms import Fields, Form, Invalid
from service.text import text
from service.uow import Rollback

Count = Annotated[int, msgspec.Meta(ge=0, le=1_000_000_000)]
GRANTABLE = (Role.RESIDENT, Role.VOLUNTEER, Role.PARTY_MEMBER, Role.GRID_WORKER, Role.STAFF)


class EventForm(Fields, frozen=True, kw_only=True):
    event_id: Annotated[str, msgspec.Meta(pattern=r"^[A-Za-z0-9][A-Za-z0-9._:@-]{0,63}$")]
    category: Annotated[str, text(1, 32)]
    title: Annotated[str, text(1, 100)]
    date: Annotated[str, msgspec.Meta(pattern=r"^\d{4}-\d{2}-\d{2}$")]
    time: Annotated[str, msgspec.Meta(pattern=r"^\d{2}:\d{2}(:\d{2})?$")]


class PolicyForm(Fields, frozen=True, kw_only=True):
    points_per_hour: Annotated[int, msgspec.Meta(ge=0, le=10_000)]
    rounding_step: Annotated[int, msgspec.Meta(ge=1, le=1000)] = 1
    min_minutes: Annotated[int, msgspec.Meta(ge=0, le=1440)] = 0
    max_minutes_per_activity: Annotated[int, msgspec.Meta(ge=1, le=1440)] = 480
    daily_cap: Annotated[int, msgspec.Meta(ge=1, le=10_000_000)] | None = None
    monthly_cap: Annotated[int, msgspec.Meta(ge=1, le=10_000_000)] | None = None
    key_household_bonus_percent: Annotated[int, msgspec.Meta(ge=0, le=1000)] = 0
    night_bonus_percent: Annotated[int, msgspec.Meta(ge=0, le=1000)] = 0
    expiry_days: Annotated[int, msgspec.Meta(ge=1, le=36_500)] | None = None
    donations: Literal["none", "pool", "any"] = "pool"


class GrantForm(Fields, frozen=True, kw_only=True):
    member_id: Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
    role: Literal["resident", "volunteer", "party_member", "grid_worker", "staff"]


class RegisterForm(Fields, frozen=True, kw_only=True):
    name: Annotated[str, text(1, 50)]
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
    *,
    status: int = 200,
    errors: dict[str, str] | None = None,
    values: dict[str, str] | None = None,
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
        status=status,
        errors=errors or {},
        values={**defaults, **(values or {})},
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
    if not form.confirmed:
        return confirm(
            request, viewer, form, "确定录入这次活动的志愿时长吗？", back="/staff/events"
        )
    try:
        data = form.parse(EventForm, ignore=("minutes",))
        attendance = []
        for key, value in form.pairs:
            if key.startswith("minutes:") and value.strip():
                if not value.strip().isdigit():
                    raise Invalid({key: "须为整数"})
                minutes = int(value)
                if minutes > 0:
                    attendance.append(mk.EventHours(member_id=key[8:], minutes=minutes))
        started = _moment(data.date, data.time)
        made = mk.wallet.record_event(
            tx,
            viewer.id,
            viewer.community(),
            event_id=data.event_id,
            category=data.category,
            title=data.title,
            started_at=started,
            attendance=tuple(attendance),
            now=now,
        )
    except FAILURES as exc:
        status, errors = failure(request, exc)
        raise Rollback(
            lambda tx: _events_page(
                request, tx, viewer, now, status=status, errors=errors, values=form.values
            )
        ) from exc
    total = sum(a.points for a in made)
    return done("/staff/events", f"已为 {len(made)} 人录入时长，共发放 {total} 积分")


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
    *,
    status: int = 200,
    errors: dict[str, str] | None = None,
    values: dict[str, str] | None = None,
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
        status=status,
        errors=errors or {},
        values={**shown, **(values or {})},
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
    if not form.confirmed:
        return confirm(
            request,
            viewer,
            form,
            "确定发布新版积分规则吗？之后的服务按新规则计分。",
            back="/staff/policy",
        )
    community_id = viewer.community()
    try:
        data = form.parse(PolicyForm)
        _, current = mk.wallet.policy(tx, viewer.id, community_id)
        changes: dict[str, Any] = msgspec.structs.asdict(data)
        new = msgspec.convert(
            {**msgspec.to_builtins(current), **msgspec.to_builtins(changes)}, AccrualPolicy
        )
        version = mk.wallet.set_policy(tx, viewer.id, community_id, new, now=now)
    except FAILURES as exc:
        status, errors = failure(request, exc)
        raise Rollback(
            lambda tx: _policy_page(
                request, tx, viewer, status=status, errors=errors, values=form.values
            )
        ) from exc
    return done("/staff/policy", f"积分规则第 {version} 版已生效")


# --- members and roles ----------------------------------------------------------------------


def _members_page(
    request: Request[Any, Any, Any],
    tx: Tx,
    viewer: Viewer,
    cursor: Cursor = None,
    *,
    status: int = 200,
    errors: dict[str, str] | None = None,
    values: dict[str, str] | None = None,
) -> Template:
    page = mk.list_members(tx, viewer.id, viewer.community(), cursor=cursor, limit=PAGE)
    return render(
        request,
        "members.html",
        viewer,
        status=status,
        errors=errors or {},
        values=values or {},
        page=page,
        grantable=GRANTABLE,
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
    if not form.confirmed:
        return confirm(request, viewer, form, "确定授予这个角色吗？", back="/staff/members")
    try:
        data = form.parse(GrantForm)
        mk.grant(tx, viewer.id, data.member_id, viewer.community(), Role(data.role))
    except FAILURES as exc:
        status, errors = failure(request, exc)
        raise Rollback(
            lambda tx: _members_page(
                request, tx, viewer, status=status, errors=errors, values=form.values
            )
        ) from exc
    return done("/staff/members", "已授予角色")


@post("/staff/members/revoke", opt=MEMBER)
@page.write
def revoke(request: Request[Any, Any, Any], tx: Tx, viewer: See, form: Form) -> Response[Any]:
    if not form.confirmed:
        return confirm(request, viewer, form, "确定收回这个角色吗？", back="/staff/members")
    try:
        data = form.parse(GrantForm, ignore=("org_id",))
        mk.revoke(tx, viewer.id, data.member_id, form.get("org_id"), Role(data.role))
    except FAILURES as exc:
        raise Rollback(refused(request, viewer, exc, back="/staff/members")) from exc
    return done("/staff/members", "已收回角色")


@post("/staff/members/new", opt=MEMBER)
@page.write
def register(
    request: Request[Any, Any, Any], tx: Tx, now: Now, viewer: See, form: Form
) -> Response[Any]:
    """Register a new member of the community (with a phone and password to sign in with)."""
    if not form.confirmed:
        return confirm(request, viewer, form, "确定登记这位新成员吗？", back="/staff/members")
    try:
        data = form.parse(RegisterForm)
        if data.password is not None and data.phone is None:
            raise Invalid({"phone": "设置密码时须填写手机号"})
        member = mk.register(
            tx, viewer.id, viewer.community(), name=data.name, role=Role(data.role),
            phone=data.phone, now=now,
        )  # fmt: skip
        if data.phone is not None and data.password is not None:
            auth.set_credentials(tx, member.id, data.phone, data.password)
    except FAILURES as exc:
        status, errors = failure(request, exc)
        raise Rollback(
            lambda tx: _members_page(
                request, tx, viewer, status=status, errors=errors, values=form.values
            )
        ) from exc
    return done("/staff/members", f"已登记：{member.name}")


ROUTES = [
    events_page,
    record_event,
    policy_page,
    set_policy,
    members,
    grant,
    revoke,
    register,
]
