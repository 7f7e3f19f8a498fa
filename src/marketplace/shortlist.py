"""The shortlist (初筛) behind recommendations: the few wishes that can make a member's top k,
read from the database in the order of the parts of the score that depend on the wish alone.

A total is the member's own parts (fairness, reliability), plus the wish's (urgency, key
household, waiting), plus the pair's (skills, distance, free time). Every wish of the community
open for claims falls in one *cell*: its urgency, whether its resident is a key household, and
how far its place is from the member's home (the same grid, the same compound, the rest of the
community). :func:`matching.ceiling` gives each cell the highest total any eligible wish in it
can reach; the index ``ix_mk_wishes_match`` gives each cell's wishes in the order ties are
broken (start, id), and SQL keeps only the wishes :func:`matching.why_not` would let the member
take.

Cells are read best ceiling first, several at a time in one statement, each a few rows past
``limit`` (after the first statement, the next cells are probed for :data:`PROBE` rows each).
A cell is done once it gave ``limit`` eligible wishes at its ceiling (no later wish of the cell
can pass them: none has a higher total, and at an equal total they come first) or ran out; the
reading stops once ``limit`` wishes are found and no cell left can reach the ``limit``-th total.
The ranking itself is :func:`matching.recommend` over the wishes read: the same scores, the same
order and the same explanations as ranking every wish of the community.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import msgspec
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import Connection

from marketplace.matching import (
    Candidate,
    Match,
    Ranked,
    Target,
    Weights,
    barred,
    best_ranked,
    ceiling,
    matches,
    place_fraction,
    ranked_wish,
    why_not,
)
from marketplace.model import Org, Urgency, Wish
from marketplace.schema import OPEN_FOR_CLAIMS, orgs, wishes
from points import sqltypes

CELLS_AT_ONCE = 8
"""Cells read in full by a statement (``limit`` and some rows each), the best ceilings still
due. Later statements also probe up to three times as many of the next cells for a few rows
(:data:`PROBE`): a community with few wishes is read in two statements, and in a larger one the
probed cells, which usually rank below what is found by then, cost a few rows each, not a
chunk (5,000 open wishes: 283 rows read and scored a request, 12.2 ms; probed, 115 rows and
5.0 ms)."""
PROBE = 2
"""Rows a probed cell reads; one that gives fewer has run out (is done)."""


class Cell(msgspec.Struct, kw_only=True):
    """Wishes of one urgency and key household at one distance from the member's home."""

    urgency: int
    key_household: bool
    place: float  # the distance part's fraction for every wish in the cell
    org_ids: tuple[str, ...]  # the places in the cell; () with ``others``: every place but those
    others: tuple[str, ...] = ()
    ceiling: float = 0.0
    after: tuple[dt.datetime, str] | None = None  # the last (start, id) read
    at_ceiling: int = 0  # eligible wishes read whose total is the ceiling
    done: bool = False


def best_wishes(
    conn: Connection,
    community: Org,
    candidate: Candidate,
    paired_unit_ids: frozenset[str],
    weights: Weights,
    now: dt.datetime,
    limit: int,
) -> list[Match]:
    """The candidate's top ``limit`` wishes of the community: :func:`matching.recommend` over
    every wish open for claims, reading only the cells that can reach it."""
    if limit < 1 or barred(candidate, community.path, paired_unit_ids):
        return []
    cells = _cells(conn, community, candidate, weights)
    read: list[Ranked] = []  # every eligible wish read, ranked as recommend ranks it
    best: list[Ranked] = []
    full = limit + limit // 2 + 2
    first = True
    while True:
        bar = -float(best[-1][0][0]) if len(best) >= limit else None  # type: ignore[arg-type]
        due = [c for c in cells if not c.done and (bar is None or c.ceiling >= bar)]
        if not due:
            return matches(best, weights, now)
        probed = [] if first else due[CELLS_AT_ONCE : CELLS_AT_ONCE * 4]
        first = False
        read_as = [(c, full) for c in due[:CELLS_AT_ONCE]] + [(c, PROBE) for c in probed]
        read_as.sort(key=lambda pair: _kind(pair[0]))
        batch, sizes = [c for c, _ in read_as], [n for _, n in read_as]
        rows = conn.execute(*_statement(conn, community.id, candidate, batch, now, sizes))
        keys = list(rows.keys())
        to_wish = sqltypes.picker(keys, wishes, "", Wish)
        got = [0] * len(batch)
        for row in rows:
            cell = batch[row.cell]
            got[row.cell] += 1
            target = Target(
                wish=to_wish(row),
                path=row.place_path,
                key_household=cell.key_household,
                paired_unit_ids=paired_unit_ids,
            )
            at = (target.wish.window_start, target.wish.id)
            cell.after = at if cell.after is None else max(cell.after, at)  # UNION ALL: any order
            if why_not(target, candidate, now):
                continue
            ranked = ranked_wish(target, candidate, weights, now)
            read.append(ranked)
            if -ranked[0][0] == cell.ceiling:  # type: ignore[operator]
                cell.at_ceiling += 1
        for cell, n, chunk in zip(batch, got, sizes, strict=True):
            cell.done = n < chunk or cell.at_ceiling >= limit
        best = best_ranked(read, limit)


