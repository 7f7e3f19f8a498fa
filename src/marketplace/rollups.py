"""Day rollups of the statistics (统计日汇总), kept by the write path.

``mk_stat_days`` holds, per community and China-time day (UTC+8, ``YYYY-MM-DD``), a count ``n``
per figure and key. :mod:`marketplace.stats` sums the rows of a period instead of scanning wishes,
claims and transitions. The figures, each on the day of its event:

=================  ==================  ============================================================
figure             key                 counts
=================  ==================  ============================================================
posted             category            wishes posted (on the day created)
state              state               wishes posted that day, by the state they are in *now*
verified, …        ``""``              wishes verified, rejected, cancelled, expired, disputed,
                                       confirmed (confirm or resolve_for_volunteer) that day
escalated          ``""``              wishes escalated (吹哨) for the first time that day
claimed            ``""``              wishes whose first claim came that day
completed          ``""``              wishes served (the last check-out) that day
to_verify, …       minutes             wishes published / first claimed / served that day, by the
                                       whole minutes since posting / publishing / publishing
rated, satisfied   ``""``              wishes closed that day with a rating / a rating ≥ 4
minutes            member id           minutes of claims confirmed that day, per volunteer
volunteer_minutes  ``""``              the same, all volunteers together
published          ``""``              wishes published that day (三率: response's cohort)
claim_wait         ``minutes:category``  wishes published that day and claimed since, by the
                                       minutes (rounded up) until the first claim
resolved           ``""``              wishes served that day and closed through a confirmation
=================  ==================  ============================================================

Every move of a wish or claim is recorded (:func:`marketplace.moves.record_all`), and the same
call hands :func:`count` a :class:`Change` per move: the transition row and the wish (and claim)
as they stood before it. :func:`deltas` turns a change into row increments (a pure function);
:func:`count` appends those of a whole batch in one ``INSERT`` (``executemany``), under a batch
id of its own: writers never update a shared row, so they never wait on each other (an upsert of
"today's claims" would hold every claim of a community behind the one before it until commit,
and deadlock with the other rows a use case takes). :func:`fold` (a sweep) sums the appended rows
into one row per community, day, figure and key (batch ``""``); a read sums both kinds.
:func:`rebuild` computes the same rows from the wishes, claims and transitions themselves (the
migration's backfill, and the tests' check that the upkeep never drifts).

A bulk path (many moves in one unit, e.g. an auto-dispatch writing many claims) builds one
:class:`Change` per recorded move with :func:`marketplace.moves.transition` (its ``wish=`` and
``claim=``) and hands them all to :func:`~marketplace.moves.record_all` (or to :func:`count`
beside its own insert of the transitions), once per chunk: one statement per chunk. A new claim's
change carries the wish *after* its places were taken (the ``RETURNING`` row, or as the batch
left it right after this claim): a claim is the wish's first when the wish's ``first_claimed_at``
is the claim's moment and the wish holds no places but the claim's, so claims of one moment (one
batch, a fixed clock) count once.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from typing import Any, NamedTuple

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from marketplace.lifecycle import ClaimState, WishAction, WishState
from marketplace.model import Claim, Wish
from marketplace.periods import day_of
from marketplace.schema import claims, stat_days, transitions, wishes
from points import new_id, sqltypes

EVENTS: dict[str, str] = {  # recorded wish action → the figure it counts in
    WishAction.VERIFY: "verified",
    WishAction.REJECT: "rejected",
    WishAction.CANCEL: "cancelled",
    WishAction.EXPIRE: "expired",
    WishAction.DISPUTE: "disputed",
    WishAction.CONFIRM: "confirmed",
    WishAction.RESOLVE_FOR_VOLUNTEER: "confirmed",
}
NEW = "new"  # the from_state of a subject's first record (a wish posted, a claim made)
TAKING = frozenset({WishAction.CLAIM, WishAction.DISPATCH, WishAction.CLAIM_FOR_UNIT})
"""The claims made by taking places on the wish (a unit's assignment only passes one on)."""

Key = tuple[str, str, str, str]  # community, day, figure, key


class Change(NamedTuple):
    """One recorded move, with what the statistics need to know of its subject.

    ``wish``: the wish as it stood before the move (for a claim's move: its wish; for a claim
    made, the wish after its places were taken). ``claim``: the claim before its move."""

    move: Mapping[str, Any]  # the mk_transitions row
    wish: Wish
    claim: Claim | None = None


def day(moment: dt.datetime) -> str:
    """The China-time date of a moment, as the rollups key it."""
    return day_of(moment).isoformat()


def whole_minutes(start: dt.datetime, end: dt.datetime) -> int:
    return int((end - start).total_seconds() // 60)


def wait(published: dt.datetime, first_claim: dt.datetime, category: str) -> str:
    """``claim_wait``'s key: the whole minutes, rounded up, from publishing to the first claim,
    then the category (a claim within H hours is one whose rounded-up wait is at most 60·H)."""
    micros = (first_claim - published) // dt.timedelta(microseconds=1)
    return f"{-(-micros // 60_000_000)}:{category}"


def deltas(change: Change) -> Iterator[tuple[Key, int]]:
    """The rollup increments one move makes."""
    m, w = change.move, change.wish
    at: dt.datetime = m["at"]
    c, on = w.community_id, day(at)
    if m["subject"] == "claim":
        claim = change.claim
        if m["action"] in TAKING and _first(w, claim, at):
            yield (c, on, "claimed", ""), 1
            if w.published_at is not None:
                yield (c, on, "to_claim", str(whole_minutes(w.published_at, at))), 1
                yield (
                    (c, day(w.published_at), "claim_wait", wait(w.published_at, at, w.category)),
                    1,
                )
        if (
            m["to_state"] == ClaimState.CONFIRMED
            and claim is not None
            and claim.member_id is not None
            and (claim.minutes or 0) > 0
        ):
            assert claim.minutes is not None
            yield (c, on, "minutes", claim.member_id), claim.minutes
            yield (c, on, "volunteer_minutes", ""), claim.minutes
        return
    action, was, now_in = m["action"], m["from_state"], m["to_state"]
    created = day(w.created_at)
    if was == NEW:
        yield (c, created, "posted", w.category), 1
        yield (c, created, "state", now_in), 1
    elif was != now_in:
        yield (c, created, "state", was), -1
        yield (c, created, "state", now_in), 1
    if action in EVENTS:
        yield (c, on, EVENTS[action], ""), 1
    if action == WishAction.ESCALATE and w.level == 0:
        yield (c, on, "escalated", ""), 1
    if action == WishAction.VERIFY:
        yield (c, on, "to_verify", str(whole_minutes(w.created_at, at))), 1
        yield (c, on, "published", ""), 1
    if action == WishAction.CLOSE and w.served_at is not None:
        yield (c, day(w.served_at), "resolved", ""), 1
    if now_in == WishState.SERVED and was != now_in:
        yield (c, on, "completed", ""), 1
        if w.published_at is not None:
            yield (c, on, "to_complete", str(whole_minutes(w.published_at, at))), 1
    if now_in == WishState.CLOSED and was != now_in and w.rating is not None:
        yield (c, on, "rated", ""), 1
        yield (c, on, "satisfied", ""), int(w.rating >= 4)


def _first(wish: Wish, claim: Claim | None, at: dt.datetime) -> bool:
    """Whether a claim that took places is its wish's first: the wish (after the places were
    taken) was first claimed at this moment and holds no places but this claim's (two claims of
    one moment, as a fixed clock or one batch makes them, are told apart)."""
    if wish.first_claimed_at != at:
        return False
    return claim is None or wish.places_taken == claim.places


def tally(changes: Iterable[Change]) -> Counter[Key]:
    """The increments of many moves, added up per row (zeros dropped)."""
    total: Counter[Key] = Counter()
    for change in changes:
        for key, n in deltas(change):
            total[key] += n
    return Counter({k: n for k, n in total.items() if n})


def count(conn: Connection, changes: Iterable[Change]) -> None:
    """Append the moves' increments to the rollups: one statement for the whole batch (rows of
    a batch id of their own, so concurrent writers never wait on each other's rows)."""
    batch = new_id()
    rows = [
        {"community_id": c, "day": d, "figure": f, "key": k, "batch": batch, "n": n}
        for (c, d, f, k), n in sorted(tally(changes).items())
    ]
    sqltypes.insert_many(conn, stat_days, rows)


def fold(conn: Connection, *, limit: int = 20_000) -> int:
    """Fold up to ``limit`` appended rows into the one row per community, day, figure and key
    (``batch`` ""): the rows it deleted, summed and added. Safe with several processes folding
    at once: each adds only the rows its own ``DELETE`` removed. Returns the rows folded."""
    s = stat_days.c
    oldest = (
        sa.select(s.community_id, s.day, s.figure, s.key, s.batch).where(s.batch != "").limit(limit)
    )
    taken = conn.execute(
        stat_days.delete()
        .where(sa.tuple_(s.community_id, s.day, s.figure, s.key, s.batch).in_(oldest))
        .returning(s.community_id, s.day, s.figure, s.key, s.n)
    ).all()
    total: Counter[Key] = Counter()
    for c, d, f, k, n in taken:
        total[(c, d, f, k)] += n
    rows = [
        {"community_id": c, "day": d, "figure": f, "key": k, "batch": "", "n": n}
        for (c, d, f, k), n in sorted(total.items())
    ]
    if rows:
        conn.execute(_add(conn), rows)
    return len(taken)


@sqltypes.per_dialect
def _add(dialect: str) -> Any:
    insert = sqltypes.dialect_insert(dialect, stat_days)
    return insert.on_conflict_do_update(
        index_elements=[stat_days.c.community_id, stat_days.c.day, stat_days.c.figure,
                        stat_days.c.key, stat_days.c.batch],
        set_={"n": stat_days.c.n + insert.excluded.n},
    )  # fmt: skip


STREAM = 10_000
"""Rows :func:`rebuild` fetches at a time (a server-side cursor on PostgreSQL): a province's
wishes are read through, not loaded at once."""


def rebuild(conn: Connection, community_ids: Iterable[str] | None = None) -> Counter[Key]:
    """The rollup rows recomputed from the wishes, claims and transitions (of the communities
    named, or all): what :func:`count` must have kept. Reads each table once."""
    total: Counter[Key] = Counter()
    closing: list[tuple[str, str, str]] = []  # closed wishes served: community, id, day served
    w, c, t = wishes, claims, transitions
    where_w = [] if community_ids is None else [w.c.community_id.in_(list(community_ids))]
    stamps = (w.c.created_at, w.c.published_at, w.c.first_claimed_at, w.c.served_at)
    rows = conn.execute(
        sa.select(w.c.community_id, w.c.id, w.c.category, w.c.state, *stamps, w.c.closed_at,
                  w.c.rating)
        .where(*where_w)
        .execution_options(yield_per=STREAM)
    )  # fmt: skip
    for cid, wish_id, category, state, created, published, first, served, closed, rating in rows:
        total[(cid, day(created), "posted", category)] += 1
        if published is not None:
            total[(cid, day(published), "published", "")] += 1
            if first is not None:
                key = wait(published, first, category)
                total[(cid, day(published), "claim_wait", key)] += 1
        if state == WishState.CLOSED and served is not None:
            closing.append((cid, wish_id, day(served)))
        total[(cid, day(created), "state", state)] += 1
        if first is not None:
            total[(cid, day(first), "claimed", "")] += 1
        if served is not None:
            total[(cid, day(served), "completed", "")] += 1
        for figure, start, end in (
            ("to_verify", created, published),
            ("to_claim", published, first),
            ("to_complete", published, served),
        ):
            if start is not None and end is not None:
                total[(cid, day(end), figure, str(whole_minutes(start, end)))] += 1
        if closed is not None and rating is not None:
            total[(cid, day(closed), "rated", "")] += 1
            total[(cid, day(closed), "satisfied", "")] += int(rating >= 4)
    where_t = [] if community_ids is None else [t.c.community_id.in_(list(community_ids))]
    first_escalation = sa.func.min(t.c.at)
    escalations = conn.execute(
        sa.select(t.c.community_id, first_escalation)
        .where(t.c.subject == "wish", t.c.action == WishAction.ESCALATE.value, *where_t)
        .group_by(t.c.community_id, t.c.subject_id)
        .execution_options(yield_per=STREAM)
    )
    for cid, at in escalations:
        total[(cid, day(at), "escalated", "")] += 1
    events = conn.execute(
        sa.select(t.c.community_id, t.c.subject_id, t.c.action, t.c.at)
        .where(t.c.subject == "wish", t.c.action.in_(sorted(EVENTS)), *where_t)
        .execution_options(yield_per=STREAM)
    )
    confirmed = set()
    for cid, wish_id, action, at in events:
        total[(cid, day(at), EVENTS[action], "")] += 1
        if EVENTS[action] == "confirmed":
            confirmed.add((cid, wish_id))
    for cid, wish_id, served_day in closing:  # 办结: closed through a confirmation
        if (cid, wish_id) in confirmed:
            total[(cid, served_day, "resolved", "")] += 1
    where_c = [] if community_ids is None else [c.c.community_id.in_(list(community_ids))]
    credited = conn.execute(
        sa.select(c.c.community_id, c.c.member_id, c.c.minutes, c.c.closed_at)
        .where(
            c.c.state == ClaimState.CONFIRMED.value,
            c.c.member_id.is_not(None),
            c.c.minutes > 0,
            *where_c,
        )
        .execution_options(yield_per=STREAM)
    )
    for cid, member_id, minutes, closed in credited:
        total[(cid, day(closed), "minutes", member_id)] += minutes
        total[(cid, day(closed), "volunteer_minutes", "")] += minutes
    return Counter({k: n for k, n in total.items() if n})


def stored(conn: Connection, community_ids: Iterable[str] | None = None) -> Counter[Key]:
    """The rollups as kept, folded or not (zeros dropped), to compare with :func:`rebuild`."""
    s = stat_days.c
    where = [] if community_ids is None else [s.community_id.in_(list(community_ids))]
    total: Counter[Key] = Counter()
    for cid, d, f, k, n in conn.execute(
        sa.select(s.community_id, s.day, s.figure, s.key, s.n).where(*where)
    ):
        total[(cid, d, f, k)] += n
    return Counter({key: n for key, n in total.items() if n})


def refill(conn: Connection) -> int:
    """Replace every rollup row by :func:`rebuild`'s (the migration's backfill; also a repair).
    Returns the number of rows written."""
    conn.execute(stat_days.delete())
    rows = [
        {"community_id": c, "day": d, "figure": f, "key": k, "batch": "", "n": n}
        for (c, d, f, k), n in sorted(rebuild(conn).items())
    ]
    for start in range(0, len(rows), 5000):
        conn.execute(stat_days.insert(), rows[start : start + 5000])
    return len(rows)
