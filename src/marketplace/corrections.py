"""更正申请: a volunteer asks the community to correct her hours record; staff correct it or refuse.

志愿服务条例 art. 19 and 民政部令第67号 have the organiser keep a truthful record and correct the
errors a volunteer points out. A request names the record (its reference, ``claim:<id>`` for a
wish's service), what is wrong (the minutes, the day or the category), the value it should have
and why. It is ``pending`` (待处理) until the community's office decides: ``corrected`` (已更正:
:func:`points.amend_service` wrote a reversal and a new entry for the hours and, when the points
change with them, a reversal and a new accrual, in this transaction) or ``refused`` (已驳回, with
a reason). Who decides is ``lifecycle.CORRECTION_TABLE``; every step is recorded in
``mk_transitions`` (subject ``fix``) as wish moves are, and both sides read that history.

An accepted correction of the minutes, day or category also corrects the points they earned, by
the policy version the original award used: the volunteer's wallet then holds what the corrected
service earns, as if it had been recorded right the first time.

The volunteer is told the decision in its transaction (:mod:`marketplace.outbox`):
``correction.accepted`` (已更正) or ``correction.refused`` with the reason.
"""

from __future__ import annotations

import datetime as dt
import enum
from typing import Any

import msgspec
import sqlalchemy as sa
from sqlalchemy.engine import Connection

import points
from marketplace import bounds, lifecycle
from marketplace.bounds import least, most
from marketplace.errors import CorrectionPending, InvalidInput, NotFound
from marketplace.lifecycle import (
    OFFICE,
    Act,
    CorrectionAction,
    CorrectionState,
    Role,
    can_correct,
    decide_correction,
)
from marketplace.model import CHINA
from marketplace.orgs import check_text, community_rules
from marketplace.outbox import emit
from marketplace.schema import claims, corrections, members, transitions
from marketplace.wallet import community_roles
from points import Cause, Page, new_id, sqltypes, utcnow

SUBJECT = "fix"
"""The ``mk_transitions`` subject of a correction request's moves."""
NOTICES = {
    CorrectionState.CORRECTED: "correction.accepted",
    CorrectionState.REFUSED: "correction.refused",
}
"""The notice each decision sends the volunteer (``marketplace.notices.EVENTS``)."""


class CorrectionField(enum.StrEnum):
    """What a request says is wrong."""

    MINUTES = "minutes"  # 时长（分钟）
    SERVED_ON = "served_on"  # 服务日期
    CATEGORY = "category"  # 服务类别


class Correction(msgspec.Struct, frozen=True, kw_only=True):
    community_id: str
    id: str
    member_id: str
    reference: str
    record_id: str
    wish_id: str | None
    field: CorrectionField
    current: str
    proposed: str
    reason: str
    state: CorrectionState
    decided_by: str | None
    decided_at: dt.datetime | None
    decision_reason: str | None
    reversal_ids: tuple[str, ...] | None
    entry_id: str | None
    points_reversal_id: str | None
    award_id: str | None
    points_before: int | None
    points_after: int | None
    created_at: dt.datetime


class CorrectionMove(msgspec.Struct, frozen=True, kw_only=True):
    """One step of a request's history: who, when, from, to, why."""

    action: str
    from_state: str
    to_state: str
    actor_id: str
    reason: str
    at: dt.datetime


class CorrectionView(msgspec.Struct, frozen=True, kw_only=True):
    """A request with its history and the record's rows: the original, then every reversal and
    new entry under it (oldest first), so a corrected record is visible as such."""

    correction: Correction
    moves: tuple[CorrectionMove, ...]
    records: tuple[points.ServiceRecord, ...]
    may_decide: bool


class Proposal(msgspec.Struct, frozen=True, kw_only=True):
    """The record as a request would make it (pure :func:`propose`'s answer)."""

    current: str
    proposed: str
    minutes: int
    category: str
    served_on: dt.date


