"""离线报到 and 扫码报到 over HTTP: a check-in pressed offline and sent later with its
Idempotency-Key arrives once with the phone's time and is marked offline; the QR code's token
checks in to its own wish, not after it expires, not in another community."""

from __future__ import annotations

import datetime as dt
from typing import Any

import httpx

import marketplace as mk
import marketplace_world as world
from service import scan
from service_world import Service

H = dt.timedelta(hours=1)
MIN = dt.timedelta(minutes=1)


def claimed(svc: Service) -> tuple[mk.Wish, str]:
    """A published wish starting in an hour, claimed by vol1: the wish and the claim's URL."""
    with svc.app.state.db.transaction() as tx:
        wish = world.published(tx, start=svc.clock.now + H)
        made = mk.claim(tx, "vol1", "c1", wish.id, now=svc.clock.now)
    return wish, f"/api/v1/communities/c1/claims/{made.id}"


async def check_in(svc: Service, url: str, body: dict[str, Any], key: str) -> httpx.Response:
    headers = {**svc.as_("vol1"), "Idempotency-Key": key}
    return await svc.client.post(f"{url}/check-in", headers=headers, json=body)


async def test_a_check_in_pressed_offline_arrives_once_with_the_phones_time(svc: Service) -> None:
    wish, url = claimed(svc)
    pressed = svc.clock.now + 10 * MIN
    svc.clock.advance(hours=2)  # the network came back
    body = {"code": wish.confirmation_code, "offline_at": pressed.isoformat()}
    first = await check_in(svc, url, body, "offline-check-in-1")
    assert first.status_code == 200, first.text
    again = await check_in(svc, url, body, "offline-check-in-1")  # the phone retries
    assert again.status_code == 200
    assert again.headers["Idempotent-Replayed"] == "true"
    assert first.json()["checked_in_offline"] is True
    assert dt.datetime.fromisoformat(first.json()["checked_in_at"]) == pressed
    with svc.app.state.db.snapshot() as tx:
        moves = [h for h in mk.history(tx, "c1", wish.id) if h.action == "check_in"]
    assert len(moves) == 1


async def test_an_offline_time_out_of_bounds_is_refused_in_chinese(svc: Service) -> None:
    wish, url = claimed(svc)
    svc.clock.advance(hours=26)
    stale = svc.clock.now - 25 * H
    body = {"code": wish.confirmation_code, "offline_at": stale.isoformat()}
    answer = await check_in(svc, url, body, "offline-stale")
    assert answer.status_code == 422, answer.text
    assert answer.json()["field"] == "offline_at"
    assert "24 小时内发送" in answer.json()["detail"]
    ahead = {"code": wish.confirmation_code, "offline_at": (svc.clock.now + H).isoformat()}
    future = await check_in(svc, url, ahead, "offline-future")
    assert (future.status_code, future.json()["field"]) == (422, "offline_at")


async def test_the_qr_token_checks_in_to_its_own_wish_while_fresh(svc: Service) -> None:
    wish, url = claimed(svc)
    secret = svc.app.state.settings.secret_key
    other = scan.issue(secret, "c2", wish.id, svc.clock.now)
    forged = scan.issue("another secret", "c1", wish.id, svc.clock.now)
    for token in (other, forged):
        refused = await check_in(svc, url, {"token": token}, f"t-{token[:2]}-{len(token)}")
        assert (refused.status_code, refused.json()["field"]) == (422, "token")
        assert refused.json()["detail"] == "报到二维码：不是本社区的报到二维码"
    old = scan.issue(secret, "c1", wish.id, svc.clock.now - scan.TTL - MIN)
    expired = await check_in(svc, url, {"token": old}, "token-old")
    assert (expired.status_code, expired.json()["field"]) == (422, "token")
    assert "已过期" in expired.json()["detail"]
    fresh = scan.issue(secret, "c1", wish.id, svc.clock.now)
    done = await check_in(svc, url, {"token": fresh}, "token-fresh")
    assert (done.status_code, done.json()["state"]) == (200, "checked_in")
    assert done.json()["checked_in_offline"] is False
