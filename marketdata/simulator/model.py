"""The price model: a seeded random walk per market, a consistent tick-grid book, trades and 1m candles."""

from __future__ import annotations

import math
import random
import time
from collections import deque
from dataclasses import dataclass, field
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal

from .wire import decimals_of, quantize

MINUTE_MS = 60_000
HISTORY_MINUTES = 1500  # a day of 1m candles for 24h stats and REST klines, plus a margin


@dataclass(frozen=True)
class MarketSpec:
    """One simulated market: names on the venue, start price, grid and walk parameters."""

    symbol: str  # unified, e.g. "BTC/USDT"
    venue_id: str  # as the venue writes it: "BTCUSDT", "BTC-USD", "BTC/USD"
    base: str
    quote: str
    price: Decimal
    tick: Decimal = Decimal("0.01")
    lot: Decimal = Decimal("0.00001")
    size: Decimal = Decimal("1")  # typical quantity on a book level
    levels: int = 50  # per side
    gap_ticks: int = 1  # distance between book levels, in ticks
    spread_ticks: int = 2  # best ask - best bid, in ticks
    volatility: float = 0.0001  # std-dev of the log return per sqrt(second): about 3% a day
    drift: float = 0.0  # mean log return per second
    min_notional: Decimal = Decimal("5")
    rest_id: str = ""  # Kraken's REST pair name (XXBTZUSD) when it differs from venue_id


@dataclass(slots=True)
class Trade:
    """A public trade; ``side`` is the taker's side."""

    id: int
    price: Decimal
    qty: Decimal
    side: str
    time_ns: int


@dataclass(slots=True)
class Candle:
    """A 1-minute (or aggregated) OHLCV bar."""

    open_ms: int
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal
    volume: Decimal = Decimal(0)
    quote_volume: Decimal = Decimal(0)
    trades: int = 0

    def add(self, price: Decimal, qty: Decimal) -> None:
        """Fold one trade into the bar."""
        self.high = max(self.high, price)
        self.low = min(self.low, price)
        self.close = price
        self.volume += qty
        self.quote_volume += price * qty
        self.trades += 1


@dataclass(slots=True)
class MarketEvent:
    """What one step changed: book levels (qty 0 removes), the update-id range, and a trade."""

    market: Market
    changes: list[tuple[str, Decimal, Decimal]]  # (side "bid"|"ask", price, new absolute qty)
    first_id: int
    last_id: int
    trade: Trade | None
    time_ns: int


@dataclass(slots=True)
class Stats24h:
    """Rolling 24-hour statistics, as the venues' ticker endpoints report them."""

    open: Decimal
    high: Decimal
    low: Decimal
    volume: Decimal
    quote_volume: Decimal
    count: int
    first_trade_id: int


