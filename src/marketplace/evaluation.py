"""季度考评: each quarter, how the streets, districts, units and departments that handled the
communities' whistles (吹哨事项) did.

For each handler (the org a matter ended with: the level it was at, or the unit it was assigned
to), over the matters it received in the period (``received_at``: when the matter reached it):

- response rate (响应率): responded by the response deadline (1 working day) / received;
- resolution rate (办结率): done (answered, or explained for the 谅解清单) / received;
- on-time rate (按时办结率): done by its deadline / done;
- satisfaction rate (满意率): the community's ratings of 4 or 5 / ratings.

A matter passed on (escalated, or assigned onwards) counts for the handler it ended with. The
office of an area (a street or district, or above) sees the handlers of its communities'
matters; a community's office sees the handlers of the matters it handed up. A read, never a
write.
"""

from __future__ import annotations

import datetime as dt

import msgspec
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from marketplace.errors import NotFound
from marketplace.lifecycle import Act, MatterState
from marketplace.model import OrgKind
from marketplace.orgs import get_org, require
from marketplace.periods import named_period
from marketplace.schema import matters, orgs
from marketplace.stats import Rate, rate

AREAS = frozenset({OrgKind.DISTRICT, OrgKind.STREET, OrgKind.COMMUNITY})
DONE = (MatterState.DONE.value, MatterState.RATED.value)


class HandlerFigures(msgspec.Struct, frozen=True, kw_only=True):
    org_id: str
    name: str
    kind: OrgKind
    received: int
    responded: Rate  # 响应率
    resolved: Rate  # 办结率
    on_time: Rate  # 按时办结率
    satisfied: Rate  # 满意率
    mean_rating: float | None  # one decimal


class Evaluation(msgspec.Struct, frozen=True, kw_only=True):
    org_id: str
    period: str
    since: dt.datetime
    until: dt.datetime
    handlers: tuple[HandlerFigures, ...]


def quarterly(
    conn: Connection, actor: str, org_id: str, *, period: str, now: dt.datetime
) -> Evaluation:
    """The period's figures per handler of the area's matters (``period``: ``2026-Q4``, or any
    period :func:`marketplace.named_period` reads), handlers by name."""
    area = get_org(conn, org_id)
    if area.kind not in AREAS:
        raise NotFound("org", org_id)
    require(conn, actor, area.path, Act.SEE_EVALUATION)
    since, until = named_period(period, now=now)
    inside = sa.select(orgs.c.id).where(
        orgs.c.kind == OrgKind.COMMUNITY.value, orgs.c.path.startswith(area.path, autoescape=True)
    )
    m = matters.c
    done = m.state.in_(DONE)

    def count(condition: sa.ColumnElement[bool]) -> sa.ColumnElement[int]:
        return sa.func.sum(sa.case((condition, 1), else_=0))

    rows = conn.execute(
        sa.select(
            m.handler_id,
            orgs.c.name,
            orgs.c.kind,
            sa.func.count().label("received"),
            count(sa.and_(m.responded_at.is_not(None), m.responded_at <= m.respond_by)).label(
                "responded"
            ),
            count(done).label("done"),
            count(sa.and_(done, m.on_time.is_(sa.true()))).label("done_on_time"),
            count(m.satisfaction.is_not(None)).label("rated"),
            count(m.satisfaction >= 4).label("satisfied"),
            sa.func.coalesce(sa.func.sum(m.satisfaction), 0).label("rating_sum"),
        )
        .join(orgs, orgs.c.id == m.handler_id)
        .where(m.community_id.in_(inside), m.received_at >= since, m.received_at < until)
        .group_by(m.handler_id, orgs.c.name, orgs.c.kind)
        .order_by(m.handler_id)
    ).all()
    handlers = tuple(
        HandlerFigures(
            org_id=r.handler_id,
            name=r.name,
            kind=OrgKind(r.kind),
            received=int(r.received),
            responded=rate(int(r.responded), int(r.received)),
            resolved=rate(int(r.done), int(r.received)),
            on_time=rate(int(r.done_on_time), int(r.done)),
            satisfied=rate(int(r.satisfied), int(r.rated)),
            mean_rating=round(int(r.rating_sum) / int(r.rated), 1) if r.rated else None,
        )
        for r in rows
    )
    return Evaluation(org_id=org_id, period=period, since=since, until=until, handlers=handlers)
