"""The public board's fulfilled wishes page by page on both databases: the latest served first,
ties by id, every wish once, and a cursor the board never gave out refused."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy.engine import Connection

import marketplace as mk
import marketplace_world as world
import points
from marketplace_world import T0


def _served(tx: Connection, n: int, day: int, confirmed_after_days: int = 0) -> str:
    start = T0 + dt.timedelta(days=day, hours=2)
    wish = world.post(tx, start=start, id=f"w{n}")
    mk.verify(tx, "staff", "c1", wish.id, now=T0)
    claim = mk.claim(tx, "vol1", "c1", wish.id, now=T0)
    mk.check_in(tx, "vol1", "c1", claim.id, code=wish.confirmation_code, now=start)
    end = start + dt.timedelta(minutes=60)
    mk.check_out(tx, "vol1", "c1", claim.id, now=end)
    later = end + dt.timedelta(days=confirmed_after_days)
    mk.confirm(tx, "res", "c1", wish.id, rating=5, now=later)
    return wish.id


def test_the_board_pages_its_fulfilled_wishes_latest_served_first(db: points.Database) -> None:
    with db.transaction() as tx:
        world.build(tx)
        _served(tx, 0, day=0, confirmed_after_days=9)  # served first, confirmed last
        for n, day in ((1, 2), (2, 4), (3, 6), (4, 6)):
            _served(tx, n, day)
        pages, cursor = [], None
        while True:
            board = mk.board.public_board(tx, "c1", cursor=cursor, limit=2)
            pages.append([w.served_on for w in board.fulfilled])
            cursor = board.next_cursor
            if cursor is None:
                break
        with pytest.raises(mk.InvalidInput):
            mk.board.public_board(tx, "c1", cursor="not-a-time|w1")
        with pytest.raises(mk.InvalidInput):
            mk.board.public_board(tx, "c1", cursor="2026-12-01T00:00:00|w1")  # no zone
    assert [len(p) for p in pages] == [2, 2, 1]
    dates = [d for p in pages for d in p]
    assert dates == sorted(dates, reverse=True)
    assert board.fulfilled_total == 5
