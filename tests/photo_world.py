"""Photos as phones send them, made with Pillow for the tests: a JPEG with its camera, its
orientation and a GPS position in its EXIF."""

from __future__ import annotations

import io

from PIL import Image

GPS = 0x8825  # the EXIF pointer to the GPS fields
CAMERA = "LinliPhone 1"


def jpeg_with_gps(size: tuple[int, int] = (1200, 900), colour: int = 90) -> bytes:
    """A phone-like JPEG: an EXIF orientation (rotated: the upright photo is portrait), a camera
    name, and a GPS position."""
    image = Image.new("RGB", size, (colour, 120, 200))
    exif = image.getexif()
    exif[0x0110] = CAMERA  # the camera model
    exif[0x0112] = 6  # rotated 90°
    exif[GPS] = {1: "N", 2: (31.0, 14.0, 5.0), 3: "E", 4: (121.0, 28.0, 9.0)}
    out = io.BytesIO()
    image.save(out, "JPEG", exif=exif, quality=90)
    return out.getvalue()
