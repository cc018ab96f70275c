"""Binance spot order matching: accounts with balances, MARKET and LIMIT orders, fills, fees, trades."""

from __future__ import annotations

import bisect
import random
import string
from dataclasses import dataclass, field
from decimal import ROUND_DOWN, Decimal, InvalidOperation
from typing import Any

from ..model import Market, VenueMarkets
from ..wire import now_ms, quantize
from .streams import px

ZERO = Decimal(0)
FEE_PLACES = Decimal("0.00000001")


class BinanceError(Exception):
    """An API error: HTTP status plus Binance's ``code`` and ``msg``."""

    def __init__(self, status: int, code: int, msg: str) -> None:
        super().__init__(msg)
        self.status, self.code, self.msg = status, code, msg


def mandatory(name: str) -> BinanceError:
    """-1102 for a missing parameter."""
    return BinanceError(400, -1102, f"Mandatory parameter '{name}' was not sent, was empty/null, or malformed.")


@dataclass
class Order:
    """One order as the exchange keeps it."""

    order_id: int
    client_order_id: str
    symbol: str
    side: str
    type: str
    time_in_force: str
    price: Decimal
    orig_qty: Decimal
    account: Account
    time_ms: int
    orig_quote_qty: Decimal = ZERO
    executed_qty: Decimal = ZERO
    cum_quote: Decimal = ZERO
    status: str = "NEW"
    update_ms: int = 0
    locked: Decimal = ZERO  # what this order still holds locked (quote for buys, base for sells)
    fills: list[dict[str, Any]] = field(default_factory=list)
    cached: dict[str, Any] | None = field(default=None, repr=False)  # as_dict() until the order changes

    @property
    def is_open(self) -> bool:
        """NEW or PARTIALLY_FILLED."""
        return self.status in ("NEW", "PARTIALLY_FILLED")

    def as_dict(self) -> dict[str, Any]:
        """The ``GET /api/v3/order`` shape (cached: openOrders over 10,000 orders stays fast)."""
        if self.cached is not None:
            return self.cached
        self.cached = {
            "symbol": self.symbol, "orderId": self.order_id, "orderListId": -1,
            "clientOrderId": self.client_order_id, "price": px(self.price), "origQty": px(self.orig_qty),
            "executedQty": px(self.executed_qty), "cummulativeQuoteQty": px(self.cum_quote),
            "status": self.status, "timeInForce": self.time_in_force, "type": self.type, "side": self.side,
            "stopPrice": px(ZERO), "icebergQty": px(ZERO), "time": self.time_ms,
            "updateTime": self.update_ms or self.time_ms, "isWorking": True, "workingTime": self.time_ms,
            "origQuoteOrderQty": px(self.orig_quote_qty), "selfTradePreventionMode": "EXPIRE_MAKER",
        }
        return self.cached


@dataclass
class Account:
    """An API key with its secret, balances (free, locked), orders and trades."""

    api_key: str
    secret: str
    balances: dict[str, list[Decimal]]
    maker_fee: Decimal = Decimal("0.001")
    taker_fee: Decimal = Decimal("0.001")
    orders: dict[int, Order] = field(default_factory=dict)
    by_client_id: dict[tuple[str, str], Order] = field(default_factory=dict)  # (symbol, id) -> latest
    open_orders: dict[str, dict[int, Order]] = field(default_factory=dict)  # symbol -> open orders
    trades: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    def balance(self, asset: str) -> list[Decimal]:
        """The mutable ``[free, locked]`` pair of ``asset``."""
        return self.balances.setdefault(asset, [ZERO, ZERO])


