"""Open311 GeoReport v2 (http://wiki.open311.org/GeoReport_v2) under ``/open311/v2/``: other
civic-request systems send requests that become wishes in 待审核, and read back how they stand.

Every resource comes as ``.json`` or ``.xml`` (the format is the path's suffix, as the spec
says): ``discovery``, ``services`` (the categories of the community named by
``jurisdiction_id``), ``services/{service_code}`` (its attributes), ``requests`` (GET with the
spec's filters; POST, ``application/x-www-form-urlencoded``, with a partner's ``api_key``) and
``requests/{service_request_id}``. Errors come in the spec's format (a list of ``code`` and
``description``; ``<errors><error>`` in XML): 400 for malformed or missing input, 403 for a bad
key, 404 for what is not there, 429 past a key's rate — never a 500 for what a client sent.

The rules live in :mod:`marketplace.intake` (who a key is, the wish posted through
``post_wish``, what may be read back); this module only speaks the protocol.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Iterable, Mapping
from typing import Annotated, Any
from xml.etree import ElementTree as ET

import msgspec
from litestar import Controller, Request, Response, get, post
from litestar.exceptions import HTTPException
from litestar.params import PathParameter

import marketplace as mk
from marketplace.intake import Contact, Partner, PublicRequest
from service import labels, problems, ratelimit
from service.api.common import PUBLIC, Now, Tx, api

SPEC = "http://wiki.open311.org/GeoReport_v2"
CHANGESET = "2026-12-07T00:00:00Z"
TYPES = {"json": "application/json; charset=utf-8", "xml": "text/xml; charset=utf-8"}
ITEMS = {  # XML: a list's element → the element of each of its items
    "services": "service",
    "service_requests": "request",
    "errors": "error",
    "endpoints": "endpoint",
    "formats": "format",
    "attributes": "attribute",
    "values": "value",
}
ATTRIBUTES: list[dict[str, Any]] = [
    {"code": "title", "datatype": "string", "required": False, "order": 1,
     "description": "标题 (title); the first line of the description when absent",
     "datatype_description": "at most 100 characters"},
    {"code": "estimated_minutes", "datatype": "number", "required": False, "order": 2,
     "description": "预计用时（分钟） (estimated minutes of service)",
     "datatype_description": "a whole number, 1 to 1440; 60 when absent"},
    {"code": "urgency", "datatype": "singlevaluelist", "required": False, "order": 3,
     "description": "紧急程度 (urgency)", "datatype_description": "",
     "values": [{"key": "1", "name": "不急"}, {"key": "2", "name": "一般"},
                {"key": "3", "name": "较急"}, {"key": "4", "name": "紧急"}]},
    {"code": "window_days", "datatype": "number", "required": False, "order": 4,
     "description": "几天内完成 (days the wish stays open, from an hour after posting)",
     "datatype_description": "a whole number, 1 to 90; 7 when absent"},
]  # fmt: skip
CONTACT = ("first_name", "last_name", "email", "phone", "device_id", "account_id")
DEFAULT_DAYS = 90  # GET requests with no dates: the last 90 days, as the spec says
Name = Annotated[str, PathParameter(max_length=200)]


class Open311Error(Exception):
    """An answer in the spec's error format."""

    def __init__(self, status: int, description: str, *, retry_after: int | None = None) -> None:
        super().__init__(description)
        self.status = status
        self.description = description
        self.retry_after = retry_after


def split(name: str, *resources: str) -> tuple[str, str]:
    """``requests.json`` → (``requests``, ``json``); 404 for another resource or format."""
    resource, dot, fmt = name.rpartition(".")
    if not dot or fmt not in TYPES or (resources and resource not in resources):
        raise Open311Error(404, f"no such resource: {name}")
    return resource, fmt


def answer(fmt: str, root: str, body: Any, *, status: int = 200) -> Response[bytes]:
    """``body`` as JSON, or as XML under ``root`` (lists of dicts become repeated elements)."""
    if fmt == "json":
        content = msgspec.json.encode(body)
    else:
        element = ET.Element(root)
        _fill(element, body)
        content = ET.tostring(element, encoding="utf-8", xml_declaration=True)
    return Response(content=content, status_code=status, media_type=TYPES[fmt])


def _fill(element: ET.Element, value: Any) -> None:
    if isinstance(value, Mapping):
        for key, inner in value.items():
            _fill(ET.SubElement(element, key), inner)
    elif isinstance(value, list):
        for inner in value:
            _fill(ET.SubElement(element, ITEMS.get(element.tag, "item")), inner)
    elif isinstance(value, bool):
        element.text = "true" if value else "false"
    elif value is not None:
        element.text = str(value)


