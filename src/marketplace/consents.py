"""Separate consents (单独同意): what a member agreed to beyond the service itself.

个人信息保护法 art. 23 (giving personal information to another handler) and art. 25 (making it
public) need the person's separate consent. The one purpose so far is ``national_registry``:
passing the member's volunteer details and service records to the national volunteer information
system (全国志愿服务信息系统, :mod:`marketplace.exports` kind ``records``). The member gives or
withdraws it on their own page (我的); office of a community they belong to may record a consent
the member signed on paper (its form number in ``note``). Each change is a new row (who recorded
it, when); the newest row is in force, the older ones are the history.
"""

from __future__ import annotations

import datetime as dt

import msgspec
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from marketplace.errors import Conflict, InvalidInput
from marketplace.lifecycle import Act
from marketplace.orgs import check_text, get_member
from marketplace.schema import consents
from marketplace.wallet import is_member, require_office
from points import Cause, sqltypes, utcnow

NATIONAL_REGISTRY = "national_registry"
PURPOSES = frozenset({NATIONAL_REGISTRY})


class ConsentRecord(msgspec.Struct, frozen=True, kw_only=True):
    """One consent given or withdrawn."""

    member_id: str
    purpose: str
    given: bool
    recorded_by: str  # the member themself, or the office member who recorded a signed form
    note: str
    recorded_at: dt.datetime


def record_consent(
    conn: Connection,
    actor: str,
    member_id: str,
    *,
    given: bool,
    purpose: str = NATIONAL_REGISTRY,
    community_id: str | None = None,
    note: str = "",
    now: dt.datetime | None = None,
) -> ConsentRecord:
    """Give (or withdraw) the member's consent to ``purpose``: the member themself, or office
    of ``community_id`` for a member of it (NotFound otherwise, as for any member they cannot
    see)."""
    if purpose not in PURPOSES:
        raise InvalidInput("purpose", Cause("consent_purpose", {"purposes": ", ".join(PURPOSES)}))
    check_text("note", note, 100, required=False)
    get_member(conn, member_id)
    if actor != member_id:
        if community_id is None:
            raise InvalidInput("community_id", Cause("empty"))
        require_office(conn, actor, community_id, Act.RECORD_CONSENT)
        if not is_member(conn, member_id, community_id):
            raise InvalidInput("member_id", Cause("not_community_member"))
    made = ConsentRecord(
        member_id=member_id,
        purpose=purpose,
        given=bool(given),
        recorded_by=actor,
        note=note,
        recorded_at=now or utcnow(),
    )
    last = sa.select(sa.func.coalesce(sa.func.max(consents.c.seq), 0)).where(
        consents.c.member_id == member_id, consents.c.purpose == purpose
    )
    for _ in range(3):  # two at once (PostgreSQL): the second takes the next number after the first
        seq = int(conn.scalar(last) or 0) + 1
        written = conn.execute(
            sqltypes.insert_ignoring_conflicts(conn, consents).values(
                seq=seq, **msgspec.structs.asdict(made)
            )
        )
        if written.rowcount:
            return made
    raise Conflict("another change of this consent is being recorded; try again")


def consent_of(
    conn: Connection, member_id: str, purpose: str = NATIONAL_REGISTRY
) -> ConsentRecord | None:
    """The consent in force (the newest given or withdrawn), None when never asked."""
    row = conn.execute(
        sa.select(consents)
        .where(consents.c.member_id == member_id, consents.c.purpose == purpose)
        .order_by(consents.c.seq.desc())
        .limit(1)
    ).first()
    if row is None:
        return None
    values = {str(k): v for k, v in row._mapping.items() if k != "seq"}
    return msgspec.convert(values, ConsentRecord)


def consenting(purpose: str = NATIONAL_REGISTRY) -> sa.Select[tuple[str]]:
    """The ids of the members whose consent to ``purpose`` is in force (for an export's
    ``IN``): their newest row gives it."""
    later = consents.alias("later")
    newer = sa.exists().where(
        later.c.member_id == consents.c.member_id,
        later.c.purpose == consents.c.purpose,
        later.c.seq > consents.c.seq,
    )
    return sa.select(consents.c.member_id).where(
        consents.c.purpose == purpose, consents.c.given == sa.true(), ~newer
    )
