"""扫码报到: the signed, short-lived check-in token the resident's wish page shows as a QR code.

A token is ``community~wish~expires~mac``: the wish it is for, when it stops being accepted (Unix
seconds, :data:`TTL` after it was drawn), and an HMAC-SHA256 of the rest under a key derived from
the service's secret. The volunteer's phone reads it with the camera and sends it instead of the
6-digit code; :func:`read` checks it and names the wish, and :func:`marketplace.check_in` accepts
it for a claim on that wish only. A token pressed offline is judged at the time the phone took it
(bounded by the library's offline rule).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
from typing import Any

import segno
from litestar import Request

from marketplace.errors import InvalidInput
from points import Cause

TTL = dt.timedelta(minutes=10)
SEP = "~"  # never in an id (service.api.common.ID)
PATTERN = r"^[A-Za-z0-9._:@~-]{1,300}$"


def _mac(secret: str, body: str) -> str:
    key = hmac.new(secret.encode(), b"linli check-in token", hashlib.sha256).digest()
    return hmac.new(key, body.encode(), hashlib.sha256).hexdigest()[:32]


def issue(secret: str, community_id: str, wish_id: str, now: dt.datetime) -> str:
    """A token for checking in to ``wish_id``, accepted until ``now`` + :data:`TTL`."""
    expires = int((now + TTL).timestamp())
    body = SEP.join((community_id, wish_id, str(expires)))
    return f"{body}{SEP}{_mac(secret, body)}"


def read(secret: str, token: str, community_id: str, at: dt.datetime) -> str:
    """The wish a token names, if the service signed it for this community and it was still
    good at ``at``; else InvalidInput on ``token``."""
    parts = token.split(SEP)
    if len(parts) != 4 or not parts[2].isdigit():
        raise InvalidInput("token", Cause("checkin_token_invalid"))
    body, mac = SEP.join(parts[:3]), parts[3]
    if not hmac.compare_digest(mac.encode(), _mac(secret, body).encode()):
        raise InvalidInput("token", Cause("checkin_token_invalid"))
    if parts[0] != community_id:
        raise InvalidInput("token", Cause("checkin_token_invalid"))
    if at.timestamp() > int(parts[2]):
        raise InvalidInput("token", Cause("checkin_token_expired"))
    return parts[1]


def scanned(
    request: Request[Any, Any, Any], token: str | None, community_id: str, at: dt.datetime
) -> str | None:
    """The wish a token sent with a check-in names, checked with the service's secret (the API
    and the volunteer's page both take one)."""
    if token is None:
        return None
    return read(request.app.state.settings.secret_key, token, community_id, at)


def qr_svg(token: str) -> str:
    """The token as a QR code, an SVG ``data:`` URI for an ``<img>`` (the pages' policy admits
    ``img-src data:``; no inline SVG, no script)."""
    code = segno.make(token, error="m", micro=False)
    uri: str = code.svg_data_uri(scale=6, border=4, dark="#000", light="#fff")
    return uri
