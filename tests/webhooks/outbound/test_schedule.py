from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest

from webhooks.outbound.schedule import JITTER, RETRY_DELAYS, next_retry_delay, parse_retry_after

NOW = datetime(2026, 11, 26, 5, 0, tzinfo=UTC)


def test_next_retry_delay_each_failure_within_jitter_of_schedule():
    rng = random.Random(7)
    for failures, base in enumerate(RETRY_DELAYS, start=1):
        for _ in range(200):
            wait = next_retry_delay(failures, rng=rng)
            assert wait is not None
            assert abs(wait / base - 1) <= JITTER + 1e-9


def test_next_retry_delay_jitter_spreads_waits():
    rng = random.Random(1)
    waits = {next_retry_delay(3, rng=rng) for _ in range(50)}
    assert len(waits) > 40


def test_next_retry_delay_after_last_retry_dead():
    assert next_retry_delay(len(RETRY_DELAYS) + 1) is None
    # Ten attempts in all: the first immediate, then nine scheduled retries over ~75.5 h.
    assert len(RETRY_DELAYS) + 1 == 10
    assert sum(RETRY_DELAYS, timedelta()) == timedelta(hours=75, minutes=35, seconds=5)


def test_next_retry_delay_zero_failures_rejected():
    with pytest.raises(ValueError):
        next_retry_delay(0)


def test_next_retry_delay_retry_after_lengthens_but_never_shortens():
    rng = random.Random(3)
    assert next_retry_delay(1, retry_after=timedelta(seconds=120), rng=rng) == timedelta(seconds=120)
    wait = next_retry_delay(4, retry_after=timedelta(seconds=1), rng=rng)
    assert wait is not None and wait >= timedelta(hours=2) * (1 - JITTER)


def test_next_retry_delay_retry_after_capped_at_a_day():
    assert next_retry_delay(1, retry_after=timedelta(days=30), jitter=0) == timedelta(hours=24)


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("120", timedelta(seconds=120)),
        (" 7 ", timedelta(seconds=7)),
        ("Thu, 26 Nov 2026 05:02:00 GMT", timedelta(minutes=2)),
        ("Thu, 26 Nov 2026 04:00:00 GMT", timedelta(0)),
        ("soon", None),
        ("-5", None),
        ("", None),
        (None, None),
    ],
)
def test_parse_retry_after_seconds_or_date(header, expected):
    assert parse_retry_after(header, NOW) == expected