def propose(
    standing: points.RecordStanding,
    field: CorrectionField,
    proposed: str,
    *,
    categories: tuple[str, ...],
    today: dt.date,
) -> Proposal:
    """The corrected record: the record as it stands with ``field`` set to ``proposed``;
    InvalidInput when the value is malformed, out of bounds, or what the record says already."""
    minutes = standing.minutes
    if standing.parts:
        category, day = max(standing.parts, key=lambda k: standing.parts[k])
    else:
        category, day = standing.original.category, standing.original.served_on.isoformat()
    served_on = dt.date.fromisoformat(day)
    current = {"minutes": str(minutes), "served_on": day, "category": category}[field.value]
    value = proposed.strip()
    if field is CorrectionField.MINUTES:
        low, high = least(bounds.Minutes), most(bounds.Minutes)
        if not value.isdigit() or not low <= int(value) <= high:
            raise InvalidInput("proposed", Cause("range", {"low": low, "high": high}))
        minutes = int(value)
        value = str(minutes)
    elif field is CorrectionField.SERVED_ON:
        try:
            served_on = dt.date.fromisoformat(value)
        except ValueError:
            raise InvalidInput("proposed", Cause("date_format")) from None
        if served_on > today:
            raise InvalidInput("proposed", Cause("in_future"))
        value = served_on.isoformat()
    else:
        if value not in categories:
            raise InvalidInput("proposed", Cause("unknown_category"))
        category = value
    if value == current:
        raise InvalidInput("proposed", Cause("unchanged"))
    return Proposal(
        current=current, proposed=value, minutes=minutes, category=category, served_on=served_on
    )


def request_correction(
    conn: Connection,
    actor: str,
    community_id: str,
    *,
    reference: str,
    field: CorrectionField | str,
    proposed: str,
    reason: str,
    now: dt.datetime | None = None,
) -> Correction:
    """申请更正: the member asks the community to correct her record (a reason is required)."""
    now = now or utcnow()
    try:
        field = CorrectionField(field)
    except ValueError:
        raise InvalidInput("field", Cause("correction_field")) from None
    check_text("reason", reason, most(bounds.Reason))
    check_text("proposed", proposed, 32)
    check_text("reference", reference, 128)
    _, held = community_roles(conn, actor, community_id)
    standing = _standing(conn, community_id, reference)
    if standing.original.member_id == actor:
        held = held | {Role.RECORD_HOLDER}
    elif not held & OFFICE:  # someone else's record: nothing to learn about it
        raise NotFound("service record", reference)
    lifecycle.require(Act.REQUEST_CORRECTION, held, where="record")
    rules = community_rules(conn, community_id)
    made = propose(standing, field, proposed, categories=rules.categories,
                   today=now.astimezone(CHINA).date())  # fmt: skip
    pending = conn.scalar(
        sa.select(corrections.c.id).where(
            corrections.c.community_id == community_id,
            corrections.c.reference == standing.original.reference,
            corrections.c.state == CorrectionState.PENDING.value,
        )
    )
    if pending is not None:
        raise CorrectionPending(reference)
    wish_id = None
    if reference.startswith("claim:"):
        wish_id = conn.scalar(
            sa.select(claims.c.wish_id).where(
                claims.c.community_id == community_id, claims.c.id == reference[len("claim:") :]
            )
        )
    row: dict[str, Any] = {
        "community_id": community_id,
        "id": new_id(),
        "member_id": actor,
        "reference": standing.original.reference,
        "record_id": standing.original.id,
        "wish_id": wish_id,
        "field": field.value,
        "current": made.current,
        "proposed": made.proposed,
        "reason": reason,
        "state": CorrectionState.PENDING.value,
        "created_at": now,
    }
    try:
        with conn.begin_nested():
            conn.execute(corrections.insert().values(row))
    except sa.exc.IntegrityError:  # another request for the record went in meanwhile
        raise CorrectionPending(reference) from None
    _record(conn, row, "request", "new", CorrectionState.PENDING, actor, held, reason, now)
    return _load(conn, community_id, row["id"])


def accept_correction(
    conn: Connection,
    actor: str,
    community_id: str,
    correction_id: str,
    *,
    note: str = "",
    now: dt.datetime | None = None,
) -> Correction:
    """更正: office accepts; the record (and its points) are replaced by reversals and new
    entries in this transaction. A record changed since the request was made is corrected to
    the requested value as it stands now."""
    now = now or utcnow()
    check_text("note", note, most(bounds.Note), required=False)
    found, held = _decidable(conn, actor, community_id, correction_id)
    decide_correction(found.state, CorrectionAction.ACCEPT, held)
    standing = _standing(conn, community_id, found.reference)
    rules = community_rules(conn, community_id)
    made = propose(standing, found.field, found.proposed, categories=rules.categories,
                   today=now.astimezone(CHINA).date())  # fmt: skip
    done = points.amend_service(
        conn,
        community_id=community_id,
        reference=found.reference,
        minutes=made.minutes,
        category=made.category,
        served_on=made.served_on,
        reason=f"更正申请：{found.reason}"[: most(bounds.Reason)],
        actor=actor,
        now=now,
    )
    values = {
        "reversal_ids": [r.id for r in done.reversals],
        "entry_id": done.entry.id,
        "points_reversal_id": done.points_reversal.id if done.points_reversal else None,
        "award_id": done.award.id if done.award else None,
        "points_before": done.points_before,
        "points_after": done.points_after,
    }
    return _decide(conn, found, CorrectionState.CORRECTED, actor, held, note, now, values)


