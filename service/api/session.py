"""Signing in and out over HTTP, and the health checks.

``POST /api/v1/auth/token`` gives API clients a bearer token; ``POST /api/v1/auth/session`` sets
the same token as an HttpOnly cookie for the web pages (CSRF-checked from then on). Both count
failed attempts per phone and per address. ``/health/live`` answers while the process runs;
``/health/ready`` also checks the database.
"""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
import sqlalchemy as sa
from litestar import Controller, Request, Response, get, post
from litestar.datastructures import Cookie
from litestar.params import JSONBody

from points import Database
from service import auth, csrf
from service.api.common import ANONYMOUS, MEMBER, PUBLIC, Input, Me, Phone, Tx, api, problems
from service.problems import ServiceError


class SignIn(Input, frozen=True, kw_only=True):
    phone: Phone
    password: Annotated[str, msgspec.Meta(min_length=1, max_length=128)]


class TokenOut(msgspec.Struct, frozen=True, kw_only=True):
    access_token: str
    token_type: str  # "Bearer"
    expires_in: int  # seconds
    member_id: str


class Health(msgspec.Struct, frozen=True, kw_only=True):
    status: str  # "ok"
    database: str | None = None  # "ok" when checked


async def sign_in(request: Request[Any, Any, Any], phone: str, password: str) -> TokenOut:
    """Check a phone number and password under the login throttle; a token for the member.
    Shared by the API's two sign-ins and the web pages' sign-in form."""
    state = request.app.state
    throttle: auth.Throttle = state.throttle
    address = request.client.host if request.client else "unknown"
    db: Database = state.db
    async with throttle.attempt(phone, address):  # counted from the check to the verdict
        found = await db.aread(auth.credential, phone=phone)
        if not await auth.matches(found, password) or found is None:
            await throttle.failed(phone, address)
            raise ServiceError(
                401, "bad_credentials", "手机号或密码不正确", "wrong phone number or password"
            )
        await throttle.succeeded(phone)
    return token_out(request, found.member_id, found.token_version)


def token_out(request: Request[Any, Any, Any], member_id: str, version: int) -> TokenOut:
    """A new token for the member at the credential's ``version``."""
    state = request.app.state
    settings = state.settings
    token = auth.issue_token(state.jwt, settings, member_id, version)
    return TokenOut(
        access_token=token,
        token_type="Bearer",
        expires_in=settings.token_minutes * 60,
        member_id=member_id,
    )


def session_cookies(request: Request[Any, Any, Any], out: TokenOut) -> list[Cookie]:
    """The HttpOnly cookie that carries the token for the web pages (CSRF-checked), and the
    CSRF cookie bound to it."""
    settings = request.app.state.settings
    token = Cookie(
        key=auth.TOKEN_COOKIE,
        value=out.access_token,
        httponly=True,
        secure=settings.cookie_secure,
        samesite="lax",
        max_age=out.expires_in,
        path="/",
    )
    bound = csrf.session_cookie(settings.secret_key, settings.cookie_secure, out.access_token)
    return [token, bound]


class AuthController(Controller):
    path = "/auth"
    tags = ["auth 登录"]
    opt = MEMBER  # the sign-ins say PUBLIC; Litestar's own OPTIONS handlers take this one

    @post(
        "/token",
        opt=PUBLIC,
        security=ANONYMOUS,
        status_code=200,
        responses=problems(401, 429),
        summary="Sign in: a bearer token for API clients",
    )
    async def token(self, request: Request[Any, Any, Any], data: JSONBody[SignIn]) -> TokenOut:
        return await sign_in(request, data.phone, data.password)

    @post(
        "/session",
        opt=PUBLIC,
        security=ANONYMOUS,
        status_code=200,
        responses=problems(401, 403, 429),
        summary="Sign in: an HttpOnly session cookie",
    )
    async def session(
        self, request: Request[Any, Any, Any], data: JSONBody[SignIn]
    ) -> Response[TokenOut]:
        out = await sign_in(request, data.phone, data.password)
        hidden = msgspec.structs.replace(out, access_token="")  # the cookie carries it
        return Response(content=hidden, cookies=session_cookies(request, out))

    @post(
        "/logout",
        opt=MEMBER,
        status_code=204,
        responses=problems(),
        response_cookies=[Cookie(key=auth.TOKEN_COOKIE, value="", max_age=0, path="/")],
        summary="Sign out everywhere: every token issued so far stops working",
    )
    @api.write
    def logout(self, tx: Tx, me: Me) -> None:  # 204: no body (documented as none)
        auth.revoke_tokens(tx, me.id)


class HealthController(Controller):
    path = "/health"
    tags = ["health"]
    opt = PUBLIC
    security = ANONYMOUS

    @get("/live", summary="The process answers")
    async def live(self) -> Health:
        return Health(status="ok")

    @get("/ready", responses={503: problems(503)[503]}, summary="The database answers too")
    async def ready(self, request: Request[Any, Any, Any]) -> Health:
        db: Database = request.app.state.db
        try:
            await db.aread(lambda conn: conn.execute(sa.select(sa.literal(1))).scalar())
        except (sa.exc.SQLAlchemyError, OSError) as exc:
            raise ServiceError(
                503, "database_unavailable", "数据库不可用", f"database: {type(exc).__name__}"
            ) from exc
        return Health(status="ok", database="ok")
