"""Coinbase Advanced Trade signed REST (``/api/v3/brokerage``) through ccxt's async client.

ccxt signs each request with a JWT bearer token (ES256) from the key name (``organizations/.../
apiKeys/...``) and its EC private key (the account's secret). Endpoints: ``POST orders``,
``POST orders/batch_cancel``, ``GET orders/historical/{id}``, ``GET orders/historical/batch``,
``GET orders/historical/fills``, ``GET accounts``, ``GET transaction_summary`` (the account's fee
tier) and ``GET key_permissions``. Our client order id travels verbatim as ``client_order_id``; Coinbase
answers a repeated ``client_order_id`` with the existing order, so a retried place never doubles.

Unknown is not "not found" on Coinbase: there is no lookup by client order id, so an order is looked
up in the product's order list from shortly before it was created. Only a complete answer (every page
returned, no cursor left) that does not contain the id is ``OrderAbsent``. A timeout, a 5xx, a 429,
an auth failure or a page that fails half-way is ``VenueUnavailable``.

Clock: each JWT is valid from ``nbf`` (its signing second) to ``exp`` (``nbf`` + 120 s) on Coinbase's
clock, and one outside that window is answered with a bare HTTP 401 ``Unauthorized``, like a bad key.
On a 401 the client reads the venue's time (``GET /api/v3/brokerage/time``); if our clock is off it
(more than ``SKEW_TOLERANCE_MS``), later tokens are dated on the venue's time and the request is signed
again, once. Otherwise the 401 is a real authentication failure. A place answered with
``success: false`` (``INSUFFICIENT_FUND``, ``INVALID_*``, ``UNSUPPORTED_ORDER_CONFIGURATION`` ...) or a
4xx refusal is ``OrderRefused``.
"""

from __future__ import annotations

import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from marketdata.exchanges.base import (
    ZERO,
    Balance,
    Credentials,
    Fees,
    KeyPermissions,
    OrderAbsent,
    OrderRefused,
    OrderRequest,
    VenueOrder,
    VenueTrade,
    VenueUnavailable,
)
from marketdata.exchanges.ccxt_client import CcxtTrading, dec, iso_time, make_ccxt, place_refusal

DEFAULT_REST = "https://api.coinbase.com"
PAGE = 250  # orders / fills per page (Coinbase allows up to 1000 orders, 250 fills is ccxt's page)
SKEW_TOLERANCE_MS = 2000  # a venue time this close to ours did not cause a 401 (ccxt reads it to the second)
LOOKBACK = timedelta(minutes=2)  # an order is listed from shortly before our row was written
STATUS = {
    "PENDING": "submitted", "QUEUED": "submitted", "OPEN": "open", "FILLED": "filled", "CANCELLED": "canceled",
    "CANCEL_QUEUED": "pending_cancel", "EXPIRED": "expired", "FAILED": "rejected",
}


def classify(exc: BaseException, op: str) -> Exception | None:
    """Coinbase's answers in our three kinds (lookups never map to absent here: see the docstring)."""
    return place_refusal(exc, op)


def product(symbol: str) -> str:
    """``BTC/USD`` -> ``BTC-USD``."""
    return symbol.replace("/", "-").upper()