def refuse_correction(
    conn: Connection,
    actor: str,
    community_id: str,
    correction_id: str,
    *,
    reason: str,
    now: dt.datetime | None = None,
) -> Correction:
    """驳回: office refuses the request, with a reason the volunteer reads; nothing changes."""
    now = now or utcnow()
    check_text("reason", reason, most(bounds.Reason))
    found, held = _decidable(conn, actor, community_id, correction_id)
    decide_correction(found.state, CorrectionAction.REFUSE, held)
    return _decide(conn, found, CorrectionState.REFUSED, actor, held, reason, now, {})


def correction(
    conn: Connection, actor: str, community_id: str, correction_id: str
) -> CorrectionView:
    """A request, its history and the record's rows, for the volunteer who made it or office."""
    found, held = _decidable(conn, actor, community_id, correction_id)
    moves = conn.execute(
        sa.select(
            transitions.c.action,
            transitions.c.from_state,
            transitions.c.to_state,
            transitions.c.actor_id,
            transitions.c.reason,
            transitions.c.at,
        )
        .where(
            transitions.c.community_id == community_id,
            transitions.c.subject_id == correction_id,
            transitions.c.subject == SUBJECT,
        )
        .order_by(transitions.c.at, transitions.c.id)
    ).all()
    return CorrectionView(
        correction=found,
        moves=tuple(CorrectionMove(**m._mapping) for m in moves),
        records=points.record_history(conn, community_id, found.reference),
        may_decide=can_correct(found.state, CorrectionAction.ACCEPT, held),
    )


def record_of(
    conn: Connection, actor: str, community_id: str, reference: str
) -> points.RecordStanding:
    """The record under ``reference`` as it stands, for the member it is about or office
    (NotFound for anyone else): what a request form shows."""
    held = _roles_or_none(conn, actor, community_id)
    standing = _standing(conn, community_id, reference)
    if standing.original.member_id != actor and not held & OFFICE:
        raise NotFound("service record", reference)
    return standing


def records(
    conn: Connection,
    actor: str,
    community_id: str,
    member_id: str,
    *,
    cursor: str | None = None,
    limit: int = 50,
) -> Page:
    """A member's hours records in the community (originals and corrections, newest first), for
    herself or office: what a request names (an original's ``reference``). NotFound for an
    actor who holds no role in the community (tenancy), as for anyone else's records."""
    _, held = community_roles(conn, actor, community_id)
    if actor != member_id and not held & OFFICE:
        raise NotFound("member", member_id)
    if actor != member_id and not _roles_or_none(conn, member_id, community_id):
        raise NotFound("member", member_id)  # office asks of someone not of the community
    if not 1 <= limit <= 200:
        raise InvalidInput("limit", Cause("range", {"low": 1, "high": 200}))
    try:
        return points.hours_records(
            conn, member_id, community_id=community_id, cursor=cursor, limit=limit
        )
    except points.InvalidId:
        raise InvalidInput("cursor", Cause("cursor")) from None


def my_corrections(
    conn: Connection,
    actor: str,
    *,
    community_id: str | None = None,
    cursor: str | None = None,
    limit: int = 50,
) -> Page:
    """The actor's own requests (in one community, or everywhere), newest first; NotFound for a
    community the actor holds no role in."""
    query = sa.select(corrections).where(corrections.c.member_id == actor)
    if community_id is not None:
        community_roles(conn, actor, community_id)  # tenancy: a community of theirs
        query = query.where(corrections.c.community_id == community_id)
    return _page(conn, query, cursor, limit)


def correction_queue(
    conn: Connection,
    actor: str,
    community_id: str,
    *,
    states: frozenset[CorrectionState] = frozenset({CorrectionState.PENDING}),
    cursor: str | None = None,
    limit: int = 50,
) -> Page:
    """The community's requests in ``states`` (待处理 by default; empty: all), for office,
    newest first."""
    _, held = community_roles(conn, actor, community_id)
    lifecycle.require(Act.SEE_CORRECTIONS, held, where="community")
    query = sa.select(corrections).where(corrections.c.community_id == community_id)
    if states:
        query = query.where(
            corrections.c.state.in_(sorted(CorrectionState(s).value for s in states))
        )
    return _page(conn, query, cursor, limit)


