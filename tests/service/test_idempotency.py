"""Idempotency-Key over HTTP (幂等键, invariant 3): a retried request changes nothing again.

The race: 100 keys, each sent 21 times at once by staff to ``POST /adjustments`` (20 identical
requests and one with another body), every key's requests fired together and all keys through one
bounded pool. Exactly one body wins each key and its effect exists once; every request with that
body ends with the stored response (a 409 ``idempotency_in_flight`` is retried with a short
backoff until it replays); every request with the other body is refused 422. The adjustments all
debit one pool account, so the effects contend for it too. Then smaller rules, one test each:
replays, errors stored nowhere, keys per member, malformed keys, expiry and the sweep, GETs.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

import marketplace_world as world
import points
from points import Database
from points.schema import transfers
from service import idempotency
from service.tables import idempotency_keys
from service_world import Service

ADJUST = "/api/v1/communities/c1/adjustments"
DONATE = "/api/v1/communities/c1/donations"
KEYS, DUPLICATES, CONCURRENCY = 100, 20, 64


def adjustment(n: int, variant: int) -> dict[str, Any]:
    """Key ``n``'s request body: variant 0 is the duplicated one, 1 the conflicting one."""
    change = 1 + n % 7 + 100 * variant
    return {"member_id": world.VOLUNTEERS[n % 5], "change": change, "reason": f"补录 {n}"}


def keyed(headers: dict[str, str], key: str) -> dict[str, str]:
    return {**headers, "Idempotency-Key": key}


def replayed(answer: httpx.Response) -> bool:
    return str(answer.headers.get("Idempotent-Replayed", "")) == "true"


def code(answer: httpx.Response) -> str:
    return str(answer.json().get("code", "")) if answer.status_code >= 400 else ""


@dataclass
class Tally:
    in_flight: int = 0
    seen: Counter[int] = field(default_factory=Counter)


async def send_until_settled(
    client: httpx.AsyncClient,
    headers: dict[str, str],
    body: dict[str, Any],
    pool: asyncio.Semaphore,
    tally: Tally,
) -> httpx.Response:
    """POST, retrying while the key is in flight (as a client honouring the 409 would)."""
    pause = 0.005
    while True:
        async with pool:
            answer = await client.post(ADJUST, headers=headers, json=body)
        tally.seen[answer.status_code] += 1
        if answer.status_code != 409 or code(answer) != "idempotency_in_flight":
            return answer
        assert answer.headers.get("Retry-After") == "1"
        tally.in_flight += 1
        await asyncio.sleep(pause)
        pause = min(pause * 2, 0.1)


def adjustments(db: Database) -> list[tuple[str, str, int]]:
    """(memo, credited account, amount) of every adjustment in c1."""
    with db.snapshot() as conn:
        rows = conn.execute(
            sa.select(transfers.c.memo, transfers.c.credit_account_id, transfers.c.amount).where(
                transfers.c.community_id == "c1", transfers.c.kind == "adjustment"
            )
        )
        return [(r.memo, r.credit_account_id, int(r.amount)) for r in rows]


def audit(db: Database) -> list[points.Problem]:
    with db.snapshot() as conn:
        return points.audit(conn)


