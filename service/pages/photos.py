"""Photos on the pages (照片): the resident adds them to her wish (with the wish form, or later on
its page), a volunteer adds them at check-out; the wish page shows the thumbnails to whom the
wish's address is shown (:func:`marketplace.photos_of`).

A form with photos is ``multipart/form-data``; the chosen files are made into pictures before the
unit of work (:func:`chosen`: off the event loop, as the API's uploads), and a refusal (too
large, not a photo, a fourth) shows the wish page again with the reason under the file input.
The upload forms carry ``confirmed=1``: a confirmation page could not send the files again.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from litestar import Request, Response, post
from litestar.datastructures import UploadFile
from sqlalchemy.engine import Connection

import marketplace as mk
from service.api.common import MEMBER, Now, Tx
from service.api.photos import BODY_BYTES, NOTHING, Uploaded, uploaded
from service.pages.common import PathId, See, Viewer, page
from service.pages.forms import Form
from service.pages.wish import act


async def chosen(request: Request[Any, Any, Any], _given: dict[str, Any]) -> Uploaded:
    """The photos chosen in the page's form (its file input ``photos``), made into pictures;
    :data:`~service.api.photos.NOTHING` when the input was left empty."""
    form = await request.form()
    files = [f for name, f in form.multi_items() if name == "photos" and isinstance(f, UploadFile)]
    files = [f for f in files if f.filename]  # an input left empty sends a part without a name
    return await uploaded(files) if files else NOTHING


def attach_chosen(
    tx: Connection, viewer: Viewer, wish_id: str, pictures: Uploaded, now: dt.datetime
) -> int:
    """Add the photos chosen with the wish form to the wish just posted (none chosen: nothing)."""
    if pictures is NOTHING:
        return 0
    kept = mk.attach_to_wish(
        tx, viewer.id, viewer.community(), wish_id, pictures.pictures(), now=now
    )
    return len(kept)


def _must_choose(pictures: Uploaded) -> tuple[mk.Picture, ...]:
    if pictures is NOTHING:
        raise mk.InvalidInput(mk.images.FIELD, mk.images.HOW_MANY)
    return pictures.pictures()


@post("/wishes/{wish_id:str}/photos", opt=MEMBER, request_max_body_size=BODY_BYTES)
@page.write_after(pictures=chosen)
def add_to_wish(
    request: Request[Any, Any, Any],
    tx: Tx,
    now: Now,
    viewer: See,
    wish_id: PathId,
    form: Form,
    pictures: Uploaded,
) -> Response[Any]:
    """添加照片 from the wish page."""

    def do(form: Form) -> str:
        kept = mk.attach_to_wish(
            tx, viewer.id, viewer.community(), wish_id, _must_choose(pictures), now=now
        )
        return f"已添加 {len(kept)} 张照片"

    return act(request, tx, viewer, form, now, wish_id, "确定添加这些照片吗？", do)


@post("/claims/{claim_id:str}/photos", opt=MEMBER, request_max_body_size=BODY_BYTES)
@page.write_after(pictures=chosen)
def add_to_claim(
    request: Request[Any, Any, Any],
    tx: Tx,
    now: Now,
    viewer: See,
    claim_id: PathId,
    form: Form,
    pictures: Uploaded,
) -> Response[Any]:
    """服务照片: a volunteer's photos of the work, before signing out."""
    wish_id = mk.load_claim(tx, viewer.community(), claim_id).wish_id

    def do(form: Form) -> str:
        kept = mk.attach_to_claim(
            tx, viewer.id, viewer.community(), claim_id, _must_choose(pictures), now=now
        )
        return f"已上传 {len(kept)} 张服务照片，请确认完成后签退"

    return act(request, tx, viewer, form, now, wish_id, "确定上传这些照片吗？", do)


ROUTES = [add_to_wish, add_to_claim]
