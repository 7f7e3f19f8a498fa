"""The ledger's hash chain (防篡改): each community's transfers, in order, linked by SHA-256.

Sealing runs after transfers commit, off the write path. :func:`seal` gives each unsealed transfer
of a community the next ``chain_seq`` and ``chain_hash = sha256(previous hash ‖ canonical bytes of
the transfer)`` while it holds the community's chain-head row, so several processes sealing at
once still make one chain. :func:`verify_chain` recomputes the chains and returns problems as
values, like the audit. A chain shows that sealed transfers were not edited, inserted, reordered
or removed from the middle. It cannot show that the newest ones were removed together with the
stored head: only a head handed to an outside party earlier (``expected_heads``) shows that.

The canonical bytes (format ``linli.chain.v1``), for anyone recomputing a chain: the compact JSON
array (UTF-8, object keys sorted) of the version tag, ``chain_seq`` and the transfer's fields in
the order of ``FIELDS``, timestamps as UTC ``YYYY-MM-DDTHH:MM:SS.ffffffZ`` and ``detail`` as the
JSON it holds. The hash before the first transfer is 32 zero bytes; hashes are stored as hex.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from collections.abc import Mapping
from typing import Any

import msgspec
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from points.audit import Problem
from points.causes import Cause
from points.errors import InvalidRequest
from points.model import utcnow
from points.schema import chain_heads, transfers
from points.sqltypes import insert_ignoring_conflicts

VERSION = "linli.chain.v1"
GENESIS = "0" * 64
FIELDS = (
    "community_id", "id", "debit_account_id", "credit_account_id", "amount", "kind", "phase",
    "pending_id", "timeout_at", "expires_at", "value_date", "reference", "memo", "actor", "detail",
    "created_at",
)  # fmt: skip
_PAGE = 2000
_HEX64 = re.compile(r"[0-9a-f]{64}")


class ChainHead(msgspec.Struct, frozen=True, kw_only=True):
    """Where a community's chain ends: hand ``seq`` and ``hash`` to an outside party."""

    community_id: str
    seq: int
    hash: str


class ChainReport(msgspec.Struct, frozen=True, kw_only=True):
    """What :func:`verify_chain` found: each chain's head as its rows compute it, the problems
    (none when every chain holds) and how many transfers are not sealed yet (not a problem)."""

    heads: tuple[ChainHead, ...]
    problems: tuple[Problem, ...]
    unsealed: int


def link(previous: str, seq: int, transfer: Mapping[Any, Any]) -> str:
    """The chain hash of ``transfer`` sealed at ``seq`` after a transfer whose hash is
    ``previous`` (hex). Pure: the same transfer row gives the same hash on every backend."""
    body = msgspec.json.encode(
        [VERSION, seq, *(_canonical(transfer[name]) for name in FIELDS)], order="sorted"
    )
    return hashlib.sha256(_raw(previous) + body).hexdigest()


def seal(
    conn: Connection,
    community_id: str | None = None,
    *,
    limit: int = 1000,
    now: dt.datetime | None = None,
) -> int:
    """Seal up to ``limit`` unsealed transfers, oldest backlog first; return how many.

    Within a community transfers are sealed in (created_at, id) order. Each community's
    chain-head row is locked (``FOR UPDATE`` on PostgreSQL; SQLite has one writer) and the
    communities are taken in id order, so concurrent sealers queue instead of deadlocking and
    never give two transfers one place.
    """
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
        raise InvalidRequest(Cause("positive", field="limit"))
    now = now or utcnow()
    t = transfers.c
    backlog = conn.execute(
        sa.select(t.community_id, sa.func.count(), sa.func.min(t.created_at))
        .where(t.chain_seq.is_(None), *_scope(transfers, community_id))
        .group_by(t.community_id)
    )
    plan: dict[str, int] = {}
    left = limit
    for cid, waiting, _ in sorted(backlog.all(), key=lambda r: (r[2], r[0])):
        if left <= 0:
            break
        plan[cid] = min(waiting, left)
        left -= plan[cid]
    sealed = 0
    for cid in sorted(plan):
        sealed += _seal_community(conn, cid, plan[cid], now)
    return sealed


