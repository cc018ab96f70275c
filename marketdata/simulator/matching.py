"""Venue-neutral order entry: accounts (keys, permissions, balances), orders, matching, fills, rate limits.

Every venue's signed REST (Binance, Coinbase Advanced, Kraken) parses its own wire parameters, calls
:meth:`MatchingEngine.submit` / :meth:`cancel` with plain values and renders the result in its own
shape; the engine never sees a venue's vocabulary beyond a few hooks (how ids look, which asset pays
the fee). Statuses use one vocabulary: NEW, PARTIALLY_FILLED, FILLED, CANCELED, EXPIRED.
"""

from __future__ import annotations

import bisect
import random
import string
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import ROUND_DOWN, Decimal
from typing import Any

from .model import Market, VenueMarkets
from .stops import OrderRejected, StopOrders
from .wire import now_ms, quantize

ZERO = Decimal(0)
FEE_PLACES = Decimal("0.00000001")
PERMISSIONS = frozenset({"read", "trade", "withdraw"})
DEFAULT_PERMISSIONS = frozenset({"read", "trade"})  # a trading key that cannot withdraw, the safe default
OPEN_STATUSES = ("NEW", "PARTIALLY_FILLED")


@dataclass(eq=False)
class Fill:
    """One execution of one of our orders."""

    trade_id: int
    ref: str  # the trade id as the venue prints it
    order: Order
    price: Decimal
    qty: Decimal
    quote: Decimal
    fee: Decimal
    fee_asset: str
    maker: bool
    time_ms: int


@dataclass(eq=False)
class Order:
    """One order as the exchange keeps it."""

    order_id: int
    client_order_id: str
    symbol: str  # the venue's market id (BTCUSDT, BTC-USD, BTC/USD)
    side: str  # BUY | SELL
    type: str  # LIMIT | MARKET | LIMIT_MAKER | STOP_LOSS | STOP_LOSS_LIMIT (stops.py)
    time_in_force: str  # GTC | IOC | FOK
    price: Decimal
    orig_qty: Decimal
    account: Account
    time_ms: int
    orig_quote_qty: Decimal = ZERO
    executed_qty: Decimal = ZERO
    cum_quote: Decimal = ZERO
    fee_total: Decimal = ZERO
    status: str = "NEW"
    update_ms: int = 0
    locked: Decimal = ZERO  # what this order still holds locked (quote for buys, base for sells)
    ref: str = ""  # the order id as the venue prints it
    post_only: bool = False
    stop_price: Decimal = ZERO  # a stop order's trigger (stops.py); 0 for every other order
    extra: dict[str, Any] = field(default_factory=dict)  # venue fields kept verbatim (Kraken userref)
    fills: list[Fill] = field(default_factory=list)
    cached: Any = field(default=None, repr=False)  # a venue's rendering, until the order changes

    @property
    def is_open(self) -> bool:
        """NEW or PARTIALLY_FILLED."""
        return self.status in OPEN_STATUSES

    @property
    def average(self) -> Decimal:
        """Average fill price (0 before the first fill)."""
        return self.cum_quote / self.executed_qty if self.executed_qty else ZERO


@dataclass
class RateLimit:
    """At most ``limit`` requests per ``window`` seconds (None: unlimited), plus forced refusals."""

    limit: int | None = None
    window: float = 1.0
    forced: int = 0  # the next N requests are refused whatever the count
    stamps: deque[float] = field(default_factory=deque)

    def hit(self) -> bool:
        """Count one request; False when it is over the limit (refused requests are not counted)."""
        if self.forced > 0:
            self.forced -= 1
            return False
        if self.limit is None:
            return True
        now = time.monotonic()
        while self.stamps and now - self.stamps[0] >= self.window:
            self.stamps.popleft()
        if len(self.stamps) >= self.limit:
            return False
        self.stamps.append(now)
        return True


