"""Community rules (社区规则): limits, deadlines and weights a community sets for its wishes.

Stored per community as one document; :data:`DEFAULT_RULES` applies until a community saves its
own. Deadlines drive escalation (吹哨报到): a wish not verified, claimed or completed in time
moves up a level (community → street → district) and its deadline restarts.
"""

from __future__ import annotations

import msgspec

from marketplace.matching import DEFAULT_WEIGHTS, Weights
from marketplace.model import DEFAULT_CATEGORIES

MAX_LEVEL = 2  # 0 community, 1 street, 2 district
MAX_CATEGORIES = 100


class Deadlines(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    verify_hours: int = 24  # submitted → verified
    claim_hours: int = 48  # published → first claim, and each further place
    complete_hours: int = 168  # claimed → served


class CommunityRules(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    categories: tuple[str, ...] = DEFAULT_CATEGORIES
    claim_limit: int = 3  # open claims one member may hold (anti-hoarding)
    auto_accept_days: int = 7  # unconfirmed completions are accepted after this
    checkin_distance_m: int = 1000  # 0: location not checked
    deadlines: Deadlines = Deadlines()
    category_deadlines: dict[str, Deadlines] = msgspec.field(default_factory=dict)
    goods_points: int = 0  # points for a donor of a goods wish (0: none)
    offers_need_verification: bool = True
    weights: Weights = DEFAULT_WEIGHTS  # how matching ranks members for a wish

    def deadlines_for(self, category: str) -> Deadlines:
        return self.category_deadlines.get(category, self.deadlines)

    def problems(self) -> tuple[str, ...]:
        found = []
        if not self.categories or any(not 1 <= len(c) <= 32 for c in self.categories):
            found.append("categories must be 1 to 32 characters each, at least one")
        if len(self.categories) > MAX_CATEGORIES or len(self.category_deadlines) > MAX_CATEGORIES:
            found.append(f"at most {MAX_CATEGORIES} categories and category deadlines")
        if any(not 1 <= len(c) <= 32 for c in self.category_deadlines):
            found.append("category_deadlines must name categories of 1 to 32 characters")
        if not 1 <= self.claim_limit <= 100:
            found.append("claim_limit must be 1 to 100")
        if not 1 <= self.auto_accept_days <= 90:
            found.append("auto_accept_days must be 1 to 90")
        if not 0 <= self.checkin_distance_m <= 100_000:
            found.append("checkin_distance_m must be 0 to 100000")
        if not 0 <= self.goods_points <= 10_000:
            found.append("goods_points must be 0 to 10000")
        for d in (self.deadlines, *self.category_deadlines.values()):
            hours = (d.verify_hours, d.claim_hours, d.complete_hours)
            if any(not 1 <= h <= 24 * 365 for h in hours):
                found.append("deadlines must be 1 to 8760 hours")
                break
        found.extend(self.weights.problems())
        return tuple(found)


DEFAULT_RULES = CommunityRules()
