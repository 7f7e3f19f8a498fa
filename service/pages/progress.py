"""督办进度 in plain Chinese: where a wish's matter (吹哨事项) stands, as the resident reads it on
the wish page and the office on the matter's page; dates are China dates (a deadline at 24:00
reads as the day it ends)."""

from __future__ import annotations

import datetime as dt

import marketplace as mk
from marketplace import MatterKind, MatterState
from marketplace.matter_lists import WishMatter


def day(moment: dt.datetime | None) -> str:
    """The China date of a moment; a deadline (24:00) reads as the day it ends: 12月18日."""
    if moment is None:
        return ""
    shown = mk.workdays.china_day(moment - dt.timedelta(microseconds=1))
    return f"{shown.month}月{shown.day}日"


def progress(found: WishMatter) -> list[str]:
    """Where the matter stands, in plain Chinese, for the resident (督办进度)."""
    m, level = found.matter, found.org
    if mk.escalation_levels(m.reason):  # taken up from the deadline sweep's escalation
        lines = [f"{day(m.raised_at)}，这件事超过处理时限，已由{level}督办。"]
    else:
        lines = [f"{day(m.raised_at)}，社区已将这件事上报{level}协调办理（吹哨）。"]
    if m.state is MatterState.RAISED:
        lines.append(f"{level}会在{day(m.respond_by)}前受理。")
    if m.kind is MatterKind.UNDERSTOOD:
        lines.append(f"{level}说明，这件事暂时无法办理：{m.explanation}")
    elif m.kind is not None:
        kind = "即时办理" if m.kind is MatterKind.IMMEDIATE else "分阶段办理"
        lines.append(f"{level}已受理，{kind}，计划{day(m.deadline_at)}前办结。")
    for s in found.milestones:
        status = "已完成" if s.done_at else f"计划{s.due_on.month}月{s.due_on.day}日前完成"
        lines.append(f"第{s.n}步：{s.title}，{status}。")
    if m.unit_id and m.state is MatterState.ASSIGNED:
        lines.append(f"已交由{found.unit}办理，{day(m.deadline_at)}前办结。")
    if m.answer:
        lines.append(f"{day(m.done_at)}已办结：{m.answer}")
    if m.state is MatterState.RETURNED:
        lines.append(f"{level}认为社区可以自行处理，已退回社区。")
    if m.satisfaction:
        lines.append(f"社区已对办理情况作出评价：{'★' * m.satisfaction}")
    return lines
