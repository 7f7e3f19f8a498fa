"""Points in a community as its people use them (积分与积分超市): who may do what with the ledger.

The points library keeps the books and trusts its caller; this module is that caller for people.
A member sees and spends their own wallet; office (staff or admin of the community or above)
sees everyone's, runs the store (上架, 补货, 核销), versions the accrual policy, enters the hours
of an offline event, and corrects with adjustments. Anyone else gets NotFound: a wallet, an order
or an award of another community does not exist for them (tenancy).
"""

from __future__ import annotations

import datetime as dt

import msgspec
import sqlalchemy as sa
from sqlalchemy.engine import Connection

import points
from marketplace import bounds, lifecycle
from marketplace.bounds import least, most
from marketplace.errors import InvalidInput, NotFound
from marketplace.lifecycle import OFFICE, Act, Role
from marketplace.model import CHINA, Org, OrgKind
from marketplace.orgs import check_text, community_rules
from marketplace.outbox import emit
from marketplace.schema import orgs, roles
from marketplace.standing import standing_at
from points import AccountKind, Cause, Page, utcnow

MAX_EVENT_MEMBERS = 200


class Wallet(msgspec.Struct, frozen=True, kw_only=True):
    """A member's points in one community (我的积分)."""

    community_id: str
    member_id: str
    balance: int  # posted (余额)
    available: int  # may be spent now (可用): balance less what open orders hold
    held: int  # held by open redemption orders (冻结)
    incoming: int  # awarded for service, waiting for the resident's confirmation (待确认)
    earned: int  # every point ever credited and posted
    spent: int  # every point ever debited and posted


class EventHours(msgspec.Struct, frozen=True, kw_only=True):
    """One member's minutes at an offline event (线下活动), for batch entry."""

    member_id: str
    minutes: int


class EventAward(msgspec.Struct, frozen=True, kw_only=True):
    member_id: str
    minutes: int
    points: int
    transfer_id: str | None
    record_id: str


def community_roles(conn: Connection, actor: str, community_id: str) -> tuple[Org, frozenset[Role]]:
    """The community and the actor's roles there; NotFound when they hold none (tenancy).

    A role on a place inside the community (a resident of a grid) makes the actor a member of
    it too, for what every member may do; office powers need office on the community or above,
    so a role inside never counts as office here."""
    community, mine = standing_at(conn, actor, community_id)  # one statement
    if community is None or community.kind is not OrgKind.COMMUNITY:
        raise NotFound("community", community_id)
    held = mine.on(community.path, community_id) or mine.inside(community_id) - OFFICE
    if not held:
        raise NotFound("community", community_id)
    return community, held


def is_member(conn: Connection, member_id: str, community_id: str) -> bool:
    """Whether the member holds any role in the community (on it, above it, or inside it)."""
    try:
        community_roles(conn, member_id, community_id)
    except NotFound:
        return False
    return True


def require_office(conn: Connection, actor: str, community_id: str, act: Act) -> None:
    """The actor's roles in the community let them take ``act`` (office acts, ACTS)."""
    _, held = community_roles(conn, actor, community_id)
    lifecycle.require(act, held, where="community")


def _sees_member(conn: Connection, actor: str, community_id: str, member_id: str) -> None:
    """The member themself, or office of the community; NotFound for anyone else, and for
    someone the community never had (no role in it, no wallet there)."""
    if actor != member_id:
        try:
            _, held = community_roles(conn, actor, community_id)
        except NotFound:
            raise NotFound("member", member_id) from None
        if not held & OFFICE:
            raise NotFound("member", member_id)
    try:
        community_roles(conn, member_id, community_id)
    except NotFound:
        wallet_id = points.account_id(AccountKind.MEMBER, member_id)
        try:
            points.get_account(conn, community_id, wallet_id)
        except points.AccountNotFound:
            raise NotFound("member", member_id) from None


def wallet(conn: Connection, actor: str, community_id: str, member_id: str) -> Wallet:
    _sees_member(conn, actor, community_id, member_id)
    try:
        account = points.get_account(
            conn, community_id, points.account_id(AccountKind.MEMBER, member_id)
        )
    except points.AccountNotFound:
        return Wallet(
            community_id=community_id,
            member_id=member_id,
            balance=0,
            available=0,
            held=0,
            incoming=0,
            earned=0,
            spent=0,
        )
    return Wallet(
        community_id=community_id,
        member_id=member_id,
        balance=account.balance,
        available=account.available,
        held=account.debits_pending,
        incoming=account.credits_pending,
        earned=account.credits_posted,
        spent=account.debits_posted,
    )


