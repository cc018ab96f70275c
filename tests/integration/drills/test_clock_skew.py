"""Drill: the engine's machine clock is 5 minutes fast.

``runengine`` runs with ``CLOCK_SKEW_SECONDS=300`` (its local clock port is off by five minutes). The
engine learns the venues' time from the market data it receives and dates what it decides on it:
paper fills (hence P&L and its daily roll) and heartbeats carry exchange time, not the skewed clock;
the log says the local clock is off."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from .procs import Engine, base_env, sqlite_rows, until

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]
SKEW = 300


def when(text: str) -> datetime:
    value = datetime.fromisoformat(text)
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def test_a_skewed_engine_clock_dates_fills_and_heartbeats_on_exchange_time(data_dir):
    engine = Engine(base_env(data_dir, CLOCK_SKEW_SECONDS=str(SKEW)))
    try:
        until(lambda: "off the venues' time" in engine.output, 20, "the engine to notice its clock is off")
        until(lambda: sqlite_rows(data_dir, "select count(*) from bots_fill")[0][0] >= 2, 40, "fills")
        first_beat = sqlite_rows(data_dir, "select max(heartbeat_at) from bots_bot")[0][0]
        until(lambda: sqlite_rows(data_dir, "select max(heartbeat_at) from bots_bot")[0][0] != first_beat, 10,
              "a heartbeat after the fills")
    finally:
        code = engine.stop()
    assert code == 0, engine.output
    now = datetime.now(UTC)
    fills = [when(t) for t, in sqlite_rows(data_dir, "select time from bots_fill")]
    beats = [when(t) for t, in sqlite_rows(data_dir, "select heartbeat_at from bots_bot")]
    # Dated on the venues' clock (our real one here), not five minutes ahead.
    assert all(abs((t - now).total_seconds()) < 120 for t in fills), (now, fills)
    assert all(abs((t - now).total_seconds()) < 60 for t in beats), (now, beats)
    print(f"\nDRILL clock-skew (engine clock +{SKEW} s): corrected from the first venue tick (before the engine "
          f"reported ready); {len(fills)} fills and {len(beats)} heartbeats dated on exchange time")
