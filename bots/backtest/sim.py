"""Replay candles through the live bot code with a simulated clock.

The engine's own ``BotRunner`` (strategy, indicators, risk checks, stop-loss / take-profit /
trailing exits), its ``OrderFlow`` (how a gateway's report moves the order and the position) and
the paper broker's fill model (``PaperBroker.execute``: fees, slippage, balances) do the trading;
this module only plays the market and the clock. Nothing here decides or fills an order.

The price path inside a bar (what tick strategies and the exits see)
--------------------------------------------------------------------
Each bar is walked as a path: the open, then the low and the high in the order the bar's direction
implies (a bar that closes at or above its open goes open -> low -> high -> close; a falling bar goes
open -> high -> low -> close), then the close. Between two of those points the price moves in a straight
line, so a stop-loss, take-profit or trailing-stop level that lies strictly between them is reached on
the way: the bot also sees that level as a price, where the line crosses it (the first price a live
feed would have shown at or through the level). The four points are timed at 0, 1/4, 2/4 and 3/4 of
the bar; the bar's close is known at the bar's end.

When orders fill (no look-ahead)
--------------------------------
- A bar strategy sees a bar only once it has closed. Its order reaches the paper broker at the next
  price it could have seen: the next bar's open (in the live engine a candle closes when the first
  price of the next interval arrives, and the order is filled against that book).
- An order decided on a price of the path (tick strategies, exits) reaches the broker with that
  price on the book, as in live paper trading, where the order is sent before the next tick arrives;
  the broker's slippage stands for the delay.
- The book is one price (bid = ask = the path price); the broker adds its slippage and fees.

Speed: when the strategy works on bars of the data's own interval and the bot has no exit levels and
no daily-loss limit, nothing inside a bar can act, so only the open (for fills) and the close are
played; the result is the same.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from bots.engine.bot import BotRunner
from bots.engine.brokers.paper import Fees, PaperBroker
from bots.engine.candles import CandleBuilder
from bots.engine.config import EngineConfig
from bots.engine.orderflow import OrderFlow
from bots.engine.types import ZERO, BotSpec, Fill, MarketRules, Order, OrderUpdate, RiskSettings
from marketdata.feeds.types import Candle, Instrument, Ticker

from .bars import Bar, timeframe_ms
from .metrics import Ledger, RoundTrip, Samples, merge_ohlc

_NS_PER_MS = 1_000_000


@dataclass(slots=True)
class BacktestConfig:
    """What to replay: a bot's settings (as a ``BotSpec`` is made of) and the bars' interval."""

    strategy: str
    params: dict[str, Any]
    instrument: Instrument = field(default_factory=lambda: Instrument("binance", "BTC/USDT"))
    timeframe: str = "1m"  # of the bars fed in
    capital: Decimal = Decimal(1000)
    risk: RiskSettings = field(default_factory=RiskSettings)
    rules: MarketRules = field(default_factory=MarketRules)
    slippage_bps: Decimal = Decimal(5)  # the paper broker's default
    fees: Fees | None = None  # None: the venue's paper fees

    @classmethod
    def from_spec(cls, spec: BotSpec, timeframe: str = "1m", **kwargs: Any) -> BacktestConfig:
        """The settings of a bot as it is configured (``bots.store.bot_spec``)."""
        return cls(spec.strategy, dict(spec.params), spec.instrument, timeframe, spec.capital, spec.risk,
                   spec.rules, **kwargs)

    def spec(self) -> BotSpec:
        return BotSpec(id=1, owner_id=0, name="backtest", instrument=self.instrument, strategy=self.strategy,
                       params=dict(self.params), mode="paper", capital=self.capital, risk=self.risk,
                       rules=self.rules)


@dataclass(slots=True)
class TradeRecord:
    """One fill as the report lists it."""

    time: datetime
    side: str
    price: Decimal
    quantity: Decimal
    fee: Decimal
    purpose: str


@dataclass(slots=True)
class BacktestResult:
    """Fills, round trips, the summary metrics and sampled curves for charts."""

    summary: dict[str, Any]
    fills: list[TradeRecord]
    trips: list[RoundTrip]
    equity: list[tuple[int, float, float]]  # (time ms, equity, drawdown %), sampled
    prices: list[tuple[int, float, float, float, float]]  # (time ms, o, h, l, c), sampled buckets
    rejections: dict[str, int]


class SimClock:
    """The clock the bot and the broker read: set by the replay, never by the wall."""

    __slots__ = ("dt", "mono")

    def __init__(self) -> None:
        self.dt = datetime(1970, 1, 1, tzinfo=UTC)
        self.mono = 0.0

    def now(self) -> datetime:
        return self.dt

    def monotonic(self) -> float:
        return self.mono


def _no_tasks(coro: Any) -> None:  # pragma: no cover - a backtest sends orders itself, never in a task
    coro.close()
    raise RuntimeError("a backtest sends its orders synchronously")


class _Recorder:
    """The ``OrderStore`` and ``EventSink`` ports of a backtest: keeps fills and round trips in memory."""

    def __init__(self) -> None:
        self.fills: list[TradeRecord] = []
        self.trips: list[RoundTrip] = []
        self.fees = ZERO
        self.rejections: dict[str, int] = {}
        self.runner: BotRunner | None = None
        self._bought = self._cost = self._sold = self._proceeds = ZERO
        self._opened: datetime | None = None

    def emit(self, spec: BotSpec, kind: str, data: dict[str, Any], *, persist: bool = False) -> None:
        if kind == "risk" and not data.get("approved"):
            for code in data.get("codes", ()):
                self.rejections[code] = self.rejections.get(code, 0) + 1

    async def create_order(self, order: Order) -> None:  # pragma: no cover - the port's shape
        return None

    def update_order(self, order: Order, note: str = "") -> None:
        if order.status == "rejected":  # the broker refused it (e.g. the price gapped past the balance)
            key = f"broker: {note or order.last_error}"
            self.rejections[key] = self.rejections.get(key, 0) + 1

    def record_fill(self, order: Order, fill: Fill) -> None:
        self.fills.append(TradeRecord(fill.time, fill.side, fill.price, fill.quantity, fill.fee, order.purpose))
        self.fees += fill.fee
        if fill.side == "buy":
            if self._opened is None:
                self._opened = fill.time
            self._bought += fill.quantity
            self._cost += fill.price * fill.quantity
        else:
            self._sold += fill.quantity
            self._proceeds += fill.price * fill.quantity

    def save_position(self, bot_id: int, position: dict[str, Any]) -> None:
        pos = self.runner.position if self.runner is not None else None
        if pos is not None and not pos.quantity and self._opened is not None and self._sold:
            self.trips.append(RoundTrip(self._opened, pos.closed_at or self._opened, self._cost / self._bought,
                                        self._proceeds / self._sold, self._sold, pos.realized_pnl, pos.fees))
            self._bought = self._cost = self._sold = self._proceeds = ZERO
            self._opened = None

    def set_status(self, bot_id: int, status: str, reason: str = "") -> None:
        return None

    def heartbeat(self, bot_ids: list[int], at: datetime) -> None:
        return None


class Backtest:
    """One bot over one stream of bars. ``progress(bars_done)`` is called every ``progress_every`` bars."""

    def __init__(self, config: BacktestConfig, *, progress: Callable[[int], None] | None = None,
                 progress_every: int = 10_000) -> None:
        self.cfg = config
        self.clock = SimClock()
        self.recorder = _Recorder()
        # The engine's own order flow: how a broker's report moves the order and the position.
        self.flow = OrderFlow(clock=self.clock, store=self.recorder, events=self.recorder, config=EngineConfig(),
                              spawn=_no_tasks, fail=self._fail, pause_requested=self._pause_requested)
        self.spec = spec = config.spec()
        self.broker = PaperBroker(self.clock, slippage_bps=config.slippage_bps,
                                  **({"fees": {spec.instrument.exchange: config.fees}} if config.fees else {}))
        self._pending: list[Order] = []
        runner = BotRunner(spec, self.broker.for_bot(spec, lambda u: self.flow.on_update(runner, u)), self._place,
                           self.recorder.emit, self.clock.monotonic, float("inf"))
        runner.taker_fee = self.broker.taker_cost(spec.instrument.exchange)  # as the engine does
        runner.status = "running"
        self.runner = self.recorder.runner = runner
        self.bar_ms = timeframe_ms(config.timeframe)
        tf = runner.strategy.timeframe
        self.builder: CandleBuilder | None = None
        if tf != "tick" and timeframe_ms(tf) != self.bar_ms:
            if timeframe_ms(tf) % self.bar_ms:
                raise ValueError(f"a {tf} strategy cannot run on {config.timeframe} bars")
            self.builder = CandleBuilder(spec.instrument, tf)
            self.builder.listeners.append(runner.on_candle)
        risk = spec.risk
        self.path = tf == "tick" or self.builder is not None or bool(
            risk.stop_loss_pct or risk.take_profit_pct or risk.trailing_stop_pct or risk.max_daily_loss)
        self.progress, self.progress_every = progress, progress_every
        self.paused: str | None = None
        self.ticker = Ticker(spec.instrument.exchange, spec.instrument.symbol, None, None, None, None, None,
                             None, None, 0)

    # The engine's order path, without the awaits ------------------------------------------------------
    def _place(self, runner: BotRunner, order: Order) -> None:
        self._pending.append(order)

    def _submit(self) -> None:
        """Send queued orders to the paper broker against the book as it is now (``OrderFlow._send``)."""
        pending, self._pending = self._pending, []
        runner = self.runner
        for order in pending:
            update: OrderUpdate = self.broker.execute(order)
            runner.inflight -= 1
            self.flow.on_update(runner, update)

    def _fail(self, runner: BotRunner, exc: BaseException) -> None:
        raise exc

    def _pause_requested(self, runner: BotRunner) -> None:
        reason, runner.pause_requested = runner.pause_requested, None
        if runner.status == "running":  # as live: a paused bot stays paused (exits still protect it)
            runner.status, runner.status_reason = "paused", reason or "Paused by risk"
            # Said in the summary: a run that stops trading half-way must say when and why.
            self.paused = f"{self.clock.dt.isoformat()}: {runner.status_reason}"

    # The market ---------------------------------------------------------------------------------------
    def _tick(self, price: Decimal, ms: int) -> None:
        """One price of the path: the book moves (resting orders may fill), queued orders reach the
        broker, the bot evaluates the price, and what it decides is sent against the same book."""
        clock, t, runner = self.clock, self.ticker, self.runner
        clock.dt = datetime.fromtimestamp(ms / 1000, tz=UTC)
        clock.mono = ms / 1000
        t.last, t.receive_ns = price, ms * _NS_PER_MS
        self.broker.on_book(self.spec.instrument, t)
        if self._pending:
            self._submit()
        runner.on_ticker(t, clock.dt)
        if runner.pause_requested is not None:
            self._pause_requested(runner)
        if self.builder is not None:
            self.builder.add(price, ZERO, ms * _NS_PER_MS)
        if self._pending:
            self._submit()

    def _walk(self, a: Decimal, b: Decimal, ms: int) -> None:
        """From ``a`` to ``b``: first every exit level the straight line reaches, then ``b``."""
        pos = self.runner.position
        for _ in range(8):  # each level is crossed at most once per segment
            if not pos.quantity or pos.exit_order_id is not None:
                break
            levels = [x for x in (pos.stop_loss_price, pos.take_profit_price, pos.trailing_stop_price)
                      if x is not None and (a < x < b or b < x < a)]
            if not levels:
                break
            a = min(levels) if a < b else max(levels)
            self._tick(a, ms)
        self._tick(b, ms)

    def run(self, bars: Iterable[Bar]) -> BacktestResult:
        """Replay ``bars`` (oldest first, one interval apart or with gaps) and report."""
        consumer = self.consumer()
        next(consumer)
        send = consumer.send
        for step in steps(bars, self.cfg, self.needs_candles):
            send(step)
        return self.finish(consumer)

    @staticmethod
    def finish(consumer: Generator[None, Step | None, BacktestResult]) -> BacktestResult:
        """End a ``consumer`` and take its result."""
        try:
            consumer.send(None)
        except StopIteration as done:
            result: BacktestResult = done.value
            return result
        raise RuntimeError("the backtest did not finish")

    @property
    def needs_candles(self) -> bool:
        """Whether the bot is handed each bar as a ``Candle`` (a bar strategy on the data's interval)."""
        return self.builder is None and self.runner.strategy.timeframe != "tick"

    def consumer(self) -> Generator[None, Step | None, BacktestResult]:
        """The replay as a generator that is sent one ``Step`` at a time and ``None`` at the end, so that
        one pass over stored history can drive many backtests in lockstep (``run_many``)."""
        ledger = Ledger(self.cfg.capital)
        runner, broker, spec = self.runner, self.broker, self.spec
        balances = broker.balances[spec.id]
        base, quote = broker.assets[spec.id]
        bar_ms, quarter = self.bar_ms, self.bar_ms // 4
        inst = spec.instrument
        t = self.ticker
        clock = self.clock
        prices = Samples(merge=merge_ohlc)  # the price chart: OHLC buckets, same sampling as equity
        bucket: list[Any] | None = None
        path, progress, every = self.path, self.progress, self.progress_every
        mark = ledger.mark
        candles = self.needs_candles
        while True:
            step = yield
            if step is None:
                break
            bar, open_dt, close_dt, candle = step
            ts, o, h, low, c, v = bar
            if ledger.first_ms is None:
                ledger.first_ms, ledger.first_open = ts, o
            if path:
                self._tick(o, ts)
                if c >= o:
                    self._walk(o, low, ts + quarter)
                    self._walk(low, h, ts + 2 * quarter)
                    self._walk(h, c, ts + 3 * quarter)
                else:
                    self._walk(o, h, ts + quarter)
                    self._walk(h, low, ts + 2 * quarter)
                    self._walk(low, c, ts + 3 * quarter)
                if self.builder is not None and v:
                    self.builder.add(c, v, (ts + 3 * quarter) * _NS_PER_MS)
            elif self._pending or broker.resting:
                clock.dt, clock.mono = open_dt, ts / 1000
                t.last = o
                broker.on_book(inst, t)
                self._submit()
            close_ms = ts + bar_ms
            clock.dt, clock.mono = close_dt, close_ms / 1000
            if candles and candle is not None:  # built by the bar stream whenever the bot needs candles
                if not path:
                    t.last, t.receive_ns = c, close_ms * _NS_PER_MS
                    runner.on_ticker(t, close_dt)
                runner.on_candle(candle)
            held = balances.get(base, ZERO)
            mark(close_ms, balances.get(quote, ZERO) + held * c if held else balances.get(quote, ZERO), held > 0)
            ledger.last_close = c
            if prices.n % prices.stride == 0:
                if bucket is not None:
                    prices.add(_floats(bucket))
                bucket = [ts, o, h, low, c]
            else:  # Decimals compared here, turned into floats once per bucket
                if h > bucket[2]:  # type: ignore[index]
                    bucket[2] = h  # type: ignore[index]
                if low < bucket[3]:  # type: ignore[index]
                    bucket[3] = low  # type: ignore[index]
                bucket[4] = c  # type: ignore[index]
            prices.n += 1
            if progress is not None and ledger.bars % every == 0:
                progress(ledger.bars)
        if bucket is not None:
            prices.add(_floats(bucket))
        rec = self.recorder
        summary = ledger.summary(rec.trips, rec.fees, sum(rec.rejections.values()))
        summary["open_position"] = runner.position.quantity
        summary["exposure_time_s"] = ledger.exposed * bar_ms // 1000  # bars that ended holding, as time
        summary["paused"] = self.paused
        return BacktestResult(summary, rec.fills, rec.trips, ledger.curve.points, prices.points, rec.rejections)


def _floats(bucket: list[Any]) -> tuple[int, float, float, float, float]:
    return bucket[0], float(bucket[1]), float(bucket[2]), float(bucket[3]), float(bucket[4])


Step = tuple[Bar, datetime, datetime, Candle | None]  # a bar, its open and close times, its closed Candle


def steps(bars: Iterable[Bar], config: BacktestConfig, candles: bool = True) -> Iterator[Step]:
    """Each bar with what every backtest over it needs alike: the open and close as datetimes and the
    closed ``Candle`` (one object, read by all the bots of a ``run_many``; nothing in the engine
    changes a candle it is given)."""
    inst, interval = config.instrument, config.timeframe
    exchange, symbol = inst.exchange, inst.symbol
    bar_ms = timeframe_ms(interval)
    fromts = datetime.fromtimestamp
    close_dt = datetime(1970, 1, 1, tzinfo=UTC)  # the previous bar's close (reused as this open)
    close_ms = -1
    for bar in bars:
        ts = bar[0]
        open_dt = close_dt if ts == close_ms else fromts(ts / 1000, tz=UTC)
        close_ms = ts + bar_ms
        close_dt = fromts(close_ms / 1000, tz=UTC)
        candle = Candle(exchange, symbol, interval, open_dt, bar[1], bar[2], bar[3], bar[4], bar[5], True,
                        close_dt, close_ms * _NS_PER_MS) if candles else None
        yield bar, open_dt, close_dt, candle


def run_backtest(config: BacktestConfig, bars: Iterable[Bar], **kwargs: Any) -> BacktestResult:
    """Replay ``bars`` with ``config``; see the module docstring for the rules."""
    return Backtest(config, **kwargs).run(bars)


def run_many(configs: list[BacktestConfig], bars: Iterable[Bar],
             progress: Callable[[int], None] | None = None, progress_every: int = 10_000) -> list[BacktestResult]:
    """Replay one pass of ``bars`` through several backtests in lockstep (a sweep reads history once)."""
    if len({(c.instrument, c.timeframe) for c in configs}) > 1:
        raise ValueError("run_many replays one market's bars: the configs must share instrument and timeframe")
    tests = [Backtest(c) for c in configs]
    consumers = [b.consumer() for b in tests]
    sends = []
    for consumer in consumers:
        next(consumer)
        sends.append(consumer.send)
    n = 0
    for step in steps(bars, configs[0], any(b.needs_candles for b in tests)) if configs else ():
        for send in sends:
            send(step)
        n += 1
        if progress is not None and n % progress_every == 0:
            progress(n)
    return [Backtest.finish(c) for c in consumers]
