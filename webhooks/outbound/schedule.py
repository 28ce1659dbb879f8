"""When a failed delivery is tried again: the Standard Webhooks schedule, jittered, and Retry-After."""

from __future__ import annotations

import random
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime

#: Waits after the 1st, 2nd, ... failed attempt; the first attempt is immediate, so a
#: delivery gets len(RETRY_DELAYS) + 1 = 10 attempts over about 75.5 hours.
RETRY_DELAYS: tuple[timedelta, ...] = (
    timedelta(seconds=5),
    timedelta(minutes=5),
    timedelta(minutes=30),
    timedelta(hours=2),
    timedelta(hours=5),
    timedelta(hours=10),
    timedelta(hours=14),
    timedelta(hours=20),
    timedelta(hours=24),
)
JITTER = 0.2  # each wait is scaled by a uniform factor in [1 - JITTER, 1 + JITTER]
MAX_RETRY_AFTER = timedelta(hours=24)  # a receiver cannot push a retry out further than this


def next_retry_delay(
    failed_attempts: int,
    *,
    retry_after: timedelta | None = None,
    delays: Sequence[timedelta] = RETRY_DELAYS,
    jitter: float = JITTER,
    rng: random.Random | None = None,
) -> timedelta | None:
    """Return the wait before the next attempt after ``failed_attempts`` failures, or None if dead.

    A receiver's ``Retry-After`` can lengthen the wait (up to a day) but never shorten it
    below the schedule, so a misbehaving receiver cannot turn the schedule into a hot loop.
    """
    if failed_attempts < 1:
        raise ValueError("failed_attempts counts failures so far and starts at 1")
    if failed_attempts > len(delays):
        return None
    base = delays[failed_attempts - 1]
    factor = 1 + (rng or random).uniform(-jitter, jitter)
    wait = timedelta(seconds=base.total_seconds() * factor)
    if retry_after is not None:
        wait = max(wait, min(retry_after, MAX_RETRY_AFTER))
    return wait


def parse_retry_after(value: str | None, now: datetime) -> timedelta | None:
    """Parse a ``Retry-After`` header (delta seconds or an HTTP date); None if absent or invalid."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return timedelta(seconds=int(value))
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(when - now, timedelta(0))
