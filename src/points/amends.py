"""更正 (amending a record): an hours record and the points it earned, replaced, never edited.

A volunteer points out an error in her record (志愿服务条例 art. 19; 民政部令第67号); the organiser
corrects it. The hours record gets a reversal (the record as it stood, cancelled: one row per
category and day it counted under) and a new entry with the corrected values, all under the
original record's ``fix:<record id>:<n>`` references, so the original, the reversal and the new
entry stay linked and every total (hours, star level) is the sum of rows.

The points follow the minutes: the accrual that stands for the record (the original award, or the
last correction's) is reversed (冲正) and a new accrual is made for the corrected activity by the
policy version the original used, under ``fix:<record reference>:<n>``. The new accrual is applied
before the reversal, so a member who spent her points can still have a correction that raises
them; one that lowers them below what she has left is refused (InsufficientPoints), and nothing
is written. The caller's transaction holds both halves.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import msgspec
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from points import awards, ledger
from points.causes import Cause
from points.errors import InvalidRequest, NotFound, NotReversible
from points.hours import _FIX, MAX_RECORD_MINUTES, ServiceRecord, _by_reference, _write
from points.model import AccountKind, Phase, Transfer, TransferKind, check_text, derived_id, utcnow
from points.policy import Accrual, AccrualPolicy, Activity, compute_accrual
from points.schema import policies, service_records, transfers
from points.sqltypes import to_struct


class Amendment(msgspec.Struct, frozen=True, kw_only=True):
    """What a correction wrote: the hours rows (reversals, then the new entry) and the points
    (the reversal of the standing award, the new award and its breakdown)."""

    original: ServiceRecord
    reversals: tuple[ServiceRecord, ...]
    entry: ServiceRecord
    points_reversal: Transfer | None
    award: Transfer | None
    accrual: Accrual
    points_before: int
    points_after: int


class RecordStanding(msgspec.Struct, frozen=True, kw_only=True):
    """A record as it stands now: the original row, its net minutes by (category, day), and the
    award that stands for it (its posted transfer), if any."""

    original: ServiceRecord
    parts: dict[tuple[str, str], int]
    award: Transfer | None  # the posted transfer to reverse
    template: Transfer | None  # the newest accrual of the record (its policy version, activity)
    accruals: int  # how many corrections' accruals exist (the next one's number)
    partly_reversed: str | None = None  # an award reversed in part by hand: not correctable

    @property
    def minutes(self) -> int:
        return sum(self.parts.values())


def record_standing(
    conn: Connection, community_id: str, reference: str, *, lock: bool = False
) -> RecordStanding:
    """The record under ``reference`` (``claim:<id>``, ``event:<id>:<member>``) as it stands;
    ``lock``: hold its row (PostgreSQL), for a correction about to be written."""
    original = _by_reference(conn, community_id, reference)
    if original is None or original.reference.startswith(_FIX):
        raise NotFound("service record", reference)
    if lock and conn.dialect.name != "sqlite":  # one correction of a record at a time
        conn.execute(
            sa.select(service_records.c.id)
            .where(service_records.c.community_id == community_id)
            .where(service_records.c.id == original.id)
            .with_for_update()
        )
    rows = conn.execute(
        sa.select(
            service_records.c.category, service_records.c.served_on, service_records.c.minutes
        )
        .where(service_records.c.community_id == community_id)
        .where(
            sa.or_(
                service_records.c.id == original.id,
                service_records.c.reference.like(f"{_FIX}{original.id}:%"),
            )
        )
    ).all()
    parts: dict[tuple[str, str], int] = {}
    for category, served_on, minutes in rows:
        parts[(category, served_on)] = parts.get((category, served_on), 0) + int(minutes)
    chain = [
        to_struct(r, Transfer)
        for r in conn.execute(
            sa.select(transfers).where(
                transfers.c.community_id == community_id,
                sa.or_(
                    sa.and_(
                        transfers.c.kind == TransferKind.ACCRUAL.value,
                        sa.or_(
                            transfers.c.reference == reference,
                            transfers.c.reference.like(f"{_FIX}{reference}:%"),
                        ),
                    ),
                    transfers.c.pending_id.in_(
                        sa.select(transfers.c.id).where(
                            transfers.c.community_id == community_id,
                            transfers.c.kind == TransferKind.ACCRUAL.value,
                            transfers.c.reference == reference,
                        )
                    ),
                ),
            )
        ).all()
    ]
    accruals = [t for t in chain if t.pending_id is None]
    resolved = {t.pending_id: t for t in chain if t.pending_id is not None}
    posted: list[Transfer] = []
    for t in accruals:
        if t.phase is Phase.POSTED:
            posted.append(t)
        elif t.phase is Phase.PENDING:
            done = resolved.get(t.id)
            if done is None:
                raise InvalidRequest(Cause("award_pending"))
            if done.phase is Phase.POST:
                posted.append(done)
    reversed_by = dict(
        conn.execute(
            sa.select(transfers.c.reference, transfers.c.amount).where(
                transfers.c.community_id == community_id,
                transfers.c.kind == TransferKind.REVERSAL.value,
                transfers.c.reference.in_([t.id for t in posted]),
            )
        ).all()
        if posted
        else []
    )
    # a reversal in part (冲正 by hand) leaves points that no reversal can take back
    partly = [t.id for t in posted if 0 < reversed_by.get(t.id, 0) < t.amount]
    live = [t for t in posted if t.id not in reversed_by]
    newest = max(accruals, key=lambda t: _number(t.reference, reference), default=None)
    return RecordStanding(
        original=original,
        parts={k: v for k, v in parts.items() if v},
        award=live[-1] if live else None,
        template=newest,
        accruals=sum(1 for t in accruals if t.reference != reference),
        partly_reversed=partly[0] if partly else None,
    )


def amend_service(
    conn: Connection,
    *,
    community_id: str,
    reference: str,
    minutes: int,
    category: str,
    served_on: dt.date,
    reason: str,
    actor: str,
    now: dt.datetime | None = None,
) -> Amendment:
    """Replace the record under ``reference`` by one of ``minutes`` in ``category`` on
    ``served_on`` (更正): hours reversal + new entry, points reversal + new accrual."""
    now = now or utcnow()
    if isinstance(minutes, bool) or not isinstance(minutes, int):
        raise InvalidRequest(Cause("integer", field="minutes"))
    if not 1 <= minutes <= MAX_RECORD_MINUTES:
        raise InvalidRequest(
            Cause("range", {"low": 1, "high": MAX_RECORD_MINUTES}, field="minutes")
        )
    check_text("category", category, 32)
    if not category.strip():
        raise InvalidRequest(Cause("empty", field="category"))
    if not reason.strip():
        raise InvalidRequest(Cause("empty", field="reason"))
    check_text("reason", reason, 500)
    now_standing = record_standing(conn, community_id, reference, lock=True)
    original = now_standing.original
    if now_standing.partly_reversed is not None:
        raise NotReversible(now_standing.partly_reversed, Cause("partly_reversed"))
    if now_standing.parts == {(category, served_on.isoformat()): minutes}:
        raise InvalidRequest(Cause("unchanged"))
    count = int(
        conn.scalar(
            sa.select(sa.func.count()).where(
                service_records.c.community_id == community_id,
                service_records.c.reference.like(f"{_FIX}{original.id}:%"),
            )
        )
        or 0
    )
    written = []
    for (part_category, day), net in sorted(now_standing.parts.items()):
        day_of = dt.date.fromisoformat(day)
        fix = f"{_FIX}{original.id}:{count}"
        back = _write(conn, community_id, original.member_id, part_category, -net, day_of, fix,
                      actor, reason, now)  # fmt: skip
        written.append(back)
        count += 1
    entry = _write(conn, community_id, original.member_id, category, minutes, served_on,
                   f"{_FIX}{original.id}:{count}", actor, reason, now)  # fmt: skip
    award, accrual = _reaccrue(conn, now_standing, minutes, category, served_on, reason, actor,
                               now)  # fmt: skip
    points_reversal = None
    if now_standing.award is not None:
        points_reversal = ledger.reverse(
            conn,
            community_id,
            now_standing.award.id,
            id=derived_id("fixrev", now_standing.award.id),
            memo=reason,
            actor=actor,
            now=now,
        )
    return Amendment(
        original=original,
        reversals=tuple(written),
        entry=entry,
        points_reversal=points_reversal,
        award=award,
        accrual=accrual,
        points_before=now_standing.award.amount if now_standing.award else 0,
        points_after=award.amount if award else 0,
    )


def record_history(
    conn: Connection, community_id: str, reference: str
) -> tuple[ServiceRecord, ...]:
    """The record under ``reference`` and every correction of it (reversals, new entries),
    oldest first: how it came to stand as it does."""
    original = _by_reference(conn, community_id, reference)
    if original is None:
        return ()
    rows = conn.execute(
        sa.select(service_records)
        .where(
            service_records.c.community_id == community_id,
            service_records.c.reference.like(f"{_FIX}{original.id}:%"),
        )
        .order_by(service_records.c.created_at, service_records.c.id)
    ).all()
    return (original, *(to_struct(r, ServiceRecord) for r in rows))


def policy_version(conn: Connection, community_id: str, version: int) -> AccrualPolicy:
    """The community's policy as it was at ``version`` (0, or one since removed: the default)."""
    body = conn.scalar(
        sa.select(policies.c.body).where(
            policies.c.community_id == community_id, policies.c.version == version
        )
    )
    return AccrualPolicy() if body is None else msgspec.convert(body, AccrualPolicy)