def _cells(conn: Connection, community: Org, candidate: Candidate, weights: Weights) -> list[Cell]:
    """Every cell, best ceiling first. The places near the member (their home's compound and
    below: a path's segments are org ids) are read from mk_orgs and grouped by distance; the
    rest of the community is one group."""
    home = [s for s in candidate.home_path.split("/") if s]
    depth = len([s for s in community.path.split("/") if s])
    groups: dict[float, list[str]] = {}
    near: list[str] = []
    if len(home) > depth and candidate.home_path.startswith(community.path):
        for org_id, path in conn.execute(_NEAR, {"top": home[depth]}):
            groups.setdefault(place_fraction(candidate.home_path, path), []).append(org_id)
            near.append(org_id)
    rest = place_fraction(candidate.home_path, community.path)
    places: list[tuple[float, tuple[str, ...], tuple[str, ...]]]
    places = [(p, tuple(sorted(ids)), ()) for p, ids in groups.items()]
    places.append((rest, (), tuple(sorted(near))))
    cells = [
        Cell(urgency=int(u), key_household=kh, place=p, org_ids=ids, others=others,
             ceiling=ceiling(candidate, weights, urgency=u, key_household=kh, place=p))
        for p, ids, others in places
        for u in Urgency
        for kh in (True, False)
    ]  # fmt: skip
    cells.sort(key=lambda c: -c.ceiling)
    return cells


def _near() -> sa.Select[Any]:
    """The org ``:top`` (the member's home compound) and everything below it."""
    top = sa.select(orgs.c.id, orgs.c.path).where(orgs.c.id == sa.bindparam("top"))
    tree = top.cte("near", recursive=True)
    tree = tree.union_all(
        sa.select(orgs.c.id, orgs.c.path).join(tree, orgs.c.parent_id == tree.c.id)
    )
    return sa.select(tree.c.id, tree.c.path)


_NEAR = _near()


def _kind(cell: Cell) -> tuple[bool, bool, bool]:
    """Cells of one kind share their statement's text: a batch in this order has few shapes."""
    return bool(cell.org_ids), bool(cell.others), cell.after is not None


Shape = tuple[str, tuple[tuple[str, bool], ...]]
"""What a statement's text depends on: the dialect, and per cell which places it names ("in",
"not_in" or "") and whether it resumes."""


def _statement(
    conn: Connection,
    community_id: str,
    candidate: Candidate,
    batch: list[Cell],
    now: dt.datetime,
    chunks: list[int],
) -> tuple[Any, dict[str, Any]]:
    """One ``SELECT`` reading ``chunks[n]`` rows of the batch's cell n past where it stopped
    (each cell a range of ``ix_mk_wishes_match`` in order, or of ``ix_mk_wishes_match_place``
    for places near the member, limited, then put together, then joined once to the places'
    paths), and its parameters. The statement is built once per
    shape. PostgreSQL plans it anew on every call (its generic plan never wins), so the join is
    outside the cells: planning 8 cells took 2.3 ms with a join in each, 1.5 ms so."""
    kinds = tuple(
        ("in" if c.org_ids else "not_in" if c.others else "", c.after is not None) for c in batch
    )
    shape = (conn.dialect.name, kinds)
    statement = _BUILT.get(shape)
    if statement is None:
        statement = _BUILT[shape] = _build(shape)
    given: dict[str, Any] = {
        "community": community_id,
        "now": now,
        "member": candidate.member_id,
        "mine_skills": sorted(candidate.skills),
        "claimed": sorted(candidate.claimed_wish_ids),
    }
    for n, cell in enumerate(batch):
        given[f"urgency_{n}"] = cell.urgency
        given[f"key_household_{n}"] = cell.key_household
        given[f"places_{n}"] = list(cell.org_ids or cell.others)
        given[f"chunk_{n}"] = chunks[n]
        if cell.after is not None:
            given[f"start_{n}"], given[f"id_{n}"] = cell.after
    return statement, given


