"""Number and text bounds on every operation: bad input gets a clear 4xx, and nothing is stored.

The operations come from the app's own OpenAPI document. For every field of every JSON body
(nested objects, list items and map values too), every query parameter and every path parameter,
values are made from the field's schema: 0, -1, 2^31, 2^63, 2^70 and their negatives, 1.5 and
1e308, the JSON tokens NaN and Infinity (sent raw: they are not JSON), strings of 10^5 characters
(10^4 in a URL: httpx sends no URL over 64 KiB), the empty string, emoji and mixed scripts
(``服务😀ÄΩ\\u202e``) where a pattern, a format or an enum allows no such text, far-off and
impossible dates, lists and maps of 10^4 entries, and the wrong JSON type for every field. Each
value the document calls invalid (or that no field of this API may take: 2^31 and beyond, 10^5
characters, 10^4 entries) goes out on its own. Each body operation also gets malformed JSON, a
body that is not UTF-8, the wrong top-level type, no body, and the wrong content type
(text/plain, a form, multipart); each unsafe one an Idempotency-Key that is too long or not ASCII.

Every answer must be a 4xx problem document (``application/problem+json``) with a stable
``code`` of service.problems' table, the status that code stands for and no stack trace; an
answer to a value the document itself refuses names the field at fault. Afterwards every table
holds exactly what it held before, row for row (a digest of each table's rows, not just their
count): nothing bad was stored, and nothing had to be excepted — refused input never reaches the
ledger, so not even a refusal record is written. A second test sends emoji and mixed scripts in
the Chinese text fields of otherwise valid requests: they are accepted and read back exactly.

In-process (httpx's ASGI transport, as service_world) on SQLite, signed in as an admin, so the
input checks are reached before any permission check could answer first.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import math
import re
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import httpx
import sqlalchemy as sa

import fuzz_world as fw
import service_world as sw
from service.problems import TITLES
from service_world import Service

LONG = "长" * 100_000  # in a body
LONG_URL = "x" * 10_000  # in a path or query string (httpx sends no URL over 64 KiB)
MIXED = "服务😀ÄΩ\u202e"
ALWAYS_BAD_INTEGERS = (2**31, -(2**31), 2**63, -(2**63), 2**70, -(2**70))
INTEGERS = (0, -1, *ALWAYS_BAD_INTEGERS)
RAW_TOKENS = ("NaN", "Infinity", "-Infinity")
BAD_TIMES = (
    "0",
    "2026-13-01T00:00:00Z",
    "2026-02-30T10:00:00+08:00",
    "2026-01-01T00:00:00",  # no zone
    "9999-12-31T23:59:59-05:00",
    "0001-01-01T00:00:00+05:00",
)
BAD_DATES = ("0", "2026-02-30", "9999-99-99", "2026-1-1")
MALFORMED = (
    b'{"a": ',
    b"{",
    b"[",
    b'{"x": 1}}',
    b"\xff\xfe{}",
    b'{"t": "\xed\xa0\x80"}',
    b"{'a': 1}",
)
WRONG_TOP = (b"null", b"[]", b'"text"', b"1", b"true")
SAFE = {"get", "head", "options"}
PROBLEM = "application/problem+json"
PLACEHOLDER = "__raw_token__"
QUERY_DEFAULTS = {
    "since": "2026-01-01T00:00:00Z",
    "until": "2026-02-01T00:00:00Z",
    "period": "2026-Q4",  # exports, reports: a calendar period
}
ENTRIES = 10_000
KEY = "<key>"  # a map's key in a field's path


@dataclass(frozen=True)
class Probe:
    method: str
    path: str
    what: str  # what is bad, for the report
    field: str | None = None  # the field the answer must name, when the document refuses it
    json_body: Any = None
    content: bytes | None = None
    headers: tuple[tuple[str, str], ...] = ()


class Document:
    """The OpenAPI document: references resolved, a field's types and bounds read."""

    def __init__(self, raw: dict[str, Any]) -> None:
        self.raw = raw

    def resolve(self, schema: dict[str, Any]) -> dict[str, Any]:
        while "$ref" in schema:
            schema = self.raw["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
        return schema

    def members(self, schema: dict[str, Any]) -> list[dict[str, Any]]:
        """The alternatives of a schema (its oneOf / anyOf, resolved), or the schema itself."""
        schema = self.resolve(schema)
        alternatives = schema.get("oneOf") or schema.get("anyOf")
        return [self.resolve(m) for m in alternatives] if alternatives else [schema]

    def types(self, schema: dict[str, Any]) -> set[str]:
        found = set()
        for member in self.members(schema):
            kind = member.get("type")
            if isinstance(kind, list):
                found.update(kind)
            elif kind:
                found.add(kind)
            elif "properties" in member or "additionalProperties" in member:
                found.add("object")
        return found

    def valid(self, schema: dict[str, Any], value: Any) -> bool:
        """Whether the document lets ``value`` through (a leaf's own constraints; enough here)."""
        schema = self.resolve(schema)
        for member in self.members(schema):
            bounds = {**member, **{k: v for k, v in schema.items() if k not in ("oneOf", "anyOf")}}
            if _fits(bounds, member.get("type"), value):
                return True
        return False


def _fits(schema: dict[str, Any], kind: str | None, value: Any) -> bool:
    if value is None:
        return kind == "null"
    if kind == "boolean":
        return isinstance(value, bool)
    if kind in ("integer", "number"):
        if isinstance(value, bool) or not isinstance(value, int | float):
            return False
        if kind == "integer" and not isinstance(value, int):
            return False
        low, high = schema.get("minimum", -math.inf), schema.get("maximum", math.inf)
        return math.isfinite(value) and low <= value <= high
    if kind == "string":
        if not isinstance(value, str):
            return False
        if not schema.get("minLength", 0) <= len(value) <= schema.get("maxLength", math.inf):
            return False
        if "enum" in schema and value not in schema["enum"]:
            return False
        if "pattern" in schema and not re.search(schema["pattern"], value):
            return False
        return _formatted(schema.get("format"), value)
    if kind == "array":
        return isinstance(value, list) and len(value) <= schema.get("maxItems", math.inf)
    if kind == "object" or kind is None:
        return isinstance(value, dict)
    return False


def _formatted(fmt: str | None, value: str) -> bool:
    try:
        if fmt == "date-time":
            moment = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
            return moment.tzinfo is not None and "T" in value
        if fmt == "date":
            return len(value) == 10 and bool(dt.date.fromisoformat(value))
    except ValueError:
        return False
    return True


def _sample(doc: Document, schema: dict[str, Any], n: int) -> Any:
    """A valid value number ``n`` (distinct ones for distinct ``n``) to fill lists and maps."""
    kinds = doc.types(schema)
    member = next((m for m in doc.members(schema) if m.get("type") != "null"), {})
    if "object" in kinds:
        required = member.get("required", [])
        return {k: _sample(doc, member["properties"][k], n) for k in required}
    if "integer" in kinds or "number" in kinds:
        return max(1, int(member.get("minimum", 1)))
    if member.get("format") == "date":
        return (dt.date(2000, 1, 1) + dt.timedelta(days=n)).isoformat()
    if "enum" in member:
        return member["enum"][0]
    return f"x{n}"


def _values(doc: Document, schema: dict[str, Any]) -> Iterator[tuple[Any, bool]]:
    """(value, the document refuses it) for a body field; only values no field of this API may
    take, or that the field's own schema refuses."""
    kinds = doc.types(schema)
    member = next((m for m in doc.members(schema) if m.get("type") != "null"), {})
    fmt = member.get("format") or schema.get("format")
    candidates: list[tuple[Any, bool]] = []  # (value, bad whatever the schema says)
    if kinds & {"integer", "number"}:
        candidates += [(v, v in ALWAYS_BAD_INTEGERS) for v in INTEGERS]
        candidates += [(1e308, True), (-1e308, True), (1.5, False), ("5", False), (True, False)]
    if "string" in kinds:
        candidates += [(LONG, True), ("", False), (MIXED, False), (5, False), (True, False)]
        candidates += [(t, True) for t in (BAD_TIMES if fmt == "date-time" else ())]
        candidates += [(d, True) for d in (BAD_DATES if fmt == "date" else ())]
        candidates += [("nope", False)] if "enum" in member else []
    if "boolean" in kinds:
        candidates += [(0, False), (1, False), ("true", False)]
    if "array" in kinds:
        items = member.get("items", {})
        many = [_sample(doc, items, n) for n in range(member.get("maxItems", ENTRIES) + 1)]
        candidates += [(many, True), ("x", False), (5, False)]
    if "object" in kinds:
        extra = member.get("additionalProperties")
        if isinstance(extra, dict):
            value = _sample(doc, extra, 0)
            candidates += [({f"k{n}": value for n in range(ENTRIES)}, True)]
            candidates += [({"k" * 10_000: value}, True)]
        candidates += [("x", False), (5, False), ([], False)]
    candidates.append((None, False))
    for value, always in candidates:
        refused = not doc.valid(schema, value)
        if refused or always:
            yield value, refused


def _texts(doc: Document, schema: dict[str, Any]) -> Iterator[tuple[str, bool]]:
    """(text, the document refuses it) for a path or query parameter: text, as a URL has it."""
    kinds = doc.types(schema)
    member = next((m for m in doc.members(schema) if m.get("type") != "null"), {})
    items = doc.resolve(member.get("items", {}))
    if kinds & {"integer", "number"}:
        low, high = member.get("minimum", -math.inf), member.get("maximum", math.inf)
        for text in (*map(str, INTEGERS), "1.5", "1e400", "abc", *RAW_TOKENS, LONG_URL):
            fits = re.fullmatch(r"-?\d{1,30}", text) is not None and low <= int(text) <= high
            yield text, not fits
    if "boolean" in kinds:
        yield from (("maybe", True), ("2", True), (LONG_URL, True))
    if "string" in kinds:
        fmt = member.get("format") or schema.get("format")
        if fmt == "date-time":
            yield from ((t, True) for t in (*BAD_TIMES, *RAW_TOKENS))
        elif "enum" in member:
            yield from (("nope", True), (MIXED, True))
        else:
            yield LONG_URL, not doc.valid(schema, LONG_URL)
            yield MIXED, not doc.valid(schema, MIXED)
            yield str(2**70), not doc.valid(schema, str(2**70))
    if "array" in kinds and "enum" in items:
        yield from (("nope", True), (MIXED, True))


def _body_fields(
    doc: Document, schema: dict[str, Any], path: tuple[str | int, ...] = ()
) -> Iterator[tuple[tuple[str | int, ...], dict[str, Any]]]:
    """Every field of a body: (its path, its schema), nested objects, list items and maps too."""
    for member in doc.members(schema):
        for name, sub in member.get("properties", {}).items():
            yield (*path, name), sub
            yield from _body_fields(doc, sub, (*path, name))
        if member.get("type") == "array" and isinstance(member.get("items"), dict):
            yield from _body_fields(doc, member["items"], (*path, 0))
        extra = member.get("additionalProperties")
        if isinstance(extra, dict):
            yield (*path, KEY), extra
            yield from _body_fields(doc, extra, (*path, KEY))


def _nest(path: tuple[str | int, ...], value: Any) -> Any:
    for step in reversed(path):
        value = [value] if isinstance(step, int) else {"k" if step is KEY else step: value}
    return value


def _dotted(path: tuple[str | int, ...]) -> str:
    """A field's path as the problem names it: ``attendance[0].minutes``."""
    text = ""
    for step in path:
        if step is KEY:
            text += "[...]"  # msgspec's name for a map's value
        else:
            text += f"[{step}]" if isinstance(step, int) else (f".{step}" if text else step)
    return text


def _probes(doc: Document, ids: dict[str, list[str]]) -> Iterator[Probe]:
    for template, operations in doc.raw["paths"].items():
        for method, operation in operations.items():
            if method not in ("get", "post", "put", "patch", "delete") or "/api/" not in template:
                continue
            parameters = operation.get("parameters", [])
            real = {p["name"]: (ids.get(p["name"]) or ["x"])[0] for p in parameters}
            path = template.format(**{k: quote(v, safe="") for k, v in real.items()})
            query = {p["name"]: QUERY_DEFAULTS[p["name"]] for p in parameters
                     if p["in"] == "query" and p.get("required")}  # fmt: skip
            yield from _parameter_probes(doc, method, template, real, query, parameters)
            if method not in SAFE:
                for key in ("k" * 256, "键"):
                    yield Probe(
                        method, path, "Idempotency-Key", headers=(("Idempotency-Key", key),)
                    )
            body = operation.get("requestBody", {}).get("content", {})
            if "application/json" in body:  # a photo upload's multipart form: tests/*/test_photos*
                yield from _body_probes(doc, method, path, body["application/json"]["schema"])


def _parameter_probes(
    doc: Document,
    method: str,
    template: str,
    real: dict[str, str],
    query: dict[str, str],
    parameters: list[dict[str, Any]],
) -> Iterator[Probe]:
    for parameter in parameters:
        name, where = parameter["name"], parameter["in"]
        if where not in ("path", "query"):
            continue
        for text, refused in _texts(doc, parameter["schema"]):
            if where == "path":
                values = {**real, name: text}
                path = template.format(**{k: quote(v, safe="") for k, v in values.items()})
                yield Probe(method, path, f"path {name}={text[:20]!r}")
            elif refused:
                path = template.format(**{k: quote(v, safe="") for k, v in real.items()})
                params = httpx.QueryParams({**query, name: text})
                what = f"query {name}={text[:20]!r}"
                yield Probe(method, f"{path}?{params}", what, field=name)


def _body_probes(doc: Document, method: str, path: str, schema: dict[str, Any]) -> Iterator[Probe]:
    required = any(m.get("required") for m in doc.members(schema))
    for where, field_schema in _body_fields(doc, schema):
        dotted = _dotted(where)
        for value, refused in _values(doc, field_schema):
            yield Probe(
                method, path, f"body {dotted}={json.dumps(value)[:30]}",
                field=dotted if refused else None, json_body=_nest(where, value),
            )  # fmt: skip
        if doc.types(field_schema) & {"integer", "number"}:
            for token in RAW_TOKENS:
                raw = json.dumps(_nest(where, PLACEHOLDER)).replace(f'"{PLACEHOLDER}"', token)
                yield Probe(method, path, f"body {dotted}={token}", content=raw.encode())
    bodies = [*MALFORMED, *WRONG_TOP, b""] + ([b"{}"] if required else [])
    for content in bodies:
        yield Probe(method, path, f"body {content[:12]!r}", content=content)
    for media, content in (
        ("text/plain", b"{}"),
        ("application/x-www-form-urlencoded", b"reason=x&member_id=vol1"),
        ("multipart/form-data; boundary=b", b'--b\r\nContent-Disposition: form-data; name="a"'
         b"\r\n\r\n1\r\n--b--\r\n"),
        ("application/xml", b"<a/>"),
    ):  # fmt: skip
        yield Probe(method, path, f"content type {media}", content=content,
                    headers=(("Content-Type", media),))  # fmt: skip


def _digest(svc: Service) -> dict[str, tuple[int, str]]:
    """Each table's row count and a digest of all its rows."""
    found = {}
    with svc.app.state.db.snapshot() as conn:
        names = conn.exec_driver_sql(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
        ).scalars()
        for name in sorted(names):
            rows = conn.exec_driver_sql(f'SELECT * FROM "{name}" ORDER BY rowid').all()
            digest = hashlib.sha256(repr([tuple(r) for r in rows]).encode()).hexdigest()
            found[name] = (len(rows), digest)
    return found


async def _send(svc: Service, probe: Probe, token: dict[str, str]) -> httpx.Response:
    headers = {**token, **dict(probe.headers)}
    if probe.json_body is not None or probe.content is None:
        content = json.dumps(probe.json_body, ensure_ascii=False).encode()
        if probe.json_body is None and probe.method.lower() in SAFE | {"delete"}:
            content = b""
    else:
        content = probe.content
    if content and "Content-Type" not in headers:
        headers["Content-Type"] = "application/json"
    if any(ord(c) > 127 for v in headers.values() for c in v):
        encoded = [(k.encode(), v.encode()) for k, v in headers.items()]
        return await svc.client.request(probe.method, probe.path, headers=encoded, content=content)
    return await svc.client.request(probe.method, probe.path, headers=headers, content=content)


def _wrong(probe: Probe, answer: httpx.Response) -> str | None:
    """What is wrong with the answer to a probe, or None."""
    where = f"{probe.method.upper()} {probe.path[:90]} [{probe.what}]"
    text = answer.text
    if not 400 <= answer.status_code < 500:
        return f"{where}: {answer.status_code} {text[:300]}"
    if answer.headers.get("content-type") != PROBLEM:
        return f"{where}: content type {answer.headers.get('content-type')}"
    if "Traceback" in text or 'File "' in text:
        return f"{where}: a stack trace in the answer"
    body = answer.json()
    code = body.get("code")
    if code not in TITLES:
        return f"{where}: code {code!r} is not a stable code of service.problems"
    if TITLES[code][0] != answer.status_code and code != "http_error":
        return f"{where}: {answer.status_code} for {code} (which means {TITLES[code][0]})"
    if probe.field is not None and code in ("invalid_input", "unknown_field"):
        named = {body.get("field"), *(e.get("field") for e in body.get("errors", []))}
        if probe.field not in named:
            return f"{where}: names {sorted(map(str, named))}, not {probe.field}"
    return None


async def test_bad_numbers_text_bodies_and_content_types_get_a_clear_4xx_and_store_nothing() -> (
    None
):
    async with sw.running("sqlite") as svc:
        await _all_bad_input(svc)


async def _all_bad_input(svc: Service) -> None:
    started = time.perf_counter()
    ids = await fw.seed(svc)
    doc = Document((await svc.client.get("/schema/openapi.json")).json())
    before = _digest(svc)
    token = svc.as_("admin")
    wrong: list[str] = []
    statuses: Counter[int] = Counter()
    codes: Counter[str] = Counter()
    probes = list(_probes(doc, ids))
    for probe in probes:
        answer = await _send(svc, probe, token)
        statuses[answer.status_code] += 1
        if answer.headers.get("content-type") == PROBLEM:
            codes[str(answer.json().get("code"))] += 1
        if (problem := _wrong(probe, answer)) is not None:
            wrong.append(problem)
    after = _digest(svc)
    changed = {t: (before.get(t), after.get(t)) for t in before.keys() | after.keys()
               if before.get(t) != after.get(t)}  # fmt: skip
    print(
        f"[bounds] probes={len(probes)} wrong={len(wrong)} tables={len(before)} "
        f"changed_tables={len(changed)} seconds={time.perf_counter() - started:.1f} "
        f"statuses={dict(sorted(statuses.items()))} codes={dict(codes.most_common())}"
    )
    assert wrong == [], f"{len(wrong)} wrong answers:\n" + "\n".join(wrong[:60])
    assert changed == {}


def _mixed(n: int) -> str:
    """Text of ``n`` characters mixing Chinese, emoji (with joiners and skin tones), Latin with
    combining marks, Greek, Arabic (right to left by itself), Devanagari and CJK extension B. (A
    right-to-left *override* is refused: service.text.)"""
    pieces = "帮老人买菜🥬服务😀ÄΩ反向👨\u200d👩\u200d👧👍🏽e\u0301مرحباहिन्दी𠀀𪚥"
    return (pieces * (n // len(pieces) + 1))[:n]


async def test_emoji_and_mixed_scripts_in_chinese_text_fields_are_kept_exactly() -> None:
    async with sw.running("sqlite") as svc:
        await _mixed_text(svc)


async def _mixed_text(svc: Service) -> None:
    c, base = svc.client, "/api/v1/communities/c1"
    staff, res, admin = svc.as_("staff"), svc.as_("res"), svc.as_("admin")
    start = svc.clock.now + dt.timedelta(hours=2)
    wish = {
        "category": "助老陪护",
        "title": _mixed(100),
        "description": _mixed(2000),
        "org_id": "g1",
        "address": _mixed(200),
        "window_start": start.isoformat(),
        "window_end": (start + dt.timedelta(hours=2)).isoformat(),
        "estimated_minutes": 60,
    }
    posted = await c.post(f"{base}/wishes", headers=res, json=wish)
    assert posted.status_code == 201, posted.text
    read = (await c.get(f"{base}/wishes/{posted.json()['id']}", headers=staff)).json()
    assert {k: read[k] for k in ("title", "description", "address")} == {
        k: wish[k] for k in ("title", "description", "address")
    }
    cancelled = await c.post(
        f"{base}/wishes/{posted.json()['id']}/cancel", headers=staff, json={"reason": _mixed(500)}
    )
    assert cancelled.status_code == 200, cancelled.text
    history = (await c.get(f"{base}/wishes/{posted.json()['id']}/history", headers=staff)).json()
    assert _mixed(500) in json.dumps(history, ensure_ascii=False)

    offer = {"category": "家电维修", "title": _mixed(100), "schedule": _mixed(200)}
    made = await c.post(f"{base}/offers", headers=svc.as_("vol1"), json=offer)
    assert made.status_code == 201, made.text
    assert {k: made.json()[k] for k in ("title", "schedule")} == {
        k: offer[k] for k in ("title", "schedule")
    }
    item = await c.post(
        f"{base}/items", headers=staff, json={"name": _mixed(100), "cost": 1, "stock": 3}
    )
    assert item.status_code == 201, item.text
    again = await c.get(f"{base}/items/{item.json()['id']}", headers=staff)
    assert again.json()["name"] == _mixed(100)
    adjusted = await c.post(
        f"{base}/adjustments",
        headers=staff,
        json={"member_id": "vol1", "change": 1, "reason": _mixed(200)},
    )
    assert adjusted.status_code == 201, adjusted.text
    transfer = await c.get(f"{base}/transfers/{adjusted.json()['id']}", headers=staff)
    assert _mixed(200) in json.dumps(transfer.json(), ensure_ascii=False)
    org = await c.post(
        "/api/v1/orgs",
        headers=admin,
        json={"id": "g9", "kind": "grid", "name": _mixed(100), "parent_id": "p1"},
    )
    assert org.status_code == 201, org.text
    assert (await c.get("/api/v1/orgs/g9", headers=admin)).json()["name"] == _mixed(100)
    with svc.app.state.db.snapshot() as conn:
        stored = conn.scalar(sa.text("SELECT name FROM mk_orgs WHERE id = 'g9'"))
    assert stored == _mixed(100)  # as sent, not normalised or escaped
    kept = (
        "wish title/description/address, cancel reason, offer title/schedule, item name, memo, org"
    )
    print(f"[bounds] mixed-script text kept exactly (up to 2000 characters): {kept}")
