"""What every page shares: the viewer and their seats, rendering, results, form actions, errors.

A page handler is an API handler that answers in HTML: a plain function decorated ``@page.read``
or ``@page.write`` (one unit of work, :mod:`service.uow`) that takes the unit's connection ``tx``,
the signed-in member ``me`` and the app's clock ``now``, makes the same library calls as the API,
and renders a template. It may also take ``form`` (the posted form, read before the unit) and
``viewer``: the :class:`Viewer` adds what a page needs around that: the member's seats (身份) and
the one they act in now (a cookie: a view preference, never an authorization), and 长辈模式
(elder mode, stored per member in ``svc_preferences``).

Every form action goes one way, :func:`handle`: it asks once (htmx asks with ``hx-confirm`` and
sends ``confirmed=1``; without JavaScript the first POST answers with a confirmation page), does
the action, and answers with a redirect (303, post/redirect/get) carrying a flash message in a
short-lived cookie. Bad input or a refused action keeps nothing (the unit rolls back; a ledger
refusal behind it is still recorded) and shows the page the form is on again, with the Chinese
reason next to the field and what was typed, at that page's own address (``HX-Replace-Url``), so
a refresh shows the page and never the form's POST address. The drawn form's idempotency key
(``_idem``) is taken by the unit itself (:mod:`service.uow`): a form sent twice acts once.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable
from typing import Annotated, Any
from urllib.parse import quote, unquote

import msgspec
import sqlalchemy as sa
from litestar import MediaType, Request, Response
from litestar.datastructures import Cookie
from litestar.exceptions import (
    MethodNotAllowedException,
    NotAuthorizedException,
    NotFoundException,
)
from litestar.params import PathParameter, QueryParameter
from litestar.response import Redirect, Template
from litestar.utils.scope.state import ScopeState
from sqlalchemy.engine import Connection

import marketplace as mk
import points
from marketplace import Role
from service import auth, csrf, i18n, labels, problems, uow
from service.api.common import issue_cursor, read_cursor
from service.auth import Actor
from service.pages import access, forms
from service.pages.forms import Form, Invalid
from service.problems import ServiceError
from service.tables import preferences
from service.uow import Rollback

SEAT_COOKIE = "linli_seat"
FLASH_COOKIE = "linli_flash"
REFUSED = "linli_refused"
"""Where a refused form leaves its reasons and what was typed for :func:`render` (request state)."""
FAILURES = (Invalid, mk.MarketplaceError, points.PointsError, ServiceError)
"""What a form's action may raise that the form shows to the person (and rolls back)."""
PAGE = 20  # items per page of a list

HOME: dict[Role, str] = {
    Role.RESIDENT: "/wishes/mine",
    Role.VOLUNTEER: "/volunteer",
    Role.PARTY_MEMBER: "/volunteer",
    Role.GRID_WORKER: "/proxy",
    Role.STAFF: "/staff",
    Role.ADMIN: "/staff",
    Role.UNIT_ADMIN: "/unit",
}
NAV: dict[str, tuple[tuple[str, str], ...]] = {
    "resident": (("/wishes/mine", "我的心愿"), ("/wishes/new", "点单"), ("/offers", "互助")),
    "volunteer": (
        ("/volunteer", "推荐"),
        ("/wishes", "找心愿"),
        ("/claims", "我的认领"),
        ("/points", "积分"),
    ),
    "grid_worker": (("/proxy", "代点单"), ("/wishes/mine", "代点的心愿")),
    "staff": (
        ("/staff", "工作台"),
        ("/staff/verify", "审核"),
        ("/staff/orders", "核销"),
        ("/dashboard", "统计"),
    ),
    "unit_admin": (
        ("/unit", "单位"),
        ("/unit/report", "报表"),
        ("/wishes", "找心愿"),
        ("/staff/matters", "转派事项"),
    ),
    "area": (
        ("/dashboard", "统计"),
        ("/staff/matters", "吹哨事项"),
        ("/staff/escalations", "督办"),
        ("/staff/evaluation", "考评"),
        ("/staff/units", "单位"),
    ),
}
NAV_OF = {
    Role.RESIDENT: "resident",
    Role.VOLUNTEER: "volunteer",
    Role.PARTY_MEMBER: "volunteer",
    Role.GRID_WORKER: "grid_worker",
    Role.STAFF: "staff",
    Role.ADMIN: "staff",
    Role.UNIT_ADMIN: "unit_admin",
}


