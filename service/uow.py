"""One transaction per request, and Idempotency-Key (幂等键) on every unsafe request.

A safe request (GET, HEAD) reads one consistent snapshot; an unsafe one runs in one write
transaction (``BEGIN IMMEDIATE`` on SQLite). The response is held back until the transaction has
committed, so an acknowledged write is a durable one; an error response rolls everything back
(and a refused ledger transfer is then recorded on its own, as the ledger requires).

``Idempotency-Key`` (RFC draft "The Idempotency-Key HTTP Header Field"), scoped by member:

- the key's row is written first in the same transaction as the effect, and the response is
  stored in it before the commit: the effect and its key commit together or not at all;
- the same key again with the same method, path and body replays the stored response
  (``Idempotent-Replayed: true``); with a different request it is refused (422);
- the same key while its first request is still running in this process is refused (409,
  retry later); in another process the second request waits on the key's row, then replays;
- only successful responses are kept (an error stored nothing, so a retry runs again);
- keys expire after ``LINLI_IDEMPOTENCY_HOURS`` (24 h) and are then swept away.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from typing import Any, cast

import sqlalchemy as sa
from litestar.enums import ScopeType
from litestar.types import ASGIApp, HTTPScope, Message, Receive, ReceiveMessage, Scope, Send
from litestar.utils.scope.state import ScopeState
from sqlalchemy.ext.asyncio import AsyncConnection

from points import Database, sqltypes, utcnow
from service.problems import REFUSAL, ServiceError
from service.tables import idempotency_keys

TX = "linli.tx"
SAFE = frozenset({"GET", "HEAD", "OPTIONS"})
KEY = re.compile(r"^[\x21-\x7e]{1,255}$")
HEADER = b"idempotency-key"


class _Rollback(Exception):
    """The handler answered with an error: undo its writes."""


class _Taken(Exception):
    """Another request stored this key first."""


class Stored:
    def __init__(self, fingerprint: str, status: int, media_type: str, body: str) -> None:
        self.fingerprint = fingerprint
        self.status = status
        self.media_type = media_type
        self.body = body


class UnitOfWork:
    """ASGI middleware around each route handler: opens its transaction (``tx`` in the handler's
    ``opt``: "read", "write" or "none"; by default by the method) and applies idempotency keys."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP:
            await self.app(scope, receive, send)
            return
        handler = scope.get("route_handler")
        opt = handler.opt if handler is not None else {}
        mode = opt.get("tx") or ("read" if scope["method"] in SAFE else "write")
        state = scope["app"].state
        db: Database = state.db
        if mode == "none":
            await self.app(scope, receive, send)
        elif mode == "read":
            async with db.read() as conn:
                scope.setdefault("state", {})[TX] = conn
                await self.app(scope, receive, send)
        else:
            await self._write(scope, receive, send, db, state)

    async def _write(
        self, scope: Scope, receive: Receive, send: Send, db: Database, state: Any
    ) -> None:
        # A form's body may have been read already (the CSRF check reads its ``_csrf_token``):
        # Litestar keeps it in the scope, and the receive channel then has nothing more to give.
        cached = ScopeState.from_scope(scope).body
        if isinstance(cached, bytes):
            body = cached
        else:
            body = await _read_body(receive, state.settings.max_body_bytes)
        replay = _replaying(body)
        key = _key(scope)
        user = scope.get("user")
        member = getattr(user, "id", None)
        if key is None or member is None:
            await self._run(scope, replay, send, db, None)
            return
        fingerprint = _fingerprint(scope, body)
        inflight: dict[tuple[str, str], str] = state.inflight
        now: dt.datetime = state.clock()  # the app's clock (tests move it past expiry)
        stored = await _lookup(db, member, key, now)
        if stored is not None:
            await _replay(stored, fingerprint, send)
            return
        # Checked and taken with no await in between: one request per key runs in this process.
        running = inflight.get((member, key))
        if running is not None:
            _refuse_reuse(running, fingerprint)
            raise ServiceError(
                409,
                "idempotency_in_flight",
                "相同的请求正在处理中，请稍后重试",
                "a request with this Idempotency-Key is still in progress; retry later",
                retry_after=1,
            )
        inflight[(member, key)] = fingerprint
        try:
            hours = state.settings.idempotency_hours
            claim = (member, key, fingerprint, hours, now)
            try:
                await self._run(scope, replay, send, db, claim)
            except _Taken:
                stored = await _lookup(db, member, key, now)
                if stored is None:  # the key expired meanwhile: nothing to replay
                    raise ServiceError(
                        409, "idempotency_in_flight", "请稍后重试", "retry later", retry_after=1
                    ) from None
                await _replay(stored, fingerprint, send)
        finally:
            inflight.pop((member, key), None)

    async def _run(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        db: Database,
        claim: tuple[str, str, str, int, dt.datetime] | None,
    ) -> None:
        held: list[Message] = []

        async def keep(message: Message) -> None:
            held.append(message)

        state = scope.setdefault("state", {})
        try:
            async with db.transaction() as conn:
                if claim is not None:
                    await _claim(conn, *claim)
                state[TX] = conn
                await self.app(scope, receive, keep)
                status = _status(held)
                if status >= 400:
                    raise _Rollback
                if claim is not None:
                    await _store(conn, claim[0], claim[1], held)
        except _Rollback:
            refusal = state.pop(REFUSAL, None)
            if refusal is not None:
                await db.record_refusal(refusal)
        except (sa.exc.OperationalError, sa.exc.InterfaceError, sa.exc.TimeoutError) as exc:
            raise ServiceError(
                503,
                "database_unavailable",
                "数据库暂时不可用，请稍后重试",
                f"database unavailable: {type(exc).__name__}",
                retry_after=1,
            ) from exc
        finally:
            state.pop(TX, None)
        for message in held:
            await send(message)