def history(
    conn: Connection,
    actor: str,
    community_id: str,
    member_id: str,
    *,
    kinds: frozenset[points.TransferKind] = frozenset(),
    cursor: str | None = None,
    limit: int = 50,
) -> Page:
    """The member's statement (积分明细), newest first."""
    _sees_member(conn, actor, community_id, member_id)
    return points.statement(
        conn,
        community_id,
        points.account_id(AccountKind.MEMBER, member_id),
        kinds=kinds,
        cursor=cursor,
        limit=limit,
    )


def transfer_detail(
    conn: Connection, actor: str, community_id: str, transfer_id: str
) -> points.Transfer:
    """One transfer with its breakdown (为什么得到这些积分), for a party to it or office."""
    try:
        found = points.get_transfer(conn, community_id, transfer_id)
    except points.TransferNotFound:
        raise NotFound("transfer", transfer_id) from None
    mine = points.account_id(AccountKind.MEMBER, actor)
    if mine not in (found.debit_account_id, found.credit_account_id):
        try:
            _, held = community_roles(conn, actor, community_id)
        except NotFound:
            held = frozenset()
        if not lifecycle.can(Act.SEE_WALLETS, held):
            raise NotFound("transfer", transfer_id)
    return found


def hours(conn: Connection, actor: str, community_id: str, member_id: str) -> points.HoursSummary:
    """Verified minutes in the community, and the person's star level (志愿时长与星级: the
    level counts their minutes in every community)."""
    _sees_member(conn, actor, community_id, member_id)
    return points.hours_summary(conn, member_id, community_id=community_id)


def policy(conn: Connection, actor: str, community_id: str) -> tuple[int, points.AccrualPolicy]:
    """The accrual policy in force (积分规则), for anyone with a role in the community."""
    community_roles(conn, actor, community_id)
    return points.current_policy(conn, community_id)


def set_policy(
    conn: Connection,
    actor: str,
    community_id: str,
    new: points.AccrualPolicy,
    *,
    now: dt.datetime | None = None,
) -> int:
    """A new version of the policy (office); earlier awards keep the version they used."""
    require_office(conn, actor, community_id, Act.SET_POLICY)
    return points.set_policy(conn, community_id, new, actor=actor, now=now)


def catalog(
    conn: Connection,
    actor: str,
    community_id: str,
    *,
    include_inactive: bool = False,
    cursor: str | None = None,
    limit: int = 50,
) -> Page:
    """The points store (积分超市); delisted items only for office."""
    _, held = community_roles(conn, actor, community_id)
    if include_inactive:
        lifecycle.require(Act.RUN_STORE, held, where="community")
    return points.list_items(
        conn, community_id, active_only=not include_inactive, cursor=cursor, limit=limit
    )


def item(conn: Connection, actor: str, community_id: str, item_id: str) -> points.CatalogItem:
    _, held = community_roles(conn, actor, community_id)
    found = points.get_item(conn, community_id, item_id)
    if not found.active and not held & OFFICE:
        raise points.ItemNotFound(item_id)
    return found


def add_item(
    conn: Connection,
    actor: str,
    community_id: str,
    *,
    name: str,
    cost: int,
    kind: points.ItemKind = points.ItemKind.GOODS,
    stock: int | None = None,
    per_member_limit: int | None = None,
    limit_period: points.LimitPeriod = points.LimitPeriod.EVER,
    valid_from: dt.datetime | None = None,
    valid_until: dt.datetime | None = None,
    now: dt.datetime | None = None,
) -> points.CatalogItem:
    """上架 (office)."""
    require_office(conn, actor, community_id, Act.RUN_STORE)
    return points.add_item(
        conn,
        community_id=community_id,
        name=name,
        cost=cost,
        kind=kind,
        stock=stock,
        per_member_limit=per_member_limit,
        limit_period=limit_period,
        valid_from=valid_from,
        valid_until=valid_until,
        now=now,
    )


def restock(
    conn: Connection, actor: str, community_id: str, item_id: str, change: int
) -> points.CatalogItem:
    """补货 (or a count correction downwards), office."""
    item(conn, actor, community_id, item_id)  # NotFound first: a missing item is missing
    require_office(conn, actor, community_id, Act.RUN_STORE)
    return points.restock(conn, community_id, item_id, change)


def set_item_active(
    conn: Connection, actor: str, community_id: str, item_id: str, active: bool
) -> points.CatalogItem:
    """上架/下架 (office)."""
    item(conn, actor, community_id, item_id)
    require_office(conn, actor, community_id, Act.RUN_STORE)
    return points.set_active(conn, community_id, item_id, active)


