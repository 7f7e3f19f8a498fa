"""Signing in and out (登录/退出), switching seats (切换身份), 长辈模式 and my profile (我的).

The sign-in form uses the API's own sign-in (the same throttle and token) and sets the same
HttpOnly cookie as ``POST /api/v1/auth/session``.
"""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from litestar import Request, Response, get, post
from litestar.datastructures import Cookie
from litestar.params import QueryParameter
from litestar.response import Redirect, Template

import marketplace as mk
import points
from service import auth
from service.api.codes import redeem_code
from service.api.common import MEMBER, PUBLIC, Me, Now, Tx
from service.api.session import session_cookies, sign_in
from service.pages import forms
from service.pages.common import (
    FAILURES,
    SEAT_COOKIE,
    See,
    Viewer,
    done,
    failure,
    handle,
    home_of,
    page,
    render,
    safe_next,
    set_elder_mode,
)
from service.pages.forms import Fields, Form, Invalid


class SignInForm(Fields, frozen=True, kw_only=True):
    phone: Annotated[str, msgspec.Meta(pattern=r"^1\d{10}$")]
    password: Annotated[str, msgspec.Meta(min_length=1, max_length=128)]
    next: Annotated[str, msgspec.Meta(max_length=500)] = "/"


@get("/login", opt=PUBLIC)
async def login_page(
    request: Request[Any, Any, Any],
    next: Annotated[str, QueryParameter(max_length=500)] = "/",
) -> Template:
    return render(request, "login.html", values={"next": safe_next(next)})


@post("/login", opt=PUBLIC)
async def login(request: Request[Any, Any, Any]) -> Response[Any]:
    """The sign-in form: the API's own sign-in (no unit of work: argon2 runs on a thread)."""
    form = await forms.read(request)
    try:
        data = form.parse(SignInForm)
        out = await sign_in(request, data.phone, data.password)
    except FAILURES as exc:
        status, errors = failure(request, exc)
        if "_form" in errors and status == 401:
            errors = {"password": errors.pop("_form")}
        values = {"phone": form.get("phone"), "next": form.get("next")}
        return render(request, "login.html", status=status, errors=errors, values=values)
    response = Redirect(path=safe_next(data.next), status_code=303)
    response.cookies.extend(session_cookies(request, out))
    response.cookies.append(Cookie(key=SEAT_COOKIE, value="", max_age=0, path="/"))
    return response


class CodeSignInForm(Fields, frozen=True, kw_only=True):
    phone: Annotated[str, msgspec.Meta(pattern=r"^1\d{10}$")]
    code: Annotated[str, msgspec.Meta(min_length=1, max_length=32, pattern=r"^[\d\s-]+$")]
    password: Annotated[str, msgspec.Meta(min_length=8, max_length=128)]
    password2: Annotated[str, msgspec.Meta(min_length=1, max_length=128)]


@get("/login/code", opt=PUBLIC)
async def code_page(request: Request[Any, Any, Any]) -> Template:
    """用验证码设置密码: the page a member opens with the one-time code staff gave them."""
    return render(request, "login_code.html")


@post("/login/code", opt=PUBLIC)
async def code_sign_in(request: Request[Any, Any, Any]) -> Response[Any]:
    """Set a password with a one-time code and sign in (the API's own ``POST /auth/code``: the
    same throttle, log and token); every older session of the member ends."""
    form = await forms.read(request)
    try:
        data = form.parse(CodeSignInForm)
        if data.password != data.password2:
            raise Invalid({"password2": "两次输入的密码不一致"})
        out = await redeem_code(request, data.phone, data.code, data.password)
    except FAILURES as exc:
        status, errors = failure(request, exc, form)
        values = {"phone": form.get("phone"), "code": form.get("code")}
        return render(request, "login_code.html", status=status, errors=errors, values=values)
    response = done("/", "密码已设置，您已登录")
    response.cookies.extend(session_cookies(request, out))
    response.cookies.append(Cookie(key=SEAT_COOKIE, value="", max_age=0, path="/"))
    return response


@post("/logout", opt=MEMBER)
@page.write
def logout(tx: Tx, me: Me) -> Redirect:
    """退出登录: every token of the member stops working (as the API's logout)."""
    auth.revoke_tokens(tx, me.id)
    return Redirect(
        path="/login",
        status_code=303,
        cookies=[
            Cookie(key=auth.TOKEN_COOKIE, value="", max_age=0, path="/"),
            Cookie(key=SEAT_COOKIE, value="", max_age=0, path="/"),
        ],
    )


@get("/", opt=MEMBER)
@page.read
def home(viewer: See) -> Redirect:
    return Redirect(path=viewer.home, status_code=303)


@get("/me", opt=MEMBER)
@page.read
def me_page(request: Request[Any, Any, Any], tx: Tx, viewer: See) -> Template:
    return me_page_of(request, tx, viewer)


def me_page_of(request: Request[Any, Any, Any], tx: Tx, viewer: Viewer) -> Template:
    """我的, with the member's own details in their form (个人资料), their consent to the
    national transfer, and their hours and star level across every community."""
    member = mk.member_view(tx, viewer.id, viewer.id).member
    values = {
        "address": member.address or "",
        "skills": "、".join(sorted(member.skills)),
        "availability": member.availability or "",
    }
    consent = mk.consent_of(tx, viewer.id)
    hours = points.hours_summary(tx, viewer.id)  # everywhere: the person's star level
    star_name = mk.records.star_name(hours.star_level)
    return render(request, "me.html", viewer, member=member, values=values, consent=consent,
                  hours=hours, star_name=star_name)  # fmt: skip


@post("/me/seat", opt=MEMBER)
@page.write
def switch_seat(request: Request[Any, Any, Any], viewer: See, form: Form) -> Response[Any]:
    """切换身份: which seat the pages act in (a view preference; the library decides rights)."""
    chosen = next((s for s in viewer.seats if s.key == form.get("seat")), None)
    if chosen is None:
        return done("/me", "没有这个身份", "error")
    name = chosen.community_name or chosen.org_name
    response = done(home_of(chosen), f"已切换为{name}的身份")
    response.cookies.append(Cookie(key=SEAT_COOKIE, value=chosen.key, path="/", samesite="lax"))
    return response


@post("/me/elder", opt=MEMBER)
@page.write
def elder(request: Request[Any, Any, Any], tx: Tx, now: Now, viewer: See, form: Form) -> Redirect:
    """长辈模式 on or off, remembered for the member."""
    on = form.get("on") == "1"
    set_elder_mode(tx, viewer.id, on, now)
    return done(safe_next(form.get("next"), "/me"), "已开启长辈模式" if on else "已关闭长辈模式")


@post("/me/public", opt=MEMBER)
@page.write
def public_profile(
    request: Request[Any, Any, Any], tx: Tx, viewer: See, form: Form
) -> Response[Any]:
    """Opt in to (or out of) the public board and honour roll."""
    on = form.get("on") == "1"

    def do() -> Response[Any]:
        mk.set_public_profile(tx, viewer.id, on)
        return done("/me", "已在光荣榜上公开姓名" if on else "已不在光荣榜上公开姓名")

    question = (
        "确定在公示栏和光荣榜上显示我的姓名吗？" if on else "确定不再在公示栏上显示我的姓名吗？"
    )
    return handle(request, viewer, form, do, ask=question, back="/me")


ROUTES = [
    login_page,
    login,
    code_page,
    code_sign_in,
    logout,
    home,
    me_page,
    switch_seat,
    elder,
    public_profile,
]
