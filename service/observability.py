"""Request ids, structured JSON logs, health checks and Prometheus metrics.

Each request gets an id (the caller's ``X-Request-ID`` when it is sane, else a new one), returned
in the response header, written in every log line of the request and in every problem body. Logs
are one JSON object a line on stderr: time, level, logger, message, request id, and for access
lines the method, path, status, duration and member. Sensitive fields never reach a log: the
access line names the member by id only, never by phone or name.
"""

from __future__ import annotations

import contextvars
import logging
import re
import sys
import time
import uuid
from typing import Any

import msgspec
import sqlalchemy as sa
from litestar.enums import ScopeType
from litestar.types import ASGIApp, Message, Receive, Scope, Send

REQUEST_ID: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="")
_SANE = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
access = logging.getLogger("linli.access")


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S%z"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if rid := REQUEST_ID.get():
            line["request_id"] = rid
        line.update(getattr(record, "fields", {}))
        if record.exc_info:
            line["error"] = self.formatException(record.exc_info)
        return msgspec.json.encode(line).decode()

    def formatException(self, ei: Any) -> str:
        """The traceback without the SQL parameters of a database error: they are the
        personal data being written (phone numbers, addresses), and a log must not carry it."""
        seen: set[int] = set()
        exc = ei[1]
        while isinstance(exc, BaseException) and id(exc) not in seen:
            seen.add(id(exc))
            if isinstance(exc, sa.exc.StatementError):
                exc.hide_parameters = True
            exc = exc.__cause__ or exc.__context__
        return super().formatException(ei)


def configure_logging(level: str) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger("linli")
    root.handlers[:] = [handler]
    root.setLevel(level)
    root.propagate = False


class RequestContext:
    """Outermost middleware: the request id, and one access log line per request."""

    def __init__(self, app: ASGIApp, log_access: bool = True) -> None:
        self.app = app
        self.log_access = log_access

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP:
            await self.app(scope, receive, send)
            return
        given = dict(scope["headers"]).get(b"x-request-id", b"").decode("latin-1")
        rid = given if _SANE.fullmatch(given) else uuid.uuid4().hex
        token = REQUEST_ID.set(rid)
        scope.setdefault("state", {})["request_id"] = rid
        started = time.perf_counter()
        status = 500

        async def tagged(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
                headers = list(message.get("headers", []))
                if not any(name.lower() == b"x-request-id" for name, _ in headers):
                    headers.append((b"x-request-id", rid.encode()))  # problems carry it already
                message["headers"] = headers
            await send(message)

        try:
            await self.app(scope, receive, tagged)
        finally:
            if self.log_access:
                user = scope.get("user")
                access.info(
                    "request",
                    extra={
                        "fields": {
                            "method": scope["method"],
                            "path": scope["path"],
                            "status": status,
                            "ms": round((time.perf_counter() - started) * 1000, 1),
                            "member": getattr(user, "id", None),
                        }
                    },
                )
            REQUEST_ID.reset(token)
