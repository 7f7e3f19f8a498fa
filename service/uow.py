"""The request's unit of work: its whole database work in one hop off the event loop.

A handler is a plain function of the request's connection ``tx`` (and, by name, ``me``: the
signed-in member; ``now``: the app's clock; and what a :class:`Units` provides, such as the
pages' ``viewer`` and ``form``). Decorated with ``@read`` or ``@write``, it becomes the async
handler Litestar calls: the wrapper gathers what needs the event loop (the clock, the body, the
form), then runs one unit of work through :class:`points.Database` — a read on one snapshot, a
write in one transaction (on SQLite queued to the writer thread and committed with others) —
and answers once it has committed. Inside the unit, in order: the sign-in check (one statement,
:func:`service.auth.signed_in`), the Idempotency-Key (:mod:`service.idempotency`), the handler,
and the response kept under the key. Nothing else opens a transaction for the request.

An error the handler raises rolls its unit back, and the problem handler answers it; a ledger
refusal (:class:`points.Refused`, or an error raised while handling one) is then recorded by the
database's own runner (see :mod:`points.database`). A page that shows an error instead raises
:class:`Rollback` with the page to show.
"""

from __future__ import annotations

import datetime as dt
import inspect
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from typing import Any, TypeVar

import sqlalchemy as sa
from litestar import Request, Response
from litestar.exceptions import NotAuthorizedException
from sqlalchemy.engine import Connection

from points import Database
from service import auth, idempotency
from service.idempotency import IdempotencyKey
from service.problems import ServiceError

R = TypeVar("R")
Handler = Callable[..., Any]
Provide = Callable[[Connection, Request[Any, Any, Any], "auth.Actor | None"], Any]
"""Made inside the unit, from its connection, the request and the signed-in member."""
Prepare = Callable[[Request[Any, Any, Any], dict[str, Any]], Awaitable[Any]]
"""Made before the unit, on the event loop, from the request and the handler's own arguments
(the parsed form of a page; a password's hash, which must not hold the writer for 50 ms)."""
BUILTIN = frozenset({"tx", "me", "now"})


Show = Callable[[Connection], Response[Any]]
"""A page made from a connection (see :class:`Rollback`)."""


class Rollback(Exception):
    """Keep none of the unit's writes and answer with ``show`` (a page showing an error): a
    response, or a function making it, which runs after the rollback on a snapshot of its own, so
    the page shows what is stored and nothing of the failed attempt (a refused redemption's hold
    on the points). Raise it inside an ``except`` block so a ledger refusal behind it is still
    recorded."""

    def __init__(self, show: Response[Any] | Show) -> None:
        super().__init__("rolled back")
        self.show = show


def signed(request: Request[Any, Any, Any]) -> auth.Signed | None:
    """Who the request's token says it is (not yet checked against the database)."""
    user = request.scope.get("user")
    return user if isinstance(user, auth.Signed) else None


async def run(
    request: Request[Any, Any, Any],
    work: Callable[[Connection, auth.Actor | None], R],
    *,
    write: bool,
    claim: idempotency.Claim | None = None,
    keys: idempotency.Keys = idempotency.HEADER_KEYS,
) -> R | Response[Any]:
    """Run ``work(tx, me)`` as the request's unit of work, after its sign-in check (one
    statement; with an Idempotency-Key ``claim`` the same statement takes the key, and a key
    used before answers with its stored response instead)."""
    db: Database = request.app.state.db
    token = signed(request)

    def unit(conn: Connection) -> R | Response[Any]:
        if token is None:
            return work(conn, None)
        if claim is None:
            return work(conn, auth.signed_in(conn, token))
        stored = idempotency.take(conn, claim)
        if stored is not None:
            return keys.replay(stored, claim)
        return work(conn, auth.Actor(id=token.id))

    try:
        return await (db.awrite(unit) if write else db.aread(unit))
    except (sa.exc.OperationalError, sa.exc.InterfaceError, sa.exc.TimeoutError) as exc:
        raise ServiceError(
            503,
            "database_unavailable",
            "数据库暂时不可用，请稍后重试",
            f"database unavailable: {type(exc).__name__}",
            retry_after=1,
        ) from exc


