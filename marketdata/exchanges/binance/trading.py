"""Binance spot signed REST (also its testnet and the simulator) through ccxt's async client.

Endpoints: ``POST/GET/DELETE /api/v3/order``, ``GET /api/v3/openOrders``, ``/api/v3/myTrades``,
``/api/v3/account`` (balances, commission rates) and ``GET /sapi/v1/account/apiRestrictions``
(what the key may do). Our client order id travels as ``newClientOrderId`` (36 chars at most).

Unknown is not "not found" on Binance: only error -2013 ("Order does not exist.") to a lookup by
client order id is a definite "no such order" (``OrderAbsent``). A -2011 to a cancel means only
"not cancelable" (absent, or already final), so the order is looked up. A timeout, a 5xx, a 429/418
(rate limit, ban; see ``ccxt_client`` for the backoff), auth failures and anything unexpected are
``VenueUnavailable``; -1021 (timestamp) is re-signed once on the venue's time (``clock_sync``).
Refusals with a stated reason (-2010 insufficient balance, -1013 filters, -1102 parameters, -1121
symbol, auth on a place) are ``OrderRefused``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from ccxt.base.errors import OrderNotFound

from marketdata.exchanges.base import (
    Balance,
    Credentials,
    Fees,
    KeyPermissions,
    OrderAbsent,
    OrderRequest,
    VenueOrder,
    VenueTrade,
)
from marketdata.exchanges.binance.status import order_status
from marketdata.exchanges.ccxt_client import CcxtTrading, absent, dec, make_ccxt, ms_time, place_refusal

DEFAULT_REST = "https://api.binance.com"
TESTNET_REST = "https://testnet.binance.vision"
MAX_TRADES = 1000  # Binance's page size for myTrades


def classify(exc: BaseException, op: str) -> Exception | None:
    """Binance's answers in our three kinds (see the module docstring)."""
    if isinstance(exc, OrderNotFound):
        return absent(exc) if op == "lookup" and "-2013" in str(exc) else None
    return place_refusal(exc, op)


def api_base(rest_url: str) -> str:
    """``http://host/binance`` or ``.../api/v3`` -> the ``.../api/v3`` prefix of the spot calls."""
    base = (rest_url or DEFAULT_REST).rstrip("/")
    return base if base.endswith("/api/v3") else f"{base}/api/v3"


def native(symbol: str) -> str:
    """``BTC/USDT`` -> ``BTCUSDT``."""
    return symbol.replace("/", "").upper()


def parse_trade(raw: dict[str, Any], side: str = "") -> VenueTrade:
    """A myTrades row, or a fill of a FULL order response (``tradeId``, no side: the order's)."""
    if "isBuyer" in raw:
        side = "buy" if raw["isBuyer"] else "sell"
    return VenueTrade(
        trade_id=str(raw.get("id", raw.get("tradeId"))), exchange_order_id=str(raw.get("orderId", "")),
        side=side, price=dec(raw["price"]), quantity=dec(raw["qty"]), fee=dec(raw.get("commission")),
        fee_asset=str(raw.get("commissionAsset", "")), time=ms_time(raw.get("time")) or datetime.now(UTC),
        is_maker=bool(raw.get("isMaker")),
    )


def parse_order(raw: dict[str, Any]) -> VenueOrder:
    """One Binance order object (with its inline fills, if any) in our vocabulary."""
    price = dec(raw.get("price"))
    side = str(raw.get("side", "")).lower()
    when = ms_time(raw.get("transactTime") or raw.get("updateTime") or raw.get("time"))
    trades = tuple(parse_trade({**f, "orderId": raw.get("orderId", ""), "time": f.get("time") or
                                raw.get("transactTime")}, side) for f in raw.get("fills") or [])
    return VenueOrder(
        client_order_id=str(raw.get("clientOrderId", raw.get("origClientOrderId", ""))),
        exchange_order_id=str(raw.get("orderId", "")), status=order_status(raw.get("status")),
        quantity=dec(raw.get("origQty")), filled_quantity=dec(raw.get("executedQty")), side=side,
        type=str(raw.get("type", "")).lower(), price=price if price > 0 else None, time=when, trades=trades,
        stop_price=dec(raw["stopPrice"]) if dec(raw.get("stopPrice")) > 0 else None,
    )