class Viewer(msgspec.Struct, frozen=True, kw_only=True):
    """The signed-in member as the pages see them."""

    actor: Actor
    name: str
    seats: tuple[mk.Seat, ...]
    seat: mk.Seat | None  # the one they act in now
    elder: bool  # 长辈模式

    @property
    def id(self) -> str:
        return self.actor.id

    @property
    def community_id(self) -> str | None:
        return self.seat.community_id if self.seat else None

    def community(self) -> str:
        """The community the current seat acts in (NoCommunity for a street or district seat)."""
        if self.seat is None or self.seat.community_id is None:
            raise NoCommunity
        return self.seat.community_id

    @property
    def home(self) -> str:
        return home_of(self.seat)

    @property
    def nav(self) -> tuple[tuple[str, str], ...]:
        if self.seat is None:
            return ()
        if self.seat.community_id is None:
            return NAV["area"]
        return NAV[NAV_OF.get(self.seat.role, "resident")]


def home_of(seat: mk.Seat | None) -> str:
    """The first page of a seat."""
    if seat is None:
        return "/me"
    if seat.community_id is None:
        return "/dashboard"
    return HOME.get(seat.role, "/me")


class NoCommunity(Exception):
    """The current seat works across communities; the page needs one."""


See = Viewer  # what a page handler takes as ``viewer``
PathId = Annotated[str, PathParameter(max_length=64)]
Cursor = Annotated[str | None, QueryParameter(max_length=200, required=False)]


def after(request: Request[Any, Any, Any], cursor: str | None) -> str | None:
    """The library's cursor inside the ``cursor`` of a page's list: sealed by the pager for this
    page (:func:`sealed`, the API's :func:`~service.api.common.issue_cursor`); any other is
    refused, as the API refuses it (422 ``invalid_cursor``, here a page in Chinese)."""
    return read_cursor(f"page:{request.url.path}", cursor)


def sealed(base: str, next_cursor: str | None) -> str | None:
    """The cursor the pager's 下一页 carries to ``base`` (a page's path and its query)."""
    return issue_cursor(f"page:{base.split('?')[0]}", next_cursor)


def viewer_of(conn: Connection, request: Request[Any, Any, Any], me: Actor | None) -> Viewer:
    """The signed-in member as the pages see them (made inside the page's unit of work)."""
    if me is None:
        raise NotAuthorizedException("sign in first")
    seats = mk.seats(conn, me.id)
    member = mk.get_member(conn, me.id)
    chosen = request.cookies.get(SEAT_COOKIE, "")
    seat = next((s for s in seats if s.key == chosen), None) or first_seat(conn, member, seats)
    if request.method in ("GET", "HEAD"):  # a page to show: may these roles open it?
        access.check(conn, request.scope.get("path_template", ""), me.id, seat)
    return Viewer(
        actor=me,
        name=member.name,
        seats=seats,
        seat=seat,
        elder=elder_mode(conn, me.id),
    )


def first_seat(conn: Connection, member: mk.Member, seats: tuple[mk.Seat, ...]) -> mk.Seat | None:
    """The seat the pages act in until the member picks one: one in the community they live in
    (their home org's), else the first; a party member of a unit paired with several communities
    starts in their own."""
    if len(seats) > 1 and member.home_org_id:
        home = mk.get_org(conn, member.home_org_id).community_id
        return next((s for s in seats if s.community_id == home), seats[0])
    return seats[0] if seats else None


async def _form(request: Request[Any, Any, Any], _given: dict[str, Any]) -> Form:
    return await forms.read(request)


page = uow.Units(provide={"viewer": viewer_of}, prepare={"form": _form}, keys=forms.FormKeys())
"""The pages' handlers: ``@page.read`` / ``@page.write``, taking ``viewer`` and ``form`` too;
a write takes the drawn form's idempotency key (:class:`~service.pages.forms.FormKeys`)."""

shown_once = uow.Units(provide={"viewer": viewer_of}, prepare={"form": _form})
"""Pages whose answer is shown once and kept nowhere (a one-time sign-in code): as ``page``,
without the form's idempotency key, whose kept answer would hold it. Sent twice, such a form
acts twice (a second code replaces the first, and the page shows the second)."""