def redeem(
    conn: Connection,
    actor: str,
    community_id: str,
    item_id: str,
    *,
    quantity: int = 1,
    id: str | None = None,
    now: dt.datetime | None = None,
) -> points.Order:
    """兑换: the actor reserves an item with their own points (a delisted item is not found, but
    for office, who see it as unavailable)."""
    _, held = community_roles(conn, actor, community_id)
    order = points.redeem(
        conn,
        community_id=community_id,
        member_id=actor,
        item_id=item_id,
        quantity=quantity,
        id=id,
        hide_inactive=not lifecycle.can(Act.RUN_STORE, held),
        now=now,
    )
    # 待领取: the goods are held for the member until the order expires
    ready = {"order_id": order.id, "quantity": order.quantity, "points": order.points}
    emit(conn, community_id, "redemption.ready", ready, to=[actor], key=f"order:{order.id}",
         now=order.created_at)  # fmt: skip
    return order


def orders(
    conn: Connection,
    actor: str,
    community_id: str,
    *,
    member_id: str | None = None,
    status: points.OrderStatus | None = None,
    cursor: str | None = None,
    limit: int = 50,
) -> Page:
    """Orders, newest first: a member's own, or (office) anyone's or everyone's."""
    if member_id is None:
        require_office(conn, actor, community_id, Act.RUN_STORE)
    else:
        _sees_member(conn, actor, community_id, member_id)
    return points.list_orders(
        conn, community_id, member_id=member_id, status=status, cursor=cursor, limit=limit
    )


def order(conn: Connection, actor: str, community_id: str, order_id: str) -> points.Order:
    found = points.get_order(conn, community_id, order_id)
    try:
        _sees_member(conn, actor, community_id, found.member_id)
    except NotFound:
        raise points.OrderNotFound(order_id) from None
    return found


def cancel_order(
    conn: Connection,
    actor: str,
    community_id: str,
    order_id: str,
    *,
    now: dt.datetime | None = None,
) -> points.Order:
    """The member (or office) cancels an open order: points and stock come back."""
    order(conn, actor, community_id, order_id)
    return points.cancel(conn, community_id, order_id, actor=actor, now=now)


def fulfil_order(
    conn: Connection,
    actor: str,
    community_id: str,
    order_id: str,
    *,
    now: dt.datetime | None = None,
) -> points.Order:
    """核销: office hands the item over; the held points are posted to the store."""
    order(conn, actor, community_id, order_id)
    require_office(conn, actor, community_id, Act.RUN_STORE)
    return points.fulfil(conn, community_id, order_id, actor=actor, now=now)


def donate(
    conn: Connection,
    actor: str,
    community_id: str,
    amount: int,
    *,
    to_member: str | None = None,
    id: str | None = None,
    memo: str = "",
    now: dt.datetime | None = None,
) -> points.Transfer:
    """捐赠 to another member of the community, or to its pool, as the policy allows."""
    community_roles(conn, actor, community_id)
    check_text("memo", memo, 200, required=False)
    if to_member is not None:
        if to_member == actor:
            raise InvalidInput("to_member", Cause("self_donation"))
        if not is_member(conn, to_member, community_id):
            raise InvalidInput("to_member", Cause("not_community_member"))
    return points.donate(
        conn,
        community_id=community_id,
        from_member=actor,
        amount=amount,
        to_member=to_member,
        id=id,
        memo=memo,
        now=now,
    )


def adjust(
    conn: Connection,
    actor: str,
    community_id: str,
    member_id: str,
    change: int,
    *,
    reason: str,
    id: str | None = None,
    now: dt.datetime | None = None,
) -> points.Transfer:
    """调整: office corrects a member's points with a reason (never an edit: a new transfer)."""
    require_office(conn, actor, community_id, Act.ADJUST)
    check_text("reason", reason, 200)
    if not is_member(conn, member_id, community_id):
        raise NotFound("member", member_id)
    return points.adjust(
        conn,
        community_id=community_id,
        member_id=member_id,
        change=change,
        reason=reason,
        actor=actor,
        id=id,
        now=now,
    )


def reverse(
    conn: Connection,
    actor: str,
    community_id: str,
    transfer_id: str,
    *,
    reason: str,
    amount: int | None = None,
    now: dt.datetime | None = None,
) -> points.Transfer:
    """冲正: office undoes a posted transfer (in full or in part) with a new transfer the other
    way; the original stays on the record."""
    transfer_detail(conn, actor, community_id, transfer_id)  # NotFound unless seen
    require_office(conn, actor, community_id, Act.ADJUST)
    check_text("reason", reason, 200)
    return points.reverse(
        conn,
        community_id,
        transfer_id,
        amount=amount,
        id=points.derived_id("reversal", transfer_id),
        memo=reason,
        actor=actor,
        now=now,
    )


