"""An uploaded photo made into what is kept (照片处理): decoded, checked, re-encoded, thumbnailed.

What a phone sends is never kept as sent. :func:`picture` decodes it with Pillow (JPEG, PNG and
WebP only; a multi-picture JPEG from a phone camera keeps its main picture), refuses what is not
a still photo (another format, an animation, more than :data:`MAX_PIXELS` pixels: a
decompression bomb, a damaged or truncated file) with :class:`~marketplace.errors.InvalidInput`
on the field ``photos``, turns it upright by its EXIF orientation, and encodes new pixels without
any metadata: no EXIF (so no GPS position, no camera, no time), no XMP, no ICC profile, no
comments. The photo is JPEG at most :data:`LONG_SIDE` pixels on its long side; the thumbnail is
WebP at most :data:`THUMB_SIDE`. CPU work with no I/O: the service runs it off the event loop,
before the request's unit of work, so the writer never waits on an image.
"""

from __future__ import annotations

import io

import msgspec
from PIL import Image, ImageOps, MpoImagePlugin, UnidentifiedImageError, WebPImagePlugin

from marketplace.errors import InvalidInput
from points import Cause

MAX_BYTES = 8 * 2**20
"""An upload larger than 8 MiB is refused (a phone's photo is 2 to 6 MB)."""
MAX_PHOTOS = 3
"""Photos the resident may attach to a wish, and a volunteer to one check-out."""
MAX_PIXELS = 50_000_000
"""Pixels an upload may declare (a 50-megapixel camera's full size); a larger one is refused
before it is decoded, so a small file that unpacks to gigabytes costs nothing."""
LONG_SIDE = 2048  # the kept photo's long side, at most (≈ 0.3–0.8 MB as JPEG)
THUMB_SIDE = 320  # the thumbnail's (≈ 10–25 kB as WebP)
FORMATS = ("JPEG", "PNG", "WEBP")
"""The decoders Pillow may use: photos only (no TIFF, PSD, EPS, … and their parsers). A JPEG
with several pictures opens as MPO (a phone camera's), through the JPEG decoder."""
FIELD = "photos"
TOO_LARGE = Cause("photo_size", {"mb": MAX_BYTES // 2**20})
NOT_A_PHOTO = Cause("photo_format")
ANIMATED = Cause("photo_animated")
TOO_MANY_PIXELS = Cause("photo_pixels", {"megapixels": MAX_PIXELS // 1_000_000})
BROKEN = Cause("photo_broken")
HOW_MANY = Cause("photo_count", {"high": MAX_PHOTOS})  # one upload: 1 to MAX_PHOTOS files
_REGISTERED = (MpoImagePlugin, WebPImagePlugin)  # imported to register them (JPEG, PNG: always)


class Picture(msgspec.Struct, frozen=True, kw_only=True):
    """A photo ready to keep: new pixels, no metadata."""

    content: bytes
    media_type: str
    width: int
    height: int
    thumbnail: bytes
    thumbnail_type: str


def picture(raw: bytes) -> Picture:
    """The photo to keep made from an upload's bytes, or InvalidInput saying why not."""
    if not raw:
        raise _refused(BROKEN)
    if len(raw) > MAX_BYTES:
        raise _refused(TOO_LARGE)
    try:  # no warnings filter: it is process-wide, and uploads are made on several threads
        with Image.open(io.BytesIO(raw), formats=FORMATS) as opened:
            return _remade(opened)  # refuses over MAX_PIXELS (below Pillow's own bomb limits)
    except InvalidInput:
        raise
    except UnidentifiedImageError as exc:
        raise _refused(NOT_A_PHOTO) from exc
    except Image.DecompressionBombError as exc:  # over twice Pillow's limit: refused at open
        raise _refused(TOO_MANY_PIXELS) from exc
    except Exception as exc:  # any other failure of a decoder on these bytes
        raise _refused(BROKEN) from exc  # (OSError, struct.error from a corrupt EXIF, …)


def _remade(opened: Image.Image) -> Picture:
    width, height = opened.size
    if width * height > MAX_PIXELS or width < 1 or height < 1:
        raise _refused(TOO_MANY_PIXELS)
    if opened.format != "MPO" and getattr(opened, "is_animated", False):
        raise _refused(ANIMATED)
    if opened.format in ("JPEG", "MPO") and max(width, height) > LONG_SIDE:
        shrink = max(width, height) / LONG_SIDE  # the decoder scales down: less work and memory
        opened.draft("RGB", (int(width / shrink), int(height / shrink)))
    opened.load()
    upright = ImageOps.exif_transpose(opened)
    pixels = _rgb(upright)
    pixels.thumbnail((LONG_SIDE, LONG_SIDE), Image.Resampling.LANCZOS)
    small = pixels.copy()
    small.thumbnail((THUMB_SIDE, THUMB_SIDE), Image.Resampling.LANCZOS)
    return Picture(
        content=_encoded(pixels, "JPEG", quality=85, optimize=True, progressive=True),
        media_type="image/jpeg",
        width=pixels.width,
        height=pixels.height,
        thumbnail=_encoded(small, "WEBP", quality=75, method=4),
        thumbnail_type="image/webp",
    )


def _rgb(image: Image.Image) -> Image.Image:
    """New RGB pixels (transparency over white), holding nothing of the upload but its pixels."""
    if image.mode in ("RGBA", "LA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        clean = Image.new("RGB", rgba.size, (255, 255, 255))
        clean.paste(rgba, mask=rgba.getchannel("A"))
    else:
        clean = image.convert("RGB")
        if clean is image:
            clean = image.copy()
    clean.info = {}  # Pillow writes some of ``info`` back (XMP, ICC) unless it is emptied
    return clean


def _encoded(image: Image.Image, kind: str, **options: object) -> bytes:
    out = io.BytesIO()
    image.save(out, kind, exif=b"", **options)
    return out.getvalue()


def _refused(cause: Cause) -> InvalidInput:
    return InvalidInput(FIELD, cause)
