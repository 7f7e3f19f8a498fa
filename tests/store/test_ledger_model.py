"""The ledger against a model: random credits, spends, holds, reversals, donations, expiry and
retries, each checked step by step against a plain in-memory ledger (invariants 1-4).

The model keeps every wallet's lots (积分批次) exactly: spends take the soonest-expiring points
first, a void or part-post gives them back latest-expiring first, and an expiry run must expire
exactly the lots the model says are due. After every step the audit must be clean and every
account, wallet lot and hold must agree with the model.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar, TypeVar

import msgspec
import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)
from sqlalchemy.engine import Connection

import points
import support
from points import AccountKind, DonationRule, Phase, TransferKind, schema

T = TypeVar("T")
Call = Callable[[Connection, dt.datetime], points.Transfer]

COMMUNITY = "c1"
MEMBERS = ("m1", "m2", "m3", "m4")
CAPPED = {"m4": 400}  # members whose wallet has a maximum balance
POOL = points.account_id(AccountKind.POOL, COMMUNITY)
STORE = points.account_id(AccountKind.STORE, COMMUNITY)
EXPIRY = points.account_id(AccountKind.EXPIRY, COMMUNITY)
START = dt.datetime(2025, 3, 1, 8, 0, tzinfo=dt.UTC)
DONATION_EXPIRY_DAYS = 30
POLICY = points.AccrualPolicy(donations=DonationRule.ANY, expiry_days=DONATION_EXPIRY_DAYS)

SETTINGS = settings(
    max_examples=25,
    stateful_step_count=30,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)

members = st.sampled_from(MEMBERS)
amounts = st.integers(1, 200)
spends = st.integers(1, 110)  # see spend_of
expiries = st.none() | st.integers(1, 60).map(lambda d: dt.timedelta(days=d))
picks = st.integers(0, 10_000)
shares = st.integers(1, 120)  # see share_of


def wallet(member: str) -> str:
    return points.account_id(AccountKind.MEMBER, member)


def spend_of(available: int, spend: int) -> int:
    """1-99: that percent of what is available; then all of it, one point more, or far more."""
    if spend < 100:
        return max(1, available * spend // 100)
    if spend < 104:
        return max(1, available)
    return available + 1 if spend < 108 else available + 100


def share_of(amount: int, share: int) -> int | None:
    """1-99: that percent of ``amount`` (at least 1); then None (all of it), or one more."""
    if share < 100:
        return max(1, amount * share // 100)
    return None if share < 110 else amount + 1


def as_account(row: sa.Row[Any]) -> points.Account:
    return msgspec.convert(
        {str(k): v for k, v in row._mapping.items()}, points.Account, strict=False
    )


def other_amount(amount: int, limit: int) -> int | None:
    """An amount that differs from ``amount`` and stays within 1..limit (None: there is none)."""
    if amount < limit:
        return amount + 1
    return amount - 1 if amount > 1 else None


# --- the model ------------------------------------------------------------------------------


@dataclass
class Lot:
    id: str
    expires_at: dt.datetime | None
    created_at: dt.datetime
    remaining: int
    expiry_count: int = 0


@dataclass
class Hold:
    id: str
    account: str
    amount: int
    timeout_at: dt.datetime
    state: str = "open"  # open, posted, voided


@dataclass
class Moved:
    """What the model knows of an applied transfer (enough to say how its reversal goes)."""

    id: str
    debit: str
    credit: str
    amount: int
    kind: TransferKind
    phase: Phase
    pending_id: str | None = None


@dataclass
class Replay:
    """A transfer that was applied: how to send it again, same and with another amount."""

    id: str
    same: Call
    changed: Call | None
    result: points.Transfer


@dataclass
class Refusal:
    """A transfer the ledger refused: its id must stay refused."""

    id: str
    error: type[points.Refused]
    account: str  # the wallet that could not pay or could not take more
    amount: int
    available: int | None  # what the payer had, as the refusal reports it
    same: Call
    changed: Call | None


@dataclass
class Model:
    """The ledger as plain Python: balances, holds, and each wallet's lots exactly."""

    balances: dict[str, int] = field(default_factory=dict)
    pending: dict[str, int] = field(default_factory=dict)  # debits_pending of wallets
    store_pending: int = 0  # credits_pending of the store
    lots: dict[str, list[Lot]] = field(default_factory=dict)
    max_balance: dict[str, int] = field(default_factory=dict)
    uses: dict[str, dict[str, int]] = field(default_factory=dict)  # transfer id -> lot -> taken
    holds: dict[str, Hold] = field(default_factory=dict)
    moved: dict[str, Moved] = field(default_factory=dict)
    reversed: set[str] = field(default_factory=set)

    def __post_init__(self) -> None:
        for acct in (POOL, STORE, EXPIRY, *map(wallet, MEMBERS)):
            self.balances[acct] = 0
        for m in MEMBERS:
            self.pending[wallet(m)] = 0
            self.lots[wallet(m)] = []
        self.max_balance = {wallet(m): cap for m, cap in CAPPED.items()}

    def is_wallet(self, acct: str) -> bool:
        return acct in self.lots

    def available(self, acct: str) -> int:
        return self.balances[acct] - self.pending[acct]

    def refusal(
        self, debit: str, credit: str, amount: int
    ) -> tuple[type[points.Refused], str] | None:
        """Why the ledger must refuse this transfer (and which wallet), or None."""
        if self.is_wallet(debit) and amount > self.available(debit):
            return points.InsufficientPoints, debit
        cap = self.max_balance.get(credit)
        if cap is not None and self.balances[credit] + amount > cap:
            return points.MaxBalanceExceeded, credit
        return None

    def lot(self, lot_id: str) -> Lot:
        return next(lot for lots in self.lots.values() for lot in lots if lot.id == lot_id)

    def use(self, acct: str, transfer_id: str, amount: int, first: str | None = None) -> None:
        """Take points from the wallet's lots: ``first``, then soonest expiry, oldest, by id."""
        far = dt.datetime.max.replace(tzinfo=dt.UTC)
        order = sorted(
            (lot for lot in self.lots[acct] if lot.remaining > 0),
            key=lambda lot: (
                lot.id != first,
                lot.expires_at is None,
                lot.expires_at or far,
                lot.created_at,
                lot.id,
            ),
        )
        taken: dict[str, int] = {}
        left = amount
        for lot in order:
            if left == 0:
                break
            take = min(left, lot.remaining)
            lot.remaining -= take
            taken[lot.id] = take
            left -= take
        assert left == 0, "the model let a wallet overspend"
        self.uses[transfer_id] = taken

    def give_back(self, hold_id: str, amount: int) -> None:
        """Return points a hold took: never-expiring lots first, then latest expiry, by id."""
        lots = [(self.lot(lot_id), taken) for lot_id, taken in self.uses[hold_id].items()]
        lots.sort(
            key=lambda pair: (
                pair[0].expires_at is not None,
                -pair[0].expires_at.timestamp() if pair[0].expires_at else 0,
                pair[0].id,
            )
        )
        left = amount
        for lot, taken in lots:
            back = min(left, taken)
            lot.remaining += back
            left -= back
        assert left == 0

    def latest_expiry(self, transfer_id: str) -> dt.datetime | None:
        dates = [self.lot(lot_id).expires_at for lot_id in self.uses.get(transfer_id, {})]
        if not dates or None in dates:
            return None
        return max(d for d in dates if d is not None)

    def post(
        self,
        t: points.Transfer,
        *,
        expires_at: dt.datetime | None,
        first: str | None = None,
        now: dt.datetime,
    ) -> None:
        """A single-phase transfer the ledger accepted."""
        self.balances[t.debit_account_id] -= t.amount
        self.balances[t.credit_account_id] += t.amount
        if self.is_wallet(t.debit_account_id):
            self.use(t.debit_account_id, t.id, t.amount, first)
        if self.is_wallet(t.credit_account_id):
            self.lots[t.credit_account_id].append(Lot(t.id, expires_at, now, t.amount))
        self.record(t)

    def hold(self, t: points.Transfer, timeout_at: dt.datetime) -> None:
        self.pending[t.debit_account_id] += t.amount
        self.store_pending += t.amount
        self.use(t.debit_account_id, t.id, t.amount)
        self.holds[t.id] = Hold(t.id, t.debit_account_id, t.amount, timeout_at)
        self.record(t)

    def close(self, t: points.Transfer, hold: Hold) -> None:
        """A post (in full or in part) or a void of an open hold."""
        posted = t.amount if t.phase is Phase.POST else 0
        self.pending[hold.account] -= hold.amount
        self.store_pending -= hold.amount
        self.balances[hold.account] -= posted
        self.balances[STORE] += posted
        self.give_back(hold.id, hold.amount - posted)
        hold.state = "posted" if t.phase is Phase.POST else "voided"
        self.record(t)

    def record(self, t: points.Transfer) -> None:
        self.moved[t.id] = Moved(
            t.id, t.debit_account_id, t.credit_account_id, t.amount, t.kind, t.phase, t.pending_id
        )

    def due(self, now: dt.datetime) -> dict[str, tuple[str, Lot]]:
        """The lots an expiry run at ``now`` must expire, by lot id."""
        return {
            lot.id: (acct, lot)
            for acct, lots in self.lots.items()
            for lot in lots
            if lot.remaining > 0 and lot.expires_at is not None and lot.expires_at <= now
        }


