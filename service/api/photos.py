"""Photos over HTTP (照片): the resident's of a wish, a volunteer's at check-out, and the images.

Uploads are ``multipart/form-data`` with 1 to 3 files in the field ``photos``. Each file is read
(at most 8 MB counts), decoded and re-encoded without metadata off the event loop
(:func:`uploaded`, :func:`marketplace.picture`) before the request's unit of work, which then
only checks who may add them and keeps them (:func:`marketplace.attach_to_wish`,
:func:`marketplace.attach_to_claim`). A request body over :data:`BODY_BYTES` is refused whole
(413) before anything is read into the service.

The images are served only to whom the wish's address is shown (:func:`marketplace.photo_file`;
anyone else gets 404, as for a photo that does not exist), with their own media type,
``X-Content-Type-Options: nosniff``, and ``Cache-Control: private, no-cache`` with an ``ETag``: a
browser keeps the bytes but asks each time, so a volunteer whose claim ended is refused at once
(a 304 costs the same check and no bytes).
"""

from __future__ import annotations

import datetime as dt
import threading
from collections import defaultdict
from collections.abc import Sequence
from typing import Annotated, Any

import anyio.to_thread
import msgspec
from litestar import Controller, Request, Response, get, post
from litestar.datastructures import UploadFile
from litestar.enums import RequestEncodingType
from litestar.exceptions import ClientException
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import Body, PathParameter
from litestar.utils.scope.state import ScopeState
from multipart import (  # type: ignore[import-untyped]  # the parser Litestar uses
    MultipartError,
    MultipartSegment,
    PushMultipartParser,
)

import marketplace as mk
from marketplace import MAX_PHOTOS, Picture
from service.api.common import MEMBER, Me, Now, Tx, api, problems
from service.api.wishes import Community, WishId

BODY_BYTES = MAX_PHOTOS * mk.images.MAX_BYTES + 2**20
FORM_PARTS = 16  # parts of an upload's form, at most (three photos and room for a mistake)
"""A photo upload's request body, at most: three photos of 8 MiB and the form around them."""
PhotoId = Annotated[str, PathParameter(max_length=64)]
ClaimId = Annotated[str, PathParameter(max_length=64)]


