"""Signing in (登录): phone number and password, tokens, cookies, and the login throttle.

Passwords are hashed with argon2id (argon2-cffi) off the event loop. A member signs in with their
phone number and gets a JWT (Litestar's JWT auth, HS256, with expiry, issuer and audience
checked): API clients send it as ``Authorization: Bearer``; the web pages keep it in an HttpOnly
cookie, and a request authenticated by that cookie must pass the CSRF check (see
:mod:`service.csrf`). Each token carries the credential's ``token_version``: changing the password
or signing out everywhere bumps it, and older tokens stop working.

Failed sign-ins are counted per phone number and per client address in the app's store (Redis
when ``LINLI_REDIS_URL`` is set, so several processes share the counts); past the limit the
answer is 429 with ``Retry-After`` until the window ends.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import re
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import msgspec
import sqlalchemy as sa
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from litestar.connection import ASGIConnection
from litestar.security.jwt import JWTCookieAuth, Token
from litestar.stores.base import Store
from sqlalchemy.ext.asyncio import AsyncConnection

import marketplace as mk
from points import Database, utcnow
from service.problems import ServiceError
from service.settings import Settings
from service.tables import credentials

HASHER = PasswordHasher()  # argon2id, the library's recommended parameters
_DUMMY = HASHER.hash("linli: equalises the time of an unknown phone number")
PHONE = re.compile(r"^1\d{10}$")
MIN_PASSWORD, MAX_PASSWORD = 8, 128
TOKEN_COOKIE = "linli_token"


class Actor(msgspec.Struct, frozen=True, kw_only=True):
    """The signed-in member a request acts as."""

    id: str
    name: str


def check_password(password: str) -> str:
    if not MIN_PASSWORD <= len(password) <= MAX_PASSWORD:
        raise ServiceError(
            422,
            "invalid_input",
            f"密码：须为{MIN_PASSWORD}到{MAX_PASSWORD}个字符",
            f"password: must be {MIN_PASSWORD} to {MAX_PASSWORD} characters",
            field="password",
        )
    return password


async def hash_password(password: str) -> str:
    return await asyncio.to_thread(HASHER.hash, check_password(password))


async def set_credentials(
    conn: AsyncConnection,
    member_id: str,
    phone: str,
    password: str | None = None,
    *,
    password_hash: str | None = None,
    now: dt.datetime | None = None,
) -> None:
    """Give a member a phone number and password to sign in with (or replace them)."""
    if not PHONE.fullmatch(phone):
        raise ServiceError(
            422,
            "invalid_input",
            "手机号：必须是11位手机号码",
            "phone: must be an 11-digit mainland mobile number",
            field="phone",
        )
    hashed = password_hash or await hash_password(password or "")
    taken = await conn.scalar(
        sa.select(credentials.c.member_id).where(
            credentials.c.phone == phone, credentials.c.member_id != member_id
        )
    )
    if taken is not None:
        raise ServiceError(
            409, "conflict", "该手机号已被其他成员使用", "phone number in use", field="phone"
        )
    values = {"phone": phone, "password_hash": hashed, "updated_at": now or utcnow()}
    updated = await conn.execute(
        credentials.update()
        .where(credentials.c.member_id == member_id)
        .values(token_version=credentials.c.token_version + 1, **values)
    )
    if updated.rowcount == 0:
        await conn.execute(credentials.insert().values(member_id=member_id, **values))


async def verify(conn: AsyncConnection, phone: str, password: str) -> tuple[str, int] | None:
    """(member id, token version) when the phone and password match, else None."""
    row = (
        await conn.execute(
            sa.select(
                credentials.c.member_id,
                credentials.c.password_hash,
                credentials.c.token_version,
            ).where(credentials.c.phone == phone)
        )
    ).first()
    stored = row.password_hash if row else _DUMMY
    try:
        await asyncio.to_thread(HASHER.verify, stored, password)
    except (VerificationError, InvalidHashError):
        return None
    if row is None:
        return None
    return row.member_id, int(row.token_version)


async def revoke_tokens(conn: AsyncConnection, member_id: str) -> None:
    """Sign out everywhere: every token issued so far stops working."""
    await conn.execute(
        credentials.update()
        .where(credentials.c.member_id == member_id)
        .values(token_version=credentials.c.token_version + 1, updated_at=utcnow())
    )


async def forget(conn: AsyncConnection, member_id: str) -> None:
    """Remove a member's credentials (account deletion)."""
    await conn.execute(credentials.delete().where(credentials.c.member_id == member_id))


