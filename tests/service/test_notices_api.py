"""通知 through the API, both backends: my messages (list, unread, mark read), my notice
settings, the office's webhooks and dead letters; refusals as problems."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa

import marketplace as mk
import marketplace_world as world
from marketplace.schema import deliveries
from service_world import Service

BASE = "/api/v1"


async def test_my_messages_page_by_page_and_mark_read(svc: Service) -> None:
    with svc.app.state.db.transaction() as tx:
        wish = world.published(tx, start=svc.clock.now + dt.timedelta(days=1))
        for n in range(3):
            mk.emit(tx, "c1", "reports.ready", {"period": f"2026-Q{n + 1}"}, to=["res"])
    first = await svc.client.get(f"{BASE}/me/messages?limit=2", headers=svc.as_("res"))
    assert first.status_code == 200, first.text
    body = first.json()
    assert body["unread"] == 4
    assert [m["type"] for m in body["items"]] == ["reports.ready", "reports.ready"]
    rest = await svc.client.get(f"{BASE}/me/messages?limit=2&cursor={body['next_cursor']}",
                                headers=svc.as_("res"))  # fmt: skip
    items = rest.json()["items"]
    assert [m["type"] for m in items] == ["reports.ready", "wish.verified"]
    assert items[1]["text"] == f"您的心愿「{wish.title}」已通过审核并发布"
    assert rest.json()["next_cursor"] is None
    read = await svc.client.post(f"{BASE}/me/messages/read", json={"ids": [items[1]["id"]]},
                                 headers=svc.as_("res"))  # fmt: skip
    assert read.json() == {"count": 1}
    other = await svc.client.post(f"{BASE}/me/messages/read", json={"ids": [items[0]["id"]]},
                                  headers=svc.as_("vol1"))  # fmt: skip
    assert other.json() == {"count": 0}  # not hers: nothing happens
    everything = await svc.client.post(f"{BASE}/me/messages/read", json={},
                                       headers=svc.as_("res"))  # fmt: skip
    assert everything.json() == {"count": 3}
    bad = await svc.client.get(f"{BASE}/me/messages?cursor=abc.def", headers=svc.as_("res"))
    assert bad.status_code == 422


async def test_my_notice_settings(svc: Service) -> None:
    got = await svc.client.get(f"{BASE}/me/notice-settings", headers=svc.as_("vol1"))
    assert got.json() == {"sms": True, "webhook": True, "quiet_from": 1320, "quiet_to": 420}
    wanted = {"sms": False, "quiet_from": 1380, "quiet_to": 360}
    put = await svc.client.put(f"{BASE}/me/notice-settings", headers=svc.as_("vol1"), json=wanted)
    assert put.status_code == 200, put.text
    got = await svc.client.get(f"{BASE}/me/notice-settings", headers=svc.as_("vol1"))
    assert got.json() == {"sms": False, "webhook": True, "quiet_from": 1380, "quiet_to": 360}
    bad = await svc.client.put(f"{BASE}/me/notice-settings", headers=svc.as_("vol1"),
                               json={"quiet_from": 1440})  # fmt: skip
    assert bad.status_code == 400 or bad.status_code == 422
    assert bad.headers["content-type"].startswith("application/problem+json")


async def test_the_office_registers_webhooks_and_retries_dead_letters(svc: Service) -> None:
    hooks = f"{BASE}/communities/c1/webhooks"
    body = {"url": "https://example.org/hook", "secret": "s" * 16}
    made = await svc.client.post(hooks, headers=svc.as_("staff"), json=body)
    assert made.status_code == 201, made.text
    hook = made.json()
    assert "secret" not in hook
    assert hook["url"] == "https://example.org/hook"
    refused = await svc.client.post(hooks, headers=svc.as_("vol1"), json=body)
    assert refused.status_code == 403
    short = await svc.client.post(hooks, headers=svc.as_("staff"), json={**body, "secret": "x"})
    assert short.status_code in (400, 422)
    for bad in ("http://[::1", "http://host:99999/", "https:///nohost", "ftp://x/", "http://a b"):
        wrong = await svc.client.post(hooks, headers=svc.as_("staff"), json={**body, "url": bad})
        assert wrong.status_code == 422, (bad, wrong.text)  # no address a request can go to
        assert wrong.json()["errors"][0]["field"] == "url"
    listed = await svc.client.get(hooks, headers=svc.as_("staff"))
    assert [h["id"] for h in listed.json()] == [hook["id"]]
    with svc.app.state.db.transaction() as tx:
        mk.emit(tx, "c1", "reports.ready", {"period": "2026-Q4"})
        mk.fan_out(tx)
        tx.execute(deliveries.update().values(state="dead", attempts=8, last_error="HTTP 500"))
    dead = await svc.client.get(f"{BASE}/communities/c1/dead-letters", headers=svc.as_("staff"))
    (letter,) = dead.json()
    assert (letter["type"], letter["attempts"], letter["last_error"]) == (
        "reports.ready", 8, "HTTP 500")  # fmt: skip
    again = await svc.client.post(f"{BASE}/communities/c1/dead-letters/retry", json={},
                                  headers=svc.as_("staff"))  # fmt: skip
    assert again.json() == {"count": 1}
    with svc.app.state.db.snapshot() as tx:
        assert tx.scalar(sa.select(deliveries.c.state)) == "pending"
    gone = await svc.client.delete(f"{hooks}/{hook['id']}", headers=svc.as_("staff"))
    assert gone.status_code == 204
    missing = await svc.client.delete(f"{hooks}/{hook['id']}", headers=svc.as_("staff"))
    assert missing.status_code == 404
    assert missing.json()["code"] == "not_found"
