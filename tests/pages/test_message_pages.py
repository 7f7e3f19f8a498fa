"""消息中心 and 通知管理 pages: the bell's count, the list, mark read, notice settings refused in
Chinese when wrong, and the office's webhooks and dead letters."""

from __future__ import annotations

import datetime as dt

import marketplace as mk
import marketplace_world as world
from marketplace.schema import deliveries
from pages_world import Site, field_error, flash


def _verified(site: Site) -> mk.Wish:
    now = site.svc.clock.now
    with site.svc.app.state.db.transaction() as tx:
        return world.published(tx, start=now + dt.timedelta(days=1))


async def test_the_bell_counts_unread_messages_and_the_list_marks_them_read(site: Site) -> None:
    wish = _verified(site)
    res = await site.person("res")
    assert 'aria-label="1 条未读">1<' in (await res.get("/messages/count")).text
    page = await res.get("/messages")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")  # opened directly, not by htmx
    assert f"您的心愿「{wish.title}」已通过审核并发布" in page.text
    assert 'class="card message unread"' in page.text
    assert 'hx-get="/messages/count"' in page.text  # the bell on every page
    with site.svc.app.state.db.snapshot() as tx:
        (message,) = mk.inbox(tx, "res")
    done = await res.post("/messages/read", {"id": message.id})
    assert done.status_code == 303
    assert (await res.get("/messages/count")).text == ""
    vol = await site.person("vol1")
    assert "暂无消息" in (await vol.get("/messages")).text


async def test_notice_settings_are_kept_and_a_wrong_time_is_refused_in_chinese(
    site: Site,
) -> None:
    res = await site.person("res")
    refused = await res.post("/messages/settings", {"sms": "1", "quiet_from": "25:00",
                                                    "quiet_to": "07:00"})  # fmt: skip
    assert refused.status_code == 422
    assert field_error(refused, "quiet_from") == "请填写时间，如 22:00"
    saved = await res.post("/messages/settings", {"quiet_from": "21:30", "quiet_to": "08:00"})
    assert saved.status_code == 303
    with site.svc.app.state.db.snapshot() as tx:
        prefs = mk.notice_prefs_of(tx, "res")
    assert prefs == mk.NoticePrefs(sms=False, webhook=False, quiet_from=21 * 60 + 30,
                                   quiet_to=8 * 60)  # fmt: skip
    page = await res.get("/messages")
    assert 'value="21:30"' in page.text


async def test_the_office_adds_webhooks_and_sends_dead_letters_again(site: Site) -> None:
    staff = await site.person("staff")
    bad = await staff.post("/staff/notices/webhooks", {"url": "ftp://x", "secret": "s" * 20})
    assert bad.status_code == 422
    assert "http://" in field_error(bad, "url")
    added = await staff.post("/staff/notices/webhooks",
                             {"url": "http://127.0.0.1:9/hook", "secret": "s" * 20})  # fmt: skip
    assert added.status_code == 303
    page = await staff.get("/staff/notices")
    assert "http://127.0.0.1:9/hook" in page.text
    db = site.svc.app.state.db
    with db.transaction() as tx:
        mk.emit(tx, "c1", "reports.ready", {"period": "2026-Q4"})
        mk.fan_out(tx)
        tx.execute(deliveries.update().values(state="dead", attempts=8, last_error="HTTP 500"))
    page = await staff.get("/staff/notices")
    assert "HTTP 500" in page.text
    assert "尝试 8 次" in page.text
    again = await staff.post("/staff/notices/retry")
    assert again.status_code == 303
    assert "已重新投递 1 条" in flash(await staff.get("/staff/notices"))
    res = await site.person("res")
    assert (await res.get("/staff/notices")).status_code == 403
    assert (await res.post("/staff/notices/retry")).status_code == 403
