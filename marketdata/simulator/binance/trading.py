"""Binance's order vocabulary over the shared matching engine: parameters, error codes, order rendering."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

from ..matching import ZERO, Account, Fill, MatchingEngine, Order, OrderRejected
from ..model import Market
from ..venue import Venue
from .streams import px

__all__ = ["Account", "BinanceError", "BinanceOrder", "TradingEngine", "mandatory"]

# OrderRejected.reason -> (HTTP status, code, msg) as Binance answers a new order
REJECTIONS = {
    "price_filter": (400, -1013, "Filter failure: PRICE_FILTER"),
    "lot_size": (400, -1013, "Filter failure: LOT_SIZE"),
    "min_notional": (400, -1013, "Filter failure: NOTIONAL"),
    "duplicate": (400, -2010, "Duplicate order sent."),
    "insufficient_funds": (400, -2010, "Account has insufficient balance for requested action."),
    "would_take": (400, -2010, "Order would immediately match and take."),
    "not_open": (400, -2011, "Unknown order sent."),
}


class BinanceError(Exception):
    """An API error: HTTP status plus Binance's ``code`` and ``msg``."""

    def __init__(self, status: int, code: int, msg: str) -> None:
        super().__init__(msg)
        self.status, self.code, self.msg = status, code, msg


def mandatory(name: str) -> BinanceError:
    """-1102 for a missing parameter."""
    return BinanceError(400, -1102, f"Mandatory parameter '{name}' was not sent, was empty/null, or malformed.")


class BinanceOrder(Order):
    """An order that renders itself in the ``GET /api/v3/order`` shape."""

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


def order_fill(fill: Fill) -> dict[str, Any]:
    """One entry of a FULL order response's ``fills``."""
    return {"price": px(fill.price), "qty": px(fill.qty), "commission": px(fill.fee),
            "commissionAsset": fill.fee_asset, "tradeId": fill.trade_id}


def my_trade(fill: Fill) -> dict[str, Any]:
    """One ``GET /api/v3/myTrades`` row."""
    return {"symbol": fill.order.symbol, "id": fill.trade_id, "orderId": fill.order.order_id, "orderListId": -1,
            "price": px(fill.price), "qty": px(fill.qty), "quoteQty": px(fill.quote), "commission": px(fill.fee),
            "commissionAsset": fill.fee_asset, "time": fill.time_ms, "isBuyer": fill.order.side == "BUY",
            "isMaker": fill.maker, "isBestMatch": True}


def order_dict(order: Order) -> dict[str, Any]:
    """The ``GET /api/v3/order`` shape of an order of the Binance venue."""
    assert isinstance(order, BinanceOrder)
    return order.as_dict()


class TradingEngine(MatchingEngine):
    """The shared matching engine, spoken to with Binance's parameters and answering Binance's codes."""

    def __init__(self, venue: Venue) -> None:
        super().__init__(venue.markets, f"{venue.sim.seed}:binance-orders", order_class=BinanceOrder)
        self.venue = venue

    def place(self, account: Account, params: dict[str, str]) -> BinanceOrder:
        """Validate and accept an order as ``POST /api/v3/order`` does; may fill it immediately."""
        market = self._market(params)
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
        qty = ZERO if kind == "MARKET" and quote_qty else self._decimal(params, "quantity")
        try:
            order = self.submit(account, market, side, kind, qty, price,
                                tif or "GTC", params.get("newClientOrderId"), quote_qty,
                                post_only=kind == "LIMIT_MAKER")
        except OrderRejected as exc:
            raise BinanceError(*REJECTIONS[exc.reason]) from exc
        return order  # type: ignore[return-value]

    def find(self, account: Account, params: dict[str, str], missing: BinanceError) -> BinanceOrder:
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
        return order  # type: ignore[return-value]

    def cancel(self, order: Order) -> Order:
        """Cancel an open order (-2011 when it is no longer open)."""
        try:
            return super().cancel(order)
        except OrderRejected as exc:
            raise BinanceError(*REJECTIONS[exc.reason]) from exc

    # -- helpers --------------------------------------------------------------------------------------
    def _market(self, params: dict[str, str]) -> Market:
        name = params.get("symbol")
        if not name:
            raise mandatory("symbol")
        market = self.markets.by_id.get(name)
        if market is None:
            raise BinanceError(400, -1121, "Invalid symbol.")
        return market

    @staticmethod
    def _decimal(params: dict[str, str], name: str, required: bool = True) -> Decimal:
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
