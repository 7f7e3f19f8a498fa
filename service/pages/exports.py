"""导出 (exports) for staff: pick an area, what, a period and a format; the file downloads.

``/staff/exports`` is the form (the areas are the dashboard's: the viewer's office seats and,
for a street or district, the communities under it). ``/staff/exports/file`` checks the request
in one read unit (the viewer, the page's access, :func:`marketplace.exports.plan`); a request
refused (an unknown kind, a period named badly, FROM after TO, a range too long) shows the form
again with the Chinese reason beside the field (422); a good one is written off the loop and
streamed (:func:`service.exports.stream`), and logged. The national records carry only members
who consented to the transfer; the others are counted (the page says so; the count travels in
the response's ``X-Linli-Withheld``), never written.

A member gives or withdraws their own consent to that transfer on 我的 (``/me/consent``); office
records one the member signed on paper, with the form's number (``/staff/exports/consent``).
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

import msgspec
from litestar import Request, Response, get, post
from litestar.params import QueryParameter
from litestar.response import Template
from sqlalchemy.engine import Connection

import marketplace as mk
from service import exports, uow
from service.api.common import MEMBER, Now, Tx
from service.pages.common import (
    See,
    Viewer,
    done,
    failure,
    handle,
    page,
    render,
    viewer_of,
)
from service.pages.dashboard import ROLLING, areas_of, choices
from service.pages.forms import Fields, Form

NATIONAL = ("volunteers", "records")
"""The kinds bound for the national volunteer information system (consent needed)."""
Text = Annotated[str, QueryParameter(max_length=32)]
Day = Annotated[str, QueryParameter(max_length=10)]


def period_named(period: str, start: str, end: str) -> str:
    """The period a form names: a range when either date is given (both are needed: a missing
    one is refused by the period's parser as a format), a rolling key as ``30d``, else itself."""
    if start or end:
        return f"{start}..{end}"
    return f"{period}d" if period in ROLLING else period


def _form_page(
    request: Request[Any, Any, Any],
    tx: Connection,
    viewer: Viewer,
    now: dt.datetime,
    *,
    status: int = 200,
    errors: dict[str, str] | None = None,
    values: dict[str, str] | None = None,
) -> Template:
    shown: dict[str, Any] = {"errors": errors} if errors else {}  # else a refused form's own
    areas = areas_of(tx, viewer)
    chosen = (values or {}).get("org") or (areas[0][0] if areas else "")
    log = mk.exports.logged(tx, viewer.id, chosen, limit=10) if chosen in dict(areas) else []
    return render(
        request,
        "exports.html",
        viewer,
        status=status,
        values=values,
        areas=areas,
        log=log,
        titles=exports.TITLES,
        kinds=list(exports.TITLES.items()),
        choices=choices(now),
        **shown,
    )


@get("/staff/exports", opt=MEMBER)
@page.read
def exports_page(request: Request[Any, Any, Any], tx: Tx, now: Now, viewer: See) -> Template:
    return _form_page(request, tx, viewer, now)


@get("/staff/exports/file", opt=MEMBER)
async def export_file(
    request: Request[Any, Any, Any],
    org: Text = "",
    kind: Text = "",
    period: Text = "30",
    start: Day = "",
    end: Day = "",
    format: Text = "xlsx",
) -> Response[Any]:
    """The file, or the form again with the reason (422)."""
    now: dt.datetime = request.app.state.clock()
    typed = {"org": org, "kind": kind, "period": period, "start": start, "end": end,
             "format": format}  # fmt: skip

    def check(conn: Connection, me: Any) -> mk.exports.Plan | Template:
        viewer = viewer_of(conn, request, me)
        try:
            named = period_named(period, start, end)
            return mk.exports.plan(conn, viewer.id, org, kind, named, format, now=now)
        except (mk.InvalidInput, mk.NotFound) as refused:
            status, errors = failure(request, refused)
            if "org_id" in errors or isinstance(refused, mk.NotFound):
                errors = {"org": errors.pop("org_id", "") or "无权导出这个范围的数据"}
            return _form_page(request, conn, viewer, now, status=status, errors=errors,
                              values=typed)  # fmt: skip

    checked = await uow.run(request, check, write=False)
    if not isinstance(checked, mk.exports.Plan):
        return checked
    return await exports.stream(request.app.state.db, checked, channel="page", now=now)


class PaperConsent(Fields, frozen=True, kw_only=True):
    """书面同意: a consent the member signed on paper, recorded by office (or its withdrawal)."""

    member_id: Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
    form_number: Annotated[str, msgspec.Meta(min_length=1, max_length=60)]
    given: Literal["1", "0"] = "1"


@post("/staff/exports/consent", opt=MEMBER)
@page.write
def paper_consent(
    request: Request[Any, Any, Any], tx: Tx, now: Now, viewer: See, form: Form
) -> Response[Any]:
    """Office records a member's signed consent form (同意书编号) to the national transfer."""

    def do() -> Response[Any]:
        data = form.parse(PaperConsent)
        given = data.given == "1"
        mk.record_consent(tx, viewer.id, data.member_id, given=given,
                          community_id=viewer.community(), note=f"书面：{data.form_number}",
                          now=now)  # fmt: skip
        said = "已登记书面同意" if given else "已登记撤回同意"
        return done("/staff/exports", f"{said}：{data.member_id}")

    return handle(
        request,
        viewer,
        form,
        do,
        back="/staff/exports",
        show=lambda tx: _form_page(request, tx, viewer, now),
        ask="确定登记这份书面同意吗？",
    )


@post("/me/consent", opt=MEMBER)
@page.write
def consent(
    request: Request[Any, Any, Any], tx: Tx, now: Now, viewer: See, form: Form
) -> Response[Any]:
    """单独同意: the member gives or withdraws their consent to the national transfer."""
    given = form.get("given") == "1"

    def do() -> Response[Any]:
        mk.record_consent(
            tx, viewer.id, viewer.id, given=given, note="本人在“我的”页面确认", now=now
        )
        return done("/me", "已同意向全国志愿服务信息系统报送" if given else "已撤回同意")

    question = (
        "确定同意将您的志愿者信息和服务记录报送全国志愿服务信息系统吗？"
        if given
        else "确定撤回同意吗？撤回后您的记录不再报送。"
    )
    return handle(request, viewer, form, do, ask=question, back="/me")


ROUTES = [exports_page, export_file, paper_consent, consent]
