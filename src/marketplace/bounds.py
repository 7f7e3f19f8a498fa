"""Field bounds (字段范围): how long a title may be, how many volunteers a wish may ask for, how
many minutes one service may last, each written once, here, as a type.

The library checks the values it is given against these types (:func:`within`, :func:`most`),
and the HTTP service declares the fields of its request bodies and of its web forms with the same
types, so msgspec checks them at the edge and the OpenAPI document states them::

    title: Annotated[bounds.Title, text()]  # the service adds its free-text rule

A string's bound is its length in characters; a number's is its range, both ends included.
"""

from __future__ import annotations

from typing import Annotated, Any, get_args

from msgspec import Meta

from marketplace.errors import InvalidInput
from points import Cause

Title = Annotated[str, Meta(min_length=1, max_length=100)]
"""A wish's, an offer's, an event's title; a catalog item's or an org's name."""
PersonName = Annotated[str, Meta(min_length=1, max_length=50)]
"""A member's name as registered."""
Address = Annotated[str, Meta(min_length=1, max_length=200)]
"""Where the service happens (a wish's address, masked for most viewers)."""
Description = Annotated[str, Meta(max_length=2000)]
"""What is needed, in the resident's words (may be empty)."""
Schedule = Annotated[str, Meta(min_length=1, max_length=200)]
"""When an offer runs (互助项目: 每周二、四 19:00–20:30)."""
Reason = Annotated[str, Meta(min_length=1, max_length=500)]
"""Why: a rejection, a cancellation, a dispute, a ruling, a withdrawal."""
Note = Annotated[str, Meta(max_length=500)]
"""A remark that may be empty: a rating's comment, the consent note of 代点单."""
Memo = Annotated[str, Meta(max_length=200)]
"""A donation's message."""
IssuerName = Annotated[str, Meta(max_length=100)]
"""The organisation a certificate names as its issuer (empty: the community's name)."""
Signatory = Annotated[str, Meta(max_length=50)]
"""A certificate's person in charge (负责人), handler (经办人) or contact (联系方式)."""
Capacity = Annotated[int, Meta(ge=1, le=100)]
"""People a wish needs; places a unit takes; requests an offer takes a week."""
Minutes = Annotated[int, Meta(ge=1, le=1440)]
"""One service's minutes (estimated, or attended at an event): at most a day."""
Urgency = Annotated[int, Meta(ge=1, le=4)]
"""A wish's urgency, 1 (low) to 4 (urgent)."""
Rating = Annotated[int, Meta(ge=1, le=5)]
"""The resident's stars (评单)."""
Skill = Annotated[str, Meta(min_length=1, max_length=32)]
"""One skill a member has or a wish needs (维修, 辅导)."""
Room = Annotated[str, Meta(min_length=1, max_length=20)]
"""房号: a member's flat in their building."""
ProfileText = Annotated[str, Meta(max_length=200)]
"""A member's address (住址) or availability (可服务时间), in their words."""
SKILLS = 20
"""How many skills a member lists or a wish asks for."""


def _meta(kind: Any) -> Meta:
    found = [m for m in get_args(kind)[1:] if isinstance(m, Meta)]
    assert found, f"{kind!r} declares no bounds"
    return found[0]


def least(kind: Any) -> int:
    """The smallest value (or length) ``kind`` allows."""
    meta = _meta(kind)
    return int(meta.ge if meta.ge is not None else meta.min_length or 0)


def most(kind: Any) -> int:
    """The largest value (or length) ``kind`` allows."""
    meta = _meta(kind)
    high = meta.le if meta.le is not None else meta.max_length
    assert high is not None, f"{kind!r} declares no upper bound"
    return int(high)


def within(field: str, value: object, kind: Any) -> int:
    """``value`` as a whole number in the range of ``kind`` (or :class:`InvalidInput`)."""
    low, high = least(kind), most(kind)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise InvalidInput(field, Cause("range", {"low": low, "high": high}))
    return value
