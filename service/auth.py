"""Signing in (登录): phone number and password, tokens, cookies, and the login throttle.

Passwords are hashed with argon2id (argon2-cffi) off the event loop. A member signs in with their
phone number and gets a JWT (Litestar's JWT auth, HS256, with expiry, issuer and audience
checked): API clients send it as ``Authorization: Bearer``; the web pages keep it in an HttpOnly
cookie, and a request authenticated by that cookie must pass the CSRF check (see
:mod:`service.csrf`). Each token carries the credential's ``token_version``: changing the password
or signing out everywhere bumps it, and older tokens stop working.

Litestar's middleware only checks the token's signature and claims (no database): the request's
user is then a :class:`Signed`. The database check that the version is still current is the first
statement of the request's own unit of work (:func:`signed_in`, called by :mod:`service.uow`), so
a signed-in request costs one statement and no transaction of its own.

Failed sign-ins are counted per phone number and per client address in the app's store (Redis
when ``LINLI_REDIS_URL`` is set, so several processes share the counts); past the limit the
answer is 429 with ``Retry-After`` until the window ends.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import re
import time
from collections import Counter
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any, Self, cast

import msgspec
import sqlalchemy as sa
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from litestar.connection import ASGIConnection
from litestar.exceptions import NotAuthorizedException
from litestar.middleware import AuthenticationResult
from litestar.security.jwt import JWTCookieAuth, JWTCookieAuthenticationMiddleware, Token
from litestar.stores.base import Store
from sqlalchemy.engine import Connection

from points import Database, utcnow
from service.problems import ServiceError
from service.settings import Settings
from service.tables import credentials, sign_in_code_events, sign_in_codes

HASHER = PasswordHasher()  # argon2id, the library's recommended parameters
_DUMMY = HASHER.hash("linli: equalises the time of an unknown phone number")
PHONE = re.compile(r"^1\d{10}$")
MIN_PASSWORD, MAX_PASSWORD = 8, 128
TOKEN_COOKIE = "linli_token"


class Signed(msgspec.Struct, frozen=True, kw_only=True):
    """What a valid token says: the member and the credential version it was issued at."""

    id: str
    version: int


class Actor(msgspec.Struct, frozen=True, kw_only=True):
    """The signed-in member a request acts as (the token's version checked in the database)."""

    id: str


def signed_in(conn: Connection, signed: Signed) -> Actor:
    """The member the token names, if its version is still the current one (one statement);
    else the request is not signed in (401, or the sign-in page)."""
    current = conn.scalar(_CURRENT, {"member_id": signed.id, "version": signed.version})
    if current is None:
        raise NotAuthorizedException("the token was revoked")
    return Actor(id=signed.id)


def is_current(member_id: Any, version: Any) -> sa.ColumnElement[bool]:
    """A token is good while the credential's version is the one it was issued at (the rule
    :func:`signed_in` and the Idempotency-Key's take both check)."""
    return sa.and_(credentials.c.member_id == member_id, credentials.c.token_version == version)


_CURRENT = sa.select(credentials.c.member_id).where(
    is_current(sa.bindparam("member_id"), sa.bindparam("version"))
)


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


def password_hash(password: str) -> str:
    """argon2id of a new password (≈ 50 ms of CPU: never inside a unit of work)."""
    return HASHER.hash(check_password(password))


async def hash_password(password: str) -> str:
    """:func:`password_hash` on a thread."""
    return await asyncio.to_thread(password_hash, password)


def set_credentials(
    conn: Connection,
    member_id: str,
    phone: str,
    password_hash: str,
    *,
    now: dt.datetime | None = None,
) -> None:
    """Give a member a phone number and password (hashed by :func:`hash_password`) to sign in
    with, or replace them: older tokens stop working."""
    if not PHONE.fullmatch(phone):
        raise ServiceError(
            422,
            "invalid_input",
            "手机号：必须是11位手机号码",
            "phone: must be an 11-digit mainland mobile number",
            field="phone",
        )
    taken = conn.scalar(
        sa.select(credentials.c.member_id).where(
            credentials.c.phone == phone, credentials.c.member_id != member_id
        )
    )
    if taken is not None:
        raise ServiceError(
            409, "conflict", "该手机号已被其他成员使用", "phone number in use", field="phone"
        )
    values = {"phone": phone, "password_hash": password_hash, "updated_at": now or utcnow()}
    updated = conn.execute(
        credentials.update()
        .where(credentials.c.member_id == member_id)
        .values(token_version=credentials.c.token_version + 1, **values)
    )
    if updated.rowcount == 0:
        conn.execute(credentials.insert().values(member_id=member_id, **values))


class Credential(msgspec.Struct, frozen=True, kw_only=True):
    member_id: str
    phone: str
    password_hash: str
    token_version: int


def credential(
    conn: Connection, *, phone: str | None = None, member_id: str | None = None
) -> Credential | None:
    """A member's stored credential, by phone number or by member."""
    c = credentials.c
    where = c.phone == phone if phone is not None else c.member_id == member_id
    row = conn.execute(
        sa.select(c.member_id, c.phone, c.password_hash, c.token_version).where(where)
    ).first()
    return None if row is None else Credential(**row._asdict())


async def matches(found: Credential | None, password: str) -> bool:
    """Whether the password is the credential's, on a thread. With no credential it does the
    same argon2 work against a dummy hash, so an unknown phone number takes as long as a wrong
    password (call it for ``None`` too)."""

    def check() -> bool:
        try:
            HASHER.verify(found.password_hash if found else _DUMMY, password)
        except (VerificationError, InvalidHashError):
            return False
        return found is not None

    return await asyncio.to_thread(check)


def revoke_tokens(conn: Connection, member_id: str) -> None:
    """Sign out everywhere: every token issued so far stops working."""
    conn.execute(
        credentials.update()
        .where(credentials.c.member_id == member_id)
        .values(token_version=credentials.c.token_version + 1, updated_at=utcnow())
    )


def forget(conn: Connection, member_id: str) -> None:
    """Remove a member's credentials and any one-time code of theirs (account deletion); the
    codes' log keeps its lines (who issued what, when) without the addresses they came from."""
    conn.execute(credentials.delete().where(credentials.c.member_id == member_id))
    conn.execute(sign_in_codes.delete().where(sign_in_codes.c.member_id == member_id))
    conn.execute(
        sign_in_code_events.update()
        .where(sign_in_code_events.c.member_id == member_id)
        .values(address=None)
    )


class NewPassword(msgspec.Struct, frozen=True, kw_only=True):
    """A checked password change, ready to store (:func:`store_password`)."""

    phone: str
    password_hash: str
    token_version: int  # the credential's version when the old password was checked


async def new_password(db: Database, member_id: str, old: str, new: str) -> NewPassword:
    """Check the old password and hash the new one (on threads, before any unit of work)."""
    found = await db.aread(credential, member_id=member_id)
    if found is None:
        raise ServiceError(404, "not_found", "未找到登录信息", "no credentials")
    if not await matches(found, old):
        raise ServiceError(
            422, "invalid_input", "原密码不正确", "the old password is wrong", field="old_password"
        )
    return NewPassword(
        phone=found.phone,
        password_hash=await hash_password(new),
        token_version=found.token_version,
    )


def store_password(conn: Connection, member_id: str, new: NewPassword) -> None:
    """Store a checked change, unless the credential changed since it was checked."""
    now = credential(conn, member_id=member_id)
    if now is None or now.token_version != new.token_version:
        raise ServiceError(
            409, "conflict", "登录信息已被修改，请重试", "the credential changed; retry"
        )
    set_credentials(conn, member_id, new.phone, new.password_hash)


class VerifiedToken(Token):
    """Litestar's Token, remembering the tokens it verified: a client sends the same token on
    every request, and PyJWT's decode (base64, three JSON parses, HMAC) was ≈ 0.2 ms of each
    request's ≈ 1.2 ms on the main thread (docs/performance.md). A token string verified once
    under the same key and rules is the same token again; only its expiry is checked anew. What
    fails to verify is never remembered; a changed secret or rule is another key."""

    @classmethod
    def decode(
        cls,
        encoded_token: str,
        secret: str,
        algorithm: str,
        audience: str | Sequence[str] | None = None,
        issuer: str | Sequence[str] | None = None,
        require_claims: Sequence[str] | None = None,
        verify_exp: bool = True,
        verify_nbf: bool = True,
        strict_audience: bool = False,
    ) -> Self:
        key = (encoded_token, secret, algorithm, _hashable(audience), _hashable(issuer),
               _hashable(require_claims), verify_exp, verify_nbf, strict_audience)  # fmt: skip
        token = _VERIFIED.get(key)
        if token is not None and (not verify_exp or token.exp.timestamp() > time.time()):
            return cast("Self", token)
        token = super().decode(
            encoded_token, secret, algorithm, audience, issuer, require_claims,
            verify_exp, verify_nbf, strict_audience,
        )  # fmt: skip
        if "nbf" not in token.extras:  # not before: decided by the clock, so not remembered
            if len(_VERIFIED) >= _VERIFIED_MAX:
                del _VERIFIED[next(iter(_VERIFIED))]  # the oldest first
            _VERIFIED[key] = token
        return token


_VERIFIED: dict[tuple[object, ...], Token] = {}
_VERIFIED_MAX = 10_000  # a few MB at most; one entry per signed-in client and token


def _hashable(value: str | Sequence[str] | None) -> str | tuple[str, ...] | None:
    return value if value is None or isinstance(value, str) else tuple(value)


def bearer(header: str) -> str:
    """The token of an ``Authorization: Bearer <token>`` header, else "" (a header that names
    another scheme, or none, carries no token)."""
    scheme, _, token = header.strip().partition(" ")
    return token.strip() if scheme.lower() == "bearer" else ""


class HeaderOrCookie(JWTCookieAuthenticationMiddleware):
    """Litestar's cookie JWT middleware, except that a request sending ``Authorization`` is
    signed in by that header alone: a header that is not a bearer token is refused (401), never
    made up for by the session cookie. Such a request skips the CSRF check (service.csrf), so
    the cookie must not sign it in."""

    async def authenticate_request(
        self, connection: ASGIConnection[Any, Any, Any, Any]
    ) -> AuthenticationResult:
        header = connection.headers.get(self.auth_header)
        if header is None:
            token = connection.cookies.get(self.auth_cookie_key, "")
        elif not (token := bearer(header)):
            raise NotAuthorizedException("the Authorization header is not a bearer token")
        if not token:
            raise NotAuthorizedException("no token in the Authorization header or the cookie")
        return await self.authenticate_token(encoded_token=token, connection=connection)


def jwt_auth(settings: Settings) -> JWTCookieAuth[Signed, Token]:
    """Litestar's JWT auth: bearer header for API clients, HttpOnly cookie for the web pages.
    It checks the token alone; the unit of work checks its version (:func:`signed_in`)."""

    async def retrieve(
        token: Token, connection: ASGIConnection[Any, Any, Any, Any]
    ) -> Signed | None:
        version = token.extras.get("ver")
        if not isinstance(version, int) or isinstance(version, bool):
            return None
        return Signed(id=token.sub, version=version)

    return JWTCookieAuth[Signed, Token](
        retrieve_user_handler=retrieve,
        token_cls=VerifiedToken,
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
        authentication_middleware_class=HeaderOrCookie,
    )


def issue_token(
    auth: JWTCookieAuth[Signed, Token], settings: Settings, member_id: str, version: int
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

    def __init__(
        self,
        store: Store,
        settings: Settings,
        *,
        limits: tuple[int, int] | None = None,
        refusal: tuple[str, str, str] = ("login_throttled", "登录失败次数过多", "sign-ins"),
    ) -> None:
        """``limits``: failures per phone and per address (else the sign-in's settings);
        ``refusal``: the 429's code, the Chinese words before "请N分钟后再试", and the English
        name of what failed (the one-time codes count theirs apart, :mod:`service.codes`)."""
        self.store = store
        self.per_phone, self.per_address = limits or (
            settings.login_attempts,
            settings.login_attempts_per_address,
        )
        self.window = settings.login_window_seconds
        self.refusal = refusal
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
                code, zh, en = self.refusal
                raise ServiceError(
                    429,
                    code,
                    f"{zh}，请{minutes}分钟后再试",
                    f"too many failed {en}; try again later",
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