_BUILT: dict[Shape, Any] = {}


def _build(shape: Shape) -> Any:
    dialect, kinds = shape
    w = wishes.c
    eligible = [
        w.community_id == sa.bindparam("community"),
        sa.text(OPEN_FOR_CLAIMS),  # the partial index's own words
        w.places_taken < w.capacity,
        w.window_end > sa.bindparam("now", type_=w.window_end.type),
        w.beneficiary_id != sa.bindparam("member"),
        w.posted_by != sa.bindparam("member"),
        _has_skills(dialect),
        _among(dialect, "mk_wishes.id", "claimed", negate=True),
    ]
    parts = []
    for n, (places, resumes) in enumerate(kinds):
        where = [
            *eligible,
            w.urgency == sa.bindparam(f"urgency_{n}", type_=w.urgency.type),
            w.key_household == sa.bindparam(f"key_household_{n}", type_=w.key_household.type),
        ]
        if places:
            where.append(_among(dialect, "mk_wishes.org_id", f"places_{n}", places == "not_in"))
        if resumes:
            start = sa.bindparam(f"start_{n}", type_=w.window_start.type)
            wish_id = sa.bindparam(f"id_{n}", type_=w.id.type)
            where.append(
                sa.or_(w.window_start > start, sa.and_(w.window_start == start, w.id > wish_id))
            )
        part = (
            sa.select(wishes, sa.literal(n).label("cell"))
            .where(*where)
            .order_by(*_order(dialect, places == "in"))
            .limit(sa.bindparam(f"chunk_{n}", type_=sa.Integer()))
        )
        parts.append(sa.select(part.subquery()))
    found = (parts[0] if len(parts) == 1 else sa.union_all(*parts)).subquery("found")
    return sa.select(found, orgs.c.path.label("place_path")).join(orgs, orgs.c.id == found.c.org_id)


def _order(dialect: str, near: bool) -> tuple[Any, ...]:
    """The order ties are broken in (start, id). A cell of places near the member reads them
    through ``ix_mk_wishes_match_place`` and sorts the few rows it finds; SQLite, planning
    without statistics, would rather take ``ix_mk_wishes_match`` for its order and filter a
    whole urgency of the community down to those places (≈ 4,000 index entries a request at
    100,000 wishes), so there the order is asked of ``+column`` (the same values; SQLite's unary
    ``+`` keeps an index from giving the order)."""
    if near and dialect == "sqlite":
        return (sa.literal_column("+mk_wishes.window_start"), sa.literal_column("+mk_wishes.id"))
    return (wishes.c.window_start, wishes.c.id)


def _among(dialect: str, column: str, name: str, negate: bool = False) -> Any:
    """``column`` is (``negate``: is not) one of the list bound as ``name``, bound as one value
    (SQLite: a JSON array; PostgreSQL: an array): the statement's text stays the same whatever
    the list's length (an expanding ``IN`` is rendered anew on every call, ≈ 0.1 ms, and each
    length is a statement to prepare)."""
    if dialect == "postgresql":  # an array: = ANY can be an index condition
        values = sa.bindparam(name, type_=postgresql.ARRAY(sa.Text()))
        among = f"{column} = ANY(CAST(:{name} AS text[]))"
        return sa.text(f"NOT ({among})" if negate else among).bindparams(values)
    values = sa.bindparam(name, type_=sqltypes.Json())
    listed = f"SELECT value FROM json_each(:{name})"
    return sa.text(f"{column} {'NOT IN' if negate else 'IN'} ({listed})").bindparams(values)


def _has_skills(dialect: str) -> Any:
    """The wish asks for no skill the member lacks (why_not's ``missing_skills``); skills are
    stored as a sorted JSON list, so a wish asking for none is ``[]``."""
    none = wishes.c.skills == []
    mine = sa.bindparam("mine_skills", type_=sqltypes.Json())
    if dialect == "postgresql":
        subset = "CAST(mk_wishes.skills AS jsonb) <@ CAST(:mine_skills AS jsonb)"
    else:
        subset = (
            "NOT EXISTS (SELECT 1 FROM json_each(mk_wishes.skills) AS need"
            " WHERE need.value NOT IN (SELECT value FROM json_each(:mine_skills)))"
        )
    return sa.or_(none, sa.text(subset).bindparams(mine))