def error(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    """Every error of these endpoints in the spec's format (by the path's suffix)."""
    fmt = "xml" if request.url.path.endswith(".xml") else "json"
    headers: dict[str, str] = {}
    if isinstance(exc, Open311Error):
        status, text = exc.status, exc.description
        if exc.retry_after is not None:
            headers["Retry-After"] = str(exc.retry_after)
    elif isinstance(exc, mk.InvalidInput):
        status, text = 400, str(exc)
    elif isinstance(exc, mk.NotFound):
        status, text = 404, str(exc)
    elif isinstance(exc, mk.NotAllowed):
        status, text = 403, str(exc)
    elif isinstance(exc, HTTPException) and 400 <= exc.status_code < 500:
        status, text = (400 if exc.status_code == 422 else exc.status_code), exc.detail
    else:
        return problems.handle(request, exc)  # a fault of ours: logged, a 500
    response = answer(fmt, "errors", [{"code": status, "description": text}], status=status)
    response.headers.update(headers)
    return response


def _jurisdiction(query: Mapping[str, str]) -> str:
    found = query.get("jurisdiction_id", "").strip()
    if not found:
        raise Open311Error(400, "jurisdiction_id was not provided")
    return found


def _moment(name: str, text: str) -> dt.datetime:
    text = re.sub(r" (\d\d:?\d\d)$", r"+\1", text.strip())  # a "+" sent unencoded: a space
    try:
        moment = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise Open311Error(400, f"{name} must be a W3C date and time") from None
    if moment.tzinfo is None:
        raise Open311Error(400, f"{name} must carry a time zone")
    return moment


def _listed(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


def public(found: PublicRequest) -> dict[str, Any]:
    """A wish as GeoReport's service request: the spec's public fields, nothing personal."""
    state = labels.label(labels.WISH_STATES, found.state.value)
    return {
        "service_request_id": found.id,
        "status": "open" if found.open else "closed",
        "status_notes": state,
        "service_name": found.service_code,
        "service_code": found.service_code,
        "description": found.title,
        "agency_responsible": found.community_id,
        "service_notice": "",
        "requested_datetime": found.requested_at.isoformat(),
        "updated_datetime": found.updated_at.isoformat(),
        "expected_datetime": None,
        "address": found.address,
        "address_id": None,
        "zipcode": None,
        "lat": found.location.lat if found.location else None,
        "long": found.location.lng if found.location else None,
        "media_url": None,
    }


async def posted(request: Request[Any, Any, Any], _given: dict[str, Any]) -> dict[str, str]:
    """The POST's form, once it is form-urlencoded and its key within its rate (before the unit
    of work: the form is read on the event loop, the count kept in the rate-limit store)."""
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind != "application/x-www-form-urlencoded":
        raise Open311Error(400, "send the request as application/x-www-form-urlencoded")
    try:
        form = await request.form()
    except Exception:  # a body that is no form
        raise Open311Error(400, "the body is not a form") from None
    fields: dict[str, str] = {}
    for key, value in form.multi_items():
        if not isinstance(value, str):
            raise Open311Error(400, f"{key} must be text")
        if key in fields:
            raise Open311Error(400, f"{key} is given twice")
        fields[key] = value
    key = fields.get("api_key", "")
    if not key:
        raise Open311Error(403, "api_key was not provided")
    limit = request.app.state.settings.open311_per_minute
    store = request.app.stores.get("rate_limit")
    wait = await ratelimit.spend(store, f"open311:{mk.intake.digest(key)}", limit)
    if wait is not None:
        raise Open311Error(429, "too many requests for this api_key", retry_after=wait)
    return fields


def _number(fields: Mapping[str, str], code: str, default: int) -> int:
    text = fields.get(f"attribute[{code}]", "").strip()
    if not text:
        return default
    try:
        return int(text)
    except ValueError:
        raise Open311Error(400, f"attribute[{code}] must be a whole number") from None


def _location(fields: Mapping[str, str]) -> mk.Point | None:
    lat, long = fields.get("lat", "").strip(), fields.get("long", "").strip()
    if not lat and not long:
        return None
    try:
        point = mk.Point(lat=float(lat), lng=float(long))
    except ValueError:
        raise Open311Error(400, "lat and long must both be decimal degrees") from None
    if not all(math.isfinite(v) for v in (point.lat, point.lng)):
        raise Open311Error(400, "lat and long must both be decimal degrees")
    return point


def _check_fields(fields: Mapping[str, str]) -> None:
    known = {a["code"] for a in ATTRIBUTES}
    for key in fields:
        if key.startswith("attribute[") and key.endswith("]") and key[10:-1] not in known:
            raise Open311Error(400, f"{key} is not an attribute of this service")


def _find(
    tx: Tx, now: dt.datetime, community: str, query: Mapping[str, str]
) -> Iterable[PublicRequest]:
    """GET requests' filters, as the spec gives them (comma-separated lists; W3C dates)."""
    ids = _listed(query.get("service_request_id", ""))
    codes = _listed(query.get("service_code", ""))
    statuses = set(_listed(query.get("status", "")))
    if statuses - {"open", "closed"}:
        raise Open311Error(400, "status must be open, closed or both")
    since = _moment("start_date", query["start_date"]) if query.get("start_date") else None
    until = _moment("end_date", query["end_date"]) if query.get("end_date") else None
    if since is None and until is None and not ids:
        since = now - dt.timedelta(days=DEFAULT_DAYS)
    is_open = None if len(statuses) != 1 else statuses == {"open"}
    return mk.intake.public_requests(
        tx, community, ids=ids, codes=codes, since=since, until=until, open=is_open
    )


class Open311Controller(Controller):
    path = "/open311/v2"
    opt = PUBLIC
    include_in_schema = False  # GeoReport v2 is its own specification (docs/api.md, "Open311")
    exception_handlers = {Exception: error}

    @get("/{name:str}")
    @api.read
    def read(self, request: Request[Any, Any, Any], tx: Tx, now: Now, name: Name) -> Response[Any]:
        resource, fmt = split(name, "discovery", "services", "requests")
        query = dict(request.query_params)
        if resource == "discovery":
            base = str(request.base_url).rstrip("/") + "/open311/v2"
            return answer(fmt, "discovery", {
                "changeset": CHANGESET,
                "contact": "社区工作人员（各社区）; the operator of this Linli service",
                "key_service": "api_key: issued per partner system by an admin "
                               "(linli open311 key --org ID --name NAME)",
                "endpoints": [{"specification": SPEC, "url": base, "changeset": CHANGESET,
                               "type": "production", "formats": ["text/xml", "application/json"]}],
            })  # fmt: skip
        community = _jurisdiction(query)
        if resource == "services":
            codes = mk.intake.services(tx, community)
            return answer(fmt, "services", [
                {"service_code": code, "service_name": code, "description": code,
                 "metadata": True, "type": "batch", "keywords": "", "group": "微心愿"}
                for code in codes
            ])  # fmt: skip
        found = _find(tx, now, community, query)
        return answer(fmt, "service_requests", [public(r) for r in found])

    @get("/services/{name:str}")
    @api.read
    def definition(self, request: Request[Any, Any, Any], tx: Tx, name: Name) -> Response[Any]:
        code, fmt = split(name)
        community = _jurisdiction(dict(request.query_params))
        if code not in mk.intake.services(tx, community):
            raise Open311Error(404, f"service_code {code} was not found")
        attributes = [{"variable": True, **a, "values": a.get("values", [])} for a in ATTRIBUTES]
        return answer(fmt, "service_definition", {"service_code": code, "attributes": attributes})

    @get("/requests/{name:str}")
    @api.read
    def one(self, request: Request[Any, Any, Any], tx: Tx, name: Name) -> Response[Any]:
        wish_id, fmt = split(name)
        community = _jurisdiction(dict(request.query_params))
        found = mk.intake.public_requests(tx, community, ids=[wish_id], limit=1)
        if not found:
            raise Open311Error(404, f"service_request_id {wish_id} was not found")
        return answer(fmt, "service_requests", [public(found[0])])

    @post("/{name:str}", status_code=201)
    @api.write_after(fields=posted)
    def create(self, tx: Tx, now: Now, name: Name, fields: dict[str, str]) -> Response[Any]:
        _, fmt = split(name, "requests")
        partner: Partner | None = mk.intake.partner_of(tx, fields["api_key"])
        if partner is None:
            raise Open311Error(403, "api_key is not valid")
        jurisdiction = fields.get("jurisdiction_id", "").strip()
        if jurisdiction and jurisdiction != partner.community_id:
            raise Open311Error(403, "api_key is not valid for this jurisdiction_id")
        code = fields.get("service_code", "").strip()
        if not code:
            raise Open311Error(400, "service_code was not provided")
        if code not in mk.intake.services(tx, partner.community_id):
            raise Open311Error(400, f"service_code {code} was not found")
        _check_fields(fields)
        wish = mk.intake.post_request(
            tx,
            partner,
            service_code=code,
            description=fields.get("description", ""),
            title=fields.get("attribute[title]", ""),
            location=_location(fields),
            address=fields.get("address_string", ""),
            estimated_minutes=_number(fields, "estimated_minutes", mk.intake.DEFAULT_MINUTES),
            urgency=_number(fields, "urgency", int(mk.Urgency.NORMAL)),
            window_days=_number(fields, "window_days", mk.intake.DEFAULT_DAYS),
            contact=Contact(**{k: fields.get(k, "")[:200] for k in CONTACT}),
            now=now,
        )
        notice = "已收到，待社区审核（待审核）"
        body = [{"service_request_id": wish.id, "service_notice": notice, "account_id": None}]
        return answer(fmt, "service_requests", body, status=201)


ROUTES = [Open311Controller]
