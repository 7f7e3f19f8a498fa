"""Profiles on the pages (个人资料): a member edits their own address, skills and availability on
我的; the office opens one member (成员资料) to set where they live (grid or building, room),
their home unit and their roles, and reads the log of every change (who, when, old → new).
The rules are the library's (:mod:`marketplace.profiles`)."""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from litestar import Request, Response, get, post
from litestar.response import Template

import marketplace as mk
from marketplace import Role
from service import i18n, labels
from service.api.common import MEMBER, Now, ProfileText, Room, Tx
from service.pages.common import PathId, See, Viewer, done, handle, page, render
from service.pages.forms import Fields, Form
from service.pages.resident import skills_of
from service.pages.session import me_page_of

EDITABLE_ROLES = (Role.RESIDENT, Role.VOLUNTEER, Role.PARTY_MEMBER, Role.GRID_WORKER, Role.STAFF)


class DetailsForm(Fields, frozen=True, kw_only=True):
    address: ProfileText | None = None
    skills: Annotated[str, msgspec.Meta(max_length=700)] = ""
    availability: ProfileText | None = None


class MemberForm(Fields, frozen=True, kw_only=True):
    home_org_id: Annotated[str, msgspec.Meta(max_length=64)] | None = None
    room: Room | None = None
    home_unit_id: Annotated[str, msgspec.Meta(max_length=64)] | None = None


@post("/me/details", opt=MEMBER)
@page.write
def details(
    request: Request[Any, Any, Any], tx: Tx, now: Now, viewer: See, form: Form
) -> Response[Any]:
    """The member's own address, skills and availability (each change logged)."""

    def do() -> Response[Any]:
        data = form.parse(DetailsForm)
        mk.edit_profile(
            tx,
            viewer.id,
            address=data.address,
            skills=skills_of(data.skills),
            availability=data.availability,
            now=now,
        )
        return done("/me", "已保存我的资料")

    return handle(
        request, viewer, form, do, back="/me", show=lambda tx: me_page_of(request, tx, viewer)
    )


def shown_value(field: str, value: Any) -> str:
    """A logged value as a page shows it: roles and key-household types in Chinese."""
    if value is None or value == []:
        return "（空）"
    if field == "roles":
        return "、".join(labels.label(labels.ROLES, v) for v in value)
    if field == "key_household":
        return "、".join(labels.label(labels.KEY_HOUSEHOLD, v) for v in value)
    if isinstance(value, list):
        return "、".join(str(v) for v in value)
    return str(value)


def _member_page(
    request: Request[Any, Any, Any], tx: Tx, viewer: Viewer, member_id: str
) -> Template:
    community_id = viewer.community()
    view = mk.member_view(tx, viewer.id, member_id)
    held = mk.profiles.community_roles(tx, community_id, member_id)
    places, units = mk.profiles.places(tx, viewer.id, community_id)
    member = view.member
    values = {
        "home_org_id": member.home_org_id or "",
        "room": member.room or "",
        "home_unit_id": member.home_unit_id or "",
    }
    return render(
        request,
        "member_profile.html",
        viewer,
        values=values,
        member=member,
        sensitive=view.sensitive_shown,
        held={r.value for _, r in held},
        editable=EDITABLE_ROLES,
        places=[(p.id, f"{labels.label(labels.ORG_KINDS, p.kind)} · {p.name}") for p in places],
        units=[(u.id, u.name) for u in units],
        history=mk.profile_history(tx, viewer.id, member_id, limit=100),
        field_zh=i18n.field_zh,
        shown=shown_value,
        names={p.id: p.name for p in (*places, *units)},
    )


@get("/staff/members/{member_id:str}", opt=MEMBER)
@page.read
def member_page(
    request: Request[Any, Any, Any], tx: Tx, viewer: See, member_id: PathId
) -> Template:
    return _member_page(request, tx, viewer, member_id)


@post("/staff/members/{member_id:str}/edit", opt=MEMBER)
@page.write
def edit_member(
    request: Request[Any, Any, Any],
    tx: Tx,
    now: Now,
    viewer: See,
    form: Form,
    member_id: PathId,
) -> Response[Any]:
    """Set where the member lives, their home unit and roles in the community (logged)."""
    back = f"/staff/members/{member_id}"

    def do() -> Response[Any]:
        data = form.parse(MemberForm, ignore=("roles",))
        chosen = set(form.getall("roles"))
        kept = {r for _, r in mk.profiles.community_roles(tx, viewer.community(), member_id)}
        roles = frozenset(r for r in EDITABLE_ROLES if r.value in chosen) | {
            r
            for r in kept
            if r not in EDITABLE_ROLES  # an admin's role is not the form's
        }
        mk.edit_member(
            tx,
            viewer.id,
            viewer.community(),
            member_id,
            home_org_id=data.home_org_id,
            room=data.room,
            home_unit_id=data.home_unit_id,
            roles_held=roles,
            now=now,
        )
        return done(back, "已保存成员资料")

    return handle(
        request,
        viewer,
        form,
        do,
        back=back,
        ask="确定保存这位成员的资料吗？",
        show=lambda tx: _member_page(request, tx, viewer, member_id),
    )


ROUTES = [details, member_page, edit_member]
