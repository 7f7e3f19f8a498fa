"""The pages' lists go page by page with the API's sealed cursors: the public board's fulfilled
wishes too (newest served first, the date each shows), and a cursor no list of the pages gave out
is refused with a Chinese page."""

from __future__ import annotations

import datetime as dt
import re
from html import unescape

from sqlalchemy.engine import Connection

import marketplace as mk
from pages_world import Site
from service.pages.common import PAGE


def _fulfil(tx: Connection, n: int, served: dt.datetime, confirmed: dt.datetime) -> None:
    """Wish ``n`` of res, served by vol1 on ``served`` and confirmed on ``confirmed``."""
    start = served - dt.timedelta(hours=2)
    wish = mk.post_wish(
        tx, "res", community_id="c1", kind=mk.WishKind.SERVICE, category="助老陪护",
        title=f"心愿{n:02d}", description="", org_id="g1", address="幸福路1号3栋",
        window_start=start + dt.timedelta(hours=1), window_end=start + dt.timedelta(hours=3),
        estimated_minutes=60, now=start,
    )  # fmt: skip
    mk.verify(tx, "staff", "c1", wish.id, now=start)
    claim = mk.claim(tx, "vol1", "c1", wish.id, now=start)
    at = start + dt.timedelta(hours=1)
    mk.check_in(tx, "vol1", "c1", claim.id, code=wish.confirmation_code, now=at)
    mk.check_out(tx, "vol1", "c1", claim.id, now=served)
    mk.confirm(tx, "res", "c1", wish.id, rating=5, now=confirmed)


def _dates(page: str) -> list[str]:
    return re.findall(r"(\d{4}年\d\d月\d\d日)", page)


async def test_the_public_board_goes_page_by_page_newest_served_first(site: Site) -> None:
    first_day = site.svc.clock.now - dt.timedelta(days=60)
    with site.svc.app.state.db.transaction() as tx:
        for n in range(PAGE + 4):
            served = first_day + dt.timedelta(days=2 * n)
            late = served + dt.timedelta(days=50 if n == 0 else 0)  # the first, confirmed last
            _fulfil(tx, n, served, late)
    visitor = site.browser()
    first = await visitor.get("/board/c1")
    assert f"共 {PAGE + 4} 个" in first.text
    assert first.text.count('<li class="card">') == PAGE
    (more,) = re.findall(r'href="(/board/c1\?cursor=[^"]+)"', first.text)
    second = await visitor.get(unescape(more))
    assert second.status_code == 200
    assert second.text.count('<li class="card">') == 4
    assert "下一页" not in second.text
    dates = _dates(first.text) + _dates(second.text)
    assert len(dates) == PAGE + 4
    assert dates == sorted(dates, reverse=True)  # the one confirmed last is listed by its date
    assert "心愿23" in first.text.split('<li class="card">')[1]


async def test_a_cursor_no_list_gave_out_is_refused_with_a_page(site: Site) -> None:
    volunteer = await site.person("vol1")
    for path in (
        "/wishes?cursor=abc",
        "/claims?cursor=abc",
        "/board/c1?cursor=x",
        "/board?cursor=c1",
    ):
        answer = await volunteer.get(path)
        assert answer.status_code == 422, path
        assert "不是本列表给出的分页游标" in answer.text, path
        assert '<html lang="zh-CN">' in answer.text


async def test_a_cursor_of_one_list_does_not_pass_on_another(site: Site) -> None:
    start = site.svc.clock.now + dt.timedelta(days=1)
    with site.svc.app.state.db.transaction() as tx:
        for n in range(PAGE + 1):
            wish = mk.post_wish(
                tx, "res", community_id="c1", kind=mk.WishKind.SERVICE, category="代办跑腿",
                title=f"心愿{n:02d}", description="", org_id="g1", address="幸福路1号3栋",
                window_start=start, window_end=start + dt.timedelta(hours=1),
                estimated_minutes=30, now=site.svc.clock.now,
            )  # fmt: skip
            mk.verify(tx, "staff", "c1", wish.id, now=site.svc.clock.now)
    volunteer = await site.person("vol1")
    first = await volunteer.get("/wishes")
    (more,) = re.findall(r'href="(/wishes\?[^"]*cursor=[^"]+)"', first.text)
    cursor = unescape(more).split("cursor=")[1]
    assert (await volunteer.get(unescape(more))).status_code == 200
    staff = await site.person("staff")
    assert (await staff.get(f"/wishes?cursor={cursor}")).status_code == 200
    assert (await staff.get(f"/staff/verify?cursor={cursor}")).status_code == 422