def correct_hours(
    conn: Connection,
    actor: str,
    community_id: str,
    reference: str,
    minutes: int,
    *,
    reason: str,
    now: dt.datetime | None = None,
) -> points.ServiceRecord:
    """更正时长: office corrects an hours record by signed minutes, with a reason."""
    require_office(conn, actor, community_id, Act.ADJUST)
    try:
        return points.correct_service(
            conn,
            community_id=community_id,
            reference=reference,
            minutes=minutes,
            reason=reason,
            actor=actor,
            now=now,
        )
    except points.NotFound:
        raise NotFound("service record", reference) from None


def record_event(
    conn: Connection,
    actor: str,
    community_id: str,
    *,
    event_id: str,
    category: str,
    title: str,
    started_at: dt.datetime,
    attendance: tuple[EventHours, ...],
    now: dt.datetime | None = None,
) -> list[EventAward]:
    """线下活动时长批量录入: office enters the minutes several members served at one event.

    Each member's points are awarded by the policy (posted at once: staff verified the service)
    and their minutes written to the hours record, both under ``event:<event_id>:<member>``, so
    entering the same event twice awards nobody twice."""
    require_office(conn, actor, community_id, Act.ADJUST)
    rules = community_rules(conn, community_id)
    if category not in rules.categories:
        raise InvalidInput("category", Cause("unknown_category"))
    check_text("title", title, most(bounds.Title))
    if not isinstance(started_at, dt.datetime) or started_at.tzinfo is None:
        raise InvalidInput("started_at", Cause("needs_time_zone"))
    now = now or utcnow()
    if started_at > now:
        raise InvalidInput("started_at", Cause("in_future"))
    if not 1 <= len(attendance) <= MAX_EVENT_MEMBERS:
        raise InvalidInput("attendance", Cause("attendance_size", {"high": MAX_EVENT_MEMBERS}))
    seen = [a.member_id for a in attendance]
    if len(set(seen)) != len(seen):
        raise InvalidInput("attendance", Cause("duplicate_member"))
    for a in attendance:
        low, high = least(bounds.Minutes), most(bounds.Minutes)
        if not low <= a.minutes <= high:
            raise InvalidInput(
                "attendance", Cause("range", {"low": low, "high": high}, field="minutes")
            )
        if not is_member(conn, a.member_id, community_id):
            raise InvalidInput(
                "attendance", Cause("member_not_in_community", {"member": a.member_id})
            )
    made = []
    for a in attendance:
        reference = f"event:{event_id}:{a.member_id}"
        award = points.accrue(
            conn,
            community_id=community_id,
            member_id=a.member_id,
            activity=points.Activity(minutes=a.minutes, category=category, started_at=started_at),
            reference=reference,
            id=points.derived_id("event", f"{event_id}:{a.member_id}"),
            actor=actor,
            memo=title,
            now=now,
        )
        record = points.record_service(
            conn,
            community_id=community_id,
            member_id=a.member_id,
            category=category,
            minutes=a.minutes,
            served_on=started_at.astimezone(CHINA).date(),
            reference=reference,
            actor=actor,
            memo=title,
            now=now,
        )
        made.append(
            EventAward(
                member_id=a.member_id,
                minutes=a.minutes,
                points=award.accrual.points,
                transfer_id=award.transfer.id if award.transfer else None,
                record_id=record.id,
            )
        )
    return made


def audit(conn: Connection, actor: str, community_id: str | None = None) -> list[points.Problem]:
    """The ledger audit: of one community (its office), or of all (an admin of a root org)."""
    if community_id is not None:
        require_office(conn, actor, community_id, Act.AUDIT_COMMUNITY)
        return points.audit(conn, community_id)
    root_admin = conn.scalar(
        sa.select(sa.literal(1))
        .select_from(roles.join(orgs, orgs.c.id == roles.c.org_id))
        .where(
            roles.c.member_id == actor,
            roles.c.role == Role.ADMIN.value,
            orgs.c.parent_id.is_(None),
            orgs.c.kind == OrgKind.DISTRICT.value,
        )
        .limit(1)
    )
    lifecycle.require(
        Act.AUDIT, frozenset({Role.ADMIN}) if root_admin else frozenset(), where="all"
    )
    return points.audit(conn)
