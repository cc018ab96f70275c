"""The price model: seeded, on the tick grid, uncrossed, with consistent update ids and candles."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

from marketdata.simulator.model import Market, MarketSpec
from marketdata.simulator.replay import load_prices, load_session
from marketdata.simulator.wire import Raw, dumps_raw, plain, ws_text_frame
from tests.fixtures import EXCHANGES

SPEC = MarketSpec("BTC/USDT", "BTCUSDT", "BTC", "USDT", Decimal("60000"), Decimal("0.01"), Decimal("0.00001"))


def test_same_seed_gives_the_same_path_and_another_seed_a_different_one() -> None:
    a, b, c = Market("binance", SPEC, 7), Market("binance", SPEC, 7), Market("binance", SPEC, 8)
    path_a = [a.step(0.1).market.price for _ in range(50)]
    path_b = [b.step(0.1).market.price for _ in range(50)]
    path_c = [c.step(0.1).market.price for _ in range(50)]
    assert path_a == path_b
    assert path_a != path_c


def test_book_stays_on_the_tick_grid_and_uncrossed_while_walking() -> None:
    market = Market("binance", SPEC, 1)
    for _ in range(200):
        market.step(0.5)
        bid, ask = market.best_bid()[0], market.best_ask()[0]
        assert bid < market.price < ask
        assert all(p % SPEC.tick == 0 for p in list(market.bids) + list(market.asks))
        assert all(q > 0 and q % SPEC.lot == 0 for q in list(market.bids.values()) + list(market.asks.values()))
        assert len(market.bids) == len(market.asks) == SPEC.levels


def test_set_price_puts_the_best_bid_and_ask_one_tick_either_side_and_prints_a_trade() -> None:
    market = Market("binance", SPEC, 1)
    event = market.move_to(Decimal("101.5"))
    assert market.best_bid()[0] == Decimal("101.49")
    assert market.best_ask()[0] == Decimal("101.51")
    assert event.trade is not None and event.trade.price == Decimal("101.5")


def test_update_ids_are_contiguous_across_events_and_changes_replay_to_the_same_book() -> None:
    market = Market("binance", SPEC, 3)
    book = {"bid": dict(market.bids), "ask": dict(market.asks)}
    last = market.update_id
    for _ in range(100):
        event = market.step(0.1)
        assert event.first_id == last + 1
        last = event.last_id
        for side, price, qty in event.changes:
            if qty == 0:
                book[side].pop(price)
            else:
                book[side][price] = qty
    assert book == {"bid": market.bids, "ask": market.asks}


def test_aggregated_klines_cover_the_same_volume_as_the_minutes() -> None:
    market = Market("binance", SPEC, 5)
    minutes = market.klines(60_000, limit=10_000)
    hours = market.klines(3_600_000, limit=10_000)
    assert sum(c.volume for c in minutes) == sum(c.volume for c in hours)
    assert all(h.high >= max(h.open, h.close) and h.low <= min(h.open, h.close) for h in hours)
    assert market.stats().count > 0


def test_wire_helpers_print_numbers_as_the_venues_do() -> None:
    assert plain(Decimal("72867.60")) == "72867.6"
    assert plain(Decimal("0E-8")) == "0"
    assert dumps_raw({"price": Raw("1797.30"), "qty": Raw("0.00000000")}) == '{"price":1797.30,"qty":0.00000000}'
    assert ws_text_frame("x" * 10)[:2] == b"\x81\x0a"
    assert ws_text_frame("x" * 200)[:4] == b"\x81\x7e\x00\xc8"
    assert len(ws_text_frame("x" * 70_000)) == 70_000 + 10


def test_csv_price_paths_accept_headers_timestamps_and_bare_prices(tmp_path: Path) -> None:
    with_time = tmp_path / "a.csv"
    with_time.write_text("timestamp,price\n1700000000000,100.5\n1700000000500,101\nbad,line\n")
    bare = tmp_path / "b.csv"
    bare.write_text("100\n101.25\nnan\n")
    assert load_prices(with_time) == [(0.0, Decimal("100.5")), (0.5, Decimal("101"))]
    assert load_prices(bare) == [(None, Decimal("100")), (None, Decimal("101.25"))]


def test_recorded_sessions_load_with_their_venue_and_relative_times() -> None:
    root = EXCHANGES
    binance = load_session(root / "binance/sessions/cryptofeed_BINANCE_HEAD.jsonl")
    coinbase = load_session(root / "coinbase_advanced/sessions/fastmm_advanced_md_stream_excerpt.jsonl")
    assert binance.venue == "binance" and len(binance.frames) == 265 and len(binance.rest) == 4
    assert coinbase.venue == "coinbase" and len(coinbase.frames) == 8
    assert binance.frames[0][0] >= 0 and binance.frames == sorted(binance.frames, key=lambda f: f[0])


def test_custom_markets_replace_one_venue_and_keep_the_defaults_elsewhere() -> None:
    from marketdata.simulator import Simulator

    doge = MarketSpec("DOGE/USDT", "DOGEUSDT", "DOGE", "USDT", Decimal("0.1"), Decimal("0.00001"), Decimal("1"),
                      Decimal("1000"))
    sim = Simulator(markets={"binance": [doge]})
    assert list(sim.binance.markets.by_symbol) == ["DOGE/USDT"]
    assert sim.market("binance", "DOGEUSDT").best_bid()[0] == Decimal("0.09999")
    assert list(sim.kraken.markets.by_symbol) == ["BTC/USD", "ETH/USD"]