def verify_chain(
    conn: Connection,
    community_id: str | None = None,
    *,
    expected_heads: Mapping[str, tuple[int, str]] | None = None,
) -> ChainReport:
    """Recompute every sealed transfer's hash, in one community or all of them.

    Problems: ``chain_hash_mismatch`` (a row edited, inserted or moved), ``chain_gap`` (a row
    removed from the middle), ``chain_seq_repeated``, ``chain_head_mismatch`` (the stored head
    is not the last sealed row). With ``expected_heads`` (community → (seq, hash), as handed
    out earlier) also ``chain_truncated`` (the chain is shorter now: the newest transfers were
    removed) and ``chain_rewritten`` (the chain no longer passes through that head).
    """
    expected = {
        cid: head
        for cid, head in (expected_heads or {}).items()
        if community_id is None or cid == community_id
    }
    stored = {h.community_id: h for h in _stored_heads(conn, community_id)}
    sealed = conn.scalars(
        sa.select(transfers.c.community_id)
        .distinct()
        .where(transfers.c.chain_seq.is_not(None), *_scope(transfers, community_id))
    )
    problems: list[Problem] = []
    heads = []
    for cid in sorted({*sealed, *stored, *expected}):
        watch = expected[cid][0] if cid in expected else None
        head, seen, found = _walk(conn, cid, watch)
        heads.append(head)
        problems += found
        problems += _check_head(head, stored.get(cid))
        if cid in expected:
            problems += _check_expected(head, expected[cid], seen)
    unsealed = conn.scalar(
        sa.select(sa.func.count()).where(
            transfers.c.chain_seq.is_(None), *_scope(transfers, community_id)
        )
    )
    return ChainReport(heads=tuple(heads), problems=tuple(problems), unsealed=unsealed or 0)


# --- sealing, walking, judging --------------------------------------------------------------------


def _seal_community(conn: Connection, cid: str, n: int, now: dt.datetime) -> int:
    conn.execute(
        insert_ignoring_conflicts(conn, chain_heads).values(
            community_id=cid, seq=0, hash=GENESIS, sealed_at=now
        )
    )
    seq, head = (
        conn.execute(
            sa.select(chain_heads.c.seq, chain_heads.c.hash)
            .where(chain_heads.c.community_id == cid)
            .with_for_update()
        )
    ).one()
    # Read after the lock: on PostgreSQL (read committed) this sees what a sealer before us did.
    rows = conn.execute(
        sa.select(transfers)
        .where(transfers.c.community_id == cid, transfers.c.chain_seq.is_(None))
        .order_by(transfers.c.created_at, transfers.c.id)
        .limit(n)
    )
    marks = []
    for row in rows:
        seq += 1
        head = link(head, seq, row._mapping)
        marks.append({"b_community": cid, "b_id": row.id, "b_seq": seq, "b_hash": head})
    if not marks:
        return 0
    conn.execute(_MARK, marks)
    conn.execute(
        chain_heads.update()
        .where(chain_heads.c.community_id == cid)
        .values(seq=seq, hash=head, sealed_at=now)
    )
    return len(marks)


_MARK = (
    transfers.update()
    .where(
        transfers.c.community_id == sa.bindparam("b_community"),
        transfers.c.id == sa.bindparam("b_id"),
        transfers.c.chain_seq.is_(None),
    )
    .values(chain_seq=sa.bindparam("b_seq"), chain_hash=sa.bindparam("b_hash"))
)