async def _read_body(receive: Receive, limit: int) -> bytes:
    chunks, size = [], 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        chunk = cast("bytes", message.get("body", b""))
        size += len(chunk)
        if size > limit:
            raise ServiceError(
                413,
                "body_too_large",
                f"请求内容过大（上限{limit // 1024} KB）",
                f"request body larger than {limit} bytes",
            )
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


def _replaying(body: bytes) -> Receive:
    sent = False

    async def receive() -> ReceiveMessage:
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return receive


def _key(scope: Scope) -> str | None:
    for name, value in scope["headers"]:
        if name == HEADER:
            text = value.decode("latin-1")
            if not KEY.fullmatch(text):
                raise ServiceError(
                    400,
                    "invalid_idempotency_key",
                    "幂等键须为1到255个可见ASCII字符",
                    "Idempotency-Key must be 1 to 255 visible ASCII characters",
                    field="Idempotency-Key",
                )
            return text
    return None


def _fingerprint(scope: Scope, body: bytes) -> str:
    digest = hashlib.sha256()
    digest.update(cast("HTTPScope", scope)["method"].encode())
    digest.update(b"\n" + scope["path"].encode() + b"?" + scope.get("query_string", b""))
    digest.update(b"\n" + body)
    return digest.hexdigest()


def _refuse_reuse(first: str, fingerprint: str) -> None:
    if first != fingerprint:
        raise ServiceError(
            422,
            "idempotency_key_reused",
            "该幂等键已用于另一个不同的请求",
            "this Idempotency-Key was used for a different request",
            field="Idempotency-Key",
        )


async def _lookup(db: Database, member: str, key: str, now: dt.datetime) -> Stored | None:
    async with db.read() as conn:
        row = (
            await conn.execute(
                sa.select(idempotency_keys).where(
                    idempotency_keys.c.member_id == member,
                    idempotency_keys.c.key == key,
                    idempotency_keys.c.expires_at > now,
                )
            )
        ).first()
    if row is None:
        return None
    return Stored(row.fingerprint, int(row.status_code), row.media_type, row.body)


async def _replay(stored: Stored, fingerprint: str, send: Send) -> None:
    _refuse_reuse(stored.fingerprint, fingerprint)
    body = stored.body.encode()
    await send(
        {
            "type": "http.response.start",
            "status": stored.status,
            "headers": [
                (b"content-type", stored.media_type.encode()),
                (b"content-length", str(len(body)).encode()),
                (b"idempotent-replayed", b"true"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body, "more_body": False})


async def _claim(
    conn: AsyncConnection, member: str, key: str, fingerprint: str, hours: int, now: dt.datetime
) -> None:
    """Take the key in this transaction (first statement): a second holder waits or conflicts."""
    await conn.execute(
        idempotency_keys.delete().where(
            idempotency_keys.c.member_id == member,
            idempotency_keys.c.key == key,
            idempotency_keys.c.expires_at <= now,
        )
    )
    taken = await conn.execute(
        sqltypes.insert_ignoring_conflicts(conn, idempotency_keys)
        .values(
            member_id=member,
            key=key,
            fingerprint=fingerprint,
            status_code=0,
            media_type="",
            body="",
            created_at=now,
            expires_at=now + dt.timedelta(hours=hours),
        )
        .returning(idempotency_keys.c.key)
    )
    if taken.first() is None:
        raise _Taken


async def _store(conn: AsyncConnection, member: str, key: str, held: list[Message]) -> None:
    start = next(m for m in held if m["type"] == "http.response.start")
    media_type = "application/json"
    for name, value in start.get("headers", []):
        if name.lower() == b"content-type":
            media_type = value.decode("latin-1")
    body = b"".join(m.get("body", b"") for m in held if m["type"] == "http.response.body")
    await conn.execute(
        idempotency_keys.update()
        .where(idempotency_keys.c.member_id == member, idempotency_keys.c.key == key)
        .values(status_code=int(start["status"]), media_type=media_type, body=body.decode())
    )


def _status(held: list[Message]) -> int:
    for message in held:
        if message["type"] == "http.response.start":
            return int(message["status"])
    return 500


async def sweep_keys(db: Database, *, now: dt.datetime | None = None, limit: int = 5000) -> int:
    """Delete expired idempotency keys; returns how many went."""
    now = now or utcnow()
    async with db.transaction() as conn:
        doomed = (
            sa.select(idempotency_keys.c.member_id, idempotency_keys.c.key)
            .where(idempotency_keys.c.expires_at <= now)
            .limit(limit)
        )
        gone = await conn.execute(
            idempotency_keys.delete().where(
                sa.tuple_(idempotency_keys.c.member_id, idempotency_keys.c.key).in_(doomed)
            )
        )
        return int(gone.rowcount or 0)
