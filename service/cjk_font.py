"""The CJK font embedded in the service's PDFs (certificates, the quarterly evaluation).

A TrueType CJK font, subsetted into each PDF so it prints the same on any machine (ReportLab
reads no CFF outlines, hence TrueType): ``LINLI_CERTIFICATE_FONT`` (a ``.ttf``/``.ttc`` path,
``#N`` for a collection's N-th face), else the first of :data:`FONTS` present (Debian's
fonts-arphic-uming, a 明体 like the print of official papers, or fonts-wqy-microhei;
``scripts/ensure-fonts`` installs it). No font: :class:`FontMissing` (the service answers 503).
"""

from __future__ import annotations

import functools
import os
import threading

from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFError, TTFont

FONTS = (
    "/usr/share/fonts/truetype/arphic/uming.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",
)
FONT = "LinliCJK"
_lock = threading.Lock()


class FontMissing(RuntimeError):
    """No CJK TrueType font to embed: install one (scripts/ensure-fonts) or name it."""


def font_path(setting: str = "") -> tuple[str, int]:
    """The font to embed and its face in a collection."""
    if setting:
        path, _, face = setting.partition("#")
        if not os.path.isfile(path):
            raise FontMissing(f"LINLI_CERTIFICATE_FONT: no file {path}")
        return path, int(face or 0)
    for path in FONTS:
        if os.path.isfile(path):
            return path, 0
    raise FontMissing(
        "no CJK TrueType font: run scripts/ensure-fonts or set LINLI_CERTIFICATE_FONT"
    )


@functools.cache
def _registered(path: str, face: int) -> str:
    name = f"{FONT}-{abs(hash((path, face)))}"
    try:
        pdfmetrics.registerFont(TTFont(name, path, subfontIndex=face))
    except (TTFError, OSError) as exc:
        raise FontMissing(f"{path}: {exc}") from None
    return name


def font(setting: str = "") -> str:
    """The registered font's name (registered once per process)."""
    with _lock:
        return _registered(*font_path(setting))


def fit(text: str, face: str, size: float, room: float) -> str:
    """The text, cut with an ellipsis where it would be wider than ``room`` points."""
    if pdfmetrics.stringWidth(text, face, size) <= room:
        return text
    while text and pdfmetrics.stringWidth(text + "…", face, size) > room:
        text = text[:-1]
    return text + "…"
