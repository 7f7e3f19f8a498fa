"""CSRF protection for what a browser's cookie signs in (the web pages), not for bearer tokens.

A request that carries ``Authorization`` is made by a program holding a token: a foreign page
cannot make a browser send that header, so there is nothing to forge. Every other unsafe request
to a page, and every unsafe API request authenticated by the session cookie, must echo the CSRF
cookie in the ``X-CSRFToken`` header or a ``_csrf_token`` form field (Litestar's CSRF middleware).
"""

from __future__ import annotations

from litestar.config.csrf import CSRFConfig
from litestar.enums import ScopeType
from litestar.middleware.csrf import CSRFMiddleware
from litestar.types import ASGIApp, Receive, Scope, Send

from service.auth import TOKEN_COOKIE

API = "/api/"


class CookieCSRF:
    def __init__(self, app: ASGIApp, config: CSRFConfig) -> None:
        self.app = app
        self.checked = CSRFMiddleware(app=app, config=config)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == ScopeType.HTTP and _needs_check(scope):
            await self.checked(scope, receive, send)
        else:
            await self.app(scope, receive, send)


def _needs_check(scope: Scope) -> bool:
    headers = dict(scope["headers"])
    if b"authorization" in headers:
        return False
    if not scope["path"].startswith(API):
        return True
    cookie = headers.get(b"cookie", b"").decode("latin-1")
    return any(part.strip().startswith(TOKEN_COOKIE + "=") for part in cookie.split(";"))


def csrf_config(secret: str, secure: bool) -> CSRFConfig:
    return CSRFConfig(
        secret=secret,
        cookie_name="linli_csrf",
        header_name="x-csrftoken",
        cookie_secure=secure,
        cookie_samesite="lax",
        exclude=["^/health", "^/metrics", "^/static", "^/schema"],
    )
