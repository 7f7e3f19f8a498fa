"""One line of the table: a ceiling and a product measured in the same run, and the target."""

from __future__ import annotations

import math
import statistics

import msgspec


class Row(msgspec.Struct, kw_only=True):
    group: str  # writes, reads, library, matching, scaleout, memory
    name: str  # e.g. "claim (SQLite)"
    unit: str  # "req/s", "records/s", "ms", "s", "MiB"
    ceiling_name: str = ""
    ceiling: float | None = None  # median over rounds
    product: float | None = None  # median over rounds
    p99_ms: float | None = None  # product's, median over rounds
    errors: int = 0
    rounds: int = 0
    load: str = ""  # load average when the last round ended
    target: str = ""  # e.g. ">= 35 %, p99 < 50 ms"
    met: bool | None = None  # None: no target
    note: str = ""

    @property
    def ratio(self) -> float | None:
        if self.ceiling and self.product is not None:
            return self.product / self.ceiling
        return None


def median(values: list[float]) -> float:
    """The median of the values that were measured (NaN: nothing completed in that run)."""
    kept = [v for v in values if not math.isnan(v)]
    return statistics.median(kept) if kept else float("nan")