@pytest.mark.slow
async def test_100_keys_each_sent_21_times_at_once_make_exactly_100_effects(
    svc: Service, backend: str
) -> None:
    started = time.perf_counter()
    staff = svc.as_("staff")
    pool, tally = asyncio.Semaphore(CONCURRENCY), Tally()
    # the conflicting request sits at a different place among each key's 21 (sometimes first)
    plan = [
        [(n, 0)] * (n % (DUPLICATES + 1))
        + [(n, 1)]
        + [(n, 0)] * (DUPLICATES - n % (DUPLICATES + 1))
        for n in range(KEYS)
    ]
    calls = [
        send_until_settled(svc.client, keyed(staff, f"adj-{n:03d}"), adjustment(n, v), pool, tally)
        for requests in plan
        for n, v in requests
    ]
    answers = await asyncio.gather(*calls)
    seconds = time.perf_counter() - started

    sent = [request for requests in plan for request in requests]
    by_key: dict[int, list[tuple[int, httpx.Response]]] = {}
    for (n, variant), answer in zip(sent, answers, strict=True):
        by_key.setdefault(n, []).append((variant, answer))
    expected: dict[str, tuple[str, int]] = {}
    replays = conflicts = 0
    for n, outcomes in by_key.items():
        won = {v for v, a in outcomes if a.is_success}
        assert len(won) == 1, (n, [(v, a.status_code, a.text[:120]) for v, a in outcomes])
        (winner,) = won
        kept = [a for v, a in outcomes if v == winner]
        lost = [a for v, a in outcomes if v != winner]
        assert {a.status_code for a in kept} == {201}, [a.text[:200] for a in kept]
        assert len({a.content for a in kept}) == 1  # the one stored response, byte for byte
        assert [replayed(a) for a in kept].count(False) == 1  # one ran, the others replayed
        assert {(a.status_code, code(a)) for a in lost} == {(422, "idempotency_key_reused")}
        replays += sum(replayed(a) for a in kept)
        conflicts += len(lost)
        body = adjustment(n, winner)
        expected[body["reason"]] = (f"member:{body['member_id']}", body["change"])

    db: Database = svc.app.state.db
    made = adjustments(db)
    assert len(made) == KEYS
    assert {memo: (account, amount) for memo, account, amount in made} == expected
    assert audit(db) == []
    for volunteer in world.VOLUNTEERS:
        wallet = await svc.client.get(
            f"/api/v1/communities/c1/members/{volunteer}/wallet", headers=staff
        )
        owed = sum(a for account, a in expected.values() if account == f"member:{volunteer}")
        assert (wallet.status_code, wallet.json()["balance"]) == (200, owed)
    assert set(tally.seen) <= {201, 409, 422}, tally.seen  # no 5xx, no busy database
    assert sum(tally.seen.values()) == KEYS * (DUPLICATES + 1) + tally.in_flight
    print(
        f"[idempotency] backend={backend} keys={KEYS} requests={len(sent)} effects={len(made)} "
        f"replayed={replays} in_flight_409={tally.in_flight} conflicts_422={conflicts} "
        f"seconds={seconds:.2f}"
    )


async def test_a_replay_carries_the_header_and_the_identical_body(svc: Service) -> None:
    headers = keyed(svc.as_("staff"), "once")
    body = adjustment(1, 0)
    first = await svc.client.post(ADJUST, headers=headers, json=body)
    again = await svc.client.post(ADJUST, headers=headers, json=body)
    assert (first.status_code, replayed(first)) == (201, False)
    assert (again.status_code, replayed(again)) == (201, True)
    assert again.content == first.content
    assert again.headers["content-type"] == first.headers["content-type"]
    assert len(adjustments(svc.app.state.db)) == 1


async def test_the_same_key_with_another_body_is_refused(svc: Service) -> None:
    headers = keyed(svc.as_("staff"), "once")
    first = await svc.client.post(ADJUST, headers=headers, json=adjustment(1, 0))
    other = await svc.client.post(ADJUST, headers=headers, json=adjustment(1, 1))
    elsewhere = await svc.client.post(DONATE, headers=headers, json={"amount": 1})
    assert first.status_code == 201
    assert (other.status_code, code(other)) == (422, "idempotency_key_reused")
    assert other.json()["field"] == "Idempotency-Key"
    assert (elsewhere.status_code, code(elsewhere)) == (422, "idempotency_key_reused")
    assert len(adjustments(svc.app.state.db)) == 1


async def test_a_failed_request_stores_nothing_and_its_retry_runs_again(svc: Service) -> None:
    staff, volunteer = svc.as_("staff"), keyed(svc.as_("vol1"), "gift-1")

    async def top_up(change: int) -> None:
        body = {"member_id": "vol1", "change": change, "reason": "补录"}
        assert (await svc.client.post(ADJUST, headers=staff, json=body)).status_code == 201

    gift = {"amount": 10, "memo": "捐给社区"}  # to the community pool
    await top_up(4)
    refused = await svc.client.post(DONATE, headers=volunteer, json=gift)
    assert (refused.status_code, code(refused)) == (409, "insufficient_points")
    with svc.app.state.db.snapshot() as conn:
        assert conn.execute(sa.select(idempotency_keys)).all() == []
    await top_up(6)
    retried = await svc.client.post(DONATE, headers=volunteer, json=gift)
    assert (retried.status_code, replayed(retried)) == (201, False)
    again = await svc.client.post(DONATE, headers=volunteer, json=gift)
    assert (again.status_code, replayed(again), again.content) == (201, True, retried.content)
    wallet = await svc.client.get("/api/v1/communities/c1/members/vol1/wallet", headers=volunteer)
    assert (wallet.json()["balance"], wallet.json()["spent"]) == (0, 10)


