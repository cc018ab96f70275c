"""Stop orders on the shared matching engine: armed until the simulated price crosses their trigger.

Two kinds, in one venue-neutral vocabulary each venue renders in its own words:
``STOP_LOSS`` (Binance STOP_LOSS, Kraken ``stop-loss``): a market order once triggered;
``STOP_LOSS_LIMIT`` (Binance STOP_LOSS_LIMIT, Coinbase ``stop_limit_stop_limit_gtc``, Kraken
``stop-loss-limit``): a limit order at ``price`` once triggered.

A sell stop triggers when the last trade price falls to or below ``stop_price``, a buy stop when it
rises to or above it (Coinbase names the direction: ``down`` / ``up``). An armed stop holds what it
would spend (the base of a sell), is listed with the open orders (status NEW) and can be cancelled.
Once triggered, a stop-market fills at once at the touch (taker); a stop-limit fills at the touch when
its limit is marketable, else rests in the book at its limit like any limit order.
A stop placed beyond its trigger is refused (``would_trigger``: Binance and Coinbase) or triggered at
once (``immediate=True``: Kraken).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from .model import Market

# The engine's Order and Account (matching.py imports this module, so they are not named here).
Order = Any
Account = Any

STOP_KINDS = ("STOP_LOSS", "STOP_LOSS_LIMIT")
ZERO = Decimal(0)


class OrderRejected(Exception):
    """The engine refused an order; ``reason`` is one of the names below, each venue maps it to its code.

    price_filter (off the tick grid or <= 0), lot_size (off the step grid or <= 0), min_notional,
    duplicate (client order id of an open order), insufficient_funds, would_take (post-only crosses),
    not_open (cancel of a closed order), would_trigger (a stop whose trigger the price has already crossed).
    """

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def direction(order: Order) -> str:
    """``down`` (triggers on a fall) or ``up``: the one the venue stated, else the side's natural one."""
    return str(order.extra.get("stop_direction") or ("down" if order.side == "SELL" else "up"))


def crossed(stop_direction: str, stop_price: Decimal, last: Decimal) -> bool:
    """Whether the last trade price ``last`` has reached a stop's trigger."""
    return last <= stop_price if stop_direction == "down" else last >= stop_price


class StopOrders:
    """The stop half of :class:`~.matching.MatchingEngine` (a mixin: it uses the engine's books)."""

    armed: dict[str, dict[int, Order]]

    def submit_stop(self, account: Account, market: Market, side: str, qty: Decimal, stop_price: Decimal,
                    limit_price: Decimal = ZERO, client_id: str | None = None,
                    extra: dict[str, Any] | None = None, immediate: bool = False) -> Order:
        """Validate and arm a stop order: a stop-market when ``limit_price`` is 0, else a stop-limit."""
        engine: Any = self
        spec = market.spec
        for value in (stop_price, limit_price):
            if value < 0 or value % spec.tick:
                raise OrderRejected("price_filter")
        if stop_price <= 0:
            raise OrderRejected("price_filter")
        if qty <= 0 or qty % spec.lot:
            raise OrderRejected("lot_size")
        if qty * (limit_price or stop_price) < spec.min_notional:
            raise OrderRejected("min_notional")
        extra = dict(extra or {})
        stop_direction = str(extra.get("stop_direction") or ("down" if side == "SELL" else "up"))
        if crossed(stop_direction, stop_price, market.price) and not immediate:
            raise OrderRejected("would_trigger")
        client_id = client_id or engine.new_client_id()
        existing = account.by_client_id.get((spec.venue_id, client_id))
        if existing is not None and existing.is_open:
            raise OrderRejected("duplicate")
        fee_rate = max(account.maker_fee, account.taker_fee) if engine.fee_in_quote else ZERO
        if side == "BUY":
            need, asset = qty * (limit_price or stop_price) * (1 + fee_rate), spec.quote
        else:
            need, asset = qty, spec.base
        account.lock(asset, need)
        order_id = engine.next_order_id
        engine.next_order_id += 1
        kind = "STOP_LOSS_LIMIT" if limit_price else "STOP_LOSS"
        order = engine.order_class(order_id, client_id, spec.venue_id, side, kind, "GTC", limit_price, qty, account,
                                   engine.server_ms(), locked=need, ref=engine.order_ref(order_id),
                                   stop_price=stop_price, extra=extra)
        engine._register(order)
        account.open_orders.setdefault(spec.venue_id, {})[order_id] = order
        self.armed.setdefault(spec.venue_id, {})[order_id] = order
        self.trigger_stops(market)  # only with ``immediate``: a crossed trigger was refused above
        return order

    def trigger_stops(self, market: Market) -> None:
        """Trigger every armed stop of this market whose trigger the last price has reached."""
        book = self.armed.get(market.spec.venue_id)
        if not book:
            return
        hit = [o for o in book.values() if crossed(direction(o), o.stop_price, market.price)]
        for order in hit:
            self._trigger(order, market)

    def _trigger(self, order: Order, market: Market) -> None:
        engine: Any = self
        self.armed[order.symbol].pop(order.order_id, None)
        order.extra["triggered_ms"] = engine.server_ms()
        order.cached = None
        remaining = order.orig_qty - order.executed_qty
        if order.type == "STOP_LOSS" or engine._crosses(market, order.side, order.price):
            touch = market.best_bid()[0] if order.side == "SELL" else market.best_ask()[0]
            engine._fill(order, market, touch, remaining, maker=False)
        else:
            engine._rest(order)


def is_triggered(order: Order) -> bool:
    """Whether a stop order has been triggered (an untriggered one is still armed)."""
    return "triggered_ms" in order.extra
