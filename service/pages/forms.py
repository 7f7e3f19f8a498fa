"""Reading an HTML form into a msgspec Struct, with each bad field explained in Chinese.

A page's form is a Struct like the API's request bodies (the same bounds). Empty inputs count as
not given (the field's default applies, or 必须填写), a ticked checkbox is ``true``, and unknown
fields are refused (but for the CSRF token, the confirmation and the form's idempotency key,
``_idem``). :class:`Invalid` carries ``{field: Chinese reason}`` for the form to show next
to each input. ``confirmed`` is the answer of the confirmation step (see :mod:`common`).

Every drawn form carries an idempotency key, ``_idem`` (:func:`new_key`), which the pages' units
of work take as the API's take the Idempotency-Key header (:class:`FormKeys`): a form sent twice
acts once.
"""

from __future__ import annotations

import datetime as dt
import re
import secrets
from typing import Any, TypeVar

import msgspec
from litestar import Request, Response
from litestar.datastructures import Cookie
from litestar.response import Redirect
from sqlalchemy.engine import Connection

from service import i18n, idempotency, text
from service.auth import Signed
from service.uow import Rollback

T = TypeVar("T")
KEY = "_idem"
"""The drawn form's idempotency key (see :class:`FormKeys`)."""
SKIP = frozenset({"_csrf_token", "confirmed", KEY})

_AT = re.compile(r" - at `\$\.?(?P<path>[^`]*)`$")
_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"^Object missing required field `(?P<f>[^`]+)`"), "必须填写"),
    (re.compile(r"^Object contains unknown field `(?P<f>[^`]+)`"), "不允许提交该字段"),
    (re.compile(r"^Expected `str` of length >= 1$"), "不能为空"),
    (re.compile(r"^Expected `str` of length >= (\d+)$"), r"至少 \1 个字"),
    (re.compile(r"^Expected `str` of length <= (\d+)$"), r"最多 \1 个字"),
    (re.compile(r"^Expected `array` of length >= 1$"), "至少填写一项"),
    (re.compile(r"^Expected `array` of length <= (\d+)$"), r"最多 \1 项"),
    (re.compile(r"^Expected `(?:int|float)` >= (-?[\d.]+)$"), r"不能小于 \1"),
    (re.compile(r"^Expected `(?:int|float)` <= (-?[\d.]+)$"), r"不能大于 \1"),
    (re.compile(r"^Expected `int`, got .*$"), "须为整数"),
    (re.compile(r"^Expected `(?:float|number)`, got .*$"), "须为数字"),
    (re.compile(r"^Expected `str` matching regex .*$"), "格式不正确"),
    (re.compile(r"^Invalid enum value .*$"), "不是可选的值"),
    (re.compile(r"^Expected `bool`, got .*$"), "须为是或否"),
)