class PhotosIn(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """``multipart/form-data``: 1 to 3 photos (JPEG, PNG or WebP, at most 8 MB each) in the field
    ``photos``, each a file part (with a file name, as browsers and ``curl -F photos=@…`` send)."""

    photos: Annotated[list[UploadFile], msgspec.Meta(min_length=1, max_length=MAX_PHOTOS)]


Upload = Annotated[
    PhotosIn,
    Body(
        media_type=RequestEncodingType.MULTI_PART,
        description="1 to 3 files in the field `photos`: JPEG, PNG or WebP, at most 8 MB each",
    ),
]


class PhotoOut(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    wish_id: str
    claim_id: str | None  # null: the resident's photo of the wish; else a volunteer's check-out
    uploaded_by: str
    media_type: str
    width: int
    height: int
    size: int
    created_at: dt.datetime
    url: str  # the photo (image/jpeg)
    thumbnail_url: str  # its thumbnail (image/webp)


class PhotoList(msgspec.Struct, frozen=True, kw_only=True):
    items: list[PhotoOut]


def photo_url(photo: mk.Photo, *, thumbnail: bool = False) -> str:
    base = f"/api/v1/communities/{photo.community_id}/wishes/{photo.wish_id}/photos/{photo.id}"
    return base + "/thumbnail" if thumbnail else base


def photo_list(photos: Sequence[mk.Photo]) -> PhotoList:
    return PhotoList(
        items=[
            PhotoOut(
                id=p.id,
                wish_id=p.wish_id,
                claim_id=p.claim_id,
                uploaded_by=p.uploaded_by,
                media_type=p.media_type,
                width=p.width,
                height=p.height,
                size=p.size,
                created_at=p.created_at,
                url=photo_url(p),
                thumbnail_url=photo_url(p, thumbnail=True),
            )
            for p in photos
        ]
    )


class Uploaded:
    """An upload made into pictures before the unit of work, or the reason it was refused
    (raised inside the unit by :meth:`pictures`, where the caller's refusals are answered)."""

    def __init__(self, made: tuple[Picture, ...], refused: mk.InvalidInput | None) -> None:
        self.made = made
        self.refused = refused

    def pictures(self) -> tuple[Picture, ...]:
        if self.refused is not None:
            raise self.refused
        return self.made


NOTHING = Uploaded((), None)
"""No photos chosen (a form whose file input was left empty)."""


async def uploaded(files: Sequence[UploadFile]) -> Uploaded:
    """Read the files (at most 8 MB and a byte of each: more is refused anyway) and make them into
    pictures on a worker thread, so neither the event loop nor the writer waits on Pillow."""
    if not 1 <= len(files) <= MAX_PHOTOS:
        return Uploaded((), mk.InvalidInput(mk.images.FIELD, mk.images.HOW_MANY))
    raws = []
    for file in files:
        raws.append(await file.read(mk.images.MAX_BYTES + 1))
        await file.seek(0)  # an Idempotency-Key's fingerprint reads it too
    return await anyio.to_thread.run_sync(_made, raws)


DECODING = threading.BoundedSemaphore(2)
"""Uploads decoded at once, at most, in a process: each holds up to a few hundred MB of pixels
for a moment, and two cores gain nothing from more (the others wait on a worker thread)."""


def _made(raws: list[bytes]) -> Uploaded:
    with DECODING:
        try:
            return Uploaded(tuple(mk.picture(raw) for raw in raws), None)
        except mk.InvalidInput as refused:
            return Uploaded((), refused)


async def read_upload(request: Request[Any, Any, Any]) -> None:
    """Before a photo upload's handler (in place of the API's JSON check): its multipart form,
    parsed from the body read once, with every ``photos`` part a file, with a file name or
    without one. OpenAPI's binary part needs none (schemathesis sends none); Litestar's own parser
    would read such a part as UTF-8 text and refuse a photo's bytes as a malformed body."""
    media, options = request.content_type
    boundary = options.get("boundary")
    if media != RequestEncodingType.MULTI_PART or not boundary:
        return  # Litestar refuses it: the body is not the form the document names
    body = await request.body()  # kept: an Idempotency-Key's fingerprint reads it again
    fields: defaultdict[str, list[Any]] = defaultdict(list)
    try:
        with PushMultipartParser(boundary, max_segment_count=FORM_PARTS) as parser:
            segment, data = None, bytearray()
            for chunk in (body, b""):
                for part in parser.parse(chunk):
                    if isinstance(part, MultipartSegment):
                        segment, data = part, bytearray()
                    elif part:
                        data.extend(part)
                    elif segment is not None:
                        fields[segment.name].append(await _part(segment, bytes(data)))
    except (MultipartError, UnicodeDecodeError) as exc:
        raise ClientException("Invalid multipart/form-data") from exc
    ScopeState.from_scope(request.scope).form = {
        name: values if len(values) > 1 else values[0] for name, values in fields.items()
    }


async def _part(segment: MultipartSegment, data: bytes) -> UploadFile | str:
    if segment.name != "photos" and not segment.filename:
        return data.decode(segment.charset or "utf-8", "replace")  # refused as unknown anyway
    file = UploadFile(
        content_type=segment.content_type or "application/octet-stream",
        filename=segment.filename or "photo",
        headers=dict(segment.headerlist),
    )
    await file.write(data)
    await file.seek(0)
    return file


async def _from_body(request: Request[Any, Any, Any], given: dict[str, Any]) -> Uploaded:
    data: PhotosIn = given["data"]
    return await uploaded(data.photos)


IMAGE_HEADERS = {
    "Cache-Control": "private, no-cache",
    "X-Content-Type-Options": "nosniff",
    "Cross-Origin-Resource-Policy": "same-origin",
}


def image(
    request: Request[Any, Any, Any], found: mk.PhotoFile, *, thumbnail: bool
) -> Response[bytes]:
    """The image as its own type, cached privately and checked again on each use."""
    tag = f'"{found.photo.id}{"-t" if thumbnail else ""}"'
    headers = {**IMAGE_HEADERS, "ETag": tag}
    if tag in (t.strip() for t in request.headers.get("if-none-match", "").split(",")):
        return Response(content=b"", status_code=304, headers=headers)
    ending = "webp" if found.media_type == "image/webp" else "jpg"
    name = f"photo-{found.photo.id}{'-thumbnail' if thumbnail else ''}.{ending}"
    headers["Content-Disposition"] = f'inline; filename="{name}"'
    return Response(content=found.content, media_type=found.media_type, headers=headers)


IMAGE_RESPONSES = {
    **problems(404),
    304: ResponseSpec(data_container=None, description="not modified (If-None-Match)"),
}


class PhotoController(Controller):
    path = "/communities/{community_id:str}"
    tags = ["photos 照片"]
    opt = MEMBER

    @post(
        "/wishes/{wish_id:str}/photos",
        status_code=201,
        responses=problems(403, 404, 409),
        request_max_body_size=BODY_BYTES,
        before_request=read_upload,  # in place of the API's JSON check: the form, files kept
        summary="添加照片: the resident adds 1 to 3 photos to her wish (at most 3 in all)",
    )
    @api.write_after(pictures=_from_body)
    def attach_to_wish(
        self,
        tx: Tx,
        me: Me,
        now: Now,
        community_id: Community,
        wish_id: WishId,
        data: Upload,
        pictures: Uploaded,
    ) -> PhotoList:
        kept = mk.attach_to_wish(tx, me.id, community_id, wish_id, pictures.pictures(), now=now)
        return photo_list(kept)

    @post(
        "/claims/{claim_id:str}/photos",
        status_code=201,
        responses=problems(403, 404, 409),
        request_max_body_size=BODY_BYTES,
        before_request=read_upload,  # in place of the API's JSON check: the form, files kept
        summary="服务照片: the volunteer adds 1 to 3 photos of the work before checking out",
    )
    @api.write_after(pictures=_from_body)
    def attach_to_claim(
        self,
        tx: Tx,
        me: Me,
        now: Now,
        community_id: Community,
        claim_id: ClaimId,
        data: Upload,
        pictures: Uploaded,
    ) -> PhotoList:
        kept = mk.attach_to_claim(tx, me.id, community_id, claim_id, pictures.pictures(), now=now)
        return photo_list(kept)

    @get(
        "/wishes/{wish_id:str}/photos",
        responses=problems(404),
        summary="The wish's photos the caller may see (none unless its address is shown to them)",
    )
    @api.read
    def list_photos(self, tx: Tx, me: Me, community_id: Community, wish_id: WishId) -> PhotoList:
        view = mk.wish_view(tx, me.id, community_id, wish_id)
        return photo_list(mk.photos_of(tx, view))

    @get(
        "/wishes/{wish_id:str}/photos/{photo_id:str}",
        media_type="image/jpeg",
        responses=IMAGE_RESPONSES,
        summary="One photo (image/jpeg), for whom the wish's address is shown to",
    )
    @api.read
    def photo(
        self,
        request: Request[Any, Any, Any],
        tx: Tx,
        me: Me,
        community_id: Community,
        wish_id: WishId,
        photo_id: PhotoId,
    ) -> Response[bytes]:
        found = mk.photo_file(tx, me.id, community_id, wish_id, photo_id)
        return image(request, found, thumbnail=False)

    @get(
        "/wishes/{wish_id:str}/photos/{photo_id:str}/thumbnail",
        media_type="image/webp",
        responses=IMAGE_RESPONSES,
        summary="A photo's thumbnail (image/webp, at most 320 px)",
    )
    @api.read
    def thumbnail(
        self,
        request: Request[Any, Any, Any],
        tx: Tx,
        me: Me,
        community_id: Community,
        wish_id: WishId,
        photo_id: PhotoId,
    ) -> Response[bytes]:
        found = mk.photo_file(tx, me.id, community_id, wish_id, photo_id, thumbnail=True)
        return image(request, found, thumbnail=True)
