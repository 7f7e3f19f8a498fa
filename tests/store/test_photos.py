"""Photos (照片), on SQLite and PostgreSQL: what is kept is new pixels without metadata (no GPS),
what is not a still photo is refused with its reason, at most three on a wish and three on a
check-out, added only by whom the table names, seen only by whom the wish's address is shown."""

from __future__ import annotations

import datetime as dt
import io
import random
import threading
import time
from collections import Counter

import pytest
from PIL import Image
from sqlalchemy.engine import Connection

import marketplace as mk
import marketplace_world as world
import points
from marketplace_world import T0
from photo_world import GPS, jpeg_with_gps

START = T0 + dt.timedelta(hours=2)


def test_the_upload_s_metadata_is_gone_and_the_photo_stands_upright() -> None:
    raw = jpeg_with_gps()
    assert Image.open(io.BytesIO(raw)).getexif().get_ifd(GPS)  # the upload has a position
    kept = mk.picture(raw)
    photo = Image.open(io.BytesIO(kept.content))
    assert photo.format == "JPEG"
    assert kept.media_type == "image/jpeg"
    assert dict(photo.getexif()) == {}  # no EXIF at all: no GPS, no camera, no orientation
    assert photo.getexif().get_ifd(GPS) == {}
    assert b"Exif" not in kept.content
    assert b"LinliPhone" not in kept.content
    assert (photo.width, photo.height) == (kept.width, kept.height) == (900, 1200)  # upright
    thumb = Image.open(io.BytesIO(kept.thumbnail))
    assert thumb.format == "WEBP"
    assert max(thumb.size) == 320
    assert dict(thumb.getexif()) == {}


def _animated() -> bytes:
    frames = [Image.new("RGB", (40, 40), (i * 80, 0, 0)) for i in range(3)]
    out = io.BytesIO()
    frames[0].save(out, "WEBP", save_all=True, append_images=frames[1:])
    return out.getvalue()


def _bomb() -> bytes:
    out = io.BytesIO()
    Image.new("1", (10_000, 10_000)).save(out, "PNG")  # 100 megapixels in ≈ 12 kB
    return out.getvalue()


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        pytest.param(b"%PDF-1.7 not a photo", "photo_format", id="not_an_image"),
        pytest.param(b"GIF89a" + bytes(40), "photo_format", id="gif"),
        pytest.param(jpeg_with_gps()[:2000], "photo_broken", id="truncated"),
        pytest.param(b"", "photo_broken", id="empty"),
        pytest.param(_animated(), "photo_animated", id="animated"),
        pytest.param(_bomb(), "photo_pixels", id="decompression_bomb"),
        pytest.param(b"\xff\xd8" + bytes(mk.images.MAX_BYTES), "photo_size", id="too_large"),
    ],
)
@pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning")  # the bomb's, at open
def test_what_is_not_a_still_photo_is_refused_with_its_reason(raw: bytes, code: str) -> None:
    with pytest.raises(mk.InvalidInput) as refused:
        mk.picture(raw)
    assert refused.value.field == "photos"
    assert refused.value.reason.code == code


def _seeds() -> list[bytes]:
    found = [jpeg_with_gps((120, 90))]
    for kind in ("PNG", "WEBP"):
        out = io.BytesIO()
        Image.new("RGBA", (60, 40), (10, 200, 30, 128)).save(out, kind)
        found.append(out.getvalue())
    upside_down = Image.new("RGB", (60, 40))
    exif = upside_down.getexif()
    exif[0x0112] = 3  # a WebP with EXIF: rotated 180°
    out = io.BytesIO()
    upside_down.save(out, "WEBP", exif=exif)
    return [*found, out.getvalue()]


