"""Answers kept for a few seconds (:class:`Kept`): what a caller may answer again instead of
reading and computing it anew, while it is young enough and its *stamp* is unchanged.

The caller decides what may be kept and what its stamp is: :func:`marketplace.recommendations`
keeps each member's 为你推荐 list with the member's own state as its stamp (their own changes show
at once), :func:`marketplace.statistics` and :func:`marketplace.dashboard` keep an area's figures
of a period with no stamp (the figures are the same for everyone who may read them; the caller's
right to read them is checked on every call). Nothing is kept unless the caller passes a
``Kept``: the library alone always reads anew. Each process keeps its own; nothing is shared or
told between processes, which is why a stamp is read, not an invalidation sent.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Hashable
from typing import Generic, TypeVar

T = TypeVar("T")


class Kept(Generic[T]):
    """Up to ``size`` answers, each kept ``seconds`` from when it was made (the oldest go first
    when more are kept; ``seconds=0`` keeps none). Safe to share between threads."""

    def __init__(self, seconds: float = 10.0, size: int = 500) -> None:
        self.span = dt.timedelta(seconds=seconds)
        self.size = size
        self._kept: dict[Hashable, tuple[Hashable, dt.datetime, T]] = {}
        self._lock = threading.Lock()

    def get(self, key: Hashable, stamp: Hashable, now: dt.datetime) -> T | None:
        """The answer kept under ``key`` when it was made under this ``stamp`` and is younger
        than ``seconds`` at ``now`` (a clock set back finds nothing); else None."""
        with self._lock:
            found = self._kept.get(key)
        if found is None:
            return None
        kept_stamp, at, value = found
        if kept_stamp != stamp or not at <= now < at + self.span:
            return None
        return value

    def peek(self, key: Hashable, now: dt.datetime) -> tuple[Hashable, T] | None:
        """The stamp and answer kept under ``key`` while younger than ``seconds``, whatever the
        stamp (for a caller that reads the stamp now in a statement it sends anyway)."""
        with self._lock:
            found = self._kept.get(key)
        if found is None:
            return None
        stamp, at, value = found
        return (stamp, value) if at <= now < at + self.span else None

    def put(self, key: Hashable, stamp: Hashable, now: dt.datetime, value: T) -> None:
        if not self.span:
            return
        with self._lock:
            self._kept.pop(key, None)
            self._kept[key] = (stamp, now, value)
            while len(self._kept) > self.size:
                del self._kept[next(iter(self._kept))]

    def __len__(self) -> int:
        return len(self._kept)