class Market:
    """State of one market on one venue; every mutation returns a :class:`MarketEvent`."""

    def __init__(self, venue: str, spec: MarketSpec, seed: int, first_update_id: int = 1_000_000) -> None:
        self.venue = venue
        self.spec = spec
        self.rng = random.Random(f"{seed}:{venue}:{spec.symbol}")
        self.price = quantize(spec.price, spec.tick)
        self.bids: dict[Decimal, Decimal] = {}
        self.asks: dict[Decimal, Decimal] = {}
        self.update_id = first_update_id + self.rng.randrange(1_000_000)
        self.next_trade_id = 10_000_000 + self.rng.randrange(1_000_000)
        self.paused = False
        self.candles: deque[Candle] = deque(maxlen=HISTORY_MINUTES)
        self.last_trade: Trade | None = None
        self.recent_trades: deque[Trade] = deque(maxlen=1000)
        self._stats_cache: tuple[int, Stats24h] | None = None
        self._make_history()
        self._rebuild()
        # A listed market has traded: the venues' trade snapshots are never empty (ccxt's Coinbase
        # client fails on an empty one). One lot at the opening price, drawing nothing from ``rng``.
        self._trade(self.price, "buy", spec.lot)

    # -- book -----------------------------------------------------------------------------------------
    def _targets(self) -> tuple[set[Decimal], set[Decimal]]:
        """Best bid and ask hug the price; deeper levels sit on a fixed grid of ``gap_ticks``.

        A fixed grid keeps most levels in place when the price moves, so a step changes a few
        levels (as on a real book) instead of shifting all of them.
        """
        spec = self.spec
        below = spec.spread_ticks // 2
        bid0 = self.price - spec.tick * below
        ask0 = self.price + spec.tick * (spec.spread_ticks - below)
        gap = spec.tick * spec.gap_ticks
        bids, asks = {bid0}, {ask0}
        grid = (bid0 / gap).to_integral_value(rounding=ROUND_FLOOR) * gap
        grid = grid - gap if grid == bid0 else grid
        while len(bids) < spec.levels and grid > 0:
            bids.add(grid)
            grid -= gap
        grid = (ask0 / gap).to_integral_value(rounding=ROUND_CEILING) * gap
        grid = grid + gap if grid == ask0 else grid
        while len(asks) < spec.levels:
            asks.add(grid)
            grid += gap
        return {p for p in bids if p > 0}, asks

    def _qty(self) -> Decimal:
        qty = quantize(self.spec.size * Decimal(repr(self.rng.uniform(0.05, 2.0))), self.spec.lot)
        return qty if qty > 0 else self.spec.lot

    def _rebuild(self, churn: int = 0) -> list[tuple[str, Decimal, Decimal]]:
        """Move the book onto the grid around ``self.price``; return the level changes."""
        changes: list[tuple[str, Decimal, Decimal]] = []
        bid_target, ask_target = self._targets()
        for side, book, target in (("bid", self.bids, bid_target), ("ask", self.asks, ask_target)):
            for price in [p for p in book if p not in target]:
                del book[price]
                changes.append((side, price, Decimal(0)))
            for price in sorted(target - book.keys()):
                book[price] = self._qty()
                changes.append((side, price, book[price]))
            if churn and book:
                keys = sorted(book)
                for price in self.rng.sample(keys, min(churn, len(keys))):
                    book[price] = self._qty()
                    changes.append((side, price, book[price]))
        return changes

    def top(self, side: str, depth: int | None = None) -> list[tuple[Decimal, Decimal]]:
        """Best ``depth`` levels of a side, best first."""
        book = self.bids if side == "bid" else self.asks
        prices = sorted(book, reverse=(side == "bid"))
        if depth is not None:
            prices = prices[:depth]
        return [(p, book[p]) for p in prices]

    def best_bid(self) -> tuple[Decimal, Decimal]:
        """Best bid (price, qty)."""
        price = max(self.bids)
        return price, self.bids[price]

    def best_ask(self) -> tuple[Decimal, Decimal]:
        """Best ask (price, qty)."""
        price = min(self.asks)
        return price, self.asks[price]

    # -- moves ----------------------------------------------------------------------------------------
    def step(self, dt: float) -> MarketEvent:
        """One random-walk step of ``dt`` seconds: a new price, the book moved onto it, one trade."""
        spec = self.spec
        ret = spec.drift * dt + spec.volatility * math.sqrt(dt) * self.rng.gauss(0.0, 1.0)
        moved = quantize(self.price * Decimal(repr(math.exp(ret))), spec.tick)
        # keep the whole book above zero however far the walk wanders
        self.price = max(moved, spec.tick * spec.levels * spec.gap_ticks * 2)
        trade = self._trade(self.price, self.rng.choice(("buy", "sell")))
        return self._event(self._rebuild(churn=2), trade)

    def move_to(self, price: Decimal, trade_qty: Decimal | None = None) -> MarketEvent:
        """Set the price now (scripted tests): rebuild the book around it and print a trade there."""
        self.price = quantize(price, self.spec.tick)
        trade = self._trade(self.price, "buy", trade_qty)
        return self._event(self._rebuild(), trade)

    def _event(self, changes: list[tuple[str, Decimal, Decimal]], trade: Trade | None) -> MarketEvent:
        # one update id per changed level, as Binance numbers its depth updates
        first = self.update_id + 1
        self.update_id += max(1, len(changes))
        return MarketEvent(self, changes, first, self.update_id, trade, time.time_ns())

    def _trade(self, price: Decimal, side: str, qty: Decimal | None = None) -> Trade:
        qty = qty if qty is not None else quantize(self._qty() / 10, self.spec.lot) or self.spec.lot
        trade = Trade(self.next_trade_id, price, qty, side, time.time_ns())
        self.next_trade_id += 1
        self.last_trade = trade
        self.recent_trades.append(trade)
        self._add_to_candle(trade)
        return trade

    # -- candles and statistics -----------------------------------------------------------------------
    def _make_history(self) -> None:
        """A day of 1m candles ending at the current minute, walked backwards from the start price.

        Walked in floats and printed once onto the tick grid: Decimal arithmetic here cost a tenth
        of a second per simulator start, and this is history, not money anyone trades on.
        """
        spec, rng = self.spec, self.rng
        places = decimals_of(spec.tick)
        lot_places = decimals_of(spec.lot)
        floor = float(spec.tick)
        now_minute = time.time_ns() // 1_000_000 // MINUTE_MS * MINUTE_MS
        sigma = spec.volatility * math.sqrt(60)
        closes = [float(self.price)]
        for _ in range(HISTORY_MINUTES - 1):
            closes.append(max(closes[-1] * math.exp(-rng.gauss(0.0, sigma)), floor))
        closes.reverse()
        size = float(spec.size)
        for index in range(len(closes) - 1):
            close = closes[index]
            open_ = closes[index - 1] if index else close
            wiggle = abs(rng.gauss(0.0, sigma / 2))
            volume = size * rng.randint(1, 40)
            c = Decimal(f"{close:.{places}f}")
            v = Decimal(f"{volume:.{lot_places}f}")
            self.candles.append(Candle(
                now_minute - (HISTORY_MINUTES - 1 - index) * MINUTE_MS, Decimal(f"{open_:.{places}f}"),
                Decimal(f"{max(open_, close) * (1 + wiggle):.{places}f}"),
                Decimal(f"{min(open_, close) * (1 - wiggle):.{places}f}"), c, v, v * c, 20))
        last = self.candles[-1].close if self.candles else self.price
        self.candles.append(Candle(now_minute, last, max(last, self.price), min(last, self.price), self.price))

    def _add_to_candle(self, trade: Trade) -> None:
        minute = trade.time_ns // 1_000_000 // MINUTE_MS * MINUTE_MS
        current = self.candles[-1]
        if minute > current.open_ms:
            current = Candle(minute, current.close, current.close, current.close, current.close)
            self.candles.append(current)
        current.add(trade.price, trade.qty)

    def current_bar(self, interval_ms: int) -> Candle:
        """The bar of ``interval_ms`` now forming, from the newest 1m candles only (the hot path)."""
        start = self.candles[-1].open_ms // interval_ms * interval_ms
        recent: list[Candle] = []
        for candle in reversed(self.candles):
            if candle.open_ms < start:
                break
            recent.append(candle)
        recent.reverse()
        first = recent[0]
        bar = Candle(start, first.open, first.high, first.low, first.close, first.volume, first.quote_volume,
                     first.trades)
        for c in recent[1:]:
            bar.high, bar.low, bar.close = max(bar.high, c.high), min(bar.low, c.low), c.close
            bar.volume += c.volume
            bar.quote_volume += c.quote_volume
            bar.trades += c.trades
        return bar

    def klines(self, interval_ms: int, limit: int = 500, end_ms: int | None = None) -> list[Candle]:
        """Candles of ``interval_ms`` (a multiple of one minute) aggregated from the 1m history."""
        bars: dict[int, Candle] = {}
        for c in self.candles:
            if end_ms is not None and c.open_ms > end_ms:
                break
            key = c.open_ms // interval_ms * interval_ms
            bar = bars.get(key)
            if bar is None:
                bars[key] = Candle(key, c.open, c.high, c.low, c.close, c.volume, c.quote_volume, c.trades)
            else:
                bar.high, bar.low, bar.close = max(bar.high, c.high), min(bar.low, c.low), c.close
                bar.volume += c.volume
                bar.quote_volume += c.quote_volume
                bar.trades += c.trades
        return list(bars.values())[-limit:]

    def stats(self) -> Stats24h:
        """24h open/high/low/volume, cached per minute for the closed bars."""
        current = self.candles[-1]
        if self._stats_cache is None or self._stats_cache[0] != current.open_ms:
            closed = list(self.candles)[-1440:-1]
            first = closed[0] if closed else current
            base = Stats24h(
                first.open,
                max((c.high for c in closed), default=current.high),
                min((c.low for c in closed), default=current.low),
                sum((c.volume for c in closed), Decimal(0)),
                sum((c.quote_volume for c in closed), Decimal(0)),
                sum(c.trades for c in closed),
                self.next_trade_id - sum(c.trades for c in closed),
            )
            self._stats_cache = (current.open_ms, base)
        base = self._stats_cache[1]
        return Stats24h(
            base.open,
            max(base.high, current.high),
            min(base.low, current.low),
            base.volume + current.volume,
            base.quote_volume + current.quote_volume,
            base.count + current.trades,
            base.first_trade_id,
        )