def _reaccrue(
    conn: Connection,
    now_standing: RecordStanding,
    minutes: int,
    category: str,
    served_on: dt.date,
    reason: str,
    actor: str,
    now: dt.datetime,
) -> tuple[Transfer | None, Accrual]:
    """The new accrual for the corrected activity (applied; None when it earns nothing), by the
    policy version the record's newest accrual used (else the policy in force), at the same time
    of day and for the same household as before."""
    original = now_standing.original
    community_id = original.community_id
    template: dict[str, Any] = (
        now_standing.template.detail if now_standing.template is not None else None
    ) or {}
    if "policy_version" in template:
        version = int(template["policy_version"])
        policy = policy_version(conn, community_id, version)
    else:
        version, policy = awards.current_policy(conn, community_id)
    before = (
        msgspec.convert(template["activity"], Activity)
        if "activity" in template
        else Activity(
            minutes=0,
            category=category,
            started_at=dt.datetime.combine(served_on, dt.time(12), awards.CHINA),
        )
    )
    activity = Activity(
        minutes=minutes,
        category=category,
        started_at=dt.datetime.combine(served_on, before.started_at.timetz()),
        key_household=before.key_household,
    )
    wallet = ledger.open_account(conn, community_id, AccountKind.MEMBER, original.member_id,
                                 now=now)  # fmt: skip
    today = month = 0
    if policy.daily_cap is not None or policy.monthly_cap is not None:
        awards._lock_account(conn, community_id, wallet.id)
        day = activity.started_at.date()
        others = original.reference
        today = awards._earned(conn, community_id, wallet.id, day.isoformat(), day.isoformat(),
                               excluding=others)  # fmt: skip
        month = awards._earned(conn, community_id, wallet.id, day.replace(day=1).isoformat(),
                               day.isoformat()[:7] + "-31", excluding=others)  # fmt: skip
    accrual = compute_accrual(policy, activity, earned_today=today, earned_this_month=month)
    if accrual.points == 0:
        return None, accrual
    ledger.open_community(conn, community_id)
    n = now_standing.accruals + 1
    fix_reference = f"{_FIX}{original.reference}:{n}"
    t = awards.accrual_request(community_id, original.member_id, activity, accrual, version,
                               policy, fix_reference, derived_id("fix", fix_reference[len(_FIX):]),
                               False, None, actor, reason, now)  # fmt: skip
    return ledger.apply(conn, t, derived=("expires_at",)), accrual


def _number(found: str | None, reference: str) -> int:
    """A chain accrual's number: 0 for the original award, n for ``fix:<reference>:<n>``."""
    if found is None or found == reference:
        return 0
    tail = found.rsplit(":", 1)[-1]
    return int(tail) if tail.isdigit() else 0