@pytest.mark.filterwarnings("ignore::UserWarning")  # Pillow warns of the corrupt EXIF it reads
def test_a_damaged_photo_is_refused_never_an_error_of_its_own() -> None:
    """3,000 photos with bytes changed or cut short (a fixed seed): each is kept or refused with
    a reason, none raises anything else (a corrupt EXIF field raised struct.error: a 500)."""
    seeds, rng = _seeds(), random.Random(7)
    outcomes: Counter[str] = Counter()
    for _ in range(3000):
        raw = bytearray(rng.choice(seeds))
        for _ in range(rng.randint(1, 8)):
            at = rng.randrange(len(raw))
            raw[at] = rng.randrange(256)
        if rng.random() < 0.2:
            raw = raw[: rng.randrange(len(raw))]
        try:
            mk.picture(bytes(raw))
            outcomes["kept"] += 1
        except mk.InvalidInput as refused:
            outcomes[refused.reason.code] += 1
    assert min(outcomes[k] for k in ("kept", "photo_broken", "photo_format")) > 0


def _checked_in(tx: Connection) -> tuple[mk.Wish, str]:
    world.build(tx)
    wish = world.published(tx)
    claim = mk.claim(tx, "vol1", "c1", wish.id, now=T0)
    mk.check_in(tx, "vol1", "c1", claim.id, code=wish.confirmation_code, now=START)
    return wish, claim.id


def test_three_photos_on_a_wish_and_three_on_a_check_out_and_no_fourth(
    db: points.Database,
) -> None:
    picture = mk.picture(jpeg_with_gps((64, 48)))
    with db.transaction() as tx:
        wish, claim_id = _checked_in(tx)
        mk.attach_to_wish(tx, "res", "c1", wish.id, [picture, picture], now=START)
        mk.attach_to_wish(tx, "res", "c1", wish.id, [picture], now=START)
        mk.attach_to_claim(tx, "vol1", "c1", claim_id, [picture] * 3, now=START)
    with db.transaction() as tx, pytest.raises(mk.PhotoLimitReached) as refused:
        mk.attach_to_wish(tx, "res", "c1", wish.id, [picture], now=START)
    assert (refused.value.limit, refused.value.held) == (3, 3)
    with db.transaction() as tx, pytest.raises(mk.PhotoLimitReached):
        mk.attach_to_claim(tx, "vol1", "c1", claim_id, [picture], now=START)
    with db.transaction() as tx, pytest.raises(mk.InvalidInput):
        mk.attach_to_wish(tx, "res", "c1", wish.id, [picture] * 4, now=START)
    with db.snapshot() as conn:
        shown = mk.photos_of(conn, mk.wish_view(conn, "res", "c1", wish.id))
    assert len(shown) == 6
    assert [p.claim_id for p in shown].count(None) == 3


def test_only_the_table_s_people_add_photos_and_only_while_it_allows(
    db: points.Database,
) -> None:
    picture = mk.picture(jpeg_with_gps((64, 48)))
    with db.transaction() as tx:
        wish, claim_id = _checked_in(tx)
    for actor in ("vol1", "staff", "vol2"):  # not the resident's wish to illustrate
        with db.transaction() as tx, pytest.raises(mk.NotAllowed):
            mk.attach_to_wish(tx, actor, "c1", wish.id, [picture], now=START)
    with db.transaction() as tx, pytest.raises(mk.NotFound):
        mk.attach_to_wish(tx, "outsider", "c1", wish.id, [picture], now=START)
    with db.transaction() as tx, pytest.raises(mk.NotAllowed):  # another's check-out
        mk.attach_to_claim(tx, "res", "c1", claim_id, [picture], now=START)
    with db.transaction() as tx:
        mk.check_out(tx, "vol1", "c1", claim_id, now=START + dt.timedelta(hours=1))
    with db.transaction() as tx, pytest.raises(mk.WrongState):  # signed out: too late
        mk.attach_to_claim(tx, "vol1", "c1", claim_id, [picture], now=START)
    with db.transaction() as tx:
        closed = world.published(tx, capacity=1)
        mk.cancel(tx, "res", "c1", closed.id, reason="不需要了", now=START)
    with db.transaction() as tx, pytest.raises(mk.WrongState):
        mk.attach_to_wish(tx, "res", "c1", closed.id, [picture], now=START)


