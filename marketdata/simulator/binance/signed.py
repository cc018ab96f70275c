"""Binance signed REST (``/api/v3/order``, ``openOrders``, ``myTrades``, ``account``, ``/sapi/v1/account/
apiRestrictions``) and order-entry faults.

Authentication follows Binance: ``X-MBX-APIKEY`` names the account; ``signature`` is the hex
HMAC-SHA256 of the query string concatenated with the body (the ``signature`` pair left out);
``timestamp`` must lie within ``recvWindow`` (default 5000 ms, at most 60000) of the server clock
and at most 1000 ms ahead of it. Order entry needs the key's ``trade`` permission, the rest ``read``
(-2015 otherwise); a key over its rate limit gets HTTP 429 with -1003 and a ``Retry-After`` header.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Any, Protocol
from urllib.parse import parse_qsl

from aiohttp import web

from ..model import VenueMarkets
from .public import error
from .streams import px
from .trading import Account, BinanceError, Order, TradingEngine, mandatory, my_trade, order_dict, order_fill

RETRY_AFTER_SECONDS = 1  # what a rate-limited client is told to wait


class SignedHost(Protocol):
    """What the signed order endpoints use of the Binance venue (the venue module imports this one)."""

    markets: VenueMarkets
    trading: TradingEngine

    def injected_failure(self) -> web.Response | None: ...

    async def hold_answer(self, request: web.Request) -> web.Response | None: ...


INTERNAL_ERROR = "Internal error; unable to process your request. Please try again."


def verify(venue: SignedHost, request: web.Request, body: str) -> tuple[Account, dict[str, str]]:
    """Authenticate a signed request; return its account and merged parameters."""
    engine = venue.trading
    key = request.headers.get("X-MBX-APIKEY", "")
    if not key:
        raise BinanceError(401, -2014, "API-key format invalid.")
    account = engine.accounts.get(key)
    if account is None:
        raise BinanceError(401, -2015, "Invalid API-key, IP, or permissions for action.")
    query = request.query_string
    pairs = parse_qsl(query, keep_blank_values=True) + parse_qsl(body, keep_blank_values=True)
    params = dict(pairs)
    signature = params.pop("signature", "")
    if "timestamp" not in params:
        raise mandatory("timestamp")
    if not signature:
        raise mandatory("signature")
    try:
        timestamp = int(params["timestamp"])
        recv_window = int(params.get("recvWindow", "5000"))
    except ValueError as exc:
        raise BinanceError(400, -1100, "Illegal characters found in parameter 'timestamp'.") from exc
    if recv_window > 60_000 or recv_window <= 0:
        raise BinanceError(400, -1131, "recvWindow must be less than 60000")
    now = engine.server_ms()
    if timestamp - now > 1000:
        raise BinanceError(400, -1021, "Timestamp for this request was 1000ms ahead of the server's time.")
    if now - timestamp > recv_window:
        raise BinanceError(400, -1021, "Timestamp for this request is outside of the recvWindow.")
    total = _without_signature(query) + _without_signature(body)
    expected = hmac.new(account.secret.encode(), total.encode(), hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, signature.lower()):
        raise BinanceError(400, -1022, "Signature for this request is not valid.")
    if not engine.allow(account):
        raise BinanceError(429, -1003, "Too many requests; current limit of IP(127.0.0.1) request weight is 6000 "
                                       "per 1 MINUTE. Please use WebSocket Streams for live updates to avoid polling "
                                       "the API.")
    return account, params


def require(account: Account, permission: str) -> None:
    """-2015, as Binance answers a key whose permissions do not cover the endpoint."""
    if not account.can(permission):
        raise BinanceError(401, -2015, "Invalid API-key, IP, or permissions for action.")


def api_restrictions(account: Account) -> dict[str, Any]:
    """``GET /sapi/v1/account/apiRestrictions``: what the key may do."""
    return {"ipRestrict": False, "createTime": 1_700_000_000_000, "enableReading": account.can("read"),
            "enableSpotAndMarginTrading": account.can("trade"), "enableWithdrawals": account.can("withdraw"),
            "enableInternalTransfer": False, "permitsUniversalTransfer": False, "enableVanillaOptions": False,
            "enableFutures": False, "enableMargin": False, "enablePortfolioMarginTrading": False,
            "enableFixApiTrade": False, "enableFixReadOnly": False}


def _without_signature(text: str) -> str:
    return "&".join(p for p in text.split("&") if p and not p.startswith("signature="))


def order_response(order: Order, resp_type: str) -> dict[str, Any]:
    """``POST /api/v3/order`` reply for ``newOrderRespType`` ACK, RESULT or FULL."""
    ack = {"symbol": order.symbol, "orderId": order.order_id, "orderListId": -1,
           "clientOrderId": order.client_order_id, "transactTime": order.time_ms}
    if resp_type == "ACK":
        return ack
    full = order_dict(order)
    result = ack | {k: full[k] for k in ("price", "origQty", "executedQty", "origQuoteOrderQty",
                                         "cummulativeQuoteQty", "status", "timeInForce", "type", "side",
                                         "workingTime", "selfTradePreventionMode")}
    if resp_type == "RESULT":
        return result
    return result | {"fills": [order_fill(f) for f in order.fills]}


def cancel_response(order: Order, cancel_id: str) -> dict[str, Any]:
    """``DELETE /api/v3/order`` reply."""
    full = order_dict(order)
    return {"symbol": order.symbol, "origClientOrderId": order.client_order_id, "orderId": order.order_id,
            "orderListId": -1, "clientOrderId": cancel_id, "transactTime": order.update_ms} | {
        k: full[k] for k in ("price", "origQty", "executedQty", "cummulativeQuoteQty", "status", "timeInForce",
                             "type", "side", "selfTradePreventionMode")}


def account_response(account: Account, omit_zero: bool) -> dict[str, Any]:
    """``GET /api/v3/account`` reply."""
    balances = [{"asset": a, "free": px(free), "locked": px(locked)}
                for a, (free, locked) in sorted(account.balances.items())
                if not (omit_zero and not free and not locked)]
    maker = int(account.maker_fee * 10_000)
    taker = int(account.taker_fee * 10_000)
    return {
        "makerCommission": maker, "takerCommission": taker, "buyerCommission": 0, "sellerCommission": 0,
        "commissionRates": {"maker": px(account.maker_fee), "taker": px(account.taker_fee),
                            "buyer": px(account.maker_fee * 0), "seller": px(account.maker_fee * 0)},
        "canTrade": account.can("trade"), "canWithdraw": account.can("withdraw"), "canDeposit": True, "brokered": False,
        "requireSelfTradePrevention": False, "preventSor": False, "updateTime": 0, "accountType": "SPOT",
        "balances": balances, "permissions": ["SPOT"], "uid": abs(hash(account.api_key)) % 10**9,
    }


def add_routes(app: web.Application, venue: SignedHost) -> None:
    """Register the signed endpoints under ``/binance/api/v3``."""
    engine = venue.trading

    async def run(request: web.Request, action: Any, entry: bool, permission: str) -> web.StreamResponse:
        body = await request.text() if request.can_read_body else ""
        try:
            account, params = verify(venue, request, body)
            if permission:
                require(account, permission)
            failure = venue.injected_failure() if entry else None
            if failure is not None:
                return failure
            result = action(account, params)
        except BinanceError as exc:
            response = error(exc.status, exc.code, exc.msg)
            if exc.status == 429:  # Binance says how long to back off (seconds)
                response.headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
            return response
        if entry:
            lost = await venue.hold_answer(request)
            if lost is not None:
                return lost
        return web.json_response(result)

    def new_order(account: Account, params: dict[str, str]) -> dict[str, Any]:
        order = engine.place(account, params)
        return order_response(order, params.get("newOrderRespType", "FULL"))

    def query_order(account: Account, params: dict[str, str]) -> dict[str, Any]:
        return engine.find(account, params, BinanceError(400, -2013, "Order does not exist.")).as_dict()

    def cancel_order(account: Account, params: dict[str, str]) -> dict[str, Any]:
        order = engine.find(account, params, BinanceError(400, -2011, "Unknown order sent."))
        engine.cancel(order)
        return cancel_response(order, params.get("newClientOrderId") or engine.new_client_id())

    def open_orders(account: Account, params: dict[str, str]) -> list[dict[str, Any]]:
        symbol = params.get("symbol")
        if symbol and symbol not in venue.markets.by_id:
            raise BinanceError(400, -1121, "Invalid symbol.")
        return [order_dict(o) for o in engine.open_orders(account, symbol or None)]

    def cancel_all(account: Account, params: dict[str, str]) -> list[dict[str, Any]]:
        if not params.get("symbol"):
            raise mandatory("symbol")
        orders = engine.open_orders(account, params["symbol"])
        if not orders:
            raise BinanceError(400, -2011, "Unknown order sent.")
        return [cancel_response(engine.cancel(o), engine.new_client_id()) for o in orders]

    def my_trades(account: Account, params: dict[str, str]) -> list[dict[str, Any]]:
        if not params.get("symbol"):
            raise mandatory("symbol")
        rows = [my_trade(f) for f in account.fills.get(params["symbol"], [])]
        if params.get("orderId"):
            rows = [t for t in rows if t["orderId"] == int(params["orderId"])]
        if params.get("fromId"):
            rows = [t for t in rows if t["id"] >= int(params["fromId"])]
        if params.get("startTime"):
            rows = [t for t in rows if t["time"] >= int(params["startTime"])]
        if params.get("endTime"):
            rows = [t for t in rows if t["time"] <= int(params["endTime"])]
        limit = min(int(params.get("limit", "500")), 1000)
        return rows[:limit] if params.get("fromId") or params.get("startTime") else rows[-limit:]

    def account_info(account: Account, params: dict[str, str]) -> dict[str, Any]:
        return account_response(account, params.get("omitZeroBalances") == "true")

    def restrictions(account: Account, params: dict[str, str]) -> dict[str, Any]:
        return api_restrictions(account)

    def route(action: Any, entry: bool = False, permission: str = "read") -> Any:
        async def handler(request: web.Request) -> web.StreamResponse:
            return await run(request, action, entry, "trade" if entry else permission)
        return handler

    base = "/binance/api/v3"
    app.router.add_post(base + "/order", route(new_order, entry=True))
    app.router.add_get(base + "/order", route(query_order))
    app.router.add_delete(base + "/order", route(cancel_order, entry=True))
    app.router.add_get(base + "/openOrders", route(open_orders))
    app.router.add_delete(base + "/openOrders", route(cancel_all, entry=True))
    app.router.add_get(base + "/myTrades", route(my_trades))
    app.router.add_get(base + "/account", route(account_info))
    # any valid key may read its own restrictions, whatever they are
    app.router.add_get("/binance/sapi/v1/account/apiRestrictions", route(restrictions, permission=""))
