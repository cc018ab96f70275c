"""The local order book agrees with a naive model under any sequence of updates."""

from __future__ import annotations

from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from marketdata.feeds.book import OrderBook

prices = st.integers(min_value=1, max_value=60).map(lambda i: Decimal(i) / 4)
sizes = st.sampled_from([Decimal(0), Decimal("0.5"), Decimal("1"), Decimal("2.25")])
levels = st.lists(st.tuples(prices, sizes), max_size=6)


def _apply(model: dict, rows) -> None:
    for price, size in rows:
        if size:
            model[price] = size
        else:
            model.pop(price, None)


@settings(max_examples=200, deadline=None)
@given(snapshot=st.tuples(levels, levels), updates=st.lists(st.tuples(levels, levels), max_size=25))
def test_best_prices_and_top_levels_match_a_naive_book(snapshot, updates) -> None:
    book = OrderBook("binance", "BTC/USDT")
    bids: dict = {}
    asks: dict = {}
    book.apply_snapshot(*snapshot, sequence=1)
    _apply(bids, snapshot[0])
    _apply(asks, snapshot[1])
    for i, (b, a) in enumerate(updates):
        book.apply_update(b, a, sequence=i + 2)
        _apply(bids, b)
        _apply(asks, a)
        best_bid = max(bids.items()) if bids else None
        best_ask = min(asks.items()) if asks else None
        assert book.best_bid() == best_bid and book.best_ask() == best_ask
        top_bids, top_asks = book.top(3)
        assert top_bids == sorted(bids.items(), reverse=True)[:3]
        assert top_asks == sorted(asks.items())[:3]
        assert len(book) == len(bids) + len(asks)
    assert book.sequence == (len(updates) + 1)


@given(rows=st.tuples(levels, levels))
def test_a_depth_limited_book_keeps_only_the_best_levels(rows) -> None:
    book = OrderBook("kraken", "BTC/USD", depth=2)
    book.apply_snapshot(*rows)
    bids: dict = {}  # later duplicates win, as on the wire
    asks: dict = {}
    _apply(bids, rows[0])
    _apply(asks, rows[1])
    assert list(book.bids.keys()) == sorted(bids)[-2:]
    assert list(book.asks.keys()) == sorted(asks)[:2]


def test_mid_spread_depth_and_crossing() -> None:
    book = OrderBook("coinbase", "BTC/USD")
    assert book.mid() is None and book.spread() is None and not book.is_crossed()
    book.apply_snapshot([(Decimal("99"), Decimal("1")), (Decimal("98"), Decimal("4"))],
                        [(Decimal("101"), Decimal("2")), (Decimal("110"), Decimal("9"))])  # fmt: skip
    assert book.mid() == Decimal("100") and book.spread() == Decimal("2")
    assert book.depth_within(Decimal("0.02")) == (Decimal("5"), Decimal("2"))
    book.apply_update([(Decimal("102"), Decimal("1"))], [])
    assert book.is_crossed()
    book.clear()
    assert not book.synced and len(book) == 0
