"""CSRF protection for what a browser's cookie signs in (the web pages), not for bearer tokens.

A request authenticated by ``Authorization: Bearer <token>`` is made by a program holding the
token: a foreign page cannot make a browser send that header, so there is nothing to forge, and
such a request is signed in by that header alone (:func:`service.auth.bearer`; a header that is
there but is not a bearer token signs nothing in, it never falls back to the cookie). Every other
unsafe request to a page, and every unsafe API request that carries the session cookie, must echo
the CSRF cookie in the ``X-CSRFToken`` header or a ``_csrf_token`` form field.

The CSRF cookie is a signed double-submit token bound to the session: ``nonce.mac`` where ``mac``
is an HMAC of the nonce and the session cookie under the service's secret. A token minted for
one session (or for none, on the sign-in page) does not pass for another, so a token planted by
a neighbouring site, or kept from before a sign-in, is worthless. A safe request whose cookie is
missing or bound to another session gets a new one (the pages render it into their forms).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from typing import Any

from litestar.datastructures import Cookie, MutableScopeHeaders
from litestar.enums import RequestEncodingType, ScopeType
from litestar.exceptions import PermissionDeniedException
from litestar.types import ASGIApp, Message, Receive, Scope, Send
from litestar.utils.scope.state import ScopeState

from service.auth import TOKEN_COOKIE, bearer

API = "/api/"
COOKIE = "linli_csrf"
HEADER = "x-csrftoken"
FIELD = "_csrf_token"
SAFE = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})
EXEMPT = ("/health", "/metrics", "/static", "/schema", "/open311/")  # Open311: an api_key


class SessionCSRF:
    """The CSRF check as ASGI middleware (see the module's doc)."""

    def __init__(self, app: ASGIApp, secret: str, secure: bool) -> None:
        self.app = app
        self.key = _key(secret)
        self.secure = secure

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP or not _needs_check(scope):
            await self.app(scope, receive, send)
            return
        cookies = _cookies(scope)
        session = cookies.get(TOKEN_COOKIE, "")
        held = cookies.get(COOKIE, "")
        valid = self.bound(held, session)
        state = ScopeState.from_scope(scope)
        if scope["method"] in SAFE:
            token = held if valid else _mint(self.key, session)
            state.csrf_token = token
            await self.app(scope, receive, send if valid else self._setting(send, token))
            return
        sent = await _submitted(scope, receive)
        if not (valid and any(hmac.compare_digest(token, held) for token in sent)):
            raise PermissionDeniedException("CSRF token verification failed")
        state.csrf_token = held
        await self.app(scope, receive, send)

    def bound(self, token: str, session: str) -> bool:
        """Whether the token was minted by this service for this session."""
        nonce, _, mac = token.partition(".")
        return bool(nonce and mac) and hmac.compare_digest(mac, _mac(self.key, nonce, session))

    def _setting(self, send: Send, token: str) -> Send:
        cookie = _cookie(token, self.secure)

        async def with_cookie(message: Message) -> None:
            if message["type"] == "http.response.start":
                MutableScopeHeaders.from_message(message).add(
                    "set-cookie", cookie.to_header(header="")
                )
            await send(message)

        return with_cookie


def session_cookie(secret: str, secure: bool, session: str) -> Cookie:
    """The CSRF cookie of a session that begins now (set beside the sign-in's token cookie, so
    the first unsafe request after it needs no page in between)."""
    return _cookie(_mint(_key(secret), session), secure)


def _key(secret: str) -> bytes:
    return hashlib.sha256(b"linli csrf\x00" + secret.encode()).digest()


def _mint(key: bytes, session: str) -> str:
    nonce = secrets.token_urlsafe(18)
    return f"{nonce}.{_mac(key, nonce, session)}"


def _mac(key: bytes, nonce: str, session: str) -> str:
    message = f"{nonce}\x00{session}".encode("latin-1", "replace")
    return hmac.new(key, message, hashlib.sha256).hexdigest()


def _cookie(token: str, secure: bool) -> Cookie:
    return Cookie(key=COOKIE, value=token, path="/", secure=secure, samesite="lax")


def _needs_check(scope: Scope) -> bool:
    path: str = scope["path"]
    if path.startswith(EXEMPT):
        return False
    headers = dict(scope["headers"])
    if bearer(headers.get(b"authorization", b"").decode("latin-1")):
        return False
    if not path.startswith(API):
        return True
    return TOKEN_COOKIE in _cookies(scope)


def _cookies(scope: Scope) -> dict[str, str]:
    found: dict[str, str] = {}
    for name, value in scope["headers"]:
        if name == b"cookie":
            for part in value.decode("latin-1").split(";"):
                key, eq, val = part.strip().partition("=")
                if eq and key not in found:
                    found[key] = val
    return found


async def _submitted(scope: Scope, receive: Receive) -> list[str]:
    """The tokens the request echoes: its header, and its form field (a boosted form sends both,
    the header from when the page was first drawn and the field from the form's own drawing)."""
    request: Any = scope["litestar_app"].request_class(scope=scope, receive=receive)
    sent = [request.headers.get(HEADER)]
    if request.content_type[0] in {RequestEncodingType.URL_ENCODED, RequestEncodingType.MULTI_PART}:
        await request.body()  # read once and kept: the form is parsed from it, and so is the
        form = await request.form()  # handler's (and an Idempotency-Key's fingerprint reads it)
        sent.append(form.get(FIELD))
    return [token for token in sent if isinstance(token, str) and token]
