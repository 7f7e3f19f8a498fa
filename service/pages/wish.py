"""One wish (心愿详情), for everyone who has business with it, and the frame of every action on it.

The page shows what :func:`marketplace.wish_view` lets this viewer see (masked contact unless
allowed, the confirmation code only for the resident and office) and offers the actions the
lifecycle table gives the viewer's roles (:func:`marketplace.wish_actions`); the action itself
still decides. Volunteers see in plain words why they cannot claim (:func:`marketplace.reasons`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Annotated, Any

from litestar import Request, Response, get
from litestar.params import QueryParameter
from litestar.response import Template
from sqlalchemy.engine import Connection

import marketplace as mk
from marketplace import Role, WishAction
from service.api.common import MEMBER, Now, Tx
from service.pages.common import FAILURES, PathId, See, Viewer, confirm, done, failure, page, render
from service.pages.forms import Form
from service.pages.offline import checkin_qr
from service.uow import Rollback


def wish_page(
    request: Request[Any, Any, Any],
    tx: Connection,
    viewer: Viewer,
    now: dt.datetime,
    wish_id: PathId,
    *,
    status: int = 200,
    errors: dict[str, str] | None = None,
    values: dict[str, str] | None = None,
    community: str | None = None,
) -> Template:
    """The wish page; ``community``: another community than the seat's (a street's or district's
    view from the escalation queue), shown without actions: they are taken in a community seat."""
    readonly = bool(community and community != viewer.community_id)
    community_id = community if readonly and community else viewer.community()
    view = mk.wish_view(tx, viewer.id, community_id, wish_id)
    may = mk.offered(view, now)  # the library's tables decide what the page offers
    actions = set() if readonly else {a.value for a in may.wish}
    claim_actions = set() if readonly else {a.value for a in may.claim}
    reasons: tuple[mk.Reason, ...] = ()
    can_claim = False
    if not readonly and WishAction.CLAIM in may.wish:
        reasons = mk.reasons(tx, viewer.id, community_id, wish_id, now=now)
        can_claim = not reasons
    lines = mk.wish_claims(tx, viewer.id, community_id, wish_id)
    unit = None
    unit_people: tuple[mk.Member, ...] = ()
    seat = viewer.seat
    if (
        not readonly
        and seat is not None
        and seat.role is Role.UNIT_ADMIN
        and Role.UNIT_ADMIN in view.viewer_roles
    ):
        unit = seat.org_id
        if any(line.claim.unit_id == unit and line.claim.places > 0 for line in lines):
            unit_people = mk.unit_members(tx, viewer.id, unit)
    history = mk.history(tx, community_id, wish_id)
    show_code = view.confirmation_code is not None and view.wish.state in mk.OPEN_WISH_STATES
    office = bool(view.viewer_roles & mk.OFFICE)
    return render(
        request,
        "wish.html",
        viewer,
        status=status,
        errors=errors or {},
        values=values or {},
        view=view,
        wish=view.wish,
        actions=actions,
        claim_actions=claim_actions,
        reasons=reasons,
        can_claim=can_claim,
        claims=lines,
        unit=unit,
        unit_people=unit_people,
        show_code=show_code,
        qr=checkin_qr(request, community_id, wish_id, now) if show_code and not office else None,
        history=[h for h in history if h.action != "settle"],
        office=office,
        readonly=readonly,
    )


@get("/wishes/{wish_id:str}", opt=MEMBER)
@page.read
def show(
    request: Request[Any, Any, Any],
    tx: Tx,
    now: Now,
    viewer: See,
    wish_id: PathId,
    c: Annotated[str | None, QueryParameter(max_length=64, required=False)] = None,
) -> Template:
    return wish_page(request, tx, viewer, now, wish_id, community=c)


def act(
    request: Request[Any, Any, Any],
    tx: Connection,
    viewer: Viewer,
    form: Form,
    now: dt.datetime,
    wish_id: PathId,
    question: str,
    do: Callable[[Form], str],
    *,
    to: str | None = None,
) -> Response[Any]:
    """Run one action on a wish from its page: ask once, do it, report; on a refusal show the
    page again with the reason (and roll back)."""
    back = f"/wishes/{wish_id}"
    if not form.confirmed:
        return confirm(request, viewer, form, question, back=back)
    try:
        message = do(form)
    except FAILURES as exc:
        status, errors = failure(request, exc)
        raise Rollback(
            lambda tx: wish_page(
                request, tx, viewer, now, wish_id, status=status, errors=errors, values=form.values
            )
        ) from exc
    return done(to or back, message)


ROUTES = [show]
