"""通知: which events tell whom, as data (pure; no I/O).

An event is a :class:`Notice`: a type from :data:`EVENTS`, the community, the member told (or
nobody: an event for the community's own systems only), its data, and whether it is
service-critical (sent even to a member who opted out of a channel). :func:`of_change` reads a
recorded move (``rollups.Change``: the transition row, the wish and claim as they stood) and says
which notices it makes; :mod:`marketplace.outbox` writes them in the move's own transaction.

Privacy (DESIGN.md §8): a notice's data names the wish (id, title), the claim, a reason, a
number; never a key-household type, a health note, an address or a phone number.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Mapping
from typing import Any

import msgspec

from marketplace.model import CHINA


class Event(msgspec.Struct, frozen=True, kw_only=True):
    critical: bool  # service-critical: no opt-out
    text: str  # the message centre's line (zh-CN), formatted with the notice's data
    params: tuple[str, ...] = ()  # the data an SMS template takes, in order


EVENTS: dict[str, Event] = {
    "wish.verified": Event(critical=False, text="您的心愿「{title}」已通过审核并发布",
                           params=("title",)),
    "wish.rejected": Event(critical=False, text="您的心愿「{title}」未通过审核：{reason}",
                           params=("title", "reason")),
    "wish.claimed": Event(critical=False, text="您的心愿「{title}」已有志愿者接单",
                          params=("title",)),
    "wish.dispatched": Event(critical=True, text="社区为您派单：「{title}」，请按时到场",
                             params=("title", "start")),
    "service.reminder": Event(critical=True, text="提醒：「{title}」将于 {start} 开始（{when}）",
                              params=("title", "start")),
    "service.started": Event(critical=False, text="志愿者已到达，开始为您服务「{title}」",
                             params=("title",)),
    "checkout.forgotten": Event(critical=True, text="您在「{title}」报到后尚未签退，请及时签退",
                                params=("title",)),
    "wish.served": Event(critical=False, text="「{title}」服务已完成，请确认并评价",
                         params=("title",)),
    "points.awarded": Event(critical=False, text="「{title}」服务已确认，积分已入账",
                            params=("title",)),
    "points.expiring": Event(critical=False, text="您有 {amount} 积分将于 {date} 到期",
                             params=("amount", "date")),
    "redemption.ready": Event(critical=False,
                              text="兑换的物品已备好（{quantity} 件，{points} 积分），请到社区领取",
                              params=("quantity", "points")),
    "escalation.overdue": Event(critical=True, text="心愿「{title}」已超时，升级至您所在层级处理",
                                params=("title",)),
    "reports.ready": Event(critical=False, text="{period} 季度统计报表已生成，可在“统计分析”查看",
                           params=("period",)),
    # 吹哨报到 (marketplace.matters): what came of a matter, told to the wish's resident
    "matter.accepted": Event(critical=False, text="您反映的「{title}」已由{by}受理，正在办理",
                             params=("title", "by")),
    "matter.understood": Event(critical=False,
                               text="您反映的「{title}」暂时无法解决，说明：{explanation}",
                               params=("title", "explanation")),
    "matter.answered": Event(critical=False, text="您反映的「{title}」已办结：{answer}",
                             params=("title", "answer")),
    # … and to the office it went back to
    "matter.returned": Event(critical=False, text="吹哨事项「{title}」被退回：{reason}",
                             params=("title", "reason")),
    # 更正申请 (marketplace.corrections): the office's decision, told to the volunteer
    "correction.accepted": Event(critical=False, text="您的服务记录更正申请已通过，记录已更正",
                                 params=()),
    "correction.refused": Event(critical=False, text="您的服务记录更正申请未通过：{reason}",
                                params=("reason",)),
}  # fmt: skip
"""Every event type, once: whether it is critical, its line in the message centre, and its SMS
template's parameters. A new event is a row here and a call of :func:`marketplace.emit`."""

SAFE_DATA = frozenset(
    {"wish_id", "title", "claim_id", "reason", "start", "when", "amount", "date", "item",
     "order_id", "level", "period", "lot_id", "quantity", "points", "matter_id", "kind", "by",
     "explanation", "answer", "correction_id"}
)  # fmt: skip
"""The only data keys a notice may carry: nothing sensitive can slip in through a new event.
No key carries a code (an account's sign-in code, a confirmation code): a code is shown once, to
its holder, and never travels in a message."""

STAFF = "staff"
"""A notice's ``audience`` for the office (staff, admin) of the org holding an escalated wish."""


