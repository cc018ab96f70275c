"""A local L2 order book: price levels kept sorted, best bid/ask in O(1), updates in O(log n).

Bids and asks are ``SortedDict``s keyed by price (``Decimal``); the best bid is the last bid key,
the best ask the first ask key, so no key function (slow) is needed. A size of zero deletes a level.
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal

from sortedcontainers import SortedDict

from marketdata.feeds.types import PriceLevel

ZERO = Decimal(0)


class OrderBook:
    """One instrument's L2 book on one venue."""

    __slots__ = ("exchange", "symbol", "bids", "asks", "sequence", "depth", "synced")

    def __init__(self, exchange: str, symbol: str, depth: int | None = None) -> None:
        self.exchange = exchange
        self.symbol = symbol
        self.bids: SortedDict = SortedDict()
        self.asks: SortedDict = SortedDict()
        self.sequence: int | None = None
        self.depth = depth  # trim to this many levels per side after each change (Kraken), None: keep all
        self.synced = False

    def clear(self) -> None:
        """Forget every level (before a resync)."""
        self.bids.clear()
        self.asks.clear()
        self.sequence = None
        self.synced = False

    def apply_snapshot(
        self, bids: Iterable[PriceLevel], asks: Iterable[PriceLevel], sequence: int | None = None
    ) -> None:
        """Replace the book with a snapshot."""
        self.bids.clear()
        self.asks.clear()
        self.apply_update(bids, asks, sequence)
        self.synced = True

    def apply_update(
        self, bids: Iterable[PriceLevel], asks: Iterable[PriceLevel], sequence: int | None = None
    ) -> None:
        """Apply absolute level sizes; size 0 removes the level."""
        side = self.bids
        for price, size in bids:
            if size:
                side[price] = size
            else:
                side.pop(price, None)
        side = self.asks
        for price, size in asks:
            if size:
                side[price] = size
            else:
                side.pop(price, None)
        if self.depth is not None:
            self.trim(self.depth)
        if sequence is not None:
            self.sequence = sequence

    def trim(self, depth: int) -> None:
        """Keep only the best ``depth`` levels on each side."""
        bids, asks = self.bids, self.asks
        while len(bids) > depth:
            bids.popitem(0)
        while len(asks) > depth:
            asks.popitem(-1)

    def best_bid(self) -> PriceLevel | None:
        """Highest bid (price, size) or None."""
        return self.bids.peekitem(-1) if self.bids else None

    def best_ask(self) -> PriceLevel | None:
        """Lowest ask (price, size) or None."""
        return self.asks.peekitem(0) if self.asks else None

    def mid(self) -> Decimal | None:
        """Mid price, None when a side is empty."""
        if not self.bids or not self.asks:
            return None
        return (self.bids.peekitem(-1)[0] + self.asks.peekitem(0)[0]) / 2

    def spread(self) -> Decimal | None:
        """Best ask minus best bid, None when a side is empty."""
        if not self.bids or not self.asks:
            return None
        return self.asks.peekitem(0)[0] - self.bids.peekitem(-1)[0]

    def top(self, n: int) -> tuple[list[PriceLevel], list[PriceLevel]]:
        """The best ``n`` levels per side, best first: (bids descending, asks ascending)."""
        bids = self.bids
        nb = min(n, len(bids))
        top_bids = [bids.peekitem(-1 - i) for i in range(nb)]
        asks = self.asks
        top_asks = [asks.peekitem(i) for i in range(min(n, len(asks)))]
        return top_bids, top_asks

    def depth_within(self, fraction: Decimal) -> tuple[Decimal, Decimal]:
        """Total bid and ask size within ``fraction`` (e.g. 0.01) of the mid price."""
        mid = self.mid()
        if mid is None:
            return ZERO, ZERO
        lo, hi = mid * (1 - fraction), mid * (1 + fraction)
        bid_total = sum((self.bids[p] for p in self.bids.irange(lo, None)), ZERO)
        ask_total = sum((self.asks[p] for p in self.asks.irange(None, hi)), ZERO)
        return bid_total, ask_total

    def is_crossed(self) -> bool:
        """True when best bid >= best ask (a broken book)."""
        return bool(self.bids and self.asks and self.bids.peekitem(-1)[0] >= self.asks.peekitem(0)[0])

    def __len__(self) -> int:
        return len(self.bids) + len(self.asks)

    def __repr__(self) -> str:
        return f"OrderBook({self.exchange}:{self.symbol} bid={self.best_bid()} ask={self.best_ask()})"
