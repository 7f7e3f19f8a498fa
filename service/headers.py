"""Security headers on every response.

Every response: ``X-Content-Type-Options: nosniff`` (a body is only ever what its type says),
``X-Frame-Options: DENY`` and ``Referrer-Policy: same-origin`` (a link out never carries a wish's
address). The pages and the API also get a Content-Security-Policy that admits only the
service's own scripts, styles and images, no inline script, and no framing (the service
worker and the web app manifest: the service's own too); the OpenAPI viewer
under ``/schema`` (Swagger UI writes inline script) gets only ``frame-ancestors 'none'``.
"""

from __future__ import annotations

from litestar.datastructures import MutableScopeHeaders
from litestar.enums import ScopeType
from litestar.types import ASGIApp, Message, Receive, Scope, Send

PAGES_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; worker-src 'self'; manifest-src 'self'; object-src 'none'; "
    "base-uri 'self'; form-action 'self'; frame-ancestors 'none'"
)
VIEWER_CSP = "frame-ancestors 'none'"
ALWAYS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
}


class SecurityHeaders:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP:
            await self.app(scope, receive, send)
            return
        policy = VIEWER_CSP if scope["path"].startswith("/schema") else PAGES_CSP

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableScopeHeaders.from_message(message)
                for name, value in ALWAYS.items():
                    if name not in headers:
                        headers[name] = value
                if "Content-Security-Policy" not in headers:
                    headers["Content-Security-Policy"] = policy
            await send(message)

        await self.app(scope, receive, with_headers)