def _config(raw: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    conf = raw.get("order_configuration") or {}
    name = next(iter(conf), "")
    kind = ("stop_limit" if name.startswith("stop_limit") else "market" if name.startswith("market")
            else "limit" if "limit" in name else name)
    return kind, conf.get(name) or {}


def parse_order(raw: dict[str, Any]) -> VenueOrder:
    """One Coinbase order object in our vocabulary (an open order with fills is partially filled)."""
    kind, conf = _config(raw)
    filled = dec(raw.get("filled_size"))
    status = STATUS.get(str(raw.get("status")), "unknown")
    if status == "open" and filled > 0:
        status = "partially_filled"
    quantity = dec(conf.get("base_size"))
    if quantity == 0 and conf.get("quote_size") and dec(raw.get("average_filled_price")) > 0:
        quantity = filled  # a quote-sized market order: its size is what it bought
    price = dec(conf.get("limit_price"))
    stop = dec(conf.get("stop_price"))
    return VenueOrder(
        client_order_id=str(raw.get("client_order_id", "")), exchange_order_id=str(raw.get("order_id", "")),
        status=status, quantity=quantity, filled_quantity=filled, side=str(raw.get("side", "")).lower(),
        type=kind or str(raw.get("order_type", "")).lower(), price=price if price > 0 else None,
        time=iso_time(raw.get("created_time")), stop_price=stop if stop > 0 else None,
    )


def parse_fill(raw: dict[str, Any]) -> VenueTrade:
    """One fill; ``size_in_quote`` fills are converted to base (size / price)."""
    price, size = dec(raw["price"]), dec(raw["size"])
    if raw.get("size_in_quote") and price > 0:
        size = size / price
    quote = str(raw.get("product_id", "")).partition("-")[2]
    return VenueTrade(
        trade_id=str(raw.get("trade_id") or raw.get("entry_id")), exchange_order_id=str(raw.get("order_id", "")),
        side=str(raw.get("side", "")).lower(), price=price, quantity=size, fee=dec(raw.get("commission")),
        fee_asset=quote, time=iso_time(raw.get("trade_time") or raw.get("sequence_timestamp")) or datetime.now(UTC),
        is_maker=str(raw.get("liquidity_indicator", "")).upper() == "MAKER",
    )


def _iso(dt: datetime) -> str:
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class CoinbaseTrading(CcxtTrading):
    """The ``TradingClient`` of one Coinbase Advanced Trade account."""

    classify = staticmethod(classify)
    limit_per_key = True  # Advanced Trade's private limits are per key (30 requests a second)

    clock_sync = True  # a JWT outside its window is a 401; /api/v3/brokerage/time gives the venue's clock
    time_params = {"method": "v3PublicGetBrokerageTime"}  # not ccxt's default v2 time: the same API as trading

    def __init__(self, rest_url: str, credentials: Credentials, *, timeout: float = 10.0) -> None:
        super().__init__(make_ccxt("coinbase", credentials, timeout, {"rest": (rest_url or DEFAULT_REST).rstrip("/")}))
        self.exchange.seconds = self._venue_seconds  # ccxt dates each JWT (nbf, exp) with ``seconds()``

    def _venue_seconds(self) -> int:
        """Now on the venue's clock (local time minus the offset taken from it), in whole seconds."""
        return int((time.time() * 1000 - int(self.exchange.options.get("timeDifference") or 0)) // 1000)

    async def refused_nonce(self) -> bool:
        return False  # Coinbase has no nonce: a skewed token is a 401 (``unauthorized``)

    async def unauthorized(self) -> bool:
        """A 401: sign again if our clock turns out to be off the venue's (the token's window missed it)."""
        before = self.time_offset_ms
        return await self.sync_time() and abs(self.time_offset_ms - before) > SKEW_TOLERANCE_MS

    async def _pages(self, method: str, params: dict[str, Any], key: str) -> list[dict[str, Any]]:
        """Every page of a cursor-paged list; any failure mid-way is ``VenueUnavailable`` (never partial)."""
        out: list[dict[str, Any]] = []
        while True:
            raw = await self.call(method, params)
            out.extend(raw.get(key) or [])
            cursor = raw.get("cursor") or ""
            if not raw.get("has_next") or not cursor:
                return out
            params = {**params, "cursor": cursor}

    async def _by_id(self, order_id: str) -> VenueOrder:
        raw = await self.call("v3_private_get_brokerage_orders_historical_order_id", {"order_id": order_id})
        return parse_order(raw.get("order") or {})

    async def _with_fills(self, symbol: str, order: VenueOrder) -> VenueOrder:
        if order.filled_quantity <= 0:
            return order
        fills = await self.trades(symbol, order.time or datetime.now(UTC) - LOOKBACK, order.exchange_order_id)
        return replace(order, trades=tuple(fills))

    async def place(self, order: OrderRequest) -> VenueOrder:
        """``POST orders`` (market IOC or limit GTC, base size); then the order and its fills."""
        size = {"base_size": format(order.quantity, "f")}
        conf = ({"market_market_ioc": size} if order.type == "market" else
                {"limit_limit_gtc": {**size, "limit_price": format(order.price, "f"), "post_only": False}})
        return await self._post(order, conf)

    async def _post(self, order: OrderRequest, conf: dict[str, Any]) -> VenueOrder:
        raw = await self.call("v3_private_post_brokerage_orders", {
            "client_order_id": order.client_order_id, "product_id": product(order.symbol),
            "side": order.side.upper(), "order_configuration": conf}, op="place")
        if not raw.get("success"):
            err = raw.get("error_response") or {}
            raise OrderRefused(f"{err.get('error') or raw.get('failure_reason')}: {err.get('message', '')}"[:500])
        order_id = str((raw.get("success_response") or {}).get("order_id") or raw.get("order_id") or "")
        try:
            return await self._with_fills(order.symbol, await self._by_id(order_id))
        except VenueUnavailable:  # it was accepted: the poller reads its state later
            return VenueOrder(order.client_order_id, order_id, "submitted", order.quantity, ZERO, order.side,
                              order.type, order.price, datetime.now(UTC))

    async def place_protective_stop(self, symbol: str, quantity: Decimal, stop_price: Decimal, limit_price: Decimal,
                                    client_order_id: str) -> VenueOrder:
        """``POST orders`` with ``stop_limit_stop_limit_gtc`` (sell, ``STOP_DIRECTION_STOP_DOWN``)."""
        conf = {"stop_limit_stop_limit_gtc": {
            "base_size": format(quantity, "f"), "limit_price": format(limit_price, "f"),
            "stop_price": format(stop_price, "f"), "stop_direction": "STOP_DIRECTION_STOP_DOWN"}}
        return await self._post(OrderRequest(symbol, client_order_id, "sell", "limit", quantity, limit_price), conf)

    async def cancel(self, symbol: str, client_order_id: str, exchange_order_id: str = "") -> VenueOrder:
        """``POST orders/batch_cancel``; a refused cancel (already final) answers the order's state."""
        if not exchange_order_id:
            exchange_order_id = (await self.order(symbol, client_order_id)).exchange_order_id
        await self.call("v3_private_post_brokerage_orders_batch_cancel", {"order_ids": [exchange_order_id]},
                        op="cancel")
        return await self._with_fills(symbol, await self._by_id(exchange_order_id))

    async def order(self, symbol: str, client_order_id: str, since: datetime | None = None,
                    exchange_order_id: str = "") -> VenueOrder:
        """By its order id (one request) when known, else the product's order with this client order id
        from a complete listing since ``since``."""
        if exchange_order_id:
            return await self._with_fills(symbol, await self._by_id(exchange_order_id))
        params: dict[str, Any] = {"product_id": product(symbol), "limit": PAGE}
        if since is not None:
            params["start_date"] = _iso(since - LOOKBACK)
        for raw in await self._pages("v3_private_get_brokerage_orders_historical_batch", params, "orders"):
            if raw.get("client_order_id") == client_order_id:
                return parse_order(raw)
        raise OrderAbsent(f"no order with client_order_id {client_order_id} in the complete list of {product(symbol)}")

    async def open_orders(self, symbol: str) -> list[VenueOrder]:
        """The product's open orders (one request unless there are more than a page)."""
        rows = await self._pages("v3_private_get_brokerage_orders_historical_batch",
                                 {"product_id": product(symbol), "order_status": "OPEN", "limit": PAGE}, "orders")
        return [parse_order(r) for r in rows]

    async def trades(self, symbol: str, since: datetime, order_id: str = "") -> list[VenueTrade]:
        """The account's fills on the product since ``since`` (or of one order)."""
        params: dict[str, Any] = {"product_id": product(symbol), "limit": PAGE}
        if order_id:
            params["order_id"] = order_id
        else:
            params["start_sequence_timestamp"] = _iso(since)
        rows = await self._pages("v3_private_get_brokerage_orders_historical_fills", params, "fills")
        return [parse_fill(r) for r in rows if not order_id or str(r.get("order_id")) == order_id]

    async def balances(self) -> dict[str, Balance]:
        """Available and total (available + hold) per currency, over every account page."""
        out: dict[str, Balance] = {}
        for a in await self._pages("v3_private_get_brokerage_accounts", {"limit": PAGE}, "accounts"):
            free = dec((a.get("available_balance") or {}).get("value"))
            hold = dec((a.get("hold") or {}).get("value"))
            cur = str(a.get("currency", ""))
            prev = out.get(cur, Balance(ZERO, ZERO))
            out[cur] = Balance(prev.free + free, prev.total + free + hold)
        return out

    async def fees(self, symbol: str) -> Fees:
        """The account's fee tier from ``transaction_summary`` (maker and taker rates)."""
        raw = await self.call("v3_private_get_brokerage_transaction_summary", {"product_type": "SPOT"})
        tier = raw.get("fee_tier") or {}
        if "maker_fee_rate" not in tier or "taker_fee_rate" not in tier:
            raise VenueUnavailable("transaction_summary without a fee tier")
        return Fees(dec(tier["maker_fee_rate"]), dec(tier["taker_fee_rate"]))

    async def permissions(self) -> KeyPermissions:
        """``key_permissions``: can_view, can_trade, can_transfer (a transfer is a withdrawal)."""
        raw = await self.call("v3_private_get_brokerage_key_permissions", {})
        on = [k for k in ("can_view", "can_trade", "can_transfer") if raw.get(k)]
        return KeyPermissions(bool(raw.get("can_view")), bool(raw.get("can_trade")), bool(raw.get("can_transfer")),
                              ", ".join(on) or "none")
