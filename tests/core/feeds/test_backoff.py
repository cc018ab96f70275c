"""Reconnect delays grow exponentially, stay within the jitter band and never exceed the maximum."""

from __future__ import annotations

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from marketdata.feeds.connection import Backoff, ConnectionSettings


def test_delays_double_from_initial_until_the_cap_with_jitter_inside_its_band() -> None:
    backoff = Backoff(initial=1.0, max=30.0, multiplier=2.0, jitter=0.1)
    rng = random.Random(7)
    for attempt, base in [(1, 1), (2, 2), (3, 4), (4, 8), (5, 16), (6, 30), (12, 30)]:
        samples = [backoff.delay(attempt, rng) for _ in range(500)]
        assert min(samples) >= base * 0.9 - 1e-9
        assert max(samples) <= min(30.0, base * 1.1) + 1e-9
        assert max(samples) - min(samples) > base * 0.05  # jitter is really applied (spreads retries)


@given(
    initial=st.floats(0.001, 10), maximum=st.floats(0.001, 100), multiplier=st.floats(1, 4),
    jitter=st.floats(0, 0.5), attempt=st.integers(1, 200), seed=st.integers(0, 2**32),
)  # fmt: skip
def test_any_delay_is_within_bounds(initial, maximum, multiplier, jitter, attempt, seed) -> None:
    backoff = Backoff(initial=initial, max=maximum, multiplier=multiplier, jitter=jitter)
    delay = backoff.delay(attempt, random.Random(seed))
    base = min(maximum, initial * multiplier ** (attempt - 1))
    assert 0 <= delay <= maximum
    assert delay >= base * (1 - jitter) - 1e-9


def test_defaults_are_the_seed_numbers_with_unlimited_attempts() -> None:
    s = ConnectionSettings()
    assert (s.connect_timeout, s.ping_interval, s.pong_timeout) == (30.0, 30.0, 10.0)
    assert (s.backoff.initial, s.backoff.max, s.backoff.multiplier, s.backoff.jitter) == (1.0, 30.0, 2.0, 0.1)
    assert s.backoff.max_attempts is None


@pytest.mark.parametrize("attempt", [0, -3])
def test_attempt_below_one_uses_the_initial_delay(attempt: int) -> None:
    assert 0.9 <= Backoff().delay(attempt) <= 1.1
