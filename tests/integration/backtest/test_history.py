"""History: candles downloaded from each venue's public REST (the simulator over sockets), stored once
per market, timeframe and open time, resumed, gaps reported; CSV import counts malformed rows."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.core.management import call_command

from marketdata.history import candle_bars, describe_range, fetch_history, find_market, import_csv
from marketdata.models import Candle
from marketdata.simulator import SimulatorThread

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(120)]


@pytest.fixture(scope="module")
def sim():
    with SimulatorThread(seed=5) as s:
        yield s


def minute(dt: datetime) -> datetime:
    return dt.replace(second=0, microsecond=0)


@pytest.mark.parametrize("exchange,symbol", [("binance", "BTC/USDT"), ("coinbase", "BTC/USD"),
                                             ("kraken", "BTC/USD")])
def test_fetch_stores_each_closed_minute_once_and_resumes(sim, catalogue, exchange, symbol):
    market = find_market(exchange, symbol)
    until = minute(datetime.now(UTC))
    since = until - timedelta(hours=8)  # more than one page on every venue
    seen = []
    report = fetch_history(market, "1m", since, until, rest_url=sim.urls[exchange].rest,
                           progress=lambda done, total: seen.append((done, total)))
    stored = Candle.objects.series(market, "1m").count()
    assert report.stored == stored == 8 * 60 and report.gaps == []
    assert report.first == since and report.last == until - timedelta(minutes=1)
    assert seen[-1][0] == seen[-1][1]  # the progress reached the end
    row = Candle.objects.series(market, "1m").first()
    assert row.low <= min(row.open, row.close) and row.high >= max(row.open, row.close)
    again = fetch_history(market, "1m", since, until, rest_url=sim.urls[exchange].rest)
    assert again.stored == 0 and Candle.objects.series(market, "1m").count() == stored


def test_gaps_are_reported_and_a_command_line_fetch_fills_them(sim, catalogue):
    market = find_market("binance", "BTC/USDT")
    until = minute(datetime.now(UTC))
    since = until - timedelta(hours=2)
    fetch_history(market, "1m", since, until, rest_url=sim.urls["binance"].rest)
    hole = Candle.objects.series(market, "1m").filter(open_time__gte=since + timedelta(minutes=30),
                                                      open_time__lt=since + timedelta(minutes=40))
    assert hole.delete()[0] == 10
    report = describe_range(market, "1m", since, until)
    assert report.gaps == [(since + timedelta(minutes=30), since + timedelta(minutes=40))]
    out, err = io.StringIO(), io.StringIO()
    # Resuming starts after the newest stored candle: a hole in the middle needs its own range.
    call_command("history", "fetch", "--exchange", "binance", "--symbol", "BTC/USDT", "--timeframe", "1m",
                 "--since", (since + timedelta(minutes=30)).isoformat(), "--until",
                 (since + timedelta(minutes=40)).isoformat(), "--rest-url", sim.urls["binance"].rest,
                 stdout=out, stderr=err)
    assert "10 candles stored" in out.getvalue() and "gaps: 0" in out.getvalue()
    assert "100.0%" in err.getvalue()
    assert describe_range(market, "1m", since, until).gaps == []


def test_csv_import_skips_malformed_rows_and_streams_back_as_bars(catalogue, tmp_path):
    market = find_market("binance", "ETH/USDT")
    t0 = int(datetime(2026, 1, 1, tzinfo=UTC).timestamp() * 1000)
    lines = ["timestamp_ms,open,high,low,close,volume",
             f"{t0},100.5,101,100,100.75,3.5",
             f"{t0 + 60_000},100.75,100.8,99.9,100,1",
             "garbage,1,2,3",
             f"{t0 + 120_000},100,99,100,100,1",  # high below low: malformed
             f"{t0 + 180_000},100,100.123456789012,99.5,100.1,0"]  # 12 places: exact
    path = tmp_path / "eth.csv"
    path.write_text("\n".join(lines) + "\n")
    out = io.StringIO()
    call_command("history", "import", str(path), "--exchange", "binance", "--symbol", "ETH/USDT", stdout=out)
    assert "3 candles stored, 2 malformed rows skipped" in out.getvalue()
    assert "gaps: 1" in out.getvalue()
    bars = list(candle_bars(market, "1m"))
    assert bars[0] == (t0, Decimal("100.5"), Decimal("101"), Decimal("100"), Decimal("100.75"), Decimal("3.5"))
    assert bars[2][2] == Decimal("100.123456789012")
    with path.open() as stream:
        assert import_csv(market, "1m", stream).stored == 0  # already there


@pytest.mark.parametrize("exchange,symbol", [("binance", "BTC/USDT"), ("coinbase", "BTC/USD")])
def test_pages_are_paced_within_the_venue_s_rate_limit(sim, exchange, symbol):
    """One request per page, oldest first, with the venue's pause between pages (none before the first)."""
    import asyncio

    from marketdata.exchanges.base import Endpoint
    from marketdata.exchanges.registry import get_adapter
    from marketdata.klines import pages

    adapter = get_adapter(exchange)
    client = adapter.rest_client(Endpoint(ws="", rest=sim.urls[exchange].rest))
    end = int(minute(datetime.now(UTC)).timestamp() * 1000)
    start = end - 1200 * 60_000  # 1,200 minutes: two Binance pages, four Coinbase pages
    pauses: list[float] = []

    async def sleep(seconds: float) -> None:
        pauses.append(seconds)

    async def walk() -> list[tuple[int, int]]:
        try:
            return [(covered, len(rows)) async for covered, rows in pages(client, symbol, "1m", start, end,
                                                                          sleep=sleep)]
        finally:
            await client.close()

    walked = asyncio.run(walk())
    expected_pages = -(-1200 // client.candle_page)
    assert len(walked) == expected_pages and walked[-1][0] == end
    assert sum(n for _, n in walked) == 1200
    assert [c for c, _ in walked] == sorted(c for c, _ in walked)
    assert pauses == [client.candle_pause] * (expected_pages - 1) and client.candle_pause > 0


def test_a_venue_that_serves_only_its_latest_candles_is_asked_once(sim, catalogue):
    """Kraken's OHLC gives its latest 720 candles whatever the start: three days back is one request
    (not six paced ones that each get the same candles), and the report says why the rest is missing."""
    market = find_market("kraken", "BTC/USD")
    until = minute(datetime.now(UTC))
    since = until - timedelta(days=3)
    seen = []
    report = fetch_history(market, "1m", since, until, rest_url=sim.urls["kraken"].rest,
                           progress=lambda done, total: seen.append((done, total)))
    assert len(seen) == 1 and seen[0][0] == seen[0][1]
    # The latest 720 may include the minute still open, which is not in the range.
    assert report.stored in (719, 720) and "latest 720 candles" in report.note
    assert report.first >= until - timedelta(minutes=720) and report.last == until - timedelta(minutes=1)
    assert report.gaps == []
