"""保存期限 (retention): what is left of a deleted member's personal data is purged after a period.

删除个人信息 (:func:`marketplace.people.anonymise`) erases a member's name, phone, flags and the
addresses of her wishes at once, and stamps ``anonymised_at``. Some personal fields stay a while
longer (the free text she wrote, where she lived, her unit), for disputes and corrections still
open. Once the community's retention period has passed, :func:`purge_due` purges them: each rule
of :data:`PURGES` says which column of which table, tied to the member by which column, and how.
The records the law requires stay (the ledger, the hours record, wishes, claims, transitions),
tied to the anonymised id. A purged member is stamped ``purged_at``, so the sweep is idempotent
and safe in several processes at once (each member is taken by one conditional update).

A new personal field is purged by adding one row to :data:`PURGES`.
"""

from __future__ import annotations

import datetime as dt
import enum
from typing import Any, NamedTuple

import msgspec
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from marketplace.schema import corrections, members, offers, transitions, wishes
from points import utcnow

ERASED = "（已删除）"


class How(enum.Enum):
    """How a column is purged."""

    NULL = "null"  # set to NULL (the column is nullable)
    ERASE = "erase"  # replaced by （已删除）
    EMPTY = "empty"  # replaced by the empty string


class Purge(NamedTuple):
    """One rule: ``table.column`` of the rows whose ``owner`` column names the member."""

    table: sa.Table
    column: str
    owner: str
    how: How

    @property
    def name(self) -> str:
        return f"{self.table.name}.{self.column}"


PURGES: tuple[Purge, ...] = (
    Purge(members, "home_org_id", "id", How.NULL),  # where she lived (grid or building)
    Purge(members, "home_unit_id", "id", How.NULL),  # her employer (在职党员)
    Purge(wishes, "title", "beneficiary_id", How.ERASE),  # a title may name her or her needs
    Purge(offers, "title", "member_id", How.ERASE),  # her mutual-help offers
    Purge(offers, "schedule", "member_id", How.ERASE),  # when she is at home
    Purge(corrections, "reason", "member_id", How.ERASE),  # her correction requests' text
    Purge(transitions, "reason", "actor_id", How.EMPTY),  # reasons she wrote (disputes, …)
)
"""(table, column) → how, defined once; the sweep applies every rule to each member due."""


class RetentionReport(msgspec.Struct, frozen=True, kw_only=True):
    members: int  # members purged by this run
    rows: dict[str, int]  # "table.column" → rows changed


def _value(how: How) -> Any:
    return {How.NULL: None, How.ERASE: ERASED, How.EMPTY: ""}[how]


def purge_due(
    conn: Connection,
    *,
    retention: dt.timedelta,
    now: dt.datetime | None = None,
    limit: int = 500,
) -> RetentionReport:
    """Purge the members anonymised at least ``retention`` ago and not purged yet (up to
    ``limit`` of them), rule by rule; the counts say what changed."""
    now = now or utcnow()
    due = sa.select(members.c.id).where(
        members.c.anonymised_at.is_not(None),
        members.c.anonymised_at <= now - retention,
        members.c.purged_at.is_(None),
    )
    ids = [row[0] for row in conn.execute(due.order_by(members.c.anonymised_at).limit(limit))]
    if not ids:
        return RetentionReport(members=0, rows={})
    taken = [
        row[0]
        for row in conn.execute(
            members.update()
            .where(members.c.id.in_(ids), members.c.purged_at.is_(None))
            .values(purged_at=now)
            .returning(members.c.id)
        )
    ]
    rows: dict[str, int] = {}
    for rule in PURGES if taken else ():
        column = rule.table.c[rule.column]
        value = _value(rule.how)
        changed = column.is_not(None) if value is None else column != value
        done = conn.execute(
            rule.table.update()
            .where(rule.table.c[rule.owner].in_(taken), changed)
            .values({rule.column: value})
        )
        rows[rule.name] = max(done.rowcount, 0)
    return RetentionReport(members=len(taken), rows=rows)
