"""One wish (心愿详情), for everyone who has business with it, and the frame of every action on it.

The page shows what :func:`marketplace.wish_view` lets this viewer see (masked contact unless
allowed, the confirmation code only for the resident and office) and offers the actions the
lifecycle table gives the viewer's roles (:func:`marketplace.wish_actions`); the action itself
still decides. Volunteers see in plain words why they cannot claim (:func:`marketplace.reasons`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Annotated, Any, NamedTuple

from litestar import Request, Response, get
from litestar.params import QueryParameter
from litestar.response import Template
from sqlalchemy.engine import Connection

import marketplace as mk
from marketplace import Act, Role, WishAction
from service import labels
from service.api.common import MEMBER, Now, Tx
from service.api.photos import photo_url
from service.pages.common import PathId, See, Viewer, done, handle, page, render
from service.pages.forms import Form
from service.pages.offline import checkin_qr
from service.pages.progress import progress


def wish_page(
    request: Request[Any, Any, Any],
    tx: Connection,
    viewer: Viewer,
    now: dt.datetime,
    wish_id: PathId,
    *,
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
    # 督办进度: the matters the community handed up for it (吹哨), in plain Chinese
    handed_up = mk.matter_lists.wish_matters(tx, community_id, wish_id)
    may_whistle = (
        not readonly
        and view.wish.state in mk.ESCALATING_WISH_STATES
        and not any(f.matter.state in mk.OPEN_MATTER_STATES for f in handed_up)
        and mk.can(Act.BLOW_WHISTLE, mk.matters.whistle_roles(tx, viewer.id, community_id))
    )
    # the wish's moves and its claims' own (the claim, check-in and check-out of each), and its
    # matters'
    ids = (*(line.claim.id for line in lines), *(f.matter.id for f in handed_up))
    history = mk.history(tx, community_id, wish_id, *ids)
    show_code = view.confirmation_code is not None and view.wish.state in mk.OPEN_WISH_STATES
    office = bool(view.viewer_roles & mk.OFFICE)
    return render(
        request,
        "wish.html",
        viewer,
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
        history=timeline(history),
        photos=mk.photos_of(tx, view),  # none unless the viewer sees the address
        photo_url=photo_url,
        office=office,
        readonly=readonly,
        matters=[(f, progress(f)) for f in handed_up],
        may_whistle=may_whistle,
        origin=mk.intake.origin_of(tx, view),  # Open311: the partner and the requester, office only
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


class Step(NamedTuple):
    """One line of 办理记录."""

    at: dt.datetime
    text: str


def timeline(moves: list[mk.Transition]) -> list[Step]:
    """办理记录 in Chinese, oldest first: the wish's moves and its claims'. A move the claims
    made on the wish (``settle``: every place taken, everyone served) reads as the claim's
    action with the wish's new state, and the claim's own line of that moment is left out."""
    on_wish = [m for m in moves if m.subject == "wish"]
    said = {(m.at, m.reason if m.action == "settle" else m.action) for m in on_wish}
    steps = []
    for m in on_wish:
        action = m.reason if m.action == "settle" else m.action
        state = labels.label(labels.WISH_STATES, m.to_state)
        text = f"{labels.label(labels.ACTIONS, action)} → {state}"
        if m.action == "escalate":
            levels = mk.escalation_levels(m.reason)
            text = labels.label(labels.ACTIONS, action)
            if levels:
                frm, to = (labels.label(labels.LEVELS, str(n)) for n in levels)
                text += f"：由{frm}升至{to}督办"
        elif m.reason and m.action != "settle":
            text += f"：{m.reason}"
        steps.append(Step(m.at, text))
    for m in moves:
        if m.subject == "matter":
            text = f"{labels.label(labels.MATTER_ACTIONS, m.action)} → "
            text += labels.label(labels.MATTER_STATES, m.to_state)
            why = labels.label(labels.MATTER_KINDS, m.reason) if m.action == "accept" else m.reason
            why = "" if m.action == "take_up" else why
            steps.append(Step(m.at, text + (f"：{why}" if why else "")))
            continue
        if m.subject != "claim" or (m.at, m.action) in said:
            continue
        state = labels.label(labels.CLAIM_STATES, m.to_state)
        text = f"{labels.label(labels.ACTIONS, m.action)} → {state}"
        steps.append(Step(m.at, text + (f"：{m.reason}" if m.reason else "")))
    return sorted(steps, key=lambda s: s.at)


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
    """One action on a wish from its page (:func:`~service.pages.common.handle`): ``do`` says
    what was done; a refusal shows the wish page again with the reason."""
    back = f"/wishes/{wish_id}"
    return handle(
        request,
        viewer,
        form,
        lambda: done(to or back, do(form)),
        ask=question,
        back=back,
        show=lambda tx: wish_page(request, tx, viewer, now, wish_id),
    )


ROUTES = [show]