# --- the machine ----------------------------------------------------------------------------


class LedgerMachine(RuleBasedStateMachine):
    backend: ClassVar[str] = "sqlite"

    def __init__(self) -> None:
        super().__init__()
        self.now = START
        self.counter = 0
        self.model = Model()
        self.replays: list[Replay] = []
        self.refusals: list[Refusal] = []
        self.db = support.open_database(self.backend)
        try:
            self.run(self._open)
        except BaseException:
            self.teardown()
            raise

    def _open(self, conn: Connection) -> None:
        points.open_community(conn, COMMUNITY)
        for m in MEMBERS:
            points.open_account(
                conn, COMMUNITY, AccountKind.MEMBER, m, max_balance=CAPPED.get(m), now=self.now
            )
        points.set_policy(conn, COMMUNITY, POLICY, actor="test", now=self.now)

    def teardown(self) -> None:
        self.db.dispose()

    # --- helpers

    def run(self, op: Callable[[Connection], T]) -> T:
        """``op`` inside one ``db.transaction()``."""

        with self.db.transaction() as conn:
            return op(conn)

    def send(self, call: Call) -> points.Transfer:
        return self.run(lambda conn: call(conn, self.now))

    def fresh_id(self) -> str:
        self.counter += 1
        return f"t{self.counter:05d}"

    def remember(self, same: Call, changed: Call | None, result: points.Transfer) -> None:
        self.replays.append(Replay(result.id, same, changed, result))

    def attempt(
        self, debit: str, credit: str, amount: int, tid: str, same: Call, changed: Call | None
    ) -> points.Transfer | None:
        """Send a transfer; refused exactly when the model says so (and then None)."""
        refusal = self.model.refusal(debit, credit, amount)
        if refusal is None:
            done = self.send(same)
            assert (done.id, done.amount) == (tid, amount)
            assert (done.debit_account_id, done.credit_account_id) == (debit, credit)
            self.remember(same, changed, done)
            return done
        error, acct = refusal
        with pytest.raises(error) as exc:
            self.send(same)
        assert exc.value.refusal.id == tid
        available = None
        if isinstance(exc.value, points.InsufficientPoints):
            available = self.model.available(acct)
            assert (exc.value.available, exc.value.requested) == (available, amount)
        else:
            assert isinstance(exc.value, points.MaxBalanceExceeded)
            cap = self.model.max_balance[acct]
            assert (exc.value.balance, exc.value.max_balance) == (self.model.balances[acct], cap)
        self.refusals.append(Refusal(tid, error, acct, amount, available, same, changed))
        return None

    def credit_member(self, member: str, amount: int, expires_in: dt.timedelta | None) -> None:
        tid = self.fresh_id()
        expires_at = None if expires_in is None else self.now + expires_in

        def call(amount: int) -> Call:
            return lambda conn, now: points.transfer(
                conn,
                community_id=COMMUNITY,
                debit_account_id=POOL,
                credit_account_id=wallet(member),
                amount=amount,
                kind=TransferKind.ACCRUAL,
                id=tid,
                expires_at=expires_at,
                now=now,
            )

        done = self.attempt(POOL, wallet(member), amount, tid, call(amount), call(amount + 1))
        if done is not None:
            assert done.expires_at == expires_at
            self.model.post(done, expires_at=expires_at, now=self.now)

    def pick_hold(self, pick: int, any_hold: bool) -> Hold:
        """One of the open holds, unless there is none or ``any_hold``: then any hold."""
        holds = [h for h in self.model.holds.values() if h.state == "open"]
        if any_hold or not holds:
            holds = list(self.model.holds.values())
        return holds[pick % len(holds)]

    # --- rules

    @initialize(grants=st.lists(st.tuples(st.integers(1, 400), expiries), min_size=4, max_size=4))
    def first_credits(self, grants: list[tuple[int, dt.timedelta | None]]) -> None:
        """Every member starts with some points, so that spends have something to spend."""
        for member, (amount, expires_in) in zip(MEMBERS, grants, strict=True):
            self.credit_member(member, amount, expires_in)

    @rule(member=members, amount=amounts, expires_in=expiries)
    def credit(self, member: str, amount: int, expires_in: dt.timedelta | None) -> None:
        """An accrual from the pool, perhaps with an expiry date."""
        self.credit_member(member, amount, expires_in)

    @rule(member=members, spend=spends)
    def redeem(self, member: str, spend: int) -> None:
        """A single-phase redemption: refused exactly when it is more than is available."""
        tid = self.fresh_id()
        amount = spend_of(self.model.available(wallet(member)), spend)

        def call(amount: int) -> Call:
            return lambda conn, now: points.transfer(
                conn,
                community_id=COMMUNITY,
                debit_account_id=wallet(member),
                credit_account_id=STORE,
                amount=amount,
                kind=TransferKind.REDEMPTION,
                id=tid,
                now=now,
            )

        done = self.attempt(wallet(member), STORE, amount, tid, call(amount), call(amount + 1))
        if done is not None:
            self.model.post(done, expires_at=None, now=self.now)

    @rule(member=members, spend=spends, hours=st.integers(1, 720))
    def hold(self, member: str, spend: int, hours: int) -> None:
        """A pending redemption that holds points until posted, voided or timed out."""
        tid = self.fresh_id()
        amount = spend_of(self.model.available(wallet(member)), spend)
        timeout = dt.timedelta(hours=hours)

        def call(amount: int) -> Call:
            return lambda conn, now: points.transfer(
                conn,
                community_id=COMMUNITY,
                debit_account_id=wallet(member),
                credit_account_id=STORE,
                amount=amount,
                kind=TransferKind.REDEMPTION,
                id=tid,
                pending=True,
                timeout=timeout,
                now=now,
            )

        done = self.attempt(wallet(member), STORE, amount, tid, call(amount), call(amount + 1))
        if done is not None:
            assert done.phase is Phase.PENDING
            assert done.timeout_at == self.now + timeout
            self.model.hold(done, self.now + timeout)

    @precondition(lambda self: self.model.holds)
    @rule(pick=picks, any_hold=st.booleans(), share=shares)
    def post(self, pick: int, any_hold: bool, share: int) -> None:
        """Post a hold in full or in part; a closed or timed-out hold cannot be posted."""
        hold = self.pick_hold(pick, any_hold)
        amount = share_of(hold.amount, share)
        tid = self.fresh_id()

        def call(amount: int | None) -> Call:
            return lambda conn, now: points.post_pending(
                conn, COMMUNITY, hold.id, amount=amount, id=tid, now=now
            )

        if amount is not None and amount > hold.amount:
            with pytest.raises(points.InvalidRequest):
                self.send(call(amount))
            return
        if hold.state != "open" or hold.timeout_at <= self.now:
            with pytest.raises(points.PendingNotOpen):
                self.send(call(amount))
            return
        done = self.send(call(amount))
        assert (done.phase, done.pending_id) == (Phase.POST, hold.id)
        assert done.amount == (hold.amount if amount is None else amount)
        self.model.close(done, hold)
        changed = other_amount(done.amount, hold.amount)
        self.remember(call(amount), None if changed is None else call(changed), done)

    @precondition(lambda self: self.model.holds)
    @rule(pick=picks, any_hold=st.booleans())
    def void(self, pick: int, any_hold: bool) -> None:
        """Void a hold (even a timed-out one not yet swept); a closed hold cannot be voided."""
        hold = self.pick_hold(pick, any_hold)
        tid = self.fresh_id()

        def call(conn: Connection, now: dt.datetime) -> points.Transfer:
            return points.void_pending(conn, COMMUNITY, hold.id, id=tid, now=now)

        if hold.state != "open":
            with pytest.raises(points.PendingNotOpen):
                self.send(call)
            return
        done = self.send(call)
        assert (done.phase, done.pending_id, done.amount) == (Phase.VOID, hold.id, hold.amount)
        self.model.close(done, hold)
        self.remember(call, None, done)

    @rule(hours=st.integers(1, 48))
    def sweep_timed_out_holds(self, hours: int) -> None:
        """Advance time; the sweep voids exactly the open holds whose timeout has passed."""
        self.now += dt.timedelta(hours=hours)
        due = {
            h.id: h
            for h in self.model.holds.values()
            if h.state == "open" and h.timeout_at <= self.now
        }
        voided = self.run(lambda conn: points.void_timed_out(conn, now=self.now))
        assert sorted(t.pending_id or "" for t in voided) == sorted(due)
        for t in voided:
            hold = due[t.pending_id or ""]
            assert (t.id, t.phase, t.amount) == (f"timeout:{hold.id}", Phase.VOID, hold.amount)
            self.model.close(t, hold)

            def call(conn: Connection, now: dt.datetime, pid: str = hold.id) -> Any:
                return points.void_pending(conn, COMMUNITY, pid, id=f"timeout:{pid}",
                                           memo="超时释放", actor="system", now=now)  # fmt: skip

            self.remember(call, None, t)

    @rule(days=st.integers(1, 10))
    def expire(self, days: int) -> None:
        """Advance time; the expiry run expires exactly the remainders of the lots now due."""
        self.now += dt.timedelta(days=days)
        due = self.model.due(self.now)
        expired = self.run(lambda conn: points.expire_points(conn, now=self.now))
        got = {(t.reference or "").split(":")[1]: t for t in expired}
        assert len(got) == len(expired)
        assert sorted(got) == sorted(due)
        for lot_id, t in got.items():
            acct, lot = due[lot_id]
            assert (t.debit_account_id, t.credit_account_id) == (acct, EXPIRY)
            assert (t.kind, t.amount) == (TransferKind.EXPIRY, lot.remaining)
            assert t.reference == f"lot:{lot.id}:{lot.expiry_count}"
            self.model.post(t, expires_at=None, first=lot.id, now=self.now)
            assert lot.remaining == 0
            lot.expiry_count += 1

    @precondition(lambda self: self.model.moved)
    @rule(pick=picks, share=shares)
    def reverse(self, pick: int, share: int) -> None:
        """Reverse an earlier transfer (冲正): once, only posted non-reversals, if affordable."""
        original = list(self.model.moved.values())[pick % len(self.model.moved)]
        amount = share_of(original.amount, share)
        tid = self.fresh_id()

        def call(amount: int | None) -> Call:
            return lambda conn, now: points.reverse(
                conn, COMMUNITY, original.id, amount=amount, id=tid, now=now
            )

        if (
            original.phase not in (Phase.POSTED, Phase.POST)
            or original.kind is TransferKind.REVERSAL
            or (amount is not None and amount > original.amount)
        ):
            with pytest.raises(points.NotReversible):
                self.send(call(amount))
            return
        if original.id in self.model.reversed:
            with pytest.raises(points.ReferenceInUse):
                self.send(call(amount))
            return
        wanted = original.amount if amount is None else amount
        changed = other_amount(wanted, original.amount)
        done = self.attempt(
            original.credit,
            original.debit,
            wanted,
            tid,
            call(amount),
            None if changed is None else call(changed),
        )
        if done is None:
            return
        expires_at = self.model.latest_expiry(original.pending_id or original.id)
        assert (done.kind, done.reference) == (TransferKind.REVERSAL, original.id)
        assert (done.credit_account_id, done.expires_at) == (original.debit, expires_at)
        self.model.post(done, expires_at=expires_at, first=original.id, now=self.now)
        self.model.reversed.add(original.id)

    @rule(donor=members, to=st.none() | members, spend=spends)
    def donate(self, donor: str, to: str | None, spend: int) -> None:
        """A donation to another member (lot expires by the policy) or to the pool."""
        tid = self.fresh_id()
        amount = spend_of(self.model.available(wallet(donor)), spend)
        target = POOL if to is None else wallet(to)

        def call(amount: int) -> Call:
            return lambda conn, now: points.donate(
                conn,
                community_id=COMMUNITY,
                from_member=donor,
                to_member=to,
                amount=amount,
                id=tid,
                now=now,
            )

        if to == donor:
            with pytest.raises(points.InvalidRequest):
                self.send(call(amount))
            return
        done = self.attempt(wallet(donor), target, amount, tid, call(amount), call(amount + 1))
        if done is None:
            return
        expires_at = None if to is None else self.now + dt.timedelta(days=DONATION_EXPIRY_DAYS)
        assert done.kind is TransferKind.DONATION
        assert done.expires_at == expires_at
        self.model.post(done, expires_at=expires_at, now=self.now)

    @precondition(lambda self: self.replays)
    @rule(pick=picks)
    def retry_same(self, pick: int) -> None:
        """The same id and fields again: the first result comes back and nothing changes."""
        replay = self.replays[pick % len(self.replays)]
        assert self.send(replay.same) == replay.result

    @precondition(lambda self: any(r.changed for r in self.replays))
    @rule(pick=picks)
    def retry_changed(self, pick: int) -> None:
        """The same id with another amount: IdempotencyMismatch, nothing changes."""
        candidates = [r for r in self.replays if r.changed]
        replay = candidates[pick % len(candidates)]
        assert replay.changed is not None
        with pytest.raises(points.IdempotencyMismatch) as exc:
            self.send(replay.changed)
        assert exc.value.fields == ("amount",)

    @precondition(lambda self: self.refusals)
    @rule(pick=picks, top_up=st.booleans())
    def retry_refused(self, pick: int, top_up: bool) -> None:
        """A refused id stays refused, even once the wallet could afford it."""
        refusal = self.refusals[pick % len(self.refusals)]
        shortfall = refusal.amount - self.model.available(refusal.account)
        if top_up and refusal.error is points.InsufficientPoints and shortfall > 0:
            self.credit_member(refusal.account.split(":", 1)[1], shortfall, None)
        with pytest.raises(refusal.error) as exc:
            self.send(refusal.same)
        assert exc.value.refusal.id == refusal.id
        if isinstance(exc.value, points.InsufficientPoints):
            assert (exc.value.available, exc.value.requested) == (
                refusal.available,
                refusal.amount,
            )

    @precondition(lambda self: any(r.changed for r in self.refusals))
    @rule(pick=picks)
    def retry_refused_changed(self, pick: int) -> None:
        candidates = [r for r in self.refusals if r.changed]
        refusal = candidates[pick % len(candidates)]
        assert refusal.changed is not None
        with pytest.raises(points.IdempotencyMismatch):
            self.send(refusal.changed)

    # --- invariants

    @invariant()
    def ledger_agrees_with_model(self) -> None:
        def read(
            conn: Connection,
        ) -> tuple[list[points.Problem], dict[str, points.Account], list[points.ExpiringLot]]:
            problems = points.audit(conn)
            rows = conn.execute(sa.select(schema.accounts))  # every account there is
            accounts = {row.id: as_account(row) for row in rows}
            soon = points.expiring_soon(conn, COMMUNITY, days=3650, now=self.now)
            return problems, accounts, soon

        def go() -> Any:
            with self.db.snapshot() as conn:
                return read(conn)

        problems, accounts, soon = go()
        assert problems == []
        assert sum(a.balance for a in accounts.values()) == 0
        assert all(a.community_id == COMMUNITY for a in accounts.values())
        assert {a: acct.balance for a, acct in accounts.items()} == self.model.balances
        for m in MEMBERS:
            acct = accounts[wallet(m)]
            assert acct.available >= 0
            assert acct.available == self.model.available(acct.id)
            assert acct.available == sum(lot.remaining for lot in self.model.lots[acct.id])
            assert acct.debits_pending == self.model.pending[acct.id]
        assert accounts[STORE].credits_pending == self.model.store_pending
        expected_lots = {
            (acct, lot.id): (lot.remaining, lot.expires_at)
            for acct, lots in self.model.lots.items()
            for lot in lots
            if lot.remaining > 0 and lot.expires_at is not None
        }
        assert {(s.account_id, s.lot_id): (s.remaining, s.expires_at) for s in soon} == (
            expected_lots
        )


def ledger_machine(backend: str) -> type[LedgerMachine]:
    """The machine on one backend: each example gets a fresh database."""
    return type(f"LedgerOn{backend.title()}", (LedgerMachine,), {"backend": backend})


def test_ledger_agrees_with_a_simple_model(backend_ready: str) -> None:
    run_state_machine_as_test(ledger_machine(backend_ready), settings=SETTINGS)
