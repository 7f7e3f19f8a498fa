"""What the database must show after the crash test's rounds, request by request.

Every acknowledged write is there exactly once, with the fields it was acknowledged with (lost,
duplicates, differ); nothing is there that was not acknowledged (stray); wallets hold what the
acknowledged requests imply; the stored idempotent responses are the acknowledged ones; places
taken equal active claims and stock is what was sold; and ``points.audit`` finds nothing.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

import marketplace as mk
import points
from crash_load import C, Load, Sent
from marketplace.schema import claims, member_load, transitions, wishes
from points.schema import accounts, catalog_items, orders, transfers
from service.database import MIGRATIONS
from service.tables import idempotency_keys


@dataclass
class Findings:
    """What the database shows against the record: each list names the requests concerned."""

    lost: list[str] = field(default_factory=list)  # acknowledged, not there
    duplicates: list[str] = field(default_factory=list)  # there more than once
    stray: list[str] = field(default_factory=list)  # there, never acknowledged
    differ: list[str] = field(default_factory=list)  # there, not as acknowledged
    audit: list[points.Problem] = field(default_factory=list)
    marketplace: list[str] = field(default_factory=list)  # places, stock, open-claim counts

    def counts(self) -> dict[str, int]:
        return {
            "lost": len(self.lost),
            "duplicates": len(self.duplicates),
            "stray": len(self.stray),
            "differ": len(self.differ),
            "audit": len(self.audit),
            "marketplace": len(self.marketplace),
        }


TRANSFER_FIELDS = ("id", "debit_account_id", "credit_account_id", "amount", "kind", "phase", "memo")
ORDER_FIELDS = ("id", "item_id", "member_id", "quantity", "points", "status")


def check(url: str, load: Load) -> Findings:
    found = Findings()
    db = mk.open_database(url, migrations=(MIGRATIONS,), pool_size=2)
    try:
        with db.snapshot() as conn:
            _check_transfers(conn, load, found)
            _check_orders(conn, load, found)
            _check_claims(conn, load, found)
            _check_balances(conn, load, found)
            _check_keys(conn, load, found)
            found.audit = points.audit(conn)
    finally:
        db.dispose()
    return found


def _ok(load: Load, *kinds: str) -> list[Sent]:
    return [s for s in load.sent if s.kind in kinds and s.outcome == "ok"]


def _check_transfers(conn: Connection, load: Load, found: Findings) -> None:
    """Adjustments and donations, found by their memo (``crash <n>``, one per request)."""
    by_memo = {s.memo: s for s in load.sent if s.kind in ("adjust", "donate")}
    rows = defaultdict(list)
    for row in conn.execute(
        sa.select(transfers).where(
            transfers.c.community_id == C,
            transfers.c.kind.in_(("adjustment", "donation")),
            transfers.c.memo.like("crash %"),
        )
    ):
        rows[row.memo].append(row)
    for memo, made in rows.items():
        sent = by_memo.get(memo)
        if sent is None or sent.outcome != "ok":
            found.stray += [f"{memo}: {row.id} ({sent and sent.outcome})" for row in made]
        elif len(made) > 1:
            found.duplicates.append(f"{sent.key}: {[row.id for row in made]}")
        elif (got := _fields(made[0], TRANSFER_FIELDS)) != _fields(sent.answer, TRANSFER_FIELDS):
            found.differ.append(f"{sent.key}: {got} != {sent.answer}")
    found.lost += [s.key for s in _ok(load, "adjust", "donate") if s.memo not in rows]


def _check_orders(conn: Connection, load: Load, found: Findings) -> None:
    acknowledged = {s.answer["id"]: s for s in _ok(load, "redeem")}
    made = {
        row.id: row
        for row in conn.execute(
            sa.select(orders).where(
                orders.c.community_id == C, orders.c.item_id.in_(load.world.items)
            )
        )
    }
    for order_id, row in made.items():
        sent = acknowledged.get(order_id)
        if sent is None:
            found.stray.append(f"order {order_id} of {row.member_id}")
        elif (got := _fields(row, ORDER_FIELDS)) != _fields(sent.answer, ORDER_FIELDS):
            found.differ.append(f"{sent.key}: {got} != {sent.answer}")
    found.lost += [s.key for s in acknowledged.values() if s.answer["id"] not in made]
    stock = dict(
        conn.execute(
            sa.select(catalog_items.c.id, catalog_items.c.stock).where(
                catalog_items.c.community_id == C,
                catalog_items.c.id.in_(load.world.items),
            )
        ).all()
    )
    sold = Counter(s.answer["item_id"] for s in acknowledged.values())
    expected = {i: start - sold[i] for i, start in load.world.items.items()}
    if stock != expected or min(stock.values()) < 0:
        found.marketplace.append(f"stock {stock} != {expected}")


def _check_claims(conn: Connection, load: Load, found: Findings) -> None:
    acknowledged = {s.body["id"]: s for s in _ok(load, "claim")}
    withdrawn = {s.path.rsplit("/", 2)[1]: s for s in _ok(load, "withdraw")}
    made = {
        row.id: row
        for row in conn.execute(
            sa.select(claims).where(
                claims.c.community_id == C, claims.c.wish_id.in_(load.world.wishes)
            )
        )
    }
    for claim_id, row in made.items():
        sent = acknowledged.get(claim_id)
        state = "withdrawn" if claim_id in withdrawn else "active"
        if sent is None:
            found.stray.append(f"claim {claim_id} of {row.member_id}")
        elif (row.member_id, row.wish_id, row.state) != (
            sent.member,
            sent.answer["claim"]["wish_id"],
            state,
        ):
            found.differ.append(f"{sent.key}: {row.member_id} {row.wish_id} {row.state} != {state}")
    found.lost += [s.key for c, s in acknowledged.items() if c not in made]
    found.lost += [
        s.key for c, s in withdrawn.items() if c in made and made[c].state != "withdrawn"
    ]
    recorded = Counter(
        conn.execute(
            sa.select(transitions.c.subject_id, transitions.c.action).where(
                transitions.c.community_id == C,
                transitions.c.subject == "claim",
                transitions.c.subject_id.in_(made),
            )
        ).all()
    )
    found.duplicates += [f"{c} {action} ×{n}" for (c, action), n in recorded.items() if n > 1]
    # places taken are the active claims (and never past capacity); open-claim counts match
    places = conn.execute(
        sa.select(wishes.c.id, wishes.c.capacity, wishes.c.places_taken).where(
            wishes.c.community_id == C, wishes.c.id.in_(load.world.wishes)
        )
    ).all()
    active = Counter(
        r.wish_id for r in made.values() if r.state in ("active", "checked_in", "checked_out")
    )
    for wish_id, capacity, taken in places:
        if not active[wish_id] == taken <= capacity:
            found.marketplace.append(
                f"wish {wish_id}: places_taken={taken} active={active[wish_id]} capacity={capacity}"
            )
    counted = dict(
        conn.execute(
            sa.select(member_load.c.member_id, member_load.c.open_claims).where(
                member_load.c.community_id == C
            )
        ).all()
    )
    open_claims = Counter(r.member_id for r in made.values() if r.state in ("active", "checked_in"))
    if {m: n for m, n in counted.items() if n} != dict(open_claims):
        found.marketplace.append(f"open claims counted {counted} != {dict(open_claims)}")


def _check_balances(conn: Connection, load: Load, found: Findings) -> None:
    """Each wallet holds exactly what its acknowledged requests imply."""
    expected = dict(load.world.posted)
    for s in _ok(load, "adjust"):
        expected[s.member] += s.body["change"]
    for s in _ok(load, "donate"):
        expected[s.member] -= s.body["amount"]
    held: Counter[str] = Counter()
    for s in _ok(load, "redeem"):
        held[s.member] += s.answer["points"]
    rows = conn.execute(
        sa.select(accounts).where(accounts.c.community_id == C, accounts.c.kind == "member")
    )
    got = {r.owner_id: (r.credits_posted - r.debits_posted, r.debits_pending) for r in rows}
    want = {m: (expected[m], held[m]) for m in expected}
    if got != want:
        found.differ.append(f"wallets (posted, held) {got} != {want}")


def _check_keys(conn: Connection, load: Load, found: Findings) -> None:
    """The stored responses are the acknowledged ones; no key is taken without its response."""
    stored = {
        (r.member_id, r.key): r
        for r in conn.execute(
            sa.select(idempotency_keys).where(idempotency_keys.c.key.like("crash-%"))
        )
    }
    acknowledged = {(s.sender, s.key): s for s in load.sent if s.outcome == "ok"}
    found.stray += [
        f"key {k} stored, never acknowledged" for k in stored.keys() - acknowledged.keys()
    ]
    found.lost += [f"key {k} not stored" for k in acknowledged.keys() - stored.keys()]
    for k in stored.keys() & acknowledged.keys():
        row, sent = stored[k], acknowledged[k]
        if (row.status_code, json.loads(row.body)) != (sent.status, sent.answer):
            found.differ.append(f"key {k}: stored {row.status_code} {row.body[:200]}")


def _fields(source: Any, names: tuple[str, ...]) -> dict[str, Any]:
    if isinstance(source, dict):
        return {n: source[n] for n in names}
    return {n: getattr(source, n) for n in names}
