"""Installable and offline (离线可用), and 扫码报到, for the pages.

- ``/manifest.webmanifest``: the web app manifest (name, icons, start page), so a phone can add
  邻里 to its home screen;
- ``/sw.js``: the service worker, served from the root so its scope is the whole site. It keeps
  the shell (styles, scripts, the offline page) and the pages a volunteer opened of their current
  claims, and answers from them when the network is gone (see ``service/static/sw.js``);
- ``/offline``: what a page that was never kept shows offline;
- :func:`checkin_qr`: the resident's check-in QR code (a token of :mod:`service.scan`).

Check-in and check-out pressed offline are queued on the phone by ``service/static/offline.js``
(IndexedDB) and sent to the API with their Idempotency-Key and the phone's time when the network
returns; the library decides whether that time is believable
(:func:`marketplace.visits.offline_time`).
"""

from __future__ import annotations

import datetime as dt
import importlib.resources
from typing import Any

from litestar import Request, Response, get
from litestar.response import Template

from service import scan
from service.api.common import PUBLIC
from service.pages.common import render

STATIC = importlib.resources.files("service") / "static"
NO_STORE = {"Cache-Control": "no-cache"}  # the browser checks for a new worker on every visit


def checkin_qr(
    request: Request[Any, Any, Any], community_id: str, wish_id: str, now: dt.datetime
) -> str:
    """The QR code the resident shows the volunteer at the door: a ``data:`` URI of an SVG."""
    secret: str = request.app.state.settings.secret_key
    return scan.qr_svg(scan.issue(secret, community_id, wish_id, now))


@get("/sw.js", opt=PUBLIC)
async def service_worker() -> Response[bytes]:
    body = (STATIC / "sw.js").read_bytes()
    return Response(
        body,
        media_type="text/javascript; charset=utf-8",
        headers={**NO_STORE, "Service-Worker-Allowed": "/"},
    )


@get("/manifest.webmanifest", opt=PUBLIC)
async def manifest() -> Response[bytes]:
    body = (STATIC / "manifest.webmanifest").read_bytes()
    return Response(body, media_type="application/manifest+json", headers=NO_STORE)


@get("/offline", opt=PUBLIC)
async def offline_page(request: Request[Any, Any, Any]) -> Template:
    return render(request, "offline.html")


ROUTES = [service_worker, manifest, offline_page]