def elder_mode(conn: Connection, member_id: str) -> bool:
    on = conn.scalar(
        sa.select(preferences.c.elder_mode).where(preferences.c.member_id == member_id)
    )
    return bool(on)


def set_elder_mode(conn: Connection, member_id: str, on: bool, now: dt.datetime) -> None:
    changed = conn.execute(
        preferences.update()
        .where(preferences.c.member_id == member_id)
        .values(elder_mode=on, updated_at=now)
    )
    if changed.rowcount == 0:
        conn.execute(
            preferences.insert().values(member_id=member_id, elder_mode=on, updated_at=now)
        )


def csrf_token(request: Request[Any, Any, Any]) -> str:
    """The token the CSRF check set for this request (or the cookie it came with)."""
    token = ScopeState.from_scope(request.scope).csrf_token
    if isinstance(token, str):
        return token
    return request.cookies.get(csrf.COOKIE, "")


def _flash(request: Request[Any, Any, Any]) -> tuple[str, str] | None:
    raw = request.cookies.get(FLASH_COOKIE)
    if not raw:
        return None
    kind, _, text = unquote(raw).partition(":")
    return (kind if kind in ("ok", "error") else "ok", text[:300])


def render(
    request: Request[Any, Any, Any],
    name: str,
    viewer: Viewer | None = None,
    *,
    status: int = 200,
    values: dict[str, str] | None = None,
    **context: Any,
) -> Template:
    """A page: the template with what every page shows (navigation, flash, CSRF token); shown
    again after a refused form (:func:`handle`), with its reasons and what was typed."""
    flash = _flash(request)
    cookies = [Cookie(key=FLASH_COOKIE, value="", max_age=0, path="/")] if flash else []
    errors, typed = request.state.get(REFUSED) or ({}, {})
    return Template(
        template_name=name,
        status_code=status,
        media_type=MediaType.HTML,  # whatever the handler's return annotation (Any: JSON)
        cookies=cookies,
        context={
            "viewer": viewer,
            "elder": viewer.elder if viewer else False,
            "csrf": csrf_token(request),
            "flash": flash,
            "path": request.url.path,
            "L": labels,
            "label": labels.label,
            "errors": errors,
            **context,
            "values": {**(values or {}), **typed},
        },
    )


def done(to: str, message: str, kind: str = "ok") -> Redirect:
    """The result of an action: back to a page, which shows ``message`` once."""
    flash = Cookie(key=FLASH_COOKIE, value=quote(f"{kind}:{message}"), max_age=60, path="/")
    return Redirect(path=safe_next(to), status_code=303, cookies=[flash])


def safe_next(to: str | None, default: str = "/") -> str:
    """A local path to go to (never another site)."""
    if not to or not to.startswith("/") or to.startswith("//") or "\\" in to:
        return default
    return to


def confirm(
    request: Request[Any, Any, Any],
    viewer: Viewer | None,
    form: Form,
    question: str,
    *,
    back: str,
) -> Template:
    """The no-JavaScript confirmation step: the same form again, with 确定 and 返回."""
    fields = [(k, v) for k, v in form.pairs if k not in ("_csrf_token", "confirmed")]
    if not form.get(forms.KEY):  # the form's own key, carried: both answers to it act once
        fields.append((forms.KEY, forms.new_key()))
    asked = render(
        request,
        "confirm.html",
        viewer,
        question=question,
        action=request.url.path,
        fields=fields,
        back=safe_next(back),
    )
    asked.headers["HX-Push-Url"] = "false"  # the address stays the form's page, never the POST
    return asked


Show = Callable[[Connection], Template]
"""The page a form is on, made from a connection (again, after a refusal)."""


def handle(
    request: Request[Any, Any, Any],
    viewer: Viewer,
    form: Form,
    do: Callable[[], Response[Any]],
    *,
    back: str,
    ask: str | Callable[[], str] | None = None,
    show: Show | None = None,
) -> Response[Any]:
    """One form action, the same way for every form: ask once (``ask``, the question; the page
    of the question goes ``back``), ``do`` it (its answer: :func:`done`); refused, keep nothing
    and show ``show`` (the page the form is on, at ``back``) again with the reasons and what was
    typed, or, for an action with no form to show again, the page that says why."""
    if ask is not None and not form.confirmed:
        question = ask if isinstance(ask, str) else ask()
        return confirm(request, viewer, form, question, back=back)
    try:
        return do()
    except FAILURES as exc:
        status, errors = failure(request, exc, form)

        def again(tx: Connection) -> Template:
            request.state[REFUSED] = (errors, form.values)
            if show is None:
                shown = render(
                    request, "refused.html", viewer, message=errors_text(errors), back=back
                )
            else:
                shown = show(tx)
            shown.status_code = status
            shown.headers["HX-Replace-Url"] = back  # a refresh shows the page, not the POST
            # htmx shows a boosted page from its top; a refused page from its first refused
            # field or reason drawn beside a button (else the top, where the flash says why),
            # however far down the form is
            shown.headers["HX-Reswap"] = "innerHTML show:.invalid,p.error[id]:top"
            return shown

        raise Rollback(again) from exc


