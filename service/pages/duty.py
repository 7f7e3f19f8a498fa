"""双报到登记: the community office records what an in-service party member did for the
community (月度报到, 季度调研, 解决问题, the "4+1"); the kinds, and who records which, are the
library's table (:data:`marketplace.DUTIES`). A wish the member served counts by itself."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

import msgspec
from litestar import Request, Response, get, post
from litestar.response import Template

import marketplace as mk
from marketplace import DUTIES, DutyKind
from service.api.common import MEMBER, Note, Now, Tx
from service.pages.common import CST, See, Viewer, done, handle, page, render
from service.pages.forms import Fields, Form, Invalid


class DutyForm(Fields, frozen=True, kw_only=True):
    member_id: Annotated[str, msgspec.Meta(pattern=r"^[A-Za-z0-9][A-Za-z0-9._:@-]{0,63}$")]
    kind: DutyKind
    date: Annotated[str, msgspec.Meta(pattern=r"^\d{4}-\d{2}-\d{2}$")]
    note: Note = ""


def _page(request: Request[Any, Any, Any], tx: Tx, viewer: Viewer, now: dt.datetime) -> Template:
    people = mk.reporting_members(tx, viewer.id, viewer.community())
    return render(
        request,
        "duty.html",
        viewer,
        values={"date": now.astimezone(CST).date().isoformat(), "kind": DutyKind.CHECKIN.value},
        people=people,
        kinds=[(k.value, DUTIES[k].label) for k in DutyKind],
    )


@get("/staff/duty", opt=MEMBER)
@page.read
def duty_page(request: Request[Any, Any, Any], tx: Tx, now: Now, viewer: See) -> Template:
    return _page(request, tx, viewer, now)


@post("/staff/duty", opt=MEMBER)
@page.write
def record(
    request: Request[Any, Any, Any], tx: Tx, now: Now, viewer: See, form: Form
) -> Response[Any]:
    def do() -> Response[Any]:
        data = form.parse(DutyForm)
        try:
            day = dt.date.fromisoformat(data.date)
        except ValueError:
            raise Invalid({"date": "日期格式不正确"}) from None
        at = min(dt.datetime.combine(day, dt.time(12), CST), now)  # noon that day, or now
        made = mk.record_duty(
            tx,
            viewer.id,
            community_id=viewer.community(),
            member_id=data.member_id,
            kind=data.kind,
            at=at,
            note=data.note,
            now=now,
        )
        return done("/staff/duty", f"已登记：{DUTIES[made.kind].label}")

    return handle(request, viewer, form, do, back="/staff/duty",
                  show=lambda tx: _page(request, tx, viewer, now))  # fmt: skip


ROUTES = [duty_page, record]
