"""评单: the resident confirms and rates the service, or disputes it; staff resolve disputes.

Confirmation posts each served claim's pending accrual and writes its minutes to the hours record
(志愿服务时长), then closes the wish. A dispute resolved against the volunteer voids the accrual.
The conditional state change comes first, so a double confirmation (or a confirmation racing
the auto-accept sweep) awards once: the loser finds the wish no longer served.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy.engine import Connection

import points
from marketplace import bounds
from marketplace.bounds import most, within
from marketplace.lifecycle import ClaimAction, ClaimState, Role, WishAction, decide_claim
from marketplace.model import CHINA, Claim, Wish, WishKind
from marketplace.moves import claims_of, load_wish, move, roles_for, set_claim
from marketplace.orgs import check_text, community_rules
from points import utcnow

SYSTEM_ONLY = frozenset({Role.SYSTEM})


def confirm(
    conn: Connection,
    actor: str,
    community_id: str,
    wish_id: str,
    *,
    rating: int | None = None,
    comment: str = "",
    now: dt.datetime | None = None,
) -> Wish:
    """The resident (or staff for them, or the auto-accept sweep) confirms; points are posted."""
    now = now or utcnow()
    if rating is not None:
        within("rating", rating, bounds.Rating)
    check_text("comment", comment, most(bounds.Note), required=False)
    wish = load_wish(conn, community_id, wish_id)
    held = roles_for(conn, actor, wish)
    confirmed = move(
        conn,
        actor,
        wish,
        WishAction.CONFIRM,
        now=now,
        roles=held,
        reason=comment,
        values={"rating": rating, "rating_comment": comment or None, "deadline_at": None},
    )
    return _award_and_close(conn, actor, held, confirmed, now)


def dispute(
    conn: Connection,
    actor: str,
    community_id: str,
    wish_id: str,
    *,
    reason: str,
    now: dt.datetime | None = None,
) -> Wish:
    """The resident disputes the service (with a reason); staff will resolve it. The dispute is
    due like a verification (staff's turn: the category's ``verify_hours``); unresolved by then,
    the escalation sweep moves it up a level (吹哨) as any other stuck wish."""
    now = now or utcnow()
    check_text("reason", reason, most(bounds.Reason))
    wish = load_wish(conn, community_id, wish_id)
    hours = community_rules(conn, community_id).deadlines_for(wish.category).verify_hours
    return move(
        conn,
        actor,
        wish,
        WishAction.DISPUTE,
        reason=reason,
        now=now,
        values={"deadline_at": now + dt.timedelta(hours=hours)},
    )


def resolve(
    conn: Connection,
    actor: str,
    community_id: str,
    wish_id: str,
    *,
    for_volunteer: bool,
    reason: str,
    now: dt.datetime | None = None,
) -> Wish:
    """Staff settle a dispute: for the volunteer (points posted) or against (points voided)."""
    now = now or utcnow()
    check_text("reason", reason, most(bounds.Reason))
    wish = load_wish(conn, community_id, wish_id)
    held = roles_for(conn, actor, wish)
    if for_volunteer:
        confirmed = move(
            conn,
            actor,
            wish,
            WishAction.RESOLVE_FOR_VOLUNTEER,
            now=now,
            roles=held,
            reason=reason,
            values={"deadline_at": None},
        )
        return _award_and_close(conn, actor, held, confirmed, now)
    closed = move(
        conn,
        actor,
        wish,
        WishAction.RESOLVE_AGAINST_VOLUNTEER,
        now=now,
        roles=held,
        reason=reason,
        values={"closed_at": now, "deadline_at": None},
    )
    for c in claims_of(conn, community_id, wish_id):
        if c.state is ClaimState.CHECKED_OUT:
            decide_claim(c.state, ClaimAction.VOID, held)
            if c.award_id is not None:
                points.void_pending(
                    conn,
                    community_id,
                    c.award_id,
                    id=points.derived_id("void", c.id),
                    actor=actor,
                    memo=reason,
                    now=now,
                )
            set_claim(conn, c, ClaimState.VOIDED, actor, held, reason, now, {"closed_at": now},
                      wish=closed)  # fmt: skip
    return closed


def _award_and_close(
    conn: Connection, actor: str, held: frozenset[Role], wish: Wish, now: dt.datetime
) -> Wish:
    rules = community_rules(conn, wish.community_id)
    for c in claims_of(conn, wish.community_id, wish.id):
        if c.state is ClaimState.CHECKED_OUT:
            decide_claim(c.state, ClaimAction.CONFIRM, held)
            _award(conn, actor, wish, c, rules.goods_points, now)
            set_claim(conn, c, ClaimState.CONFIRMED, actor, held, "", now, {"closed_at": now},
                      wish=wish)  # fmt: skip
    return move(
        conn, actor, wish, WishAction.CLOSE, now=now, roles=SYSTEM_ONLY, values={"closed_at": now}
    )


def _award(
    conn: Connection, actor: str, wish: Wish, c: Claim, goods_points: int, now: dt.datetime
) -> None:
    assert c.member_id is not None
    if c.award_id is not None:
        points.post_pending(
            conn,
            wish.community_id,
            c.award_id,
            id=points.derived_id("post", c.id),
            actor=actor,
            now=now,
        )
    if wish.kind is WishKind.SERVICE and c.minutes:
        assert c.checked_in_at is not None
        points.record_service(
            conn,
            community_id=wish.community_id,
            member_id=c.member_id,
            category=wish.category,
            minutes=c.minutes,
            served_on=c.checked_in_at.astimezone(CHINA).date(),
            reference=f"claim:{c.id}",
            actor=actor,
            memo=wish.title,
            now=now,
        )
    elif wish.kind is WishKind.GOODS and goods_points > 0:
        points.open_community(conn, wish.community_id)
        wallet = points.open_account(
            conn, wish.community_id, points.AccountKind.MEMBER, c.member_id
        )
        points.transfer(
            conn,
            community_id=wish.community_id,
            debit_account_id=points.account_id(points.AccountKind.POOL, wish.community_id),
            credit_account_id=wallet.id,
            amount=goods_points,
            kind=points.TransferKind.ACCRUAL,
            id=points.derived_id("goods", c.id),
            reference=f"claim:{c.id}",
            memo=wish.title,
            actor=actor,
            now=now,
        )
