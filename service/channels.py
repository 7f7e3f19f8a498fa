"""通知渠道: how one delivery leaves the service — a signed webhook, or an SMS through a gateway.

**Webhooks.** A ``POST`` of a JSON body ``{"type", "id", "message_id", "community_id",
"created_at", "data"}`` (``id``: the delivery id, the same on every retry: receivers drop
duplicates by it; ``member_id`` when the event is a member's; ``phone`` only for a hook marked as
the community's own system), with the headers ``X-Linli-Timestamp: <unix seconds>`` and
``X-Linli-Signature: sha256=<hex HMAC-SHA256(secret, timestamp + "." + raw body)>``. A receiver
refuses a timestamp more than :data:`REPLAY_WINDOW` seconds from its clock (docs/api.md
"Webhooks" shows one). Any 2xx is delivered; anything else is tried again later.

**SMS** (短信) goes to the gateway at ``LINLI_SMS_URL`` in the shape Chinese SMS providers use
(Alibaba Cloud's ``SendSms``, Tencent Cloud's ``SendSms``): the phone, a sign name (签名), the
event's template code and its template parameters as a JSON string, and the delivery id as
``OutId``; signed like a webhook with ``LINLI_SMS_KEY_SECRET``. The gateway answers
``{"Code": "OK"}`` when it took the message.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from typing import Any

import marketplace as mk
from service.postman import PostError, Postman
from service.settings import Settings

REPLAY_WINDOW = 300
"""Seconds a receiver accepts between ``X-Linli-Timestamp`` and its own clock."""


def signature(secret: str, timestamp: str, body: bytes) -> str:
    """``sha256=<hex HMAC-SHA256(secret, timestamp + "." + body)>``."""
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def verify(
    secret: str, timestamp: str, body: bytes, signed: str, *, now: float | None = None
) -> bool:
    """What a receiver checks: the signature, and a timestamp within the replay window."""
    try:
        age = abs((time.time() if now is None else now) - int(timestamp))
    except ValueError:
        return False
    return age <= REPLAY_WINDOW and hmac.compare_digest(signature(secret, timestamp, body), signed)


def webhook_body(d: mk.Delivery) -> bytes:
    body: dict[str, Any] = {
        "type": d.type,
        "id": d.id,
        "message_id": d.message_id,
        "community_id": d.community_id,
        "created_at": d.created_at.isoformat(),
        "data": d.data,
    }
    if d.member_id is not None:
        body["member_id"] = d.member_id
    if d.phone is not None:  # only a hook marked as the community's own system gets it
        body["phone"] = d.phone
    return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()


async def send_webhook(client: Postman, d: mk.Delivery) -> str | None:
    """POST one delivery to its webhook; None when delivered, else why not."""
    if d.url is None or d.secret is None:
        return "webhook gone"
    body = webhook_body(d)
    stamp = str(int(time.time()))
    headers = {
        "Content-Type": "application/json",
        "X-Linli-Event": d.type,
        "X-Linli-Delivery": d.id,
        "X-Linli-Timestamp": stamp,
        "X-Linli-Signature": signature(d.secret, stamp, body),
    }
    try:
        status, _ = await client.post(d.url, body, headers)
    except PostError as exc:
        return str(exc)[:500]
    return None if 200 <= status < 300 else f"HTTP {status}"


def sms_request(settings: Settings, d: mk.Delivery) -> dict[str, str] | None:
    """The gateway request for an SMS delivery (None: no template for the event)."""
    code = settings.sms_templates.get(d.type)
    if code is None or d.phone is None:
        return None
    event = mk.EVENTS.get(d.type)
    params = {name: str(d.data.get(name, "")) for name in (event.params if event else ())}
    return {
        "PhoneNumbers": d.phone,
        "SignName": settings.sms_sign_name,
        "TemplateCode": code,
        "TemplateParam": json.dumps(params, ensure_ascii=False, separators=(",", ":")),
        "OutId": d.id,
    }


async def send_sms(client: Postman, settings: Settings, d: mk.Delivery) -> str | None:
    """Send one SMS through the gateway; None when the gateway took it, else why not."""
    request = sms_request(settings, d)
    if settings.sms_url is None or request is None:
        return "sms not configured for this event"
    body = json.dumps(request, ensure_ascii=False, separators=(",", ":")).encode()
    stamp = str(int(time.time()))
    headers = {
        "Content-Type": "application/json",
        "X-Linli-Key-Id": settings.sms_key_id,
        "X-Linli-Timestamp": stamp,
        "X-Linli-Signature": signature(settings.sms_key_secret, stamp, body),
    }
    try:
        status, answer = await client.post(settings.sms_url, body, headers)
    except PostError as exc:
        return str(exc)[:500]
    if not 200 <= status < 300:
        return f"HTTP {status}"
    try:
        code = json.loads(answer).get("Code")
    except (ValueError, AttributeError):
        return "gateway answered no JSON"
    return None if code == "OK" else f"gateway: {code}"[:500]