def failure(
    request: Request[Any, Any, Any], exc: Exception, form: Form | None = None
) -> tuple[int, dict[str, str]]:
    """Status and ``{field: Chinese reason}`` of a refused form (the service's error table); a
    reason about a field the form did not send (the check-in's time) is the form's own."""
    if isinstance(exc, Invalid):
        return 422, exc.errors
    answer = problems.handle(request, exc)
    problem = answer.content
    status = problem.status
    if problem.field:
        field = problem.field.split(".")[-1].split("[")[0]
        reason = problem.detail.removeprefix(f"{i18n.field_zh(problem.field)}：")
        return status, {field if form is None or field in form.fields else "_form": reason}
    return status, {"_form": problem.detail}


def errors_text(errors: dict[str, str]) -> str:
    return "；".join(dict.fromkeys(errors.values()))


def page_error(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    """The pages' exception handler: signed out → the sign-in page; else a page in Chinese."""
    if isinstance(exc, NotAuthorizedException):
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        back = quote(target) if request.method == "GET" else "/"
        gone = Cookie(key=auth.TOKEN_COOKIE, value="", max_age=0, path="/")
        return Redirect(path=f"/login?next={back}", status_code=303, cookies=[gone])
    if isinstance(exc, NoCommunity):
        return done("/me", "请先切换到一个社区的身份", "error")
    if isinstance(exc, access.Refused):
        return error_page(request, 403, exc.message)
    if isinstance(exc, NotFoundException):  # no such page (routing), not a missing object
        return error_page(request, 404, "找不到这个页面，请检查网址，或回到首页")
    if isinstance(exc, MethodNotAllowedException):  # e.g. a form's address opened again
        return error_page(request, 405, "这个网址不能直接打开，请回到上一页重新操作")
    problem = problems.handle(request, exc).content
    return error_page(request, problem.status, problem.detail)


def error_page(request: Request[Any, Any, Any], status: int, message: str) -> Template:
    """The page that says what went wrong (页面不存在, 无权访问, …), in Chinese."""
    return Template(
        headers={"HX-Push-Url": "false"} if request.method != "GET" else {},  # not the POST
        template_name="error.html",
        status_code=status,
        context={
            "viewer": None,
            "elder": False,
            "csrf": csrf_token(request),
            "flash": None,
            "path": request.url.path,
            "message": message,
            "status": status,
            "heading": {404: "页面不存在", 403: "无权访问"}.get(status, "无法完成"),
        },
    )


def any_error(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    """The app's exception handler: a browser asking for a page outside the API (an unknown
    path, a method the path has not) gets a page in Chinese; everyone else the problem
    document (:func:`service.problems.wants_page` tells them apart)."""
    if problems.wants_page(request):
        return page_error(request, exc)
    return problems.handle(request, exc)


CST = dt.timezone(dt.timedelta(hours=8), "CST")
"""Community-local time (China Standard Time), as the pages show and read times."""


def china(moment: dt.datetime | None, fmt: str = "%m-%d %H:%M") -> str:
    """A time as China Standard Time, for people."""
    if moment is None:
        return ""
    return moment.astimezone(CST).strftime(fmt)


def wish_titles(
    conn: Connection, actor: str, community_id: PathId, wish_ids: Iterable[str]
) -> dict[str, mk.WishView]:
    """Wishes by id as the actor may see them (for lists of claims)."""
    found: dict[str, mk.WishView] = {}
    for wish_id in dict.fromkeys(wish_ids):
        try:
            found[wish_id] = mk.wish_view(conn, actor, community_id, wish_id)
        except mk.NotFound:
            continue
    return found
