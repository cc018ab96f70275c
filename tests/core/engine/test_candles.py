from decimal import Decimal

import pytest

from bots.engine.candles import CandleBuilder
from marketdata.feeds.types import Instrument

D = Decimal
S = 1_000_000_000
BASE = 1_767_614_400 * S  # 2026-01-05 12:00:00 UTC, a 15-minute boundary


@pytest.mark.parametrize("interval,seconds", [("1m", 60), ("5m", 300), ("15m", 900)])
def test_a_candle_closes_when_the_first_price_of_the_next_interval_arrives(interval, seconds):
    b = CandleBuilder(Instrument("binance", "BTC/USDT"), interval)
    closed = []
    b.listeners.append(closed.append)
    for i, (p, q) in enumerate([("10", "1"), ("12", "2"), ("9", "0"), ("11", "1")]):
        assert b.add(D(p), D(q), BASE + i * S) is None
    c = b.add(D("13"), D(0), BASE + seconds * S)
    assert closed == [c]
    assert (c.open, c.high, c.low, c.close, c.volume) == (D(10), D(12), D(9), D(11), D(4))
    assert c.open_time.timestamp() == BASE / S and c.closed and c.interval == interval


def test_flush_closes_a_candle_whose_interval_ended_without_a_later_price():
    b = CandleBuilder(Instrument("binance", "BTC/USDT"), "1m")
    b.add(D(10), D(1), BASE)
    assert b.flush(BASE + 59 * S) is None
    assert b.flush(BASE + 60 * S).close == D(10)


def test_late_prices_for_a_closed_interval_are_dropped():
    b = CandleBuilder(Instrument("binance", "BTC/USDT"), "1m")
    b.add(D(10), D(1), BASE + 60 * S)
    assert b.add(D(99), D(1), BASE) is None
    assert b.add(D(11), D(1), BASE + 121 * S).high == D(10)


def test_unknown_intervals_are_refused():
    with pytest.raises(ValueError):
        CandleBuilder(Instrument("binance", "BTC/USDT"), "2h")
