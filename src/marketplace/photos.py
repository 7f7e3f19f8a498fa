"""Photos of a wish (照片): the resident's of what she needs, a volunteer's of the work done.

- **Who may add them** is the lifecycle table's ``attach_photo`` rows: the resident (or whoever
  posted for her) until the wish is finished; the claimant while checked in, that is at check-out.
- **How many:** :data:`~marketplace.images.MAX_PHOTOS` on the wish from its resident, and as many
  on each claim from its volunteer, counted while the wish's row is held (no race adds a fourth).
- **Who may see them** is privacy's rule for the wish's exact address
  (:func:`marketplace.privacy.sees_address`): office, the resident, a volunteer still serving. A
  photo shows the inside of a home. Never on the public board (:mod:`marketplace.board` does not
  read this table).

An upload's bytes become a :class:`~marketplace.images.Picture` first
(:func:`marketplace.images.picture`: no I/O, run it outside the transaction), then
:func:`attach_to_wish` or :func:`attach_to_claim` keeps it, in the database beside the wish: one
transaction keeps the photos and whatever else the request does, or none of it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

import msgspec
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from marketplace.errors import InvalidInput, NotFound, PhotoLimitReached
from marketplace.images import FIELD, HOW_MANY, MAX_PHOTOS, Picture
from marketplace.lifecycle import (
    SERVING_CLAIM_STATES,
    ClaimAction,
    WishAction,
    decide_claim,
    decide_wish,
)
from marketplace.loads import see_claim, see_wish
from marketplace.model import Wish
from marketplace.privacy import WishView, sees_address, sight_of
from marketplace.schema import claims, photos
from points import new_id, sqltypes


class Photo(msgspec.Struct, frozen=True, kw_only=True):
    """A kept photo, without its bytes (:func:`photo_file` gives those)."""

    id: str
    community_id: str
    wish_id: str
    claim_id: str | None  # None: the resident's photo of the wish; else a volunteer's check-out
    uploaded_by: str
    media_type: str
    width: int
    height: int
    size: int  # bytes of the photo as kept
    thumbnail_type: str
    created_at: dt.datetime


class PhotoFile(msgspec.Struct, frozen=True, kw_only=True):
    photo: Photo
    content: bytes  # the photo, or its thumbnail
    media_type: str


def attach_to_wish(
    conn: Connection,
    actor: str,
    community_id: str,
    wish_id: str,
    pictures: Sequence[Picture],
    *,
    now: dt.datetime,
) -> tuple[Photo, ...]:
    """添加照片: the resident's photos of the wish (when posting it, or later)."""
    _some(pictures)
    seen = see_wish(conn, actor, community_id, wish_id, lock=True)
    decide_wish(seen.wish.state, WishAction.ATTACH_PHOTO, seen.roles())
    return _keep(conn, actor, seen.wish, None, pictures, now)


def attach_to_claim(
    conn: Connection,
    actor: str,
    community_id: str,
    claim_id: str,
    pictures: Sequence[Picture],
    *,
    now: dt.datetime,
) -> tuple[Photo, ...]:
    """服务照片: a volunteer's photos of the work, at check-out (while checked in)."""
    _some(pictures)
    seen = see_claim(conn, actor, community_id, claim_id, lock=True)
    claim = seen.claim
    assert claim is not None
    decide_claim(claim.state, ClaimAction.ATTACH_PHOTO, seen.roles(claim))
    return _keep(conn, actor, seen.wish, claim.id, pictures, now)


def photos_of(conn: Connection, view: WishView) -> tuple[Photo, ...]:
    """The photos of a wish its viewer may see, oldest first: none when the wish's address is
    masked to them (``view`` from :func:`marketplace.wish_view`, already decided for them)."""
    if view.contact.masked:
        return ()
    rows = conn.execute(
        sa.select(*_COLUMNS)
        .where(photos.c.community_id == view.wish.community_id, photos.c.wish_id == view.wish.id)
        .order_by(photos.c.created_at, photos.c.id)
    )
    return tuple(sqltypes.to_struct(r, Photo) for r in rows)