@dataclass
class VenueMarkets:
    """The markets of one venue, by unified symbol and by the venue's own id."""

    venue: str
    by_symbol: dict[str, Market] = field(default_factory=dict)
    by_id: dict[str, Market] = field(default_factory=dict)

    def add(self, market: Market) -> None:
        """Register ``market`` under both names."""
        self.by_symbol[market.spec.symbol] = market
        self.by_id[market.spec.venue_id] = market
        if market.spec.rest_id:
            self.by_id[market.spec.rest_id] = market

    def get(self, name: str) -> Market | None:
        """A market by unified symbol or venue id (case-insensitive for ids)."""
        return self.by_symbol.get(name) or self.by_id.get(name) or self.by_id.get(name.upper())


def default_specs() -> dict[str, list[MarketSpec]]:
    """BTC/USDT, ETH/USDT, SOL/USDT on binance; BTC-USD, ETH-USD on coinbase; BTC/USD, ETH/USD on kraken."""
    d = Decimal
    return {
        "binance": [
            MarketSpec("BTC/USDT", "BTCUSDT", "BTC", "USDT", d("60000"), d("0.01"), d("0.00001"), d("0.5"),
                       gap_ticks=10),
            MarketSpec("ETH/USDT", "ETHUSDT", "ETH", "USDT", d("3000"), d("0.01"), d("0.0001"), d("5"), gap_ticks=2),
            MarketSpec("SOL/USDT", "SOLUSDT", "SOL", "USDT", d("150"), d("0.01"), d("0.001"), d("50")),
        ],
        "coinbase": [
            MarketSpec("BTC/USD", "BTC-USD", "BTC", "USD", d("60000"), d("0.01"), d("0.00000001"), d("0.5"),
                       gap_ticks=10),
            MarketSpec("ETH/USD", "ETH-USD", "ETH", "USD", d("3000"), d("0.01"), d("0.00000001"), d("5"),
                       gap_ticks=2),
        ],
        "kraken": [
            MarketSpec("BTC/USD", "BTC/USD", "BTC", "USD", d("60000"), d("0.1"), d("0.00000001"), d("0.5"),
                       levels=100, rest_id="XXBTZUSD"),
            MarketSpec("ETH/USD", "ETH/USD", "ETH", "USD", d("3000"), d("0.01"), d("0.00000001"), d("5"),
                       levels=100, gap_ticks=2, rest_id="XETHZUSD"),
        ],
    }
