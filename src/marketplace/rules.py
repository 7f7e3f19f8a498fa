"""Community rules (社区规则): limits, deadlines and weights a community sets for its wishes.

Stored per community as one document; :data:`DEFAULT_RULES` applies until a community saves its
own. Deadlines drive escalation (吹哨报到): a wish not verified, claimed or completed in time
moves up a level (community → street → district) and its deadline restarts.
"""

from __future__ import annotations

from typing import Annotated

import msgspec
from msgspec import Meta
from msgspec.structs import replace

from marketplace.matching import DEFAULT_WEIGHTS, Weights
from marketplace.model import DEFAULT_CATEGORIES
from points import Category, Cause, bounds_problems

MAX_LEVEL = 2  # 0 community, 1 street, 2 district
MAX_CATEGORIES = 100


Hours = Annotated[int, Meta(ge=1, le=24 * 365)]


class Deadlines(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    verify_hours: Hours = 24  # submitted → verified
    claim_hours: Hours = 48  # published → first claim, and each further place
    complete_hours: Hours = 168  # claimed → served


class CommunityRules(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Bounds are in the types (one definition: msgspec checks a decoded body against them, the
    API's schema states them, :meth:`problems` checks a value made in code)."""

    categories: Annotated[tuple[Category, ...], Meta(min_length=1, max_length=MAX_CATEGORIES)] = (
        DEFAULT_CATEGORIES
    )
    claim_limit: Annotated[int, Meta(ge=1, le=100)] = 3  # open claims one member may hold
    auto_accept_days: Annotated[int, Meta(ge=1, le=90)] = 7  # completions accepted after this
    checkin_distance_m: Annotated[int, Meta(ge=0, le=100_000)] = 1000  # 0: location not checked
    deadlines: Deadlines = Deadlines()
    category_deadlines: Annotated[dict[Category, Deadlines], Meta(max_length=MAX_CATEGORIES)] = (
        msgspec.field(default_factory=dict)
    )
    goods_points: Annotated[int, Meta(ge=0, le=10_000)] = 0  # for a goods wish's donor (0: none)
    offers_need_verification: bool = True
    weights: Weights = DEFAULT_WEIGHTS  # how matching ranks members for a wish

    def deadlines_for(self, category: str) -> Deadlines:
        return self.category_deadlines.get(category, self.deadlines)

    def problems(self) -> tuple[Cause, ...]:
        """What is wrong with these rules, each naming its field (``weights.skills``)."""
        found = bounds_problems(self)
        found += [replace(p, field=f"weights.{p.field}") for p in self.weights.problems()]
        return tuple(found)


DEFAULT_RULES = CommunityRules()
