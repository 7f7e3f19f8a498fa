"""服务记录与更正申请: the volunteer's hours records and her requests to correct one; the office's
queue (待处理) and its decisions. Rules and authorization are :mod:`marketplace.corrections`'."""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import quote

from litestar import Request, Response, get, post
from litestar.params import QueryParameter
from litestar.response import Template

import marketplace as mk
from marketplace import CorrectionField, CorrectionState
from service.api.common import MEMBER, Note, Now, Reason, Tx
from service.pages.common import PAGE, Cursor, PathId, See, after, done, handle, page, render
from service.pages.forms import Fields, Form
from service.text import text

Reference = Annotated[str | None, QueryParameter(max_length=128, required=False)]


class RequestForm(Fields, frozen=True, kw_only=True):
    reference: Annotated[str, text(1, 128)]
    field: CorrectionField
    proposed: Annotated[str, text(1, 32)]
    reason: Reason


class AcceptForm(Fields, frozen=True, kw_only=True):
    note: Note = ""


class RefuseForm(Fields, frozen=True, kw_only=True):
    reason: Reason


@get("/hours", opt=MEMBER)
@page.read
def my_hours(
    request: Request[Any, Any, Any], tx: Tx, viewer: See, cursor: Cursor = None
) -> Template:
    """我的服务记录: each record (originals, and the reversals and new entries of corrections),
    her star level, and her correction requests with their state."""
    community_id = viewer.community()
    hours = mk.wallet.hours(tx, viewer.id, community_id, viewer.id)
    records = mk.corrections.records(
        tx, viewer.id, community_id, viewer.id, cursor=after(request, cursor), limit=PAGE
    )
    asked = mk.my_corrections(tx, viewer.id, community_id=community_id, limit=PAGE)
    pending = {c.reference for c in asked.items if c.state is CorrectionState.PENDING}
    return render(request, "hours.html", viewer, hours=hours, records=records, asked=asked,
                  pending=pending)  # fmt: skip


def _request_page(
    request: Request[Any, Any, Any], tx: Tx, viewer: See, reference: str | None
) -> Template:
    community_id = viewer.community()
    standing = mk.corrections.record_of(tx, viewer.id, community_id, reference or "")
    rules = mk.community_rules(tx, community_id)
    return render(request, "correction_form.html", viewer, standing=standing,
                  reference=reference, categories=rules.categories)  # fmt: skip


@get("/corrections/new", opt=MEMBER)
@page.read
def request_page(
    request: Request[Any, Any, Any], tx: Tx, viewer: See, reference: Reference = None
) -> Template:
    """申请更正: the record as it stands and the form (what is wrong, the right value, why)."""
    return _request_page(request, tx, viewer, reference)


@post("/corrections", opt=MEMBER)
@page.write
def request_correction(
    request: Request[Any, Any, Any], tx: Tx, now: Now, viewer: See, form: Form
) -> Response[Any]:
    reference = form.get("reference", "")

    def do() -> Response[Any]:
        data = form.parse(RequestForm)
        made = mk.request_correction(
            tx, viewer.id, viewer.community(), reference=data.reference, field=data.field,
            proposed=data.proposed, reason=data.reason, now=now,
        )  # fmt: skip
        return done(f"/corrections/{made.id}", "已提交更正申请，社区工作人员核实后处理")

    return handle(
        request,
        viewer,
        form,
        do,
        back=f"/corrections/new?reference={quote(reference)}",
        show=lambda tx: _request_page(request, tx, viewer, reference),
    )


def _one(request: Request[Any, Any, Any], tx: Tx, viewer: See, correction_id: str) -> Template:
    view = mk.correction(tx, viewer.id, viewer.community(), correction_id)
    return render(request, "correction.html", viewer, view=view, c=view.correction)


@get("/corrections/{correction_id:str}", opt=MEMBER)
@page.read
def one(request: Request[Any, Any, Any], tx: Tx, viewer: See, correction_id: PathId) -> Template:
    """One request: its state and history, the record's rows (original, reversal, new entry),
    and for office the decision forms."""
    return _one(request, tx, viewer, correction_id)


@post("/corrections/{correction_id:str}/accept", opt=MEMBER)
@page.write
def accept(
    request: Request[Any, Any, Any],
    tx: Tx,
    now: Now,
    viewer: See,
    correction_id: PathId,
    form: Form,
) -> Response[Any]:
    def do() -> Response[Any]:
        data = form.parse(AcceptForm)
        made = mk.accept_correction(tx, viewer.id, viewer.community(), correction_id,
                                    note=data.note, now=now)  # fmt: skip
        change = (made.points_after or 0) - (made.points_before or 0)
        return done(f"/corrections/{correction_id}", f"已更正记录，积分变动 {change:+d}")

    return handle(
        request, viewer, form, do, ask="确定按申请更正这条服务记录吗？积分将随之冲正并重新计算。",
        back=f"/corrections/{correction_id}",
        show=lambda tx: _one(request, tx, viewer, correction_id),
    )  # fmt: skip


@post("/corrections/{correction_id:str}/refuse", opt=MEMBER)
@page.write
def refuse(
    request: Request[Any, Any, Any],
    tx: Tx,
    now: Now,
    viewer: See,
    correction_id: PathId,
    form: Form,
) -> Response[Any]:
    def do() -> Response[Any]:
        data = form.parse(RefuseForm)
        mk.refuse_correction(tx, viewer.id, viewer.community(), correction_id,
                             reason=data.reason, now=now)  # fmt: skip
        return done("/staff/corrections", "已驳回更正申请")

    return handle(
        request, viewer, form, do, ask="确定驳回这条更正申请吗？",
        back=f"/corrections/{correction_id}",
        show=lambda tx: _one(request, tx, viewer, correction_id),
    )  # fmt: skip


StateQuery = Annotated[CorrectionState | None, QueryParameter(name="state", required=False)]


@get("/staff/corrections", opt=MEMBER)
@page.read
def queue(
    request: Request[Any, Any, Any],
    tx: Tx,
    viewer: See,
    shown: StateQuery = None,
    cursor: Cursor = None,
) -> Template:
    """更正申请 (office): the pending ones by default, or the decided ones."""
    state = shown or CorrectionState.PENDING
    found = mk.correction_queue(tx, viewer.id, viewer.community(), states=frozenset({state}),
                                cursor=after(request, cursor), limit=PAGE)  # fmt: skip
    names = mk.corrections.requesters(tx, found)
    return render(request, "corrections_queue.html", viewer, page=found, state=state.value,
                  names=names, base=f"/staff/corrections?state={state.value}")  # fmt: skip


ROUTES = [my_hours, request_page, request_correction, one, accept, refuse, queue]
