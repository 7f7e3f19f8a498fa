"""The whole story at library level: 点单 → 审核 → 接单 → 报到 → 签退 → 评单 → points and hours."""

from __future__ import annotations

import datetime as dt

import marketplace as mk
import marketplace_world as world
import points
from marketplace import ClaimState, WishState
from marketplace_world import T0


def test_the_whole_story_from_wish_to_posted_points(db: points.Database) -> None:
    with db.transaction() as tx:
        world.build(tx)
        wish = world.post(tx)
        assert wish.state is WishState.SUBMITTED
        wish = mk.verify(tx, "staff", "c1", wish.id, now=T0)
        assert wish.state is WishState.PUBLISHED
        claim = mk.claim(tx, "vol1", "c1", wish.id, now=T0 + dt.timedelta(minutes=5))
        assert (mk.get_wish(tx, "vol1", "c1", wish.id)).state is WishState.CLAIMED
    start = T0 + dt.timedelta(hours=2)
    with db.transaction() as tx:
        checked = mk.check_in(tx, "vol1", "c1", claim.id, code=wish.confirmation_code, now=start)
        assert checked.state is ClaimState.CHECKED_IN
        out = mk.check_out(tx, "vol1", "c1", claim.id, now=start + dt.timedelta(minutes=90))
        assert (out.state, out.minutes) == (ClaimState.CHECKED_OUT, 90)
        assert (mk.get_wish(tx, "res", "c1", wish.id)).state is WishState.SERVED
    with db.snapshot() as tx:
        wallet = points.get_account(tx, "c1", "member:vol1")
        assert (wallet.balance, wallet.credits_pending) == (0, 15)  # 1.5 h × 10 points an hour
    with db.transaction() as tx:
        closed = mk.confirm(
            tx, "res", "c1", wish.id, rating=5, comment="很好", now=start + dt.timedelta(hours=3)
        )
        assert (closed.state, closed.rating) == (WishState.CLOSED, 5)
    with db.snapshot() as tx:
        wallet = points.get_account(tx, "c1", "member:vol1")
        hours = points.hours_summary(tx, "vol1", community_id="c1")
        problems = points.audit(tx)
        steps = [t.action for t in mk.history(tx, "c1", wish.id)]
    assert wallet.balance == 15
    assert hours.minutes == 90
    assert problems == []
    assert steps == ["post", "verify", "settle", "check_in", "settle", "confirm", "close"]