class BinanceTrading(CcxtTrading):
    """The ``TradingClient`` of one Binance-protocol account."""

    classify = staticmethod(classify)
    clock_sync = True  # -1021 outside recvWindow; GET /api/v3/time gives the venue's clock

    def __init__(self, rest_url: str, credentials: Credentials, *, timeout: float = 10.0) -> None:
        base = api_base(rest_url)
        root = base.removesuffix("/api/v3")
        super().__init__(make_ccxt("binance", credentials, timeout,
                                   {"public": base, "private": base, "v3": base, "sapi": f"{root}/sapi/v1"},
                                   {"fetchCurrencies": False, "adjustForTimeDifference": False}))

    async def place(self, order: OrderRequest) -> VenueOrder:
        """``POST /api/v3/order`` with our client order id; the FULL answer carries the fills."""
        params: dict[str, Any] = {"symbol": native(order.symbol), "side": order.side.upper(),
                                  "type": order.type.upper(), "quantity": format(order.quantity, "f"),
                                  "newClientOrderId": order.client_order_id, "newOrderRespType": "FULL"}
        if order.type == "limit":
            params.update(price=format(order.price, "f"), timeInForce="GTC")
        return parse_order(await self.call("private_post_order", params, op="place"))

    async def place_protective_stop(self, symbol: str, quantity: Decimal, stop_price: Decimal, limit_price: Decimal,
                                    client_order_id: str) -> VenueOrder:
        """``POST /api/v3/order`` type ``STOP_LOSS_LIMIT`` (sell, GTC): armed until the last price <= stopPrice."""
        params = {"symbol": native(symbol), "side": "SELL", "type": "STOP_LOSS_LIMIT", "timeInForce": "GTC",
                  "quantity": format(quantity, "f"), "price": format(limit_price, "f"),
                  "stopPrice": format(stop_price, "f"), "newClientOrderId": client_order_id,
                  "newOrderRespType": "FULL"}
        return parse_order(await self.call("private_post_order", params, op="place"))

    async def cancel(self, symbol: str, client_order_id: str, exchange_order_id: str = "") -> VenueOrder:
        """``DELETE /api/v3/order``; when it is not cancelable (-2011) its current state instead."""
        params: dict[str, Any] = {"symbol": native(symbol)}
        if exchange_order_id:
            params["orderId"] = exchange_order_id
        else:
            params["origClientOrderId"] = client_order_id
        try:
            return parse_order(await self.call("private_delete_order", params, op="cancel"))
        except Exception as exc:
            if "-2011" not in str(exc.__cause__ or ""):
                raise
        if not client_order_id:
            raise OrderAbsent("Unknown order sent (-2011)")
        return await self.order(symbol, client_order_id)

    async def order(self, symbol: str, client_order_id: str, since: datetime | None = None,
                    exchange_order_id: str = "") -> VenueOrder:
        """``GET /api/v3/order`` by order id or client order id; ``OrderAbsent`` only on -2013."""
        params: dict[str, Any] = {"symbol": native(symbol)}
        if exchange_order_id:
            params["orderId"] = exchange_order_id
        else:
            params["origClientOrderId"] = client_order_id
        return parse_order(await self.call("private_get_order", params, op="lookup"))

    async def open_orders(self, symbol: str) -> list[VenueOrder]:
        """Every open order of the account on ``symbol``: one request."""
        return [parse_order(r) for r in await self.call("private_get_openorders", {"symbol": native(symbol)})]

    async def trades(self, symbol: str, since: datetime, order_id: str = "") -> list[VenueTrade]:
        """The account's trades on ``symbol`` since ``since`` (<= 24 h back) or of one order, paging by id."""
        params: dict[str, Any] = {"symbol": native(symbol), "limit": MAX_TRADES}
        if order_id:
            params["orderId"] = order_id
        else:
            params["startTime"] = int(since.timestamp() * 1000)
        out: list[VenueTrade] = []
        while True:
            rows = await self.call("private_get_mytrades", params)
            out.extend(parse_trade(r) for r in rows)
            if len(rows) < MAX_TRADES:
                return out
            params = {"symbol": params["symbol"], "limit": MAX_TRADES, "fromId": int(rows[-1]["id"]) + 1}

    async def balances(self) -> dict[str, Balance]:
        """Free and total (free + locked) per asset."""
        raw = await self.call("private_get_account", {"omitZeroBalances": "true"})
        return {b["asset"]: Balance(dec(b.get("free")), dec(b.get("free")) + dec(b.get("locked")))
                for b in raw.get("balances", [])}

    async def fees(self, symbol: str) -> Fees:
        """The account's commission rates (``commissionRates``; older answers: basis points)."""
        raw = await self.call("private_get_account", {"omitZeroBalances": "true"})
        rates = raw.get("commissionRates")
        if rates:
            return Fees(dec(rates.get("maker")), dec(rates.get("taker")))
        return Fees(dec(raw.get("makerCommission")) / 10_000, dec(raw.get("takerCommission")) / 10_000)

    async def permissions(self) -> KeyPermissions:
        """``apiRestrictions``: the key's own switches (reading, spot trading, withdrawals)."""
        raw = await self.call("sapi_get_account_apirestrictions", {})
        trade = bool(raw.get("enableSpotAndMarginTrading"))
        withdraw = bool(raw.get("enableWithdrawals") or raw.get("enableInternalTransfer")
                        or raw.get("permitsUniversalTransfer"))
        on = [k for k, v in sorted(raw.items()) if k.startswith(("enable", "permits")) and v is True]
        return KeyPermissions(bool(raw.get("enableReading", True)), trade, withdraw, ", ".join(on) or "none")
