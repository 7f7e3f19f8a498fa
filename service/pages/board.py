"""The public board (公示栏), no sign-in: fulfilled wishes, the honour roll (光荣榜) and the
points store's stock of a community, exactly as :mod:`marketplace.board` gives them, and the
三单 of its whistles (吹哨事项) as :func:`marketplace.matter_lists.board_matters` gives them."""

from __future__ import annotations

from typing import Any

from litestar import Request, get
from litestar.response import Template

import marketplace as mk
from service.api.common import PUBLIC, Tx
from service.pages.common import PAGE, Cursor, PathId, after, page, render


@get("/board", opt=PUBLIC)
@page.read
def communities(
    request: Request[Any, Any, Any],
    tx: Tx,
    cursor: Cursor = None,
) -> Template:
    page = mk.board.public_communities(tx, cursor=after(request, cursor), limit=50)
    return render(request, "board_index.html", page=page)


@get("/board/{community_id:str}", opt=PUBLIC)
@page.read
def board(
    request: Request[Any, Any, Any], tx: Tx, community_id: PathId, cursor: Cursor = None
) -> Template:
    found = mk.board.public_board(tx, community_id, cursor=after(request, cursor), limit=PAGE)
    lists = mk.matter_lists.board_matters(tx, community_id)  # 三单公示, nothing personal
    return render(request, "board.html", board=found, lists=lists)


ROUTES = [communities, board]