@dataclass(eq=False)
class Account:
    """An API key with its secret, permissions, balances ``[free, locked]``, orders and fills."""

    api_key: str
    secret: str
    balances: dict[str, list[Decimal]]
    maker_fee: Decimal = Decimal("0.001")
    taker_fee: Decimal = Decimal("0.001")
    permissions: frozenset[str] = DEFAULT_PERMISSIONS
    orders: dict[int, Order] = field(default_factory=dict)
    by_ref: dict[str, Order] = field(default_factory=dict)
    by_client_id: dict[tuple[str, str], Order] = field(default_factory=dict)  # (symbol, id) -> latest
    open_orders: dict[str, dict[int, Order]] = field(default_factory=dict)  # symbol -> open orders
    fills: dict[str, list[Fill]] = field(default_factory=dict)  # symbol -> fills, oldest first
    rate: RateLimit = field(default_factory=RateLimit)
    last_nonce: int = 0  # Kraken: nonces must increase per key
    verifier: Any = None  # Coinbase: the public key that checks this key's JWTs

    def balance(self, asset: str) -> list[Decimal]:
        """The mutable ``[free, locked]`` pair of ``asset``."""
        return self.balances.setdefault(asset, [ZERO, ZERO])

    def lock(self, asset: str, need: Decimal) -> None:
        """Move ``need`` of ``asset`` from free to locked for a resting order; too little free is a rejection."""
        wallet = self.balance(asset)
        if wallet[0] < need:
            raise OrderRejected("insufficient_funds")
        wallet[0] -= need
        wallet[1] += need

    def can(self, permission: str) -> bool:
        """Whether this key carries ``permission`` (read, trade, withdraw)."""
        return permission in self.permissions

    def all_fills(self) -> list[Fill]:
        """Every fill of every symbol, oldest first."""
        return sorted((f for rows in self.fills.values() for f in rows), key=lambda f: f.trade_id)


def _int_ref(number: int) -> str:
    return str(number)


