"""通知 dispatcher against real HTTP on loopback (both backends): signed webhooks, retries with
backoff until dead, the SMS gateway adapter, phones only for the community's own system."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import re
import threading
import time
from http.server import HTTPServer
from pathlib import Path

import sqlalchemy as sa
from outbox_world import Receiver

import marketplace as mk
import marketplace_world as world
import points
from marketplace.schema import deliveries
from marketplace_world import T0
from service import channels
from service.app import create_app
from service.dispatcher import Dispatcher, client_for, dispatch_once
from service.settings import Settings

SECRET = "whsec_" + "k" * 26


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> dt.datetime:
        return self.now


def settings(**more: object) -> Settings:
    return Settings(secret_key="k", outbox_backoff_seconds=10, **more)  # type: ignore[arg-type]


def prepare(db: points.Database, url: str, *, own_system: bool = False) -> None:
    with db.transaction() as tx:
        world.build(tx)
        tx.execute(sa.text("UPDATE mk_members SET phone = '13800000001' WHERE id = 'vol1'"))
        mk.add_webhook(tx, "staff", "c1", url, SECRET, own_system=own_system, now=T0)
        wish = world.published(tx)  # wish.verified to res
        mk.dispatch(tx, "staff", "c1", wish.id, "vol1", now=T0)  # claimed + dispatched


async def test_a_webhook_gets_each_event_signed_once(db: points.Database) -> None:
    with Receiver() as hook:
        prepare(db, hook.url)
        async with client_for(settings()) as client:
            done = await dispatch_once(db, settings(), client, clock=Clock())
            again = await dispatch_once(db, settings(), client, clock=Clock())
    assert (done.fanned, done.sent, done.failed) == (3, 3, 0)
    assert (again.fanned, again.sent) == (0, 0)
    assert sorted(r.json()["type"] for r in hook.received) == [
        "wish.claimed", "wish.dispatched", "wish.verified"]  # fmt: skip
    with db.snapshot() as tx:
        sent = set(tx.execute(sa.select(deliveries.c.id)).scalars())
    for r in hook.received:
        body = r.json()
        assert body["id"] == r.headers["x-linli-delivery"]
        assert body["id"] in sent
        assert r.headers["x-linli-signature"].startswith("sha256=")
        assert channels.verify(SECRET, r.headers["x-linli-timestamp"], r.body,
                               r.headers["x-linli-signature"])  # fmt: skip
        assert not channels.verify("wrong" * 4, r.headers["x-linli-timestamp"], r.body,
                                   r.headers["x-linli-signature"])  # fmt: skip
        assert "phone" not in body
        assert "13800000001" not in r.body.decode()
        assert set(body["data"]) <= mk.notices.SAFE_DATA


async def test_the_community_s_own_system_receives_the_phone(db: points.Database) -> None:
    with Receiver() as hook:
        prepare(db, hook.url, own_system=True)
        async with client_for(settings()) as client:
            await dispatch_once(db, settings(), client, clock=Clock())
    phones = {r.json()["type"]: r.json().get("phone") for r in hook.received}
    assert phones["wish.dispatched"] == "13800000001"


def test_a_replayed_or_stale_signature_is_refused() -> None:
    body = b'{"type":"x"}'
    signed = channels.signature(SECRET, "1000", body)
    assert channels.verify(SECRET, "1000", body, signed, now=1000 + channels.REPLAY_WINDOW)
    assert not channels.verify(SECRET, "1000", body, signed, now=1001 + channels.REPLAY_WINDOW)
    assert not channels.verify(SECRET, "1000", body + b" ", signed, now=1000)
    assert not channels.verify(SECRET, "later", body, signed, now=1000)


async def test_a_receiver_answering_500_is_retried_with_backoff_then_dead_lettered(
    db: points.Database,
) -> None:
    clock = Clock()
    config = settings(outbox_attempts=4)
    with Receiver(status=500) as hook:
        with db.transaction() as tx:
            world.build(tx)
            mk.add_webhook(tx, "staff", "c1", hook.url, SECRET, now=T0)
            mk.emit(tx, "c1", "reports.ready", {"period": "2026-Q4"}, now=T0)
        async with client_for(config) as client:
            done = await dispatch_once(db, config, client, clock=clock)
            assert (done.sent, done.failed, done.dead) == (0, 1, 0)
            for wait, dead in ((10, 0), (20, 0), (40, 1)):  # 10 s, doubled each attempt
                clock.now += dt.timedelta(seconds=wait - 1)
                assert (await dispatch_once(db, config, client, clock=clock)).failed == 0
                clock.now += dt.timedelta(seconds=1)
                assert (await dispatch_once(db, config, client, clock=clock)).dead == dead
            clock.now += dt.timedelta(days=1)
            assert (await dispatch_once(db, config, client, clock=clock)).failed == 0
        assert list(hook.ids().values()) == [4]  # four attempts, one delivery id
        with db.snapshot() as tx:
            (letter,) = mk.dead_letters(tx, "staff", "c1")
        assert (letter.attempts, letter.last_error) == (4, "HTTP 500")
        hook.status = 200
        with db.transaction() as tx:
            mk.retry(tx, "staff", "c1", now=clock.now)
        async with client_for(config) as client:
            assert (await dispatch_once(db, config, client, clock=clock)).sent == 1
    assert list(hook.ids().values()) == [5]


async def test_sms_goes_through_the_gateway_in_the_providers_shape(db: points.Database) -> None:
    clock = Clock()
    clock.now = dt.datetime(2026, 12, 1, 14, 30, tzinfo=dt.UTC)  # 22:30 in China: quiet
    with Receiver(gateway=True) as gateway, Receiver() as hook:
        config = settings(
            sms_url=gateway.url, sms_sign_name="邻里社区", sms_key_id="key1",
            sms_key_secret="gateway-secret", sms_templates={"wish.dispatched": "SMS_1001"},
        )  # fmt: skip
        prepare(db, hook.url)
        async with client_for(config) as client:
            done = await dispatch_once(db, config, client, clock=clock)
            assert (done.sent, gateway.received) == (3, [])  # the webhooks; SMS waits till 07:00
            clock.now = dt.datetime(2026, 12, 1, 23, 0, tzinfo=dt.UTC)
            assert (await dispatch_once(db, config, client, clock=clock)).sent == 1
    (sms,) = gateway.received
    body = sms.json()
    wanted = {"PhoneNumbers": "13800000001", "SignName": "邻里社区", "TemplateCode": "SMS_1001"}
    assert {k: body[k] for k in wanted} == wanted
    start = (T0 + dt.timedelta(hours=2)).isoformat()
    assert json.loads(body["TemplateParam"]) == {"title": "陪老人去医院", "start": start}
    assert sms.headers["x-linli-key-id"] == "key1"
    assert channels.verify("gateway-secret", sms.headers["x-linli-timestamp"], sms.body,
                           sms.headers["x-linli-signature"])  # fmt: skip
    with db.snapshot() as tx:
        (out_id,) = tx.execute(
            sa.select(deliveries.c.id).where(deliveries.c.channel == "sms")).scalars()  # fmt: skip
    assert body["OutId"] == out_id


def _doc_receiver() -> dict[str, object]:
    """The receiver docs/api.md shows ("Webhooks"), run as written (its ``__main__`` aside)."""
    guide = (Path(__file__).resolve().parents[2] / "docs" / "api.md").read_text("utf-8")
    section = guide[guide.index("## Webhooks") :]
    code = re.search(r"```python\n(.*?)```", section, re.S)
    assert code is not None
    found: dict[str, object] = {"__name__": "receiver"}
    exec(compile(code.group(1), "docs/api.md", "exec"), found)
    return found


async def test_the_receiver_in_the_docs_accepts_a_delivery_once_and_refuses_forgeries(
    db: points.Database,
) -> None:
    doc = _doc_receiver()
    doc["SECRET"] = SECRET.encode()
    server = HTTPServer(("127.0.0.1", 0), doc["Hook"])  # type: ignore[arg-type]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{server.server_address[1]}/hook"
    try:
        prepare(db, url)
        async with client_for(settings()) as client:
            done = await dispatch_once(db, settings(), client, clock=Clock())
            assert (done.sent, done.failed) == (3, 0)  # each accepted: 200
            body = b'{"type":"x","id":"forged"}'
            stamp = str(int(time.time()))
            wrong = channels.signature("not-the-secret" * 2, stamp, body)
            forged = {"X-Linli-Timestamp": stamp, "X-Linli-Signature": wrong}
            assert (await client.post(url, body, forged))[0] == 401
            stale = str(int(time.time()) - channels.REPLAY_WINDOW - 5)
            replayed = {"X-Linli-Timestamp": stale,
                        "X-Linli-Signature": channels.signature(SECRET, stale, body)}  # fmt: skip
            assert (await client.post(url, body, replayed))[0] == 401
    finally:
        server.shutdown()
    assert len(doc["seen"]) == 3  # type: ignore[arg-type]


async def test_the_service_s_dispatcher_delivers_in_the_background(db: points.Database) -> None:
    with Receiver() as hook:
        prepare(db, hook.url)
        app = create_app(settings(outbox_seconds=0.05), db=db)
        dispatcher = app.state.dispatcher
        assert isinstance(dispatcher, Dispatcher)
        dispatcher.start()
        try:
            for _ in range(200):
                if len(hook.received) == 3:
                    break
                await asyncio.sleep(0.05)
        finally:
            await dispatcher.stop()
    assert sorted(r.json()["type"] for r in hook.received) == [
        "wish.claimed", "wish.dispatched", "wish.verified"]  # fmt: skip