class TradingEngine:
    """Accounts and a matching engine that fills against the simulated book."""

    def __init__(self, markets: VenueMarkets, seed: int) -> None:
        self.markets = markets
        self.accounts: dict[str, Account] = {}
        self.orders: dict[int, Order] = {}
        self.next_order_id = 1_000_001
        self.next_trade_id = 500_000_001
        self.clock_offset_ms = 0
        self.rng = random.Random(f"{seed}:binance-orders")
        # resting limit orders per symbol: buys as (-price, id), sells as (price, id), both ascending
        self.resting: dict[str, tuple[list[tuple[Decimal, int]], list[tuple[Decimal, int]]]] = {}

    def reset(self) -> None:
        """Forget every account, order and trade (test isolation on a shared simulator)."""
        self.accounts.clear()
        self.orders.clear()
        self.resting.clear()
        self.clock_offset_ms = 0

    def server_ms(self) -> int:
        """The exchange clock (wall clock plus an adjustable offset, to test clock skew)."""
        return now_ms() + self.clock_offset_ms

    def add_account(self, api_key: str, secret: str, balances: dict[str, Decimal | str | int] | None = None,
                    maker_fee: Decimal = Decimal("0.001"), taker_fee: Decimal = Decimal("0.001")) -> Account:
        """Register an API key and secret with free balances per asset."""
        account = Account(api_key, secret, {a: [Decimal(str(v)), ZERO] for a, v in (balances or {}).items()},
                          Decimal(maker_fee), Decimal(taker_fee))
        self.accounts[api_key] = account
        return account

    # -- orders ---------------------------------------------------------------------------------------
    def place(self, account: Account, params: dict[str, str]) -> Order:
        """Validate and accept an order as ``POST /api/v3/order`` does; may fill it immediately."""
        market = self._market(params)
        spec = market.spec
        side = params.get("side", "")
        if not side:
            raise mandatory("side")
        if side not in ("BUY", "SELL"):
            raise BinanceError(400, -1100, "Illegal characters found in parameter 'side'; legal range is 'BUY, SELL'.")
        kind = params.get("type", "")
        if not kind:
            raise mandatory("type")
        if kind not in ("LIMIT", "MARKET", "LIMIT_MAKER"):
            raise BinanceError(400, -1116, "Invalid orderType.")
        tif = params.get("timeInForce", "GTC" if kind == "LIMIT_MAKER" else "")
        if kind == "LIMIT" and not tif:
            raise mandatory("timeInForce")
        if tif and tif not in ("GTC", "IOC", "FOK"):
            raise BinanceError(400, -1115, "Invalid timeInForce.")
        price = self._decimal(params, "price") if kind != "MARKET" else ZERO
        quote_qty = self._decimal(params, "quoteOrderQty", required=False) if kind == "MARKET" else ZERO
        if kind == "MARKET" and quote_qty:
            ask = market.best_ask()[0] if side == "BUY" else market.best_bid()[0]
            qty = (quote_qty / ask / spec.lot).to_integral_value(rounding=ROUND_DOWN) * spec.lot
        else:
            qty = self._decimal(params, "quantity")
        if kind != "MARKET" and (price <= 0 or price % spec.tick):
            raise BinanceError(400, -1013, "Filter failure: PRICE_FILTER")
        if qty <= 0 or qty % spec.lot:
            raise BinanceError(400, -1013, "Filter failure: LOT_SIZE")
        reference = price if kind != "MARKET" else market.price
        if qty * reference < spec.min_notional:
            raise BinanceError(400, -1013, "Filter failure: NOTIONAL")
        client_id = params.get("newClientOrderId") or self._client_id()
        existing = account.by_client_id.get((spec.venue_id, client_id))
        if existing is not None and existing.is_open:
            raise BinanceError(400, -2010, "Duplicate order sent.")
        crosses = self._crosses(market, side, price) if kind != "MARKET" else True
        if kind == "LIMIT_MAKER" and crosses:
            raise BinanceError(400, -2010, "Order would immediately match and take.")
        # what must be free: a buy locks price*qty of quote (the ask for a market buy), a sell the base
        if side == "BUY":
            need = qty * (price if kind != "MARKET" else market.best_ask()[0])
            asset = spec.quote
        else:
            need, asset = qty, spec.base
        wallet = account.balance(asset)
        if wallet[0] < need:
            raise BinanceError(400, -2010, "Account has insufficient balance for requested action.")
        wallet[0] -= need
        wallet[1] += need
        ms = self.server_ms()
        order = Order(self.next_order_id, client_id, spec.venue_id, side, kind,
                      tif if kind != "MARKET" else "GTC", price, qty, account, ms, quote_qty, locked=need)
        self.next_order_id += 1
        self.orders[order.order_id] = order
        account.orders[order.order_id] = order
        account.by_client_id[(spec.venue_id, client_id)] = order
        if crosses:
            fill_price = market.best_ask()[0] if side == "BUY" else market.best_bid()[0]
            self._fill(order, market, fill_price, order.orig_qty, maker=False)
        elif tif in ("IOC", "FOK"):
            self._close(order, "EXPIRED")
        else:
            account.open_orders.setdefault(spec.venue_id, {})[order.order_id] = order
            buys, sells = self.resting.setdefault(spec.venue_id, ([], []))
            bisect.insort(buys if side == "BUY" else sells, (-price if side == "BUY" else price, order.order_id))
        return order

    def find(self, account: Account, params: dict[str, str], missing: BinanceError) -> Order:
        """The order named by ``orderId`` or ``origClientOrderId`` for this account, else ``missing``."""
        market = self._market(params)
        order: Order | None = None
        if params.get("orderId"):
            try:
                order = account.orders.get(int(params["orderId"]))
            except ValueError as exc:
                raise BinanceError(400, -1100, "Illegal characters found in parameter 'orderId'.") from exc
        elif params.get("origClientOrderId"):
            order = account.by_client_id.get((market.spec.venue_id, params["origClientOrderId"]))
        else:
            raise BinanceError(
                400, -1102, "Param 'origClientOrderId' or 'orderId' must be sent, but both were empty/null!")
        if order is None or order.symbol != market.spec.venue_id:
            raise missing
        return order

    def cancel(self, order: Order) -> Order:
        """Cancel an open order (-2011 when it is no longer open)."""
        if not order.is_open:
            raise BinanceError(400, -2011, "Unknown order sent.")
        self._close(order, "CANCELED")
        return order

    def open_orders(self, account: Account, symbol: str | None) -> list[Order]:
        """Open orders of one symbol (or all), oldest first."""
        if symbol is not None:
            return list(account.open_orders.get(symbol, {}).values())
        return [o for book in account.open_orders.values() for o in book.values()]

    def new_client_id(self) -> str:
        """A Binance-style random client order id."""
        return self._client_id()

    # -- matching -------------------------------------------------------------------------------------
    def on_market(self, market: Market) -> None:
        """Fill resting limit orders the new book crosses, at their limit price (maker)."""
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

    def _crosses(self, market: Market, side: str, price: Decimal) -> bool:
        return price >= market.best_ask()[0] if side == "BUY" else price <= market.best_bid()[0]

    def _fill(self, order: Order, market: Market, price: Decimal, qty: Decimal, maker: bool) -> None:
        spec, account = market.spec, order.account
        rate = account.maker_fee if maker else account.taker_fee
        quote = price * qty
        base_wallet, quote_wallet = account.balance(spec.base), account.balance(spec.quote)
        if order.side == "BUY":
            release = order.locked if qty == order.orig_qty - order.executed_qty else order.price * qty
            quote_wallet[1] -= release
            quote_wallet[0] += release - quote  # a taker buy below its limit gets the difference back
            fee, fee_asset = quantize(qty * rate, FEE_PLACES), spec.base
            base_wallet[0] += qty - fee
        else:
            base_wallet[1] -= qty
            fee, fee_asset = quantize(quote * rate, FEE_PLACES), spec.quote
            quote_wallet[0] += quote - fee
            release = qty
        order.locked -= release
        order.executed_qty += qty
        order.cum_quote += quote
        order.update_ms = self.server_ms()
        trade_id = self.next_trade_id
        self.next_trade_id += 1
        order.fills.append({"price": px(price), "qty": px(qty), "commission": px(fee),
                            "commissionAsset": fee_asset, "tradeId": trade_id})
        account.trades.setdefault(spec.venue_id, []).append({
            "symbol": spec.venue_id, "id": trade_id, "orderId": order.order_id, "orderListId": -1,
            "price": px(price), "qty": px(qty), "quoteQty": px(quote), "commission": px(fee),
            "commissionAsset": fee_asset, "time": order.update_ms, "isBuyer": order.side == "BUY",
            "isMaker": maker, "isBestMatch": True,
        })
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
        buys, sells = self.resting.get(order.symbol, ([], []))
        if order.side == "BUY":
            book, key = buys, (-order.price, order.order_id)
        else:
            book, key = sells, (order.price, order.order_id)
        index = bisect.bisect_left(book, key)
        if index < len(book) and book[index] == key:
            book.pop(index)

    # -- helpers --------------------------------------------------------------------------------------
    def _market(self, params: dict[str, str]) -> Market:
        name = params.get("symbol")
        if not name:
            raise mandatory("symbol")
        market = self.markets.by_id.get(name)
        if market is None:
            raise BinanceError(400, -1121, "Invalid symbol.")
        return market

    def _decimal(self, params: dict[str, str], name: str, required: bool = True) -> Decimal:
        text = params.get(name)
        if not text:
            if required:
                raise mandatory(name)
            return ZERO
        try:
            value = Decimal(text)
        except InvalidOperation as exc:
            raise BinanceError(400, -1100, f"Illegal characters found in parameter '{name}'.") from exc
        if not value.is_finite():
            raise BinanceError(400, -1100, f"Illegal characters found in parameter '{name}'.")
        return value

    def _client_id(self) -> str:
        return "".join(self.rng.choices(string.ascii_letters + string.digits, k=22))