async def change_password(conn: AsyncConnection, member_id: str, old: str, new: str) -> None:
    row = (
        await conn.execute(
            sa.select(credentials.c.phone, credentials.c.password_hash).where(
                credentials.c.member_id == member_id
            )
        )
    ).first()
    if row is None:
        raise ServiceError(404, "not_found", "未找到登录信息", "no credentials")
    try:
        await asyncio.to_thread(HASHER.verify, row.password_hash, old)
    except (VerificationError, InvalidHashError):
        raise ServiceError(
            422, "invalid_input", "原密码不正确", "the old password is wrong", field="old_password"
        ) from None
    await set_credentials(conn, member_id, row.phone, new)


def jwt_auth(settings: Settings) -> JWTCookieAuth[Actor, Token]:
    """Litestar's JWT auth: bearer header for API clients, HttpOnly cookie for the web pages."""

    async def retrieve(
        token: Token, connection: ASGIConnection[Any, Any, Any, Any]
    ) -> Actor | None:
        db: Database = connection.app.state.db
        async with db.read() as conn:
            row = (
                await conn.execute(
                    sa.select(credentials.c.token_version).where(
                        credentials.c.member_id == token.sub
                    )
                )
            ).first()
            if row is None or token.extras.get("ver") != row.token_version:
                return None
            try:
                member = await mk.get_member(conn, token.sub)
            except mk.NotFound:
                return None
        return Actor(id=member.id, name=member.name)

    return JWTCookieAuth[Actor, Token](
        retrieve_user_handler=retrieve,
        token_secret=settings.secret_key,
        algorithm="HS256",
        default_token_expiration=dt.timedelta(minutes=settings.token_minutes),
        accepted_issuers=[settings.issuer],
        accepted_audiences=[settings.audience],
        require_claims=["exp", "iss", "aud", "sub"],
        key=TOKEN_COOKIE,
        secure=settings.cookie_secure,
        samesite="lax",
        exclude=["^/health", "^/metrics", "^/schema", "^/static"],
        exclude_opt_key="exclude_from_auth",
    )


def issue_token(
    auth: JWTCookieAuth[Actor, Token], settings: Settings, member_id: str, version: int
) -> str:
    return auth.create_token(
        identifier=member_id,
        token_issuer=settings.issuer,
        token_audience=settings.audience,
        token_extras={"ver": version},
    )


class Throttle:
    """Failed sign-ins per phone and per address in a Litestar store (shared through Redis).

    Each attempt holds a place from its check until its password has been verified
    (:meth:`attempt`), so guesses sent all at once cannot pass the check before the first
    failure is counted. The places are per process; the counts are in the shared store."""

    def __init__(self, store: Store, settings: Settings) -> None:
        self.store = store
        self.per_phone = settings.login_attempts
        self.per_address = settings.login_attempts_per_address
        self.window = settings.login_window_seconds
        self._guard = asyncio.Lock()
        self._in_flight: Counter[str] = Counter()  # attempts being verified now, by key

    def _keys(self, phone: str, address: str) -> tuple[tuple[str, int], ...]:
        return ((f"phone:{phone}", self.per_phone), (f"address:{address}", self.per_address))

    @asynccontextmanager
    async def attempt(self, phone: str, address: str) -> AsyncIterator[None]:
        """Check the counts, then hold a place for this attempt until it is settled."""
        keys = [key for key, _ in self._keys(phone, address)]
        async with self._guard:
            await self.check(phone, address)
            self._in_flight.update(keys)
        try:
            yield
        finally:
            self._in_flight.subtract(keys)
            for key in keys:
                if self._in_flight[key] <= 0:
                    del self._in_flight[key]

    async def check(self, phone: str, address: str) -> None:
        for key, limit in self._keys(phone, address):
            raw = await self.store.get(key)
            count = int(raw) if raw is not None else 0
            if count + self._in_flight[key] >= limit:
                # past the limit: until the window ends; else once the attempts in flight settle
                left = (await self.store.expires_in(key) or self.window) if count >= limit else 1
                minutes = max(1, -(-left // 60))
                raise ServiceError(
                    429,
                    "login_throttled",
                    f"登录失败次数过多，请{minutes}分钟后再试",
                    "too many failed sign-ins; try again later",
                    retry_after=int(left),
                )

    async def failed(self, phone: str, address: str) -> None:
        async with self._guard:
            for key, _ in self._keys(phone, address):
                raw = await self.store.get(key)
                left = await self.store.expires_in(key) if raw is not None else None
                count = int(raw) + 1 if raw is not None else 1
                await self.store.set(key, str(count), expires_in=left or self.window)

    async def succeeded(self, phone: str) -> None:
        await self.store.delete(f"phone:{phone}")