class MatchingEngine(StopOrders):
    """Accounts and a matching engine that fills against the simulated book.

    ``fee_in_quote``: Coinbase and Kraken charge every fee in the quote asset (and hold it with a buy);
    Binance takes a buyer's fee from the base asset it receives.
    """

    def __init__(self, markets: VenueMarkets, seed: str, fee_in_quote: bool = False,
                 order_ref: Callable[[int], str] | None = None,
                 trade_ref: Callable[[int], str] | None = None, order_class: type[Order] | None = None) -> None:
        self.markets = markets
        self.order_class = order_class or Order  # a venue's subclass adds its own rendering
        self.accounts: dict[str, Account] = {}
        self.orders: dict[int, Order] = {}
        self.next_order_id = 1_000_001
        self.next_trade_id = 500_000_001
        self.clock_offset_ms = 0
        self.fee_in_quote = fee_in_quote
        self.rng = random.Random(seed)
        self.order_ref = order_ref or _int_ref
        self.trade_ref = trade_ref or _int_ref
        self.forced_rate_limits = 0  # venue-wide: the next N signed requests of any key are refused
        # resting limit orders per symbol: buys as (-price, id), sells as (price, id), both ascending
        self.resting: dict[str, tuple[list[tuple[Decimal, int]], list[tuple[Decimal, int]]]] = {}
        self.armed: dict[str, dict[int, Order]] = {}  # untriggered stop orders per symbol (stops.py)

    def reset(self) -> None:
        """Forget every account, order and trade (test isolation on a shared simulator)."""
        self.accounts.clear()
        self.orders.clear()
        self.resting.clear()
        self.armed.clear()
        self.clock_offset_ms = 0
        self.forced_rate_limits = 0

    def server_ms(self) -> int:
        """The exchange clock (wall clock plus an adjustable offset, to test clock skew)."""
        return now_ms() + self.clock_offset_ms

    def add_account(self, api_key: str, secret: str, balances: dict[str, Decimal | str | int] | None = None,
                    maker_fee: Decimal | str = Decimal("0.001"), taker_fee: Decimal | str = Decimal("0.001"),
                    permissions: tuple[str, ...] | frozenset[str] | None = None) -> Account:
        """Register an API key and secret with free balances per asset and its permissions."""
        granted = frozenset(permissions) if permissions is not None else DEFAULT_PERMISSIONS
        if not granted <= PERMISSIONS:
            raise ValueError(f"unknown permissions {sorted(granted - PERMISSIONS)}")
        account = Account(api_key, secret, {a: [Decimal(str(v)), ZERO] for a, v in (balances or {}).items()},
                          Decimal(str(maker_fee)), Decimal(str(taker_fee)), granted)
        self.accounts[api_key] = account
        return account

    def set_permissions(self, api_key: str, permissions: tuple[str, ...] | frozenset[str]) -> None:
        """Change what a key may do (read, trade, withdraw), e.g. a key that gains withdrawal rights."""
        granted = frozenset(permissions)
        if not granted <= PERMISSIONS:
            raise ValueError(f"unknown permissions {sorted(granted - PERMISSIONS)}")
        self.accounts[api_key].permissions = granted

    def limit_requests(self, api_key: str, limit: int | None, window: float = 1.0) -> None:
        """Allow a key ``limit`` signed requests per ``window`` seconds (None lifts the limit)."""
        rate = self.accounts[api_key].rate
        rate.limit, rate.window = limit, window
        rate.stamps.clear()

    def rate_limit_next(self, count: int = 1, api_key: str | None = None) -> None:
        """Refuse the next ``count`` signed requests (of one key, or of any key) with a rate-limit error."""
        if api_key is None:
            self.forced_rate_limits = count
        else:
            self.accounts[api_key].rate.forced = count

    def allow(self, account: Account) -> bool:
        """Count a signed request of ``account``; False when it must be answered with a rate-limit error."""
        if self.forced_rate_limits > 0:
            self.forced_rate_limits -= 1
            return False
        return account.rate.hit()

    def balances(self, api_key: str) -> dict[str, tuple[Decimal, Decimal]]:
        """``{asset: (free, locked)}`` of a key."""
        return {a: (f, lk) for a, (f, lk) in self.accounts[api_key].balances.items()}

    # -- orders ---------------------------------------------------------------------------------------
    def submit(self, account: Account, market: Market, side: str, kind: str, qty: Decimal,
               price: Decimal = ZERO, tif: str = "GTC", client_id: str | None = None, quote_qty: Decimal = ZERO,
               post_only: bool = False, extra: dict[str, Any] | None = None) -> Order:
        """Validate and accept an order; a marketable one fills at once against the best price.

        ``kind`` is LIMIT or MARKET; a MARKET order gives ``qty`` or ``quote_qty`` (what to spend).
        """
        spec = market.spec
        fee_rate = max(account.maker_fee, account.taker_fee) if self.fee_in_quote else ZERO
        if kind == "MARKET" and quote_qty:
            touch = market.best_ask()[0] if side == "BUY" else market.best_bid()[0]
            per_unit = touch * (1 + fee_rate) if side == "BUY" else touch
            qty = (quote_qty / per_unit / spec.lot).to_integral_value(rounding=ROUND_DOWN) * spec.lot
        if kind != "MARKET" and (price <= 0 or price % spec.tick):
            raise OrderRejected("price_filter")
        if qty <= 0 or qty % spec.lot:
            raise OrderRejected("lot_size")
        reference = price if kind != "MARKET" else market.price
        if qty * reference < spec.min_notional:
            raise OrderRejected("min_notional")
        client_id = client_id or self.new_client_id()
        existing = account.by_client_id.get((spec.venue_id, client_id))
        if existing is not None and existing.is_open:
            raise OrderRejected("duplicate")
        crosses = self._crosses(market, side, price) if kind != "MARKET" else True
        if post_only and crosses:
            raise OrderRejected("would_take")
        # what must be free: a buy locks price*qty of quote (the ask for a market buy, plus the fee
        # where the venue charges it in quote), a sell the base
        if side == "BUY":
            need = qty * (price if kind != "MARKET" else market.best_ask()[0]) * (1 + fee_rate)
            asset = spec.quote
        else:
            need, asset = qty, spec.base
        account.lock(asset, need)
        ms = self.server_ms()
        order_id = self.next_order_id
        self.next_order_id += 1
        order = self.order_class(order_id, client_id, spec.venue_id, side, kind, tif if kind != "MARKET" else "GTC",
                      price, qty, account, ms, quote_qty, locked=need, ref=self.order_ref(order_id),
                      post_only=post_only, extra=dict(extra or {}))
        self._register(order)
        if crosses:
            fill_price = market.best_ask()[0] if side == "BUY" else market.best_bid()[0]
            self._fill(order, market, fill_price, order.orig_qty, maker=False)
        elif tif in ("IOC", "FOK"):
            self._close(order, "EXPIRED")
        else:
            account.open_orders.setdefault(spec.venue_id, {})[order_id] = order
            self._rest(order)
        return order

    def _register(self, order: Order) -> None:
        account = order.account
        self.orders[order.order_id] = order
        account.orders[order.order_id] = order
        account.by_ref[order.ref] = order
        account.by_client_id[(order.symbol, order.client_order_id)] = order

    def _rest(self, order: Order) -> None:
        """Put an open limit order in the book, where a later price fills it as a maker."""
        buys, sells = self.resting.setdefault(order.symbol, ([], []))
        key = (-order.price, order.order_id) if order.side == "BUY" else (order.price, order.order_id)
        bisect.insort(buys if order.side == "BUY" else sells, key)

    def cancel(self, order: Order) -> Order:
        """Cancel an open order (``not_open`` when it is filled, cancelled or expired)."""
        if not order.is_open:
            raise OrderRejected("not_open")
        self._close(order, "CANCELED")
        return order

    def open_orders(self, account: Account, symbol: str | None = None) -> list[Order]:
        """Open orders of one symbol (or all), oldest first."""
        if symbol is not None:
            return list(account.open_orders.get(symbol, {}).values())
        return [o for book in account.open_orders.values() for o in book.values()]

    def new_client_id(self) -> str:
        """A random 22-character client order id, for orders sent without one."""
        return "".join(self.rng.choices(string.ascii_letters + string.digits, k=22))

    # -- matching -------------------------------------------------------------------------------------
    def on_market(self, market: Market) -> None:
        """Trigger the stops the new price crossed, then fill resting limit orders the new book crosses,
        at their limit price (maker)."""
        self.trigger_stops(market)
        book = self.resting.get(market.spec.venue_id)
        if not book:
            return
        buys, sells = book
        ask, bid = market.best_ask()[0], market.best_bid()[0]
        while buys and -buys[0][0] >= ask:
            _, order_id = buys.pop(0)
            self._fill_resting(order_id, market)
        while sells and sells[0][0] <= bid:
            _, order_id = sells.pop(0)
            self._fill_resting(order_id, market)

    def _fill_resting(self, order_id: int, market: Market) -> None:
        order = self.orders.get(order_id)
        if order is not None and order.is_open:
            self._fill(order, market, order.price, order.orig_qty - order.executed_qty, maker=True)

    @staticmethod
    def _crosses(market: Market, side: str, price: Decimal) -> bool:
        return price >= market.best_ask()[0] if side == "BUY" else price <= market.best_bid()[0]

    def _fill(self, order: Order, market: Market, price: Decimal, qty: Decimal, maker: bool) -> None:
        spec, account = market.spec, order.account
        rate = account.maker_fee if maker else account.taker_fee
        quote = price * qty
        base_wallet, quote_wallet = account.balance(spec.base), account.balance(spec.quote)
        remaining = order.orig_qty - order.executed_qty
        if order.side == "BUY":
            release = order.locked if qty == remaining else order.locked * qty / remaining
            quote_wallet[1] -= release
            if self.fee_in_quote:
                fee, fee_asset = quantize(quote * rate, FEE_PLACES), spec.quote
                quote_wallet[0] += release - quote - fee  # what the hold over-reserved comes back
                base_wallet[0] += qty
            else:
                fee, fee_asset = quantize(qty * rate, FEE_PLACES), spec.base
                quote_wallet[0] += release - quote  # a taker buy below its limit gets the difference back
                base_wallet[0] += qty - fee
        else:
            base_wallet[1] -= qty
            fee, fee_asset = quantize(quote * rate, FEE_PLACES), spec.quote
            quote_wallet[0] += quote - fee
            release = qty
        order.locked -= release
        order.executed_qty += qty
        order.cum_quote += quote
        order.fee_total += fee
        order.update_ms = self.server_ms()
        trade_id = self.next_trade_id
        self.next_trade_id += 1
        fill = Fill(trade_id, self.trade_ref(trade_id), order, price, qty, quote, fee, fee_asset, maker,
                    order.update_ms)
        order.fills.append(fill)
        account.fills.setdefault(spec.venue_id, []).append(fill)
        self._close(order, "FILLED" if order.executed_qty >= order.orig_qty else "PARTIALLY_FILLED")

    def _close(self, order: Order, status: str) -> None:
        order.cached = None
        order.status = status
        order.update_ms = self.server_ms()
        if order.is_open:
            return
        account = order.account
        spec = self.markets.by_id[order.symbol].spec
        if order.locked:  # give back what a cancelled or expired order still held
            wallet = account.balance(spec.quote if order.side == "BUY" else spec.base)
            wallet[1] -= order.locked
            wallet[0] += order.locked
            order.locked = ZERO
        account.open_orders.get(order.symbol, {}).pop(order.order_id, None)
        self.armed.get(order.symbol, {}).pop(order.order_id, None)
        buys, sells = self.resting.get(order.symbol, ([], []))
        if order.side == "BUY":
            book, key = buys, (-order.price, order.order_id)
        else:
            book, key = sells, (order.price, order.order_id)
        index = bisect.bisect_left(book, key)
        if index < len(book) and book[index] == key:
            book.pop(index)