async def test_keys_belong_to_a_member_so_two_members_may_use_the_same_one(svc: Service) -> None:
    start = svc.clock.now + dt.timedelta(days=1)
    wish = {
        "category": "助老陪护",
        "title": "帮忙取药",
        "org_id": "g1",
        "address": "幸福路1号3栋502室",
        "window_start": start.isoformat(),
        "window_end": (start + dt.timedelta(hours=2)).isoformat(),
        "estimated_minutes": 30,
    }
    url = "/api/v1/communities/c1/wishes"
    mine = await svc.client.post(url, headers=keyed(svc.as_("res"), "same"), json=wish)
    theirs = await svc.client.post(url, headers=keyed(svc.as_("res2"), "same"), json=wish)
    assert (mine.status_code, replayed(mine)) == (201, False)
    assert (theirs.status_code, replayed(theirs)) == (201, False)
    assert mine.json()["id"] != theirs.json()["id"]
    assert (mine.json()["posted_by"], theirs.json()["posted_by"]) == ("res", "res2")


async def test_a_malformed_key_is_refused_before_anything_happens(svc: Service) -> None:
    staff = svc.as_("staff")
    for key in (
        "a b",
        "tab\there",
        "bell\x07",
        "",
        "k" * 256,
        "键".encode(),
        "é".encode("latin-1"),
    ):
        raw = key if isinstance(key, bytes) else key.encode()
        headers = [*((k.encode(), v.encode()) for k, v in staff.items()), (b"Idempotency-Key", raw)]
        answer = await svc.client.post(ADJUST, headers=headers, json=adjustment(1, 0))
        assert (answer.status_code, code(answer)) == (400, "invalid_idempotency_key"), key
        assert answer.json()["field"] == "Idempotency-Key"
    longest = await svc.client.post(ADJUST, headers=keyed(staff, "k" * 255), json=adjustment(1, 0))
    assert longest.status_code == 201
    assert len(adjustments(svc.app.state.db)) == 1


async def test_an_expired_key_may_be_used_again(svc: Service) -> None:
    db: Database = svc.app.state.db
    headers = keyed(svc.as_("staff"), "daily")
    first = await svc.client.post(ADJUST, headers=headers, json=adjustment(1, 0))
    svc.clock.advance(hours=23, minutes=59)
    still = await svc.client.post(ADJUST, headers=headers, json=adjustment(1, 0))
    assert (first.status_code, still.status_code, replayed(still)) == (201, 201, True)
    svc.clock.advance(minutes=2)  # past the 24 hours
    anew = await svc.client.post(ADJUST, headers=headers, json=adjustment(1, 0))
    assert (anew.status_code, replayed(anew)) == (201, False)
    assert anew.json()["id"] != first.json()["id"]
    assert len(adjustments(db)) == 2

    other = keyed(svc.as_("staff"), "other")
    assert (await svc.client.post(ADJUST, headers=other, json=adjustment(2, 0))).status_code == 201
    svc.clock.advance(hours=25)
    changed = await svc.client.post(ADJUST, headers=other, json=adjustment(2, 1))
    assert (changed.status_code, replayed(changed)) == (201, False)  # expired: a new request


async def test_the_sweep_takes_only_expired_keys(svc: Service) -> None:
    db: Database = svc.app.state.db
    staff = svc.as_("staff")
    old = await svc.client.post(ADJUST, headers=keyed(staff, "old"), json=adjustment(1, 0))
    svc.clock.advance(hours=12)
    new = await svc.client.post(ADJUST, headers=keyed(staff, "new"), json=adjustment(2, 0))
    svc.clock.advance(hours=13)  # "old" is 25 hours old, "new" 13
    assert (old.status_code, new.status_code) == (201, 201)
    assert db.write(idempotency.sweep_keys, now=svc.clock()) == 1
    with db.snapshot() as conn:
        left = conn.execute(sa.select(idempotency_keys.c.key)).scalars().all()
    assert left == ["new"]
    replay = await svc.client.post(ADJUST, headers=keyed(staff, "new"), json=adjustment(2, 0))
    assert (replay.status_code, replayed(replay)) == (201, True)


async def test_a_get_ignores_the_header(svc: Service) -> None:
    url = "/api/v1/communities/c1/members/vol1/wallet"
    for key in ("read-1", "read-1", "not a key"):
        answer = await svc.client.get(url, headers=keyed(svc.as_("vol1"), key))
        assert (answer.status_code, replayed(answer)) == (200, False)
    with svc.app.state.db.snapshot() as conn:
        assert conn.execute(sa.select(idempotency_keys)).all() == []
