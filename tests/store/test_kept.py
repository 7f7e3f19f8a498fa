"""Answers kept for a few seconds (:class:`marketplace.Kept`): 为你推荐 lists answered again only
while the member's own state is unchanged, an area's statistics with the caller's right checked
and the top volunteers named as they choose now; neither past their seconds."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import pytest
from sqlalchemy.engine import Connection

import marketplace as mk
import marketplace_world as world
import points
from marketplace import Role
from marketplace.schema import stat_days
from marketplace_world import T0

LATER = dt.timedelta(seconds=9)


def _ids(matches: list[mk.Match]) -> list[str]:
    return [m.wish_id for m in matches]


def test_a_kept_list_is_answered_within_its_seconds_and_made_anew_after(
    db: points.Database,
) -> None:
    kept = mk.Kept[list[mk.Match]](10)
    with db.transaction() as tx:
        world.build(tx)
        world.published(tx, id="care")
        world.published(tx, id="other", actor="res2")
    with db.snapshot() as tx:
        first = mk.recommendations(tx, "vol2", "c1", now=T0, kept=kept)
    with db.transaction() as tx:  # somebody else fills a wish: not the member's own state
        mk.claim(tx, "vol1", "c1", "care", now=T0)
    with db.snapshot() as tx:
        again = mk.recommendations(tx, "vol2", "c1", now=T0 + LATER, kept=kept)
        past = mk.recommendations(tx, "vol2", "c1", now=T0 + dt.timedelta(seconds=10), kept=kept)
        fresh = mk.recommendations(tx, "vol2", "c1", now=T0 + dt.timedelta(seconds=10))
        earlier = mk.recommendations(tx, "vol2", "c1", now=T0 - LATER, kept=kept)
    assert sorted(_ids(first)) == ["care", "other"]
    assert again == first
    assert _ids(past) == ["other"]
    assert past == fresh
    assert _ids(earlier) == ["other"]  # a clock set back never reads the future
    with db.snapshot() as tx:  # seconds=0 keeps nothing
        none_kept = mk.Kept[list[mk.Match]](0)
        mk.recommendations(tx, "vol2", "c1", now=T0, kept=none_kept)
        assert len(none_kept) == 0


def test_a_wish_the_office_publishes_shows_in_every_kept_list_at_once(
    db: points.Database,
) -> None:
    """A volunteer who looked a moment ago, with nothing to do, is told to look again: the
    office's new wish is there (the community's published count is in the stamp)."""
    kept = mk.Kept[list[mk.Match]](10)
    with db.transaction() as tx:
        world.build(tx)
    with db.snapshot() as tx:
        empty = mk.recommendations(tx, "vol2", "c1", now=T0, kept=kept)
    with db.transaction() as tx:
        world.published(tx, id="new")
    with db.snapshot() as tx:
        after = mk.recommendations(tx, "vol2", "c1", now=T0 + LATER, kept=kept)
    assert empty == []
    assert _ids(after) == ["new"]


def _claim(tx: Connection) -> None:
    mk.claim(tx, "vol1", "c1", "care", id="cl1", now=T0)


def _withdraw(tx: Connection) -> None:
    mk.withdraw(tx, "vol1", "c1", "held", now=T0)


def _learn_nothing_new(tx: Connection) -> None:
    mk.edit_profile(tx, "vol1", address=None, skills=frozenset(), availability=None, now=T0)


def _move_away(tx: Connection) -> None:
    mk.edit_member(
        tx, "staff", "c1", "vol1", home_org_id=None, room=None, home_unit_id=None,
        roles_held=frozenset({Role.VOLUNTEER}), now=T0,
    )  # fmt: skip


def _stop_volunteering(tx: Connection) -> None:
    mk.edit_member(
        tx, "staff", "c1", "vol1", home_org_id="g1", room=None, home_unit_id=None,
        roles_held=frozenset({Role.RESIDENT}), now=T0,
    )  # fmt: skip


@pytest.mark.parametrize(
    "change", [_claim, _withdraw, _learn_nothing_new, _move_away, _stop_volunteering]
)
def test_the_members_own_changes_show_in_their_next_list_at_once(
    db: points.Database, change: Callable[[Connection], None]
) -> None:
    """Whatever of the member the ranking reads, changed by them or for them, makes the kept
    list stale at once (another process's kept list too: nothing is told, the stamp is read)."""
    kept = mk.Kept[list[mk.Match]](10)
    with db.transaction() as tx:
        world.build(tx)
        world.published(tx, id="care")
        world.published(tx, id="other", actor="res2")
        world.repair(tx, id="repair")
        mk.claim(tx, "vol1", "c1", "other", id="held", now=T0)
    with db.snapshot() as tx:
        before = mk.recommendations(tx, "vol1", "c1", now=T0, kept=kept)
    with db.transaction() as tx:
        change(tx)
    with db.snapshot() as tx:
        after = mk.recommendations(tx, "vol1", "c1", now=T0 + LATER, kept=kept)
        fresh = mk.recommendations(tx, "vol1", "c1", now=T0 + LATER)
    assert after == fresh
    assert after != before  # the change matters to the list, so a kept one would be wrong


def _served(tx: Connection, member: str, wish_id: str) -> None:
    """The member serves a wish end to end (confirmed, rated), so the statistics change."""
    wish = world.published(tx, id=wish_id)
    claim = mk.claim(tx, member, "c1", wish.id, now=T0)
    code = mk.get_wish(tx, "res", "c1", wish.id).confirmation_code
    start = wish.window_start
    mk.check_in(tx, member, "c1", claim.id, code=code, now=start)
    mk.check_out(tx, member, "c1", claim.id, now=start + dt.timedelta(minutes=90))
    mk.confirm(tx, "res", "c1", wish.id, rating=5, now=start + dt.timedelta(hours=2))


YEAR = {"since": dt.datetime(2026, 11, 30, 16, tzinfo=dt.UTC),
        "until": dt.datetime(2026, 12, 31, 16, tzinfo=dt.UTC)}  # fmt: skip


@pytest.mark.parametrize("read", ["statistics", "dashboard"])
def test_kept_statistics_until_a_write_or_their_seconds_top_volunteers_as_they_choose_now(
    db: points.Database, read: str
) -> None:
    def figures(tx: Connection, actor: str, at: dt.datetime, kept: object) -> mk.Statistics:
        if read == "statistics":
            return mk.statistics(tx, actor, "c1", **YEAR, kept=kept, now=at)  # type: ignore[arg-type]
        return mk.dashboard(tx, actor, "c1", **YEAR, kept=kept, now=at).statistics  # type: ignore[arg-type]

    kept = mk.Kept[mk.Statistics](10) if read == "statistics" else mk.Kept[mk.Dashboard](10)
    with db.transaction() as tx:
        world.build(tx)
        _served(tx, "vol1", "first")
        mk.set_public_profile(tx, "vol1", True)
        mk.fold_statistics(tx)
    with db.snapshot() as tx:
        first = figures(tx, "staff", T0, kept)
        assert first == figures(tx, "staff", T0, None)
    with db.transaction() as tx:  # what no write of the library does: the kept answer stands
        tx.execute(
            stat_days.update().where(stat_days.c.figure == "posted").values(n=stat_days.c.n + 5)
        )
        mk.set_public_profile(tx, "vol1", False)  # opts out of the honour roll
    with db.snapshot() as tx:
        again = figures(tx, "staff", T0 + LATER, kept)
        fresh = figures(tx, "staff", T0 + LATER, None)
        later = figures(tx, "staff", T0 + dt.timedelta(seconds=10), kept)
        with pytest.raises(mk.NotFound):  # the right to read is checked on every call
            figures(tx, "vol2", T0 + LATER, kept)
    assert [v.name for v in first.top_volunteers] == ["vol1"]
    assert again.posted == first.posted  # kept
    assert fresh.posted == first.posted + 5
    assert [v.member_id for v in again.top_volunteers] == ["v***1"]  # masked at once
    assert again.top_volunteers == fresh.top_volunteers
    assert later == fresh
    with db.transaction() as tx:
        world.published(tx, id="more")  # a write: posted one more, shown at once
    with db.snapshot() as tx:
        written = figures(tx, "staff", T0 + dt.timedelta(seconds=11), kept)
    assert written.posted == later.posted + 1