class Units:
    """Makes handlers of plain functions: ``@units.read`` and ``@units.write``.

    ``provide``: further names a handler may take, made inside the unit; ``prepare``: names made
    before it on the event loop; ``keys``: where writes take their idempotency key (the API's:
    the Idempotency-Key header; the pages': a field of the drawn form)."""

    def __init__(
        self,
        *,
        provide: Mapping[str, Provide] | None = None,
        prepare: Mapping[str, Prepare] | None = None,
        keys: idempotency.Keys | None = None,
    ) -> None:
        self.provide = dict(provide or {})
        self.prepare = dict(prepare or {})
        self.keys = keys

    def read(self, fn: Callable[..., R]) -> Callable[..., Coroutine[Any, Any, R]]:
        """The handler reads one consistent snapshot."""
        return self._wrap(fn, write=False, prepare={})

    def write(self, fn: Callable[..., R]) -> Callable[..., Coroutine[Any, Any, R]]:
        """The handler writes, in one transaction committed before it answers."""
        return self._wrap(fn, write=True, prepare={})

    def write_after(
        self, **prepare: Prepare
    ) -> Callable[[Callable[..., R]], Callable[..., Coroutine[Any, Any, R]]]:
        """:meth:`write`, with more names made before the unit (``prepare``)."""
        return lambda fn: self._wrap(fn, write=True, prepare=prepare)

    def _wrap(
        self, fn: Callable[..., R], *, write: bool, prepare: Mapping[str, Prepare]
    ) -> Callable[..., Coroutine[Any, Any, R]]:
        signature = inspect.signature(fn)
        wants = set(signature.parameters)
        prepare = {**self.prepare, **prepare}
        injected = (BUILTIN | self.provide.keys() | prepare.keys()) & wants
        provide = {name: make for name, make in self.provide.items() if name in wants}
        prepare = {name: make for name, make in prepare.items() if name in wants}
        own_request = "request" in wants
        keys = self.keys if write else None

        async def handler(*args: Any, **kwargs: Any) -> Any:
            request: Request[Any, Any, Any] = kwargs["request"]
            if not own_request:
                del kwargs["request"]
            kwargs.pop("idempotency_key", None)  # read from the headers by service.idempotency
            for name, make in prepare.items():
                kwargs[name] = await make(request, kwargs)
            now: dt.datetime = request.app.state.clock()
            token = signed(request)
            claim = None
            if keys is not None and token is not None:
                hours = request.app.state.settings.idempotency_hours
                claim = await keys.claim(request, token, now, hours)

            def work(conn: Connection, me: auth.Actor | None) -> Any:
                extra: dict[str, Any] = {"tx": conn, "me": me, "now": now}
                if "me" in wants and me is None:
                    raise NotAuthorizedException("sign in first")
                for name, make in provide.items():
                    extra[name] = make(conn, request, me)
                result = fn(*args, **kwargs, **{k: extra[k] for k in injected if k in extra})
                if isinstance(result, Response) and (result.status_code or 200) >= 400:
                    raise Rollback(result)
                if claim is not None and keys is not None:
                    return keys.keep(conn, claim, request, result)
                return result

            try:
                return await run(
                    request, work, write=write, claim=claim, keys=keys or idempotency.HEADER_KEYS
                )
            except Rollback as rolled_back:
                show = rolled_back.show
                if isinstance(show, Response):
                    return show
                database: Database = request.app.state.db
                return await database.aread(show)

        handler.__name__ = fn.__name__
        handler.__qualname__ = fn.__qualname__
        handler.__module__ = fn.__module__
        handler.__doc__ = fn.__doc__
        kept = [p for name, p in signature.parameters.items() if name not in injected]
        parameters = [kept[0]] if kept and kept[0].name == "self" else []
        parameters += [
            p.replace(kind=inspect.Parameter.KEYWORD_ONLY) for p in kept if p.name != "self"
        ]
        annotations = {k: v for k, v in fn.__annotations__.items() if k not in injected}
        if not own_request:
            parameters.append(_keyword("request", Request))
            annotations["request"] = Request
        if keys is not None and keys.header:
            parameters.append(_keyword("idempotency_key", IdempotencyKey, None))
            annotations["idempotency_key"] = IdempotencyKey
        handler.__signature__ = signature.replace(parameters=parameters)  # type: ignore[attr-defined]
        handler.__annotations__ = annotations
        return handler


def _keyword(name: str, annotation: Any, default: Any = inspect.Parameter.empty) -> Any:
    return inspect.Parameter(
        name, inspect.Parameter.KEYWORD_ONLY, annotation=annotation, default=default
    )


api = Units(keys=idempotency.HEADER_KEYS)
"""The API's handlers: ``@uow.api.read`` / ``@uow.api.write``."""