class Fields(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Base of every page form: fields it does not name are refused (no mass assignment)."""


class Invalid(Exception):
    """Bad input: ``errors`` maps each field (``_form`` for the whole form) to a Chinese reason."""

    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__("; ".join(f"{k}: {v}" for k, v in errors.items()))
        self.errors = errors


class Form:
    """The submitted fields: ``values`` (the first of each, for refilling inputs) and lists."""

    def __init__(self, pairs: list[tuple[str, str]]) -> None:
        self.pairs = pairs
        self.fields: set[str] = set()  # what the form names: those it sent, and its model's
        self.values: dict[str, str] = {}
        for key, value in pairs:
            self.values.setdefault(key, value)
        self.fields.update(self.values)

    @property
    def confirmed(self) -> bool:
        return self.values.get("confirmed") == "1"

    def get(self, key: str, default: str = "") -> str:
        return self.values.get(key, default)

    def getall(self, key: str) -> list[str]:
        return [v for k, v in self.pairs if k == key]

    def parse(self, model: type[T], *, ignore: tuple[str, ...] = ()) -> T:
        """The form as ``model``; ``ignore``: fields (or ``name:…`` families) read otherwise."""
        self.fields.update(f.name for f in msgspec.structs.fields(model))  # type: ignore[arg-type]
        data: dict[str, Any] = {}
        for key, value in self.values.items():
            if key in SKIP or key in ignore or key.split(":")[0] in ignore:
                continue
            given = value.strip()
            if given:
                data[key] = "true" if given == "on" else given
        return convert(data, model)


def convert(data: dict[str, Any], model: type[T]) -> T:
    """``data`` as ``model``, or Invalid with every bad field at once (not just the first)."""
    try:
        return msgspec.convert(data, model, strict=False)
    except msgspec.ValidationError as exc:
        first = describe(str(exc))
    errors: dict[str, str] = {}
    known = {f.name: f for f in msgspec.structs.fields(model)}  # type: ignore[arg-type]
    for name in data:
        if name not in known:
            errors[name] = "不允许提交该字段"
    for name, info in known.items():
        if name not in data:
            if info.required:
                errors[name] = "必须填写"
            continue
        try:
            msgspec.convert(data[name], info.type, strict=False)
        except msgspec.ValidationError as exc:
            errors[name] = describe(str(exc))[1]
    raise Invalid(errors or dict([first]))


def describe(message: str) -> tuple[str, str]:
    """(field, Chinese reason) of a msgspec validation message."""
    at = _AT.search(message)
    path = at.group("path") if at else ""
    plain = text.explain(_AT.sub("", message))
    field = re.sub(r"\[\d+\]", "", path).split(".")[0] or "_form"
    for pattern, reason in _PATTERNS:
        found = pattern.match(plain)
        if found:
            if "f" in pattern.groupindex:
                field = found.group("f")
                return field, reason
            return field, found.expand(reason)
    return field, i18n.reason_zh(plain)


async def read(request: Request[Any, Any, Any]) -> Form:
    """The request's form (url-encoded or multipart; the CSRF check may have read it already).
    A file input's name is one of the form's fields (a refused photo is said beside it); its
    files are read by the handler that takes them (:mod:`service.pages.photos`)."""
    form = await request.form()
    read = Form([(k, v) for k, v in form.multi_items() if isinstance(v, str)])
    read.fields.update(k for k, v in form.multi_items() if not isinstance(v, str))
    return read


class FormKeys:
    """The pages' idempotency keys: a field of the drawn form (``_idem``, made when the form is
    drawn, :func:`new_key`). The redirect that answers the form is kept under it, so the form
    sent again (a double tap, a refresh, a retry after a network error) answers with the same
    redirect and acts once. A drawn form acts once: the key names the form's address, not what
    was typed. A form that did not act (the question asked first, a refusal) keeps no key."""

    header = False

    async def claim(
        self, request: Request[Any, Any, Any], signed: Signed, now: dt.datetime, hours: int
    ) -> idempotency.Claim | None:
        text = (await read(request)).get(KEY)
        if not text:
            return None
        key = idempotency.checked(text, KEY)
        return idempotency.claim(signed, key, idempotency.fingerprint(request, b""), now, hours)

    def keep(
        self,
        conn: Connection,
        claim: idempotency.Claim,
        request: Request[Any, Any, Any],
        result: Any,
    ) -> Response[Any]:
        if not isinstance(result, Redirect) or result.status_code != 303:
            raise Rollback(result)  # it did not act: the key stays free for when it does
        kept = {"to": result.url, "cookies": [msgspec.to_builtins(c) for c in result.cookies]}
        idempotency.keep(conn, claim, 303, REDIRECT, msgspec.json.encode(kept))
        return result

    def replay(self, stored: idempotency.Stored, claim: idempotency.Claim) -> Response[Any]:
        idempotency.check_replay(stored, claim)
        kept = msgspec.json.decode(stored.body)
        return Redirect(
            path=kept["to"],
            status_code=303,
            cookies=[msgspec.convert(c, Cookie) for c in kept["cookies"]],
            headers={"Idempotent-Replayed": "true"},
        )


REDIRECT = "application/x-linli-redirect"
"""What a page keeps under a form's key: the redirect that answered it (its address, cookies)."""


def new_key() -> str:
    """A drawn form's idempotency key (``_idem``)."""
    return secrets.token_urlsafe(16)
