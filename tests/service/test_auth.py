"""Signing in over HTTP: tokens that must not work, the login throttle, rate limits, the session
cookie and its CSRF check.

Every forged, expired or revoked token is refused with 401 ``unauthenticated``; failed sign-ins
are counted per phone and per client address (in Redis when several processes share it) and
answered with 429 ``login_throttled`` past the limit; the session cookie is HttpOnly and every
unsafe request it signs must echo the CSRF cookie, while bearer requests need no CSRF token.
"""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import json
import os
import secrets
import socket
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import jwt
import pytest
from litestar import Litestar
from litestar.stores.base import Store

import service_world as sw
from service import auth
from service.app import create_app
from service.problems import ServiceError
from service.settings import Settings
from service_world import Service

ME = "/api/v1/me"
TOKEN = "/api/v1/auth/token"
SESSION = "/api/v1/auth/session"
PROFILE = "/api/v1/me/profile"
REDIS_URL = os.environ.get("LINLI_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def credentials(person: str, password: str = sw.PASSWORD) -> dict[str, str]:
    return {"phone": sw.PHONES[person], "password": password}


async def sign_in(client: httpx.AsyncClient, person: str, password: str = sw.PASSWORD) -> str:
    answer = await client.post(TOKEN, json=credentials(person, password))
    assert answer.status_code == 200, answer.text
    token: str = answer.json()["access_token"]
    return token


def assert_refused(answer: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert (answer.status_code, answer.headers["content-type"]) == (
        status,
        "application/problem+json",
    ), answer.text
    body: dict[str, Any] = answer.json()
    assert body["code"] == code, body
    return body


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _json_b64(value: dict[str, Any]) -> str:
    return _b64(json.dumps(value, separators=(",", ":")).encode())


class Forger:
    """Tokens made outside the app with pyjwt, from the app's own settings and key."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def claims(self, **changes: Any) -> dict[str, Any]:
        now = int(time.time())
        made: dict[str, Any] = {
            "sub": "vol1",
            "iss": self.settings.issuer,
            "aud": self.settings.audience,
            "iat": now,
            "exp": now + 600,
            "ver": 0,
        }
        made.update(changes)
        return {k: v for k, v in made.items() if v is not None}  # None: leave the claim out

    def sign(self, *, key: str | None = None, algorithm: str = "HS256", **changes: Any) -> str:
        return jwt.encode(self.claims(**changes), key or self.settings.secret_key, algorithm)

    def unsigned(self, **changes: Any) -> str:
        """``alg: none``: the header says there is no signature to check."""
        header = _json_b64({"alg": "none", "typ": "JWT"})
        return f"{header}.{_json_b64(self.claims(**changes))}."

    def tampered_payload(self, **changes: Any) -> str:
        """A genuine token whose payload was edited after signing."""
        header, _, signature = self.sign().split(".")
        return f"{header}.{_json_b64(self.claims(**changes))}.{signature}"

    def tampered_signature(self) -> str:
        header, payload, signature = self.sign().split(".")
        flipped = signature[:10] + ("A" if signature[10] != "A" else "B") + signature[11:]
        return f"{header}.{payload}.{flipped}"

    def none_with_signature(self) -> str:
        """The genuine signature, with the header switched to ``alg: none``."""
        _, payload, signature = self.sign().split(".")
        return f"{_json_b64({'alg': 'none', 'typ': 'JWT'})}.{payload}.{signature}"


async def test_forged_expired_and_malformed_tokens_are_refused(svc: Service) -> None:
    forge = Forger(svc.app.state.settings)
    now = int(time.time())
    genuine = await svc.client.get(ME, headers=bearer(forge.sign()))
    assert (genuine.status_code, genuine.json()["id"]) == (200, "vol1")  # the forger is faithful

    refused = {
        "expired": forge.sign(exp=now - 5, iat=now - 700),
        "not yet valid": forge.sign(nbf=now + 600),
        "wrong issuer": forge.sign(iss="someone-else"),
        "wrong audience": forge.sign(aud="another-api"),
        "audience list without ours": forge.sign(aud=["another-api", "third-api"]),
        "alg none": forge.unsigned(),
        "alg none as admin": forge.unsigned(sub="admin"),
        "alg none with the genuine signature": forge.none_with_signature(),
        "tampered payload": forge.tampered_payload(sub="admin"),
        "tampered signature": forge.tampered_signature(),
        "wrong secret": forge.sign(key="another-secret-" + "y" * 40),
        "HS384 with our secret": forge.sign(algorithm="HS384"),
        "no exp": forge.sign(exp=None),
        "no iss": forge.sign(iss=None),
        "no aud": forge.sign(aud=None),
        "no sub": forge.sign(sub=None),
        "no ver": forge.sign(ver=None),
        "ver of the future": forge.sign(ver=1),
        "ver as text": forge.sign(ver="0"),
        "unknown member": forge.sign(sub="nobody"),
        "not a jwt": "not-a-token",
        "empty": "",
    }
    for name, token in refused.items():
        for h in (bearer(token), {"Cookie": f"{auth.TOKEN_COOKIE}={token}"}):
            answer = await svc.client.get(ME, headers=h)
            assert answer.status_code == 401, f"{name}: {answer.text}"
            assert answer.json()["code"] == "unauthenticated", name
    unsafe = await svc.client.put(
        PROFILE, headers=bearer(refused["alg none"]), json={"public_profile": True}
    )
    assert_refused(unsafe, 401, "unauthenticated")
    assert (await svc.client.get(ME, headers=svc.as_("vol1"))).json()["public_profile"] is False


async def test_signing_out_changing_the_password_or_deleting_ends_every_earlier_token(
    svc: Service,
) -> None:
    c = svc.client
    first = svc.token("vol2")  # as the app mints them at sign-in
    assert (await c.get(ME, headers=bearer(first))).status_code == 200
    out = await c.post("/api/v1/auth/logout", headers=bearer(first))
    assert out.status_code == 204
    assert_refused(await c.get(ME, headers=bearer(first)), 401, "unauthenticated")
    again = await sign_in(c, "vol2")
    assert (await c.get(ME, headers=bearer(again))).status_code == 200

    before = svc.token("vol3")
    wrong_old = await c.post(
        "/api/v1/me/password",
        headers=bearer(before),
        json={"old_password": "not-it-at-all", "new_password": "a-new-password-1"},
    )
    assert_refused(wrong_old, 422, "invalid_input")
    assert (await c.get(ME, headers=bearer(before))).status_code == 200  # nothing changed
    changed = await c.post(
        "/api/v1/me/password",
        headers=bearer(before),
        json={"old_password": sw.PASSWORD, "new_password": "a-new-password-1"},
    )
    assert changed.status_code == 204, changed.text
    assert_refused(await c.get(ME, headers=bearer(before)), 401, "unauthenticated")
    assert_refused(await c.post(TOKEN, json=credentials("vol3")), 401, "bad_credentials")
    after = await sign_in(c, "vol3", "a-new-password-1")
    assert (await c.get(ME, headers=bearer(after))).json()["id"] == "vol3"

    leaving = svc.token("vol4")
    gone = await c.post("/api/v1/me/deletion", headers=bearer(leaving))
    assert gone.status_code == 200, gone.text
    forge = Forger(svc.app.state.settings)
    for old in (bearer(leaving), bearer(forge.sign(sub="vol4", ver=1))):
        assert_refused(await c.get(ME, headers=old), 401, "unauthenticated")
    assert_refused(await c.post(TOKEN, json=credentials("vol4")), 401, "bad_credentials")


async def test_sign_in_gives_a_working_token_and_refuses_a_wrong_password(svc: Service) -> None:
    c = svc.client
    answer = await c.post(TOKEN, json=credentials("res"))
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert (body["token_type"], body["member_id"]) == ("Bearer", "res")
    assert body["expires_in"] == 480 * 60
    me = await c.get(ME, headers=bearer(body["access_token"]))
    assert (me.status_code, me.json()["id"]) == (200, "res")
    claims = jwt.decode(
        body["access_token"],
        svc.app.state.settings.secret_key,
        algorithms=["HS256"],
        audience="linli-api",
        issuer="linli",
    )
    assert claims["sub"] == "res"
    assert 0 < claims["exp"] - time.time() <= 480 * 60

    wrong = assert_refused(
        await c.post(TOKEN, json=credentials("res", "wrong-password")), 401, "bad_credentials"
    )
    unknown = assert_refused(
        await c.post(TOKEN, json={"phone": "13700000000", "password": sw.PASSWORD}),
        401,
        "bad_credentials",
    )
    assert wrong["detail"] == unknown["detail"]  # nothing tells which phones have an account
    malformed = await c.post(TOKEN, json={"phone": "123", "password": "x"})
    assert_refused(malformed, 422, "invalid_input")


def client_at(app: Litestar, address: str) -> httpx.AsyncClient:
    """A client of ``app`` calling from another address."""
    transport = httpx.ASGITransport(app=app, client=(address, 50000))
    return httpx.AsyncClient(transport=transport, base_url="http://linli.test")


async def attempt(client: httpx.AsyncClient, person: str, password: str = sw.PASSWORD) -> str:
    """One sign-in: "ok", or the problem's code."""
    answer = await client.post(TOKEN, json=credentials(person, password))
    if answer.status_code == 200:
        return "ok"
    code: str = answer.json()["code"]
    return code


async def test_failed_sign_ins_are_throttled_per_phone_and_per_address(backend_ready: str) -> None:
    async with sw.running(backend_ready, login_attempts=3, login_attempts_per_address=5) as svc:
        c = svc.client
        assert [await attempt(c, "res", "wrong-1") for _ in range(3)] == ["bad_credentials"] * 3
        throttled = await c.post(TOKEN, json=credentials("res"))  # even the right password
        body = assert_refused(throttled, 429, "login_throttled")
        retry = int(throttled.headers["retry-after"])
        assert 0 < retry <= 900
        assert body["retry_after"] == retry

        # another phone from the same address: allowed until the address's own limit (5)
        tries = [
            await attempt(c, "vol1", "wrong-1"),  # the address's 4th failure
            await attempt(c, "vol1"),  # a success is not a failure
            await attempt(c, "vol1", "wrong-1"),  # the 5th
            await attempt(c, "vol1"),
            await attempt(c, "vol2"),
        ]
        assert tries == ["bad_credentials", "ok", "bad_credentials"] + ["login_throttled"] * 2

        async with client_at(svc.app, "10.1.2.3") as elsewhere:
            assert await attempt(elsewhere, "res") == "login_throttled"  # the phone's count
            assert await attempt(elsewhere, "vol2") == "ok"


async def test_guesses_sent_at_once_cannot_slip_past_the_throttle(backend_ready: str) -> None:
    async with sw.running(backend_ready, login_attempts=3, login_attempts_per_address=100) as svc:
        wrong = credentials("res", "wrong-1")
        answers = await asyncio.gather(*(svc.client.post(TOKEN, json=wrong) for _ in range(10)))
        statuses = sorted(a.status_code for a in answers)
        assert statuses == [401] * 3 + [429] * 7  # no more guesses than the limit, however sent
        assert await attempt(svc.client, "res") == "login_throttled"


class FakeStore(Store):
    """A store whose clock the test moves (Litestar's stores read the real time)."""

    def __init__(self) -> None:
        self.now = 0.0
        self.data: dict[str, tuple[bytes, float | None]] = {}

    def _live(self, key: str) -> tuple[bytes, float | None] | None:
        found = self.data.get(key)
        if found is not None and found[1] is not None and found[1] <= self.now:
            del self.data[key]
            return None
        return found

    async def set(
        self, key: str, value: str | bytes, expires_in: int | dt.timedelta | None = None
    ) -> None:
        seconds = expires_in.total_seconds() if isinstance(expires_in, dt.timedelta) else expires_in
        raw = value.encode() if isinstance(value, str) else value
        self.data[key] = (raw, None if seconds is None else self.now + seconds)

    async def get(self, key: str, renew_for: int | dt.timedelta | None = None) -> bytes | None:
        found = self._live(key)
        return None if found is None else found[0]

    async def delete(self, key: str) -> None:
        self.data.pop(key, None)

    async def delete_all(self) -> None:
        self.data.clear()

    async def exists(self, key: str) -> bool:
        return self._live(key) is not None

    async def expires_in(self, key: str) -> int | None:
        found = self._live(key)
        if found is None or found[1] is None:
            return None
        return int(found[1] - self.now)


async def test_the_throttle_lifts_when_the_window_has_passed() -> None:
    store = FakeStore()
    throttle = auth.Throttle(
        store,
        Settings(
            secret_key="k" * 40,
            login_attempts=2,
            login_attempts_per_address=100,
            login_window_seconds=60,
        ),
    )
    phone, address = "13900000001", "10.0.0.1"
    await throttle.check(phone, address)
    await throttle.failed(phone, address)
    store.now += 20
    await throttle.failed(phone, address)  # the window still ends 60 s after the first failure
    with pytest.raises(ServiceError) as refused:
        await throttle.check(phone, address)
    assert (refused.value.status, refused.value.code, refused.value.retry_after) == (
        429,
        "login_throttled",
        40,
    )
    store.now += 39
    with pytest.raises(ServiceError):
        await throttle.check(phone, address)
    store.now += 1
    await throttle.check(phone, address)  # the window has passed
    await throttle.failed(phone, address)
    await throttle.check(phone, address)  # and counting starts again from one


async def test_attempts_being_verified_hold_their_places_until_settled() -> None:
    store = FakeStore()
    throttle = auth.Throttle(store, Settings(secret_key="k" * 40, login_attempts=2))
    phone, address = "13900000002", "10.0.0.2"
    async with throttle.attempt(phone, address), throttle.attempt(phone, address):
        with pytest.raises(ServiceError) as busy:
            async with throttle.attempt(phone, address):
                pass
        assert (busy.value.code, busy.value.retry_after) == ("login_throttled", 1)
        await throttle.failed(phone, address)  # one of the two was wrong, the other right
        await throttle.succeeded(phone)
    async with throttle.attempt(phone, address):  # settled: nothing holds a place any more
        pass
    with pytest.raises(RuntimeError):  # an attempt that breaks gives its place back too
        async with throttle.attempt(phone, address):
            raise RuntimeError("database unavailable")
    async with throttle.attempt(phone, address):
        pass


async def test_too_many_requests_are_rate_limited(svc: Service) -> None:
    db = svc.app.state.db
    limited = create_app(sw.settings(db.url, rate_limit_per_minute=3), db=db, clock=svc.clock)
    async with client_at(limited, "10.9.9.9") as c:
        for _ in range(3):
            assert (await c.get(ME, headers=svc.as_("vol1"))).status_code == 200
        answer = await c.get(ME, headers=svc.as_("vol1"))
        body = assert_refused(answer, 429, "rate_limited")
        assert int(answer.headers["retry-after"]) == body["retry_after"] > 0
        assert (await c.get("/health/live")).status_code == 200  # health checks are not limited


def redis_unavailable() -> str | None:
    host, _, port = REDIS_URL.removeprefix("redis://").split("/")[0].partition(":")
    try:
        with socket.create_connection((host, int(port or 6379)), timeout=0.5):
            return None
    except OSError as exc:
        return f"Redis unreachable at {REDIS_URL}: {exc}"


@asynccontextmanager
async def two_processes(svc: Service, **overrides: Any) -> AsyncIterator[tuple[Litestar, Litestar]]:
    """Two apps over one database and one Redis, as two service processes would be."""
    db = svc.app.state.db
    apps = tuple(
        create_app(sw.settings(db.url, redis_url=REDIS_URL, **overrides), db=db, clock=svc.clock)
        for _ in range(2)
    )
    try:
        yield apps[0], apps[1]
    finally:
        for app in apps:
            async with app.stores.get("login"):  # closes its Redis client
                pass


async def test_processes_sharing_redis_share_the_login_throttle(svc: Service) -> None:
    reason = redis_unavailable()
    if reason:
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI must run the Redis tests: {reason}")
        pytest.skip(reason)
    # A phone and an address of this run only: the counts live in a Redis other runs share.
    phone = f"170{secrets.randbelow(10**8):08d}"
    address = f"10.{secrets.randbelow(250)}.{secrets.randbelow(250)}.{secrets.randbelow(250)}"
    guess = {"phone": phone, "password": "wrong-password"}
    async with two_processes(svc, login_attempts=3, login_window_seconds=60) as (one, two):
        try:
            async with client_at(one, address) as a, client_at(two, address) as b:
                for c in (a, a, b):
                    assert_refused(await c.post(TOKEN, json=guess), 401, "bad_credentials")
                for c in (a, b):
                    assert_refused(await c.post(TOKEN, json=guess), 429, "login_throttled")
        finally:
            store = one.state.throttle.store
            await store.delete(f"phone:{phone}")
            await store.delete(f"address:{address}")


async def test_session_cookie_is_httponly_and_unsafe_requests_need_the_csrf_token(
    svc: Service,
) -> None:
    async with client_at(svc.app, "192.168.1.20") as browser:  # keeps cookies, sends no bearer
        signed = await browser.post(SESSION, json=credentials("res"))
        assert signed.status_code == 200, signed.text
        set_cookie = [
            v
            for v in signed.headers.get_list("set-cookie")
            if v.startswith(auth.TOKEN_COOKIE + "=")
        ]
        assert len(set_cookie) == 1
        parts = [p.strip() for p in set_cookie[0].split(";")]
        attributes = {p.split("=")[0].lower(): p for p in parts}
        assert "httponly" in attributes
        assert attributes["samesite"].lower() == "samesite=lax"
        assert attributes["path"] == "Path=/"
        token = browser.cookies[auth.TOKEN_COOKIE]
        body = signed.json()
        assert (body["access_token"], body["member_id"]) == ("", "res")
        assert token not in signed.text  # the token is in the cookie only

        me = await browser.get(ME)  # the cookie alone signs the request in
        assert (me.status_code, me.json()["id"]) == (200, "res")
        csrf = browser.cookies.get("linli_csrf")
        assert csrf

        forged = await browser.put(PROFILE, json={"public_profile": True})
        assert_refused(forged, 403, "csrf_failed")
        wrong = await browser.put(
            PROFILE, json={"public_profile": True}, headers={"X-CSRFToken": csrf[::-1]}
        )
        assert_refused(wrong, 403, "csrf_failed")
        out = await browser.post("/api/v1/auth/logout")
        assert_refused(out, 403, "csrf_failed")
        assert (await browser.get(ME)).json()["public_profile"] is False  # nothing changed

        echoed = await browser.put(
            PROFILE, json={"public_profile": True}, headers={"X-CSRFToken": csrf}
        )
        assert (echoed.status_code, echoed.json()["public_profile"]) == (200, True)
        signed_out = await browser.post("/api/v1/auth/logout", headers={"X-CSRFToken": csrf})
        assert signed_out.status_code == 204
        stale = await browser.get(ME, headers={"Cookie": f"{auth.TOKEN_COOKIE}={token}"})
        assert_refused(stale, 401, "unauthenticated")

    # a program with a bearer token needs no CSRF token (no browser sends that header for it)
    token_answer = await svc.client.put(
        PROFILE, headers=svc.as_("vol1"), json={"public_profile": True}
    )
    assert (token_answer.status_code, token_answer.json()["public_profile"]) == (200, True)


@pytest.mark.parametrize("header", ["", "Bearer", "Bearer ", "x", "Basic cmVzOnB3"])
async def test_an_authorization_header_that_is_no_bearer_token_signs_nothing_in(
    svc: Service, header: str
) -> None:
    """The session cookie never stands in for an Authorization header that is there: such a
    request skips the CSRF check, so the cookie signing it in would be a forgery."""
    async with client_at(svc.app, "192.168.1.21") as browser:
        assert (await browser.post(SESSION, json=credentials("res"))).status_code == 200
        with_header = {"Authorization": header}
        profile = await browser.put(PROFILE, json={"public_profile": True}, headers=with_header)
        assert_refused(profile, 401, "unauthenticated")
        out = await browser.post("/api/v1/auth/logout", headers=with_header)
        assert_refused(out, 401, "unauthenticated")
        me = await browser.get(ME)
        assert (me.status_code, me.json()["public_profile"]) == (200, False)  # still signed in


async def test_the_csrf_token_is_bound_to_its_session(svc: Service) -> None:
    """A token minted before signing in, or for another member's session, does not pass."""
    async with (
        client_at(svc.app, "192.168.1.22") as one,
        client_at(svc.app, "192.168.1.23") as other,
    ):
        await one.get("/login")
        before = one.cookies["linli_csrf"]  # the sign-in page's, for no session
        signed = await one.post(SESSION, json=credentials("res"))
        fresh = signed.cookies["linli_csrf"]  # the sign-in sets this session's own
        assert fresh != before
        stale = await one.put(PROFILE, json={"public_profile": True}, headers=_echoing(one, before))
        assert_refused(stale, 403, "csrf_failed")

        assert (await other.post(SESSION, json=credentials("res2"))).status_code == 200
        theirs = other.cookies["linli_csrf"]
        planted = await one.put(
            PROFILE, json={"public_profile": True}, headers=_echoing(one, theirs)
        )
        assert_refused(planted, 403, "csrf_failed")
        assert (await one.get(ME)).json()["public_profile"] is False

        own = await one.put(PROFILE, json={"public_profile": True}, headers={"X-CSRFToken": fresh})
        assert (own.status_code, own.json()["public_profile"]) == (200, True)


def _echoing(client: httpx.AsyncClient, csrf: str) -> dict[str, str]:
    """Headers of a request with the client's session cookie and another CSRF token, sent both
    as its cookie and echoed in the header."""
    session = client.cookies[auth.TOKEN_COOKIE]
    return {"X-CSRFToken": csrf, "Cookie": f"{auth.TOKEN_COOKIE}={session}; linli_csrf={csrf}"}
