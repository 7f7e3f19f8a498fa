"""Exports (导出): an area's data for a period, as XLSX or CSV with Chinese headers.

``KINDS`` is the one table: kind → its sheet title, its columns (Chinese header, and the
vocabulary its codes are said in) and the query that yields its rows. Every query streams
(``yield_per``: a server-side cursor on PostgreSQL, SQLite's own cursor), and
:mod:`marketplace.sheet_writer` writes each row as it comes, so memory stays flat whatever the
count.

=========  ===============================================================================
kind       rows
=========  ===============================================================================
members    花名册: each member holding a role in the area (registered at any time)
hours      志愿服务时长: per community and member, the minutes of records served in the period
points     积分: per community and member, points earned, adjusted, redeemed, expired, given,
           received and reversed by posted transfers made in the period, and the balance now
wishes     心愿: wishes posted in the period, their state, times and rating (address masked to
           the building, the resident not named)
rates      三率: per community and paired unit (as the dashboard, :func:`marketplace.three_rates`)
days       每日统计: the dashboard's lines over time, one row a day
volunteers 志愿者信息 toward the national volunteer information system (全国志愿服务信息系统):
           members with service records in the area in the period
records    志愿服务记录 toward the national system: each service record in the period
=========  ===============================================================================

``volunteers`` and ``records`` carry only members whose separate consent to the transfer is in
force (:mod:`marketplace.consents`, 个人信息保护法 art. 23/25); the others are counted
(``Exported.withheld``: members left out), never written. Key-household types are never
exported. Office of the area or above may export (``Act.EXPORT``; NotFound for anyone else, as
for statistics); the service logs each export (:func:`record_export`: who, what, when).

A cell holding a code (a state, a role) is said in words by the caller's ``label(vocabulary,
code)`` (the service's Chinese labels); the library itself writes the codes.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from typing import IO, NamedTuple

import msgspec
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from marketplace import lifecycle
from marketplace.errors import InvalidInput, NotFound
from marketplace.export_rows import (
    Row,
    Scope,
    daily,
    hours,
    member_points,
    records,
    roster,
    unit_rates,
    volunteers,
    wish_rows,
    withheld_members,
)
from marketplace.lifecycle import Act
from marketplace.orgs import get_org, roles_on
from marketplace.periods import Period, named_period
from marketplace.schema import exports, members
from marketplace.sheet_writer import Format, write
from marketplace.stats import AREAS
from points import Cause, new_id, utcnow

Label = Callable[[str, str], str]


class Column(NamedTuple):
    header: str  # Chinese, as the file shows it
    words: str | None = None  # the vocabulary its codes are said in (``label``'s first argument)


class Kind(NamedTuple):
    title: str  # the sheet's name and the file's
    columns: tuple[Column, ...]
    rows: Callable[[Connection, Scope], Iterator[Row]]
    withheld: Callable[[Connection, Scope], int] | None = None  # members left out (consent)


class Plan(msgspec.Struct, frozen=True, kw_only=True):
    """An export checked and ready to run: who may, of what, which period, which format."""

    actor: str
    org_id: str
    org_name: str
    kind: str
    period: str
    since: dt.datetime
    until: dt.datetime
    format: Format

    @property
    def filename(self) -> str:
        """``花名册_阳光社区_2026-Q3.xlsx`` (a range's ``..`` as ``至``)."""
        period = self.period.replace("..", "至")
        return f"{KINDS[self.kind].title}_{self.org_name}_{period}.{self.format.value}"


class Exported(msgspec.Struct, frozen=True, kw_only=True):
    plan: Plan
    rows: int
    withheld: int  # members left out for want of consent (records, volunteers)


C = Column
KINDS: dict[str, Kind] = {
    "members": Kind(
        "花名册",
        (C("成员编号"), C("姓名"), C("手机号"), C("所在社区"), C("居住地"), C("所属单位"),
         C("角色", "roles"), C("技能"), C("公开展示"), C("注册时间")),
        roster,
    ),
    "hours": Kind(
        "志愿服务时长",
        (C("社区"), C("成员编号"), C("姓名"), C("服务次数"), C("服务时长（分钟）"),
         C("服务时长（小时）")),
        hours,
    ),
    "points": Kind(
        "积分",
        (C("社区"), C("成员编号"), C("姓名"), C("服务奖励"), C("调整"), C("兑换"), C("过期"),
         C("捐出"), C("受赠"), C("冲正"), C("本期净变动"), C("当前余额")),
        member_points,
    ),
    "wishes": Kind(
        "心愿",
        (C("心愿编号"), C("社区"), C("类型", "kinds"), C("类别"), C("标题"), C("地点"),
         C("状态", "wish_states"), C("紧急程度", "urgency"), C("所需人数"), C("已认领人数"),
         C("督办层级", "levels"), C("提交时间"), C("发布时间"), C("首次认领时间"),
         C("完成时间"), C("办结时间"), C("评分"), C("评价")),
        wish_rows,
    ),
    "rates": Kind(
        "三率",
        (C("名称"), C("类型", "org_kinds"), C("响应率（%）"), C("及时响应数"), C("应响应数"),
         C("办结率（%）"), C("办结数"), C("应办结数"), C("满意率（%）"), C("满意数"),
         C("评价数")),
        unit_rates,
    ),
    "days": Kind(
        "每日统计",
        (C("日期"), C("新发布心愿"), C("已完成服务"), C("志愿服务时长（小时）")),
        daily,
    ),
    "volunteers": Kind(
        "志愿者信息",
        (C("志愿者统一编号"), C("本系统编号"), C("姓名"), C("性别"), C("证件类型"),
         C("证件号码"), C("出生日期"), C("联系电话"), C("所在社区"), C("政治面貌"),
         C("服务技能"), C("注册日期"), C("累计服务时长（小时）"), C("同意转移时间")),
        volunteers,
        withheld_members,
    ),
    "records": Kind(
        "志愿服务记录",
        (C("志愿者统一编号"), C("记录编号"), C("志愿服务项目编号"), C("本系统志愿者编号"),
         C("志愿者姓名"), C("活动名称"), C("服务日期"), C("服务地点"), C("服务内容"),
         C("服务时长（小时）"), C("服务时长（分钟）"), C("服务评价"), C("组织单位"),
         C("记录人"), C("记录时间"), C("备注")),
        records,
        withheld_members,
    ),
}  # fmt: skip
"""Kind → title, columns, rows (and, for the national records, who was left out)."""


# --- planning, running, logging ----------------------------------------------------------------


def plan(
    conn: Connection,
    actor: str,
    org_id: str,
    kind: str,
    period: str,
    fmt: str,
    *,
    now: dt.datetime,
) -> Plan:
    """Check an export before running it: the kind, the period (:func:`named_period`), the
    format, and that the actor may export the area (NotFound otherwise: tenancy)."""
    if kind not in KINDS:
        raise InvalidInput("kind", Cause("export_kind", {"kinds": ", ".join(KINDS)}))
    if fmt not in {f.value for f in Format}:
        raise InvalidInput("format", Cause("export_format"))
    since, until = named_period(period, now=now)
    area = get_org(conn, org_id)
    if not lifecycle.can(Act.EXPORT, roles_on(conn, actor, area.path)):
        raise NotFound("org", org_id)
    if area.kind not in AREAS:
        raise InvalidInput("org_id", Cause("stats_level"))
    return Plan(
        actor=actor,
        org_id=area.id,
        org_name=area.name,
        kind=kind,
        period=period,
        since=since,
        until=until,
        format=Format(fmt),
    )


def run(conn: Connection, planned: Plan, out: IO[bytes], *, label: Label | None = None) -> Exported:
    """Write the planned export to ``out`` (the header row, then each row as the query yields
    it); the counts. Run it on one snapshot: the rows are consistent with each other."""
    kind = KINDS[planned.kind]
    area = get_org(conn, planned.org_id)
    scope = Scope(area=area, period=Period(planned.since, planned.until), name=planned.period)
    said = [(n, c.words) for n, c in enumerate(kind.columns) if c.words and label is not None]

    def rows() -> Iterator[Row]:
        for row in kind.rows(conn, scope):
            if not said:
                yield row
                continue
            cells = list(row)
            for n, words in said:
                cells[n] = _say(label, words, cells[n])  # type: ignore[arg-type]
            yield cells

    withheld = kind.withheld(conn, scope) if kind.withheld is not None else 0
    count = write(
        out,
        planned.format,
        title=kind.title,
        headers=[c.header for c in kind.columns],
        rows=rows(),
    )
    return Exported(plan=planned, rows=count, withheld=withheld)


def _say(label: Label, words: str, value: object) -> object:
    if value is None:
        return None
    if isinstance(value, tuple):
        return tuple(label(words, str(getattr(v, "value", v))) for v in value)
    return label(words, str(getattr(value, "value", value)))


def withheld(conn: Connection, planned: Plan) -> int:
    """How many members the planned export leaves out for want of consent (0 for kinds that
    need none): what the page shows before the download."""
    kind = KINDS[planned.kind]
    if kind.withheld is None:
        return 0
    area = get_org(conn, planned.org_id)
    scope = Scope(area=area, period=Period(planned.since, planned.until), name=planned.period)
    return kind.withheld(conn, scope)


def record_export(
    conn: Connection, done: Exported, *, channel: str, now: dt.datetime | None = None
) -> None:
    """Log an export (导出记录): who took what out, of which area and period, when."""
    p = done.plan
    conn.execute(
        exports.insert().values(
            org_id=p.org_id,
            id=new_id(),
            actor_id=p.actor,
            kind=p.kind,
            period=p.period,
            since=p.since,
            until=p.until,
            format=p.format.value,
            rows=done.rows,
            withheld=done.withheld,
            channel=channel[:8],
            at=now or utcnow(),
        )
    )


class Logged(msgspec.Struct, frozen=True, kw_only=True):
    """One export as logged (导出记录)."""

    at: dt.datetime
    actor_id: str
    actor_name: str | None
    kind: str
    period: str
    format: str
    rows: int
    withheld: int
    channel: str


def logged(conn: Connection, actor: str, org_id: str, *, limit: int = 20) -> list[Logged]:
    """The latest exports of an area, newest first: for office of the area (NotFound else)."""
    area = get_org(conn, org_id)
    if not lifecycle.can(Act.EXPORT, roles_on(conn, actor, area.path)):
        raise NotFound("org", org_id)
    e = exports.c
    rows = conn.execute(
        sa.select(e.at, e.actor_id, members.c.name, e.kind, e.period, e.format, e.rows,
                  e.withheld, e.channel)
        .select_from(exports.outerjoin(members, members.c.id == e.actor_id))
        .where(e.org_id == org_id)
        .order_by(e.at.desc(), e.id.desc())
        .limit(max(1, min(limit, 200)))
    )  # fmt: skip
    return [
        Logged(at=at, actor_id=who, actor_name=name, kind=kind, period=period, format=fmt,
               rows=n, withheld=w, channel=channel)
        for at, who, name, kind, period, fmt, n, w, channel in rows
    ]  # fmt: skip