def test_a_photo_is_seen_by_whom_the_address_is_shown_to(db: points.Database) -> None:
    picture = mk.picture(jpeg_with_gps((64, 48)))
    with db.transaction() as tx:
        world.build(tx)
        wish = world.published(tx)
        (photo,) = mk.attach_to_wish(tx, "res", "c1", wish.id, [picture], now=T0)
    with db.snapshot() as conn:
        for viewer in ("res", "staff", "admin"):
            found = mk.photo_file(conn, viewer, "c1", wish.id, photo.id)
            assert found.content == picture.content
            assert found.media_type == "image/jpeg"
            thumb = mk.photo_file(conn, viewer, "c1", wish.id, photo.id, thumbnail=True)
            assert (thumb.content, thumb.media_type) == (picture.thumbnail, "image/webp")
        for stranger in ("vol1", "outsider", "grid", "uadmin"):  # the address is masked to them
            with pytest.raises(mk.NotFound):
                mk.photo_file(conn, stranger, "c1", wish.id, photo.id)
        assert mk.photos_of(conn, mk.wish_view(conn, "vol1", "c1", wish.id)) == ()
    with db.transaction() as tx:
        claim = mk.claim(tx, "vol1", "c1", wish.id, now=T0)
    with db.snapshot() as conn:  # serving now: the address and the photo are shown
        assert mk.photo_file(conn, "vol1", "c1", wish.id, photo.id).photo.id == photo.id
    with db.transaction() as tx:
        mk.withdraw(tx, "vol1", "c1", claim.id, reason="临时有事", now=T0)
    with db.snapshot() as conn, pytest.raises(mk.NotFound):  # the claim ended: hidden again
        mk.photo_file(conn, "vol1", "c1", wish.id, photo.id)


def test_two_uploads_at_once_never_make_a_fourth_photo(db: points.Database) -> None:
    """The second upload waits for the first's transaction (the wish's row, held) and then counts
    its photos: without the lock it would count none of them on PostgreSQL and keep four."""
    picture = mk.picture(jpeg_with_gps((64, 48)))
    with db.transaction() as tx:
        world.build(tx)
        wish = world.published(tx)
    first_holds, outcomes = threading.Event(), {}

    def first() -> None:
        with db.transaction() as tx:
            mk.attach_to_wish(tx, "res", "c1", wish.id, [picture, picture], now=T0)
            first_holds.set()
            time.sleep(0.5)  # the second upload is on its way meanwhile
        outcomes["first"] = "kept"

    def second() -> None:
        first_holds.wait(5)
        try:
            with db.transaction() as tx:
                mk.attach_to_wish(tx, "res", "c1", wish.id, [picture, picture], now=T0)
            outcomes["second"] = "kept"
        except mk.PhotoLimitReached as refused:
            outcomes["second"] = f"refused, {refused.held} held"

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert outcomes == {"first": "kept", "second": "refused, 2 held"}
    with db.snapshot() as conn:
        assert len(mk.photos_of(conn, mk.wish_view(conn, "res", "c1", wish.id))) == 2


def test_a_resident_s_deletion_deletes_the_photos_of_her_wishes(db: points.Database) -> None:
    """删除个人信息: her wishes' addresses are erased, so are the photos of her home (the
    volunteer's at check-out included); another resident's stay."""
    picture = mk.picture(jpeg_with_gps((64, 48)))
    with db.transaction() as tx:
        wish, claim_id = _checked_in(tx)
        mk.attach_to_wish(tx, "res", "c1", wish.id, [picture], now=START)
        mk.attach_to_claim(tx, "vol1", "c1", claim_id, [picture], now=START)
        other = world.published(tx, actor="res2")
        mk.attach_to_wish(tx, "res2", "c1", other.id, [picture], now=START)
        mk.anonymise(tx, "res", "res", now=START)
    with db.snapshot() as conn:
        assert mk.photos_of(conn, mk.wish_view(conn, "staff", "c1", wish.id)) == ()
        assert len(mk.photos_of(conn, mk.wish_view(conn, "staff", "c1", other.id))) == 1
