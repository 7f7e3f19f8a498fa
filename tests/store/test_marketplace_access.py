"""Who may move a wish or a claim, through the database on both backends.

Each case puts a wish in one state and lets every representative actor try one library call: the
actors the lifecycle table allows move it and the move is on the record (who, from, to, action);
everyone else gets NotAllowed (or WrongState, when nobody may do it from that state) and nothing
changes (wish, claims, history, ledger, hours). Tenancy:
another community's members get NotFound, never a hint that the wish exists. 代点单: a grid worker
posts for a resident with a consent note.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any, NamedTuple

import pytest
from sqlalchemy.engine import Connection

import marketplace as mk
import marketplace_world as world
import points
from marketplace import Role, WishKind, WishState
from marketplace.moves import claims_of
from marketplace_world import T0

ACTORS = ("res", "res2", "staff", "grid", "vol1", "outsider", "admin", "uadmin")
OFFICE = frozenset({"staff", "admin"})
START = T0 + dt.timedelta(hours=2)  # the window world.post gives a wish
CLAIM_AT = T0 + dt.timedelta(minutes=5)
OUT_AT = START + dt.timedelta(minutes=90)
LATER = START + dt.timedelta(hours=3)
STAGES = ("submitted", "published", "claimed", "in_service", "served", "disputed")


class Subject(NamedTuple):
    wish_id: str
    claim_id: str | None


class Case(NamedTuple):
    op: str
    stage: str  # one of STAGES, or "partly_claimed": one place of two taken
    allowed: frozenset[str]
    recorded: tuple[tuple[str, str, str, str], ...] = ()  # (wish|claim, action, from, to)
    claimant: str = "vol2"
    poster: str = "res"  # "grid": posted for res (代点单)

    @property
    def id(self) -> str:
        return f"{self.op}@{self.stage}" + ("-by-proxy" if self.poster != "res" else "")


NOBODY: frozenset[str] = frozenset()
CONFIRMED_CLAIM = ("claim", "confirm", "checked_out", "confirmed")
CLOSE = ("wish", "close", "confirmed", "closed")
CASES = [
    Case("verify", "submitted", OFFICE, (("wish", "verify", "submitted", "published"),)),
    Case("verify", "published", NOBODY),
    Case("reject", "submitted", OFFICE, (("wish", "reject", "submitted", "rejected"),)),
    Case("reject", "published", NOBODY),
    Case(
        "cancel",
        "submitted",
        OFFICE | {"res"},
        (("wish", "cancel", "submitted", "cancelled"),),
    ),
    Case(
        "cancel",
        "published",
        OFFICE | {"res"},
        (("wish", "cancel", "published", "cancelled"),),
    ),
    Case(
        "cancel",
        "partly_claimed",
        OFFICE,
        (
            ("wish", "cancel", "published", "cancelled"),
            ("claim", "withdraw", "active", "withdrawn"),
        ),
    ),
    Case(
        "cancel",
        "claimed",
        OFFICE,
        (
            ("wish", "cancel", "claimed", "cancelled"),
            ("claim", "withdraw", "active", "withdrawn"),
        ),
    ),
    Case("cancel", "in_service", NOBODY),
    Case("cancel", "served", NOBODY),
    Case(
        "claim",
        "published",
        frozenset({"vol1"}),
        (("wish", "settle", "published", "claimed"), ("claim", "claim", "new", "active")),
    ),
    Case("claim", "submitted", NOBODY),
    Case("claim", "claimed", NOBODY),
    Case(
        "dispatch",
        "published",
        OFFICE,
        (("wish", "settle", "published", "claimed"), ("claim", "dispatch", "new", "active")),
    ),
    Case("dispatch", "submitted", NOBODY),
    Case("dispatch", "claimed", NOBODY),
    Case(
        "withdraw",
        "claimed",
        OFFICE,
        (("wish", "settle", "claimed", "published"), ("claim", "withdraw", "active", "withdrawn")),
    ),
    Case("withdraw", "in_service", NOBODY),
    Case(
        "check_in",
        "claimed",
        OFFICE,
        (
            ("wish", "check_in", "claimed", "in_service"),
            ("claim", "check_in", "active", "checked_in"),
        ),
    ),
    Case("check_in", "in_service", NOBODY),
    Case(
        "check_out",
        "in_service",
        OFFICE | {"vol1"},
        (
            ("wish", "settle", "in_service", "served"),
            ("claim", "check_out", "checked_in", "checked_out"),
        ),
        claimant="vol1",
    ),
    Case("check_out", "claimed", NOBODY, claimant="vol1"),
    Case(
        "confirm",
        "served",
        OFFICE | {"res"},
        (("wish", "confirm", "served", "confirmed"), CLOSE, CONFIRMED_CLAIM),
    ),
    Case(
        "confirm",
        "served",
        OFFICE | {"res", "grid"},
        (("wish", "confirm", "served", "confirmed"), CLOSE, CONFIRMED_CLAIM),
        poster="grid",
    ),
    Case("confirm", "in_service", NOBODY),
    Case("confirm", "disputed", NOBODY),
    Case("dispute", "served", frozenset({"res"}), (("wish", "dispute", "served", "disputed"),)),
    Case("dispute", "disputed", NOBODY),
    Case(
        "resolve_for_volunteer",
        "disputed",
        OFFICE,
        (("wish", "resolve_for_volunteer", "disputed", "confirmed"), CLOSE, CONFIRMED_CLAIM),
    ),
    Case(
        "resolve_against_volunteer",
        "disputed",
        OFFICE,
        (
            ("wish", "resolve_against_volunteer", "disputed", "closed"),
            ("claim", "void", "checked_out", "voided"),
        ),
    ),
    Case("resolve_for_volunteer", "served", NOBODY),
    Case("resolve_against_volunteer", "served", NOBODY),
]


def post_for(
    tx: Connection,
    actor: str,
    beneficiary_id: str,
    proxy_note: str | None,
    *,
    id: str,
    capacity: int = 1,
) -> mk.Wish:
    """代点单 with the same wish world.post makes."""
    return mk.post_wish(
        tx,
        actor,
        community_id="c1",
        kind=WishKind.SERVICE,
        category="助老陪护",
        title="陪老人去医院",
        description="周二上午复诊",
        org_id="g1",
        address="幸福路1号3栋",
        window_start=START,
        window_end=START + dt.timedelta(hours=3),
        estimated_minutes=120,
        capacity=capacity,
        beneficiary_id=beneficiary_id,
        proxy_note=proxy_note,
        id=id,
        now=T0,
    )


def staged(tx: Connection, wish_id: str, case: Case) -> Subject:
    """A wish (and the claimant's claim) brought to the case's stage by the actors who may."""
    capacity = 2 if case.stage == "partly_claimed" else 1
    if case.poster == "res":
        wish = world.post(tx, id=wish_id, capacity=capacity)
    else:
        wish = post_for(tx, case.poster, "res", "电话征得本人同意", id=wish_id)
    stage = "claimed" if case.stage == "partly_claimed" else case.stage
    reached = STAGES[: STAGES.index(stage) + 1]
    claim_id = None
    if "published" in reached:
        mk.verify(tx, "staff", "c1", wish_id, now=T0)
    if "claimed" in reached:
        claim_id = (mk.claim(tx, case.claimant, "c1", wish_id, now=CLAIM_AT)).id
    if "in_service" in reached:
        assert claim_id is not None
        code = wish.confirmation_code
        mk.check_in(tx, case.claimant, "c1", claim_id, code=code, now=START)
    if "served" in reached:
        assert claim_id is not None
        mk.check_out(tx, case.claimant, "c1", claim_id, now=OUT_AT)
    if "disputed" in reached:
        mk.dispute(tx, "res", "c1", wish_id, reason="没有陪到医院", now=OUT_AT)
    expected = WishState.PUBLISHED if case.stage == "partly_claimed" else WishState(stage)
    assert (mk.get_wish(tx, "staff", "c1", wish_id)).state is expected
    return Subject(wish_id, claim_id)


def _check_in(tx: Connection, actor: str, s: Subject) -> object:
    assert s.claim_id is not None
    wish = mk.get_wish(tx, "staff", "c1", s.wish_id)
    return mk.check_in(tx, actor, "c1", s.claim_id, code=wish.confirmation_code, now=START)


def _claim_of(s: Subject) -> str:
    assert s.claim_id is not None
    return s.claim_id


Op = Callable[[Connection, str, Subject], object]
OPS: dict[str, Op] = {
    "verify": lambda tx, a, s: mk.verify(tx, a, "c1", s.wish_id, now=T0),
    "reject": lambda tx, a, s: mk.reject(tx, a, "c1", s.wish_id, reason="信息不全", now=T0),
    "cancel": lambda tx, a, s: mk.cancel(tx, a, "c1", s.wish_id, reason="不需要了", now=CLAIM_AT),
    "claim": lambda tx, a, s: mk.claim(tx, a, "c1", s.wish_id, now=CLAIM_AT),
    "dispatch": lambda tx, a, s: mk.dispatch(tx, a, "c1", s.wish_id, "vol3", now=CLAIM_AT),
    "withdraw": lambda tx, a, s: mk.withdraw(tx, a, "c1", _claim_of(s), reason="有事", now=START),
    "check_in": _check_in,
    "check_out": lambda tx, a, s: mk.check_out(tx, a, "c1", _claim_of(s), now=OUT_AT),
    "confirm": lambda tx, a, s: mk.confirm(tx, a, "c1", s.wish_id, rating=5, now=LATER),
    "dispute": lambda tx, a, s: mk.dispute(tx, a, "c1", s.wish_id, reason="没来", now=LATER),
    "resolve_for_volunteer": lambda tx, a, s: mk.resolve(
        tx, a, "c1", s.wish_id, for_volunteer=True, reason="核实已服务", now=LATER
    ),
    "resolve_against_volunteer": lambda tx, a, s: mk.resolve(
        tx, a, "c1", s.wish_id, for_volunteer=False, reason="核实未服务", now=LATER
    ),
}


def snapshot(tx: Connection, s: Subject) -> dict[str, Any]:
    """Everything a call on this wish could change."""
    claims = claims_of(tx, "c1", s.wish_id)
    wallets = []
    for member in ("vol1", "vol2", "vol3"):
        try:
            wallets.append(points.get_account(tx, "c1", f"member:{member}"))
        except points.AccountNotFound:
            wallets.append(None)
    return {
        "wish": mk.get_wish(tx, "staff", "c1", s.wish_id),
        "claims": claims,
        "wish history": mk.history(tx, "c1", s.wish_id),
        "claim history": [mk.history(tx, "c1", c.id) for c in claims],
        "awards": [points.pending_state(tx, "c1", c.award_id) for c in claims if c.award_id],
        "wallets": wallets,
        "hours": [points.hours_summary(tx, m, community_id="c1") for m in ("vol1", "vol2")],
    }


def recorded_since(tx: Connection, s: Subject, before: dict[str, Any]) -> list[tuple[str, ...]]:
    """(subject, action, from, to, actor) of each transition made after ``before``."""
    seen = {t for h in [before["wish history"], *before["claim history"]] for t in h}
    found = [*mk.history(tx, "c1", s.wish_id)]
    for c in claims_of(tx, "c1", s.wish_id):
        found += mk.history(tx, "c1", c.id)
    return [
        (t.subject, t.action, t.from_state, t.to_state, t.actor_id) for t in found if t not in seen
    ]


def attempt(tx: Connection, case: Case, actor: str, s: Subject, before: dict[str, Any]) -> str:
    """What happened when ``actor`` tried the case's call, in words a failing diff can show."""
    try:
        OPS[case.op](tx, actor, s)
    # NotFound: no business with the wish (tenancy); CapacityFull: every place taken
    except (mk.NotAllowed, mk.WrongState, mk.CapacityFull, mk.NotFound):
        after = snapshot(tx, s)
        changed = [k for k in before if before[k] != after[k]]
        return "refused" if not changed else f"refused but changed {changed}"
    except Exception as exc:  # the diff names it
        return f"{type(exc).__name__}: {exc}"
    # sorted: history orders by a time-ordered id whose order within one millisecond is random
    made = sorted(recorded_since(tx, s, before))
    expected = sorted((*r, actor) for r in case.recorded)
    return "moved" if made == expected else f"moved but recorded {made}"


@pytest.mark.parametrize("op", list(OPS))
def test_only_the_allowed_actors_move_a_wish_and_a_refusal_changes_nothing(
    db: points.Database, op: str
) -> None:
    cases = [c for c in CASES if c.op == op]
    outcomes = {}
    with db.transaction() as tx:
        world.build(tx)
        mk.set_community_rules(tx, "staff", "c1", mk.CommunityRules(claim_limit=20), now=T0)
        for case in cases:
            shared = staged(tx, f"{case.id}-shared", case)
            own = {a: staged(tx, f"{case.id}-{a}", case) for a in ACTORS if a in case.allowed}
            unchanged = snapshot(tx, shared)  # the refusals first: wallets are shared
            for actor in (a for a in ACTORS if a not in own):
                outcomes[f"{case.id} {actor}"] = attempt(tx, case, actor, shared, unchanged)
            for actor, subject in own.items():
                before = snapshot(tx, subject)
                outcomes[f"{case.id} {actor}"] = attempt(tx, case, actor, subject, before)
    with db.snapshot() as tx:
        problems = points.audit(tx)
    assert outcomes == {
        f"{c.id} {a}": "moved" if a in c.allowed else "refused" for c in cases for a in ACTORS
    }
    assert problems == []


# Tenancy (DESIGN.md invariant 7): another community's members learn nothing


def test_another_communitys_members_get_not_found_for_a_wish(db: points.Database) -> None:
    with db.transaction() as tx:
        world.build(tx)
        mk.add_member(tx, id="c2staff", name="c2staff", now=T0)
        mk.grant_role(tx, mk.SYSTEM, "c2staff", "c2", Role.STAFF, now=T0)
        wish = world.published(tx)
        for outsider in ("outsider", "c2staff", "nobody"):
            with pytest.raises(mk.NotFound):
                mk.get_wish(tx, outsider, "c1", wish.id)
            with pytest.raises(mk.NotFound):
                mk.get_wish(tx, outsider, "c2", wish.id)
            with pytest.raises(mk.NotFound):
                mk.list_wishes(tx, outsider, "c1")
        page = mk.list_wishes(tx, "c2staff", "c2")
    with db.snapshot() as tx:
        problems = points.audit(tx)
    assert page.items == ()
    assert problems == []


def test_district_admin_and_street_staff_see_a_communitys_wishes(
    db: points.Database,
) -> None:
    with db.transaction() as tx:
        world.build(tx)
        mk.add_member(tx, id="sstaff", name="sstaff", now=T0)
        mk.grant_role(tx, "admin", "sstaff", "s1", Role.STAFF, now=T0)
        wish = world.post(tx)
        seen = {}
        for viewer in ("admin", "sstaff", "staff", "vol1", "uadmin"):
            listed = mk.list_wishes(tx, viewer, "c1")
            got = mk.get_wish(tx, viewer, "c1", wish.id)
            seen[viewer] = ([w.id for w in listed.items], got.id)
        verified = mk.verify(tx, "sstaff", "c1", wish.id, now=T0)
    with db.snapshot() as tx:
        problems = points.audit(tx)
    assert all(ids == ([wish.id], wish.id) for ids in seen.values()), seen
    assert verified.state is WishState.PUBLISHED
    assert problems == []


# 代点单: posting for a resident who cannot


def test_grid_worker_posts_for_a_resident_and_the_consent_note_is_kept(
    db: points.Database,
) -> None:
    with db.transaction() as tx:
        world.build(tx)
        wish = post_for(tx, "grid", "res", "电话征得本人同意，女儿在场", id="proxy1")
        seen_by_res = mk.get_wish(tx, "res", "c1", wish.id)
        steps = mk.history(tx, "c1", wish.id)
    with db.snapshot() as tx:
        problems = points.audit(tx)
    assert (wish.beneficiary_id, wish.posted_by) == ("res", "grid")
    assert wish.proxy_note == "电话征得本人同意，女儿在场"
    assert seen_by_res == wish
    assert [(t.actor_id, t.action, t.from_state, t.to_state) for t in steps] == [
        ("grid", "post", "new", "submitted")
    ]
    assert problems == []


@pytest.mark.parametrize("note", [None, "", "   "])
def test_posting_for_a_resident_without_a_consent_note_is_invalid(
    db: points.Database, note: str | None
) -> None:
    with db.transaction() as tx:
        world.build(tx)
        with pytest.raises(mk.InvalidInput) as invalid:
            post_for(tx, "grid", "res", note, id="proxy1")
        listed = mk.list_wishes(tx, "staff", "c1")
    with db.snapshot() as tx:
        problems = points.audit(tx)
    assert invalid.value.field == "proxy_note"
    assert listed.items == ()
    assert problems == []


@pytest.mark.parametrize("poster", ["vol1", "res2", "uadmin", "outsider"])
def test_only_grid_workers_and_staff_may_post_for_someone_else(
    db: points.Database, poster: str
) -> None:
    with db.transaction() as tx:
        world.build(tx)
        with pytest.raises(mk.NotAllowed):
            post_for(tx, poster, "res", "邻居代为转达", id="proxy1")
        listed = mk.list_wishes(tx, "staff", "c1")
    with db.snapshot() as tx:
        problems = points.audit(tx)
    assert listed.items == ()
    assert problems == []


def test_a_resident_cannot_claim_their_own_wish_even_as_a_volunteer(
    db: points.Database,
) -> None:
    with db.transaction() as tx:
        world.build(tx)
        for member in ("res", "grid"):
            mk.grant_role(tx, "staff", member, "c1", Role.VOLUNTEER, now=T0)
        own = world.published(tx, id="own")
        by_proxy = post_for(tx, "grid", "res2", "上门征得同意", id="by-proxy")
        mk.verify(tx, "staff", "c1", by_proxy.id, now=T0)
        refusals = []
        for member, wish_id in (("res", own.id), ("grid", by_proxy.id), ("res2", by_proxy.id)):
            with pytest.raises(mk.NotAllowed) as refused:
                mk.claim(tx, member, "c1", wish_id, now=CLAIM_AT)
            refusals.append(refused.value.action)
        after = [mk.get_wish(tx, "staff", "c1", w) for w in (own.id, by_proxy.id)]
        taken = mk.claim(tx, "vol1", "c1", own.id, now=CLAIM_AT)
    with db.snapshot() as tx:
        problems = points.audit(tx)
    assert refusals == ["claim", "claim", "claim"]
    assert [(w.state, w.places_taken) for w in after] == [(WishState.PUBLISHED, 0)] * 2
    assert taken.member_id == "vol1"
    assert problems == []
