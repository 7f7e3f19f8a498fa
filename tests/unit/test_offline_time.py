"""离线报到/签退: the time a phone says it took an action offline, judged without a database."""

from __future__ import annotations

import datetime as dt

import pytest

from marketplace import InvalidInput
from marketplace.visits import OFFLINE_SKEW, OFFLINE_WINDOW, offline_time

NOW = dt.datetime(2026, 12, 7, 8, 0, tzinfo=dt.UTC)
CLAIMED = NOW - dt.timedelta(hours=3)
MIN = dt.timedelta(minutes=1)


def code(given: dt.datetime, since: dt.datetime = CLAIMED) -> str:
    with pytest.raises(InvalidInput) as caught:
        offline_time(given, since=since, now=NOW)
    assert caught.value.field == "offline_at"
    return caught.value.reason.code


@pytest.mark.parametrize(
    "given",
    [CLAIMED, NOW - 10 * MIN, NOW, NOW - OFFLINE_WINDOW + MIN],
    ids=["at-the-claim", "ten-minutes-ago", "now", "almost-a-day-ago"],
)
def test_a_believable_time_is_kept(given: dt.datetime) -> None:
    since = min(CLAIMED, given)
    assert offline_time(given, since=since, now=NOW) == given


def test_a_phone_a_little_ahead_counts_as_now() -> None:
    assert offline_time(NOW + OFFLINE_SKEW, since=CLAIMED, now=NOW) == NOW


def test_a_time_in_the_future_beyond_the_skew_is_refused() -> None:
    assert code(NOW + OFFLINE_SKEW + dt.timedelta(seconds=1)) == "offline_time_future"


def test_a_time_more_than_a_day_old_is_refused() -> None:
    old = NOW - OFFLINE_WINDOW - dt.timedelta(seconds=1)
    assert code(old, since=old - MIN) == "offline_time_stale"


def test_a_time_before_the_claim_is_refused() -> None:
    assert code(CLAIMED - dt.timedelta(seconds=1)) == "offline_time_early"


def test_a_time_without_a_zone_is_refused() -> None:
    assert code(NOW.replace(tzinfo=None)) == "offline_time_zone"