def photo_file(
    conn: Connection,
    actor: str,
    community_id: str,
    wish_id: str,
    photo_id: str,
    *,
    thumbnail: bool = False,
) -> PhotoFile:
    """One photo's bytes (or its thumbnail's) for ``actor``: NotFound unless they may see the
    wish's address. Two statements: the wish as the actor stands to it, then the photo with the
    actor's serving claims on the wish counted beside it."""
    seen = see_wish(conn, actor, community_id, wish_id)
    roles = seen.roles()  # NotFound: no business with the wish at all
    given = {"community": community_id, "wish": wish_id, "photo": photo_id, "actor": actor}
    row = conn.execute(_FILE[thumbnail], given).first()
    if row is None:
        raise NotFound("photo", photo_id)
    staff = seen.standing.office_of(community_id)
    if not sees_address(sight_of(roles, serving=row.serving > 0, community_staff=staff)):
        raise NotFound("photo", photo_id)  # as if it did not exist: nothing to learn
    photo = sqltypes.to_struct(row, Photo)
    media_type = photo.thumbnail_type if thumbnail else photo.media_type
    return PhotoFile(photo=photo, content=bytes(row.content), media_type=media_type)


def _some(pictures: Sequence[Picture]) -> None:
    if not 1 <= len(pictures) <= MAX_PHOTOS:
        raise InvalidInput(FIELD, HOW_MANY)


def _keep(
    conn: Connection,
    actor: str,
    wish: Wish,
    claim_id: str | None,
    pictures: Sequence[Picture],
    now: dt.datetime,
) -> tuple[Photo, ...]:
    """Count what the wish (or the claim) holds already, under the wish's row lock, and keep."""
    side = photos.c.claim_id.is_(None) if claim_id is None else photos.c.claim_id == claim_id
    held = int(
        conn.scalar(
            sa.select(sa.func.count())
            .select_from(photos)
            .where(photos.c.community_id == wish.community_id, photos.c.wish_id == wish.id, side)
        )
        or 0
    )
    if held + len(pictures) > MAX_PHOTOS:
        raise PhotoLimitReached("claim" if claim_id else "wish", MAX_PHOTOS, held)
    kept = []
    rows: list[dict[str, Any]] = []
    for order, picture in enumerate(pictures):
        photo = Photo(
            id=new_id(),
            community_id=wish.community_id,
            wish_id=wish.id,
            claim_id=claim_id,
            uploaded_by=actor,
            media_type=picture.media_type,
            width=picture.width,
            height=picture.height,
            size=len(picture.content),
            thumbnail_type=picture.thumbnail_type,
            created_at=now + dt.timedelta(microseconds=order),  # the order they were chosen in
        )
        kept.append(photo)
        rows.append(
            {
                **msgspec.structs.asdict(photo),
                "content": picture.content,
                "thumbnail": picture.thumbnail,
            }
        )
    conn.execute(photos.insert(), rows)
    return tuple(kept)


_COLUMNS = [c for c in photos.c if c.name not in ("content", "thumbnail")]


def _file(thumbnail: bool) -> sa.Select[Any]:
    community = sa.bindparam("community", type_=photos.c.community_id.type)
    wish = sa.bindparam("wish", type_=photos.c.wish_id.type)
    serving = (
        sa.select(sa.func.count())
        .select_from(claims)
        .where(
            claims.c.community_id == community,
            claims.c.wish_id == wish,
            claims.c.member_id == sa.bindparam("actor", type_=claims.c.member_id.type),
            sa.or_(*(claims.c.state == s.value for s in sorted(SERVING_CLAIM_STATES))),
        )
        .scalar_subquery()
    )
    content = photos.c.thumbnail if thumbnail else photos.c.content
    return sa.select(*_COLUMNS, content.label("content"), serving.label("serving")).where(
        photos.c.community_id == community,
        photos.c.wish_id == wish,
        photos.c.id == sa.bindparam("photo", type_=photos.c.id.type),
    )


_FILE = {thumbnail: _file(thumbnail) for thumbnail in (False, True)}