def _walk(
    conn: Connection, cid: str, watch: int | None
) -> tuple[ChainHead, str | None, list[Problem]]:
    """Walk one community's sealed rows in seq order: its head, the stored hash at seq
    ``watch`` (None when no row has it), and the problems."""
    problems: list[Problem] = []
    previous, expect, seen = GENESIS, 1, None
    last = (0, GENESIS)
    after = 0
    while True:
        rows = (
            conn.execute(
                sa.select(transfers)
                .where(
                    transfers.c.community_id == cid,
                    transfers.c.chain_seq.is_not(None),
                    transfers.c.chain_seq > after,
                )
                .order_by(transfers.c.chain_seq)
                .limit(_PAGE)
            )
        ).all()
        for row in rows:
            seq, stored = row.chain_seq, row.chain_hash
            if seq < expect:
                problems.append(_problem("chain_seq_repeated", row, expect, seq))
                continue
            computed = link(previous, seq, row._mapping)
            if seq > expect:
                # The predecessor is gone, so this row's link cannot be checked: pick up from it.
                problems.append(_problem("chain_gap", row, expect, seq))
            elif stored != computed:
                problems.append(_problem("chain_hash_mismatch", row, computed, stored))
            if seq == watch:
                seen = stored
            previous = stored if _is_hash(stored) else computed
            expect, last = seq + 1, (seq, stored or "")
        if len(rows) < _PAGE:
            break
        after = rows[-1].chain_seq
    return ChainHead(community_id=cid, seq=last[0], hash=last[1]), seen, problems


def _stored_heads(conn: Connection, community_id: str | None) -> list[ChainHead]:
    """The stored chain heads (where sealing has reached), one per community."""
    rows = conn.execute(
        sa.select(chain_heads.c.community_id, chain_heads.c.seq, chain_heads.c.hash)
        .where(*_scope(chain_heads, community_id))
        .order_by(chain_heads.c.community_id)
    )
    return [ChainHead(community_id=c, seq=s, hash=h) for c, s, h in rows]


_MESSAGES = {
    "chain_hash_mismatch": "a sealed transfer does not match its hash: it (or its place) changed",
    "chain_gap": "sealed transfers are missing before this one",
    "chain_seq_repeated": "two sealed transfers claim one place in the chain",
}


def _problem(code: str, row: Any, expected: Any, actual: Any) -> Problem:
    return Problem(
        code=code,
        community_id=row.community_id,
        subject=row.id,
        expected=expected,
        actual=actual,
        message=f"#{row.chain_seq}: {_MESSAGES[code]}",
    )


def _check_head(head: ChainHead, stored: ChainHead | None) -> list[Problem]:
    if ((stored.seq, stored.hash) if stored else (0, GENESIS)) == (head.seq, head.hash):
        return []
    return [
        Problem(
            code="chain_head_mismatch",
            community_id=head.community_id,
            subject="chain",
            expected=[head.seq, head.hash],
            actual=[stored.seq, stored.hash] if stored else None,
            message="the stored chain head is not the last sealed transfer",
        )
    ]


def _check_expected(head: ChainHead, expected: tuple[int, str], seen: str | None) -> list[Problem]:
    seq, value = expected
    if head.seq < seq:
        return [
            Problem(
                code="chain_truncated",
                community_id=head.community_id,
                subject="chain",
                expected=seq,
                actual=head.seq,
                message="the chain is shorter than the head handed out: transfers were removed",
            )
        ]
    if seen != value:
        return [
            Problem(
                code="chain_rewritten",
                community_id=head.community_id,
                subject="chain",
                expected=value,
                actual=seen,
                message=f"the chain no longer passes through the head handed out at #{seq}",
            )
        ]
    return []


def _canonical(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return value


def _is_hash(value: object) -> bool:
    return isinstance(value, str) and _HEX64.fullmatch(value) is not None


def _raw(value: str) -> bytes:
    return bytes.fromhex(value) if _is_hash(value) else value.encode()


def _scope(table: sa.Table, community_id: str | None) -> list[sa.ColumnElement[bool]]:
    return [] if community_id is None else [table.c.community_id == community_id]