def requesters(conn: Connection, page: Page) -> dict[str, str]:
    """The names of the members who made the requests on ``page`` (for office's queue; one
    statement)."""
    ids = sorted({c.member_id for c in page.items})
    if not ids:
        return {}
    rows = conn.execute(sa.select(members.c.id, members.c.name).where(members.c.id.in_(ids)))
    return {str(member_id): str(name) for member_id, name in rows.all()}


def _standing(conn: Connection, community_id: str, reference: str) -> points.RecordStanding:
    try:
        return points.record_standing(conn, community_id, reference)
    except points.NotFound:
        raise NotFound("service record", reference) from None


def _roles_or_none(conn: Connection, actor: str, community_id: str) -> frozenset[Role]:
    try:
        return community_roles(conn, actor, community_id)[1]
    except NotFound:
        return frozenset()


def _decidable(
    conn: Connection, actor: str, community_id: str, correction_id: str
) -> tuple[Correction, frozenset[Role]]:
    """The request and the actor's roles (with ``record_holder`` for the requester); NotFound
    for someone who is neither office nor the requester (she learns from the table that she may
    not decide)."""
    found = _load(conn, community_id, correction_id)
    held = _roles_or_none(conn, actor, community_id)
    if found.member_id == actor:
        held = held | {Role.RECORD_HOLDER}
    elif not held & OFFICE:
        raise NotFound("correction", correction_id)
    return found, held


def _decide(
    conn: Connection,
    found: Correction,
    to: CorrectionState,
    actor: str,
    held: frozenset[Role],
    reason: str,
    now: dt.datetime,
    values: dict[str, Any],
) -> Correction:
    moved = conn.execute(
        corrections.update()
        .where(
            corrections.c.community_id == found.community_id,
            corrections.c.id == found.id,
            corrections.c.state == CorrectionState.PENDING.value,
        )
        .values(
            state=to.value,
            decided_by=actor,
            decided_at=now,
            decision_reason=reason or None,
            **values,
        )
    )
    if moved.rowcount != 1:  # decided by someone else meanwhile
        lifecycle.stale(to.value, found.state.value, subject="correction")
    action = CorrectionAction.ACCEPT if to is CorrectionState.CORRECTED else CorrectionAction.REFUSE
    _record(conn, msgspec.to_builtins(found), action.value, found.state.value, to, actor, held,
            reason, now)  # fmt: skip
    told: dict[str, Any] = {"correction_id": found.id}
    if found.wish_id is not None:
        told["wish_id"] = found.wish_id
    if to is CorrectionState.REFUSED:
        told["reason"] = reason
    emit(conn, found.community_id, NOTICES[to], told, to=[found.member_id], now=now)
    return _load(conn, found.community_id, found.id)


def _record(
    conn: Connection,
    row: dict[str, Any],
    action: str,
    from_state: str,
    to: CorrectionState,
    actor: str,
    held: frozenset[Role],
    reason: str,
    now: dt.datetime,
) -> None:
    conn.execute(
        transitions.insert().values(
            community_id=row["community_id"],
            id=new_id(),
            subject=SUBJECT,
            subject_id=row["id"],
            action=action,
            from_state=from_state,
            to_state=to.value,
            actor_id=actor,
            roles=sorted(r.value for r in held),
            reason=reason,
            at=now,
        )
    )


def _load(conn: Connection, community_id: str, correction_id: str) -> Correction:
    row = conn.execute(
        sa.select(corrections).where(
            corrections.c.community_id == community_id, corrections.c.id == correction_id
        )
    ).first()
    if row is None:
        raise NotFound("correction", correction_id)
    return sqltypes.to_struct(row, Correction)


def _page(conn: Connection, query: sa.Select[Any], cursor: str | None, limit: int) -> Page:
    if not 1 <= limit <= 200:
        raise InvalidInput("limit", Cause("range", {"low": 1, "high": 200}))
    if cursor is not None:
        query = query.where(corrections.c.id < cursor)
    rows = conn.execute(query.order_by(corrections.c.id.desc()).limit(limit + 1)).all()
    items = tuple(sqltypes.to_struct(r, Correction) for r in rows[:limit])
    return Page(items=items, next_cursor=items[-1].id if len(rows) > limit else None)
