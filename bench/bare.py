"""The HTTP ceiling: a bare Litestar app with nothing of Linli in it, served by the same server
with the same worker count. POST decodes a small JSON body and returns a msgspec Struct; GET
returns one."""

from __future__ import annotations

import msgspec
from litestar import Litestar, get, post


class Echo(msgspec.Struct, frozen=True, kw_only=True):
    id: str | None = None
    ok: bool = True


@post("/bare", status_code=201)
async def bare_post(data: Echo) -> Echo:
    return Echo(id=data.id, ok=True)


@get("/bare")
async def bare_get() -> Echo:
    return Echo(id="bare", ok=True)


def create_app() -> Litestar:
    return Litestar(route_handlers=[bare_post, bare_get], debug=False, logging_config=None)


app = create_app()