class Notice(msgspec.Struct, frozen=True, kw_only=True):
    community_id: str
    type: str
    member_id: str | None  # None with audience STAFF: resolved to the office when written
    data: Mapping[str, Any]
    key: str | None = None  # a timed event's: written once
    audience: str | None = None
    level: int = 0  # with audience STAFF: the escalation level (0 community, 1 street, 2 district)


QUIET = (22 * 60, 7 * 60)
"""SMS quiet hours by default (免打扰): 22:00–07:00 community time, as minutes of the day."""


def after_quiet(at: dt.datetime, quiet_from: int, quiet_to: int) -> dt.datetime:
    """When an SMS due at ``at`` may go: ``at`` itself, or the end of the quiet hours it falls
    in (community time, UTC+8). ``quiet_from == quiet_to``: no quiet hours."""
    local = at.astimezone(CHINA)
    minute = local.hour * 60 + local.minute
    if quiet_from == quiet_to:
        return at
    wraps = quiet_from > quiet_to  # 22:00–07:00 spans midnight
    inside = (minute >= quiet_from or minute < quiet_to) if wraps else (
        quiet_from <= minute < quiet_to)  # fmt: skip
    if not inside:
        return at
    end = local.replace(hour=quiet_to // 60, minute=quiet_to % 60, second=0, microsecond=0)
    if end <= local:
        end += dt.timedelta(days=1)
    return end.astimezone(at.tzinfo or dt.UTC)


def backoff(attempts: int, base: float = 10.0, cap: float = 3600.0) -> dt.timedelta:
    """How long a delivery waits after its ``attempts``-th failed attempt: ``base`` seconds,
    doubled each attempt, at most ``cap`` (exponential backoff)."""
    return dt.timedelta(seconds=min(cap, base * 2 ** max(0, attempts - 1)))


def text(type_: str, data: Mapping[str, Any]) -> str:
    """The message centre's line for a notice."""
    event = EVENTS.get(type_)
    if event is None:
        return type_
    try:
        return event.text.format_map(dict(data))
    except (KeyError, ValueError, IndexError):
        return event.text


def safe(data: Mapping[str, Any]) -> dict[str, Any]:
    """The data with every key outside :data:`SAFE_DATA` dropped."""
    return {k: v for k, v in data.items() if k in SAFE_DATA}


def _told(*members: str | None) -> Iterator[str]:
    seen: set[str] = set()
    for m in members:
        if m and m not in seen:
            seen.add(m)
            yield m


def of_change(move: Mapping[str, Any], wish: Any, claim: Any | None) -> list[Notice]:
    """The notices one recorded move makes (``move``: the ``mk_transitions`` row; ``wish`` and
    ``claim``: as ``rollups.Change`` carries them)."""
    c = move["community_id"]
    action, subject, to = move["action"], move["subject"], move["to_state"]
    about = {"wish_id": wish.id, "title": wish.title}
    residents = list(_told(wish.beneficiary_id, wish.posted_by))

    def to_each(type_: str, members: list[str], **more: Any) -> list[Notice]:
        return [Notice(community_id=c, type=type_, member_id=m, data={**about, **more})
                for m in members]  # fmt: skip

    if subject == "wish":
        if action == "verify":
            return to_each("wish.verified", residents)
        if action == "reject":
            return to_each("wish.rejected", residents, reason=move["reason"])
        if action == "settle" and to == "served":
            return to_each("wish.served", [wish.beneficiary_id])
        if action == "escalate":
            level = min(int(wish.level) + 1, 2)
            overdue = {**about, "level": level}
            return [Notice(community_id=c, type="escalation.overdue", member_id=None,
                           data=overdue, audience=STAFF, level=level)]  # fmt: skip
        return []
    if claim is None:
        return []
    with_claim = {"claim_id": claim.id}
    if move["from_state"] == "new":
        told = (
            []
            if action == "assign"
            else to_each("wish.claimed", [wish.beneficiary_id], **with_claim)
        )
        if action in ("dispatch", "assign") and claim.member_id:
            start = wish.window_start.isoformat()
            told += to_each("wish.dispatched", [claim.member_id], **with_claim, start=start)
        return told
    if action == "check_in":  # 志愿者已到达: the resident learns the volunteer is there
        return to_each("service.started", [wish.beneficiary_id], **with_claim)
    if action == "confirm" and claim.member_id:
        return to_each("points.awarded", [claim.member_id], **with_claim)
    return []
