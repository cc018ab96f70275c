"""Coinbase Advanced Trade authenticated REST over the shared matching engine, JWT-signed (see coinbase_auth).

Endpoints under ``/coinbase/api/v3/brokerage``: ``POST orders`` (``client_order_id`` is required and
idempotent: a used one answers success with the order it already names, as Coinbase documents),
``POST orders/batch_cancel``, ``GET orders/historical/batch`` (``order_status``, ``product_id[s]``,
``order_ids``, ``limit``, ``cursor``), ``GET orders/historical/fills``, ``GET orders/historical/{id}``,
``GET accounts``, ``GET transaction_summary`` (fees), ``GET key_permissions``; and ``GET /v2/accounts``
(the Coinbase App API, which ccxt's ``fetch_balance`` reads unless told to use the v3 accounts).

Errors as Coinbase answers them: a bad or expired token HTTP 401 ``Unauthorized``; over the rate limit
HTTP 429 ``{"errors": [{"id": "rate_limit_exceeded", ...}]}``; a scope the key lacks HTTP 403
``{"error": "PERMISSION_DENIED", ...}``; an unknown order HTTP 404 ``{"error": "NOT_FOUND", ...}``; a
refused order HTTP 200 ``{"success": false, "error_response": {"error": "INSUFFICIENT_FUND",
"preview_failure_reason": "PREVIEW_INSUFFICIENT_FUND", ...}}``; a cancel of an unknown or closed order
``{"success": false, "failure_reason": "UNKNOWN_CANCEL_ORDER"}`` in its ``results`` row.
Fees are charged in the quote currency and held with a buy. Statuses: OPEN (partly filled too),
FILLED, CANCELLED, EXPIRED.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Awaitable, Callable
from decimal import Decimal, InvalidOperation
from typing import Any

from aiohttp import web
from multidict import MultiDictProxy

from .coinbase_auth import Unauthorized, verify_token
from .matching import Account, Fill, Order, OrderRejected
from .venue import Venue
from .wire import iso_us, plain

STATUS = {"NEW": "OPEN", "PARTIALLY_FILLED": "OPEN", "FILLED": "FILLED", "CANCELED": "CANCELLED",
          "EXPIRED": "EXPIRED"}
TIF = {"GTC": "GOOD_UNTIL_CANCELLED", "IOC": "IMMEDIATE_OR_CANCEL", "FOK": "FILL_OR_KILL"}
# OrderRejected.reason -> (error, message, preview_failure_reason)
REJECTIONS = {
    "insufficient_funds": ("INSUFFICIENT_FUND", "Insufficient balance in source account", "PREVIEW_INSUFFICIENT_FUND"),
    "price_filter": ("INVALID_LIMIT_PRICE_PRECISION", "Too many decimals in order price",
                     "PREVIEW_INVALID_LIMIT_PRICE_PRECISION"),
    "lot_size": ("INVALID_SIZE_PRECISION", "Too many decimals in order amount", "PREVIEW_INVALID_SIZE_PRECISION"),
    "min_notional": ("UNKNOWN_FAILURE_REASON", "Order size is too small", "PREVIEW_INVALID_QUOTE_SIZE_TOO_SMALL"),
    "would_take": ("INVALID_LIMIT_PRICE_POST_ONLY", "Limit price violates post-only",
                   "PREVIEW_INVALID_LIMIT_PRICE_POST_ONLY"),
    "duplicate": ("UNKNOWN_FAILURE_REASON", "duplicate client_order_id", "UNKNOWN_PREVIEW_FAILURE_REASON"),
}
CONFIGURATIONS = {"market_market_ioc": ("MARKET", "IOC"), "limit_limit_gtc": ("LIMIT", "GTC"),
                  "sor_limit_ioc": ("LIMIT", "IOC"), "limit_limit_fok": ("LIMIT", "FOK")}


def stable_uuid(*parts: object) -> str:
    """A UUID that is the same for the same parts (order ids, account ids)."""
    digest = hashlib.sha256(":".join(map(str, parts)).encode()).digest()[:16]
    return str(uuid.UUID(bytes=digest, version=4))


class CoinbaseFailure(Exception):
    """An answer other than 200: HTTP status and JSON body."""

    def __init__(self, status: int, body: dict[str, Any]) -> None:
        super().__init__(body)
        self.status, self.body = status, body


def _error(status: int, error: str, message: str) -> CoinbaseFailure:
    return CoinbaseFailure(status, {"error": error, "error_details": message, "message": message})


class CoinbaseRest:
    """The authenticated endpoints, rendering the shared engine's orders and fills in Coinbase's shapes."""

    def __init__(self, venue: Venue) -> None:
        self.venue = venue
        self.engine = venue.trading

    # -- rendering ------------------------------------------------------------------------------------
    def render_order(self, order: Order) -> dict[str, Any]:
        """The ``orders/historical`` shape (cached until the order changes)."""
        if order.cached is None:
            order.cached = self._render(order)
        return order.cached

    def _render(self, order: Order) -> dict[str, Any]:
        fees = order.fee_total
        value = order.cum_quote
        after = value + fees if order.side == "BUY" else value - fees
        done = order.executed_qty / order.orig_qty * 100 if order.orig_qty else Decimal(0)
        last = order.fills[-1].time_ms if order.fills else None
        return {
            "order_id": order.ref, "product_id": order.symbol, "user_id": stable_uuid("user", order.account.api_key),
            "order_configuration": order.extra.get("configuration", {}), "side": order.side,
            "client_order_id": order.client_order_id, "status": STATUS[order.status],
            "time_in_force": TIF.get(order.time_in_force, "GOOD_UNTIL_CANCELLED"),
            "created_time": iso_us(order.time_ms * 1_000_000), "completion_percentage": plain(done),
            "filled_size": plain(order.executed_qty), "average_filled_price": plain(order.average), "fee": "",
            "number_of_fills": str(len(order.fills)), "filled_value": plain(value), "pending_cancel": False,
            "size_in_quote": bool(order.orig_quote_qty), "total_fees": plain(fees), "size_inclusive_of_fees": False,
            "total_value_after_fees": plain(after), "trigger_status": "INVALID_ORDER_TYPE",
            "order_type": "MARKET" if order.type == "MARKET" else "LIMIT",
            "reject_reason": "REJECT_REASON_UNSPECIFIED", "settled": not order.is_open, "product_type": "SPOT",
            "reject_message": "", "cancel_message": "User requested cancel" if order.status == "CANCELED" else "",
            "order_placement_source": "RETAIL_ADVANCED", "outstanding_hold_amount": plain(order.locked),
            "is_liquidation": False, "last_fill_time": iso_us(last * 1_000_000) if last else None,
            "edit_history": [], "leverage": "", "margin_type": "UNKNOWN_MARGIN_TYPE",
            "retail_portfolio_id": stable_uuid("portfolio", order.account.api_key),
        }

    def render_fill(self, fill: Fill) -> dict[str, Any]:
        """One ``orders/historical/fills`` row."""
        stamp = iso_us(fill.time_ms * 1_000_000)
        return {"entry_id": str(fill.trade_id), "trade_id": fill.ref, "order_id": fill.order.ref,
                "trade_time": stamp, "trade_type": "FILL", "price": plain(fill.price), "size": plain(fill.qty),
                "commission": plain(fill.fee), "product_id": fill.order.symbol, "sequence_timestamp": stamp,
                "liquidity_indicator": "MAKER" if fill.maker else "TAKER", "size_in_quote": False,
                "user_id": stable_uuid("user", fill.order.account.api_key), "side": fill.order.side,
                "retail_portfolio_id": stable_uuid("portfolio", fill.order.account.api_key)}

    # -- endpoints ------------------------------------------------------------------------------------
    def create_order(self, account: Account, body: dict[str, Any]) -> dict[str, Any]:
        client_id, product, side = body.get("client_order_id"), body.get("product_id"), body.get("side")
        configs = body.get("order_configuration")
        if not client_id or not isinstance(client_id, str):
            raise _error(400, "INVALID_ARGUMENT", "client_order_id is required")
        market = self.venue.market(str(product or ""))
        if market is None:
            return self._failure("INVALID_PRODUCT_ID", "Invalid product_id", "PREVIEW_INVALID_PRODUCT_ID", configs)
        if side not in ("BUY", "SELL"):
            raise _error(400, "INVALID_ARGUMENT", "side must be BUY or SELL")
        if not isinstance(configs, dict) or len(configs) != 1 or next(iter(configs)) not in CONFIGURATIONS:
            return self._failure("UNSUPPORTED_ORDER_CONFIGURATION", "Unsupported order configuration",
                                 "UNKNOWN_PREVIEW_FAILURE_REASON", configs)
        name, config = next(iter(configs.items()))
        previous = next((o for o in account.orders.values() if o.client_order_id == client_id), None)
        if previous is not None:  # Coinbase: a used client_order_id returns the order it names, placing nothing
            return self._success(previous, configs)
        kind, tif = CONFIGURATIONS[name]
        qty, quote = self._decimal(config, "base_size"), self._decimal(config, "quote_size")
        price = self._decimal(config, "limit_price") if kind == "LIMIT" else Decimal(0)
        if kind == "LIMIT" and (not qty or not price):
            raise _error(400, "INVALID_ARGUMENT", "base_size and limit_price are required")
        if kind == "MARKET" and not (qty or quote) or (quote and side == "SELL"):
            raise _error(400, "INVALID_ARGUMENT", "market orders need base_size (or quote_size to buy)")
        try:
            order = self.engine.submit(account, market, side, kind, qty, price, tif, client_id, quote,
                                       post_only=bool(config.get("post_only")), extra={"configuration": configs})
        except OrderRejected as exc:
            return self._failure(*REJECTIONS[exc.reason], configs)
        return self._success(order, configs)

    @staticmethod
    def _success(order: Order, configs: Any) -> dict[str, Any]:
        return {"success": True, "failure_reason": "UNKNOWN_FAILURE_REASON", "order_id": order.ref,
                "success_response": {"order_id": order.ref, "product_id": order.symbol, "side": order.side,
                                     "client_order_id": order.client_order_id},
                "order_configuration": configs}

    @staticmethod
    def _failure(error: str, message: str, preview: str, configs: Any) -> dict[str, Any]:
        return {"success": False, "failure_reason": "UNKNOWN_FAILURE_REASON", "order_id": "",
                "error_response": {"error": error, "message": message, "error_details": message,
                                   "preview_failure_reason": preview, "new_order_failure_reason": error},
                "order_configuration": configs}

    @staticmethod
    def _decimal(config: dict[str, Any], name: str) -> Decimal:
        text = config.get(name)
        if text in (None, ""):
            return Decimal(0)
        try:
            value = Decimal(str(text))
        except InvalidOperation as exc:
            raise _error(400, "INVALID_ARGUMENT", f"invalid {name}") from exc
        if not value.is_finite() or value < 0:
            raise _error(400, "INVALID_ARGUMENT", f"invalid {name}")
        return value

    def batch_cancel(self, account: Account, body: dict[str, Any]) -> dict[str, Any]:
        ids = body.get("order_ids")
        if not isinstance(ids, list) or not ids:
            raise _error(400, "INVALID_ARGUMENT", "order_ids is required")
        results = []
        for ident in ids:
            order = account.by_ref.get(str(ident))
            if order is None or not order.is_open:
                results.append({"success": False, "failure_reason": "UNKNOWN_CANCEL_ORDER", "order_id": ident})
                continue
            self.engine.cancel(order)
            results.append({"success": True, "failure_reason": "UNKNOWN_CANCEL_FAILURE_REASON", "order_id": ident})
        return {"results": results}

    def list_orders(self, account: Account, query: MultiDictProxy[str]) -> dict[str, Any]:
        statuses = set(query.getall("order_status", []))
        products = set(query.getall("product_ids", []) + query.getall("product_id", []))
        ids = set(query.getall("order_ids", []))
        if "OPEN" in statuses and len(statuses) == 1:  # the common case, from the open-order index
            rows = list(reversed(self.engine.open_orders(account)))
        else:
            rows = list(reversed(account.orders.values()))
        rows = [o for o in rows if (not statuses or STATUS[o.status] in statuses)
                and (not products or o.symbol in products) and (not ids or o.ref in ids)
                and (not query.get("order_side") or o.side == query["order_side"])]
        return self._page(rows, query, "orders", self.render_order)

    def list_fills(self, account: Account, query: MultiDictProxy[str]) -> dict[str, Any]:
        orders = set(query.getall("order_ids", []) + query.getall("order_id", []))
        products = set(query.getall("product_ids", []) + query.getall("product_id", []))
        rows = [f for f in reversed(account.all_fills())
                if (not orders or f.order.ref in orders) and (not products or f.order.symbol in products)]
        return self._page(rows, query, "fills", self.render_fill)

    @staticmethod
    def _page(rows: list[Any], query: MultiDictProxy[str], key: str,
              render: Callable[[Any], dict[str, Any]]) -> dict[str, Any]:
        """Newest first, ``limit`` a page; the cursor is the offset of the next page."""
        limit = max(1, min(int(query.get("limit") or 100), 1000))
        start = int(query.get("cursor") or 0)
        page = rows[start:start + limit]
        more = start + limit < len(rows)
        result: dict[str, Any] = {key: [render(r) for r in page], "cursor": str(start + limit) if more else ""}
        if key == "orders":
            result["has_next"] = more
        return result

    def get_order(self, account: Account, order_id: str) -> dict[str, Any]:
        order = account.by_ref.get(order_id)
        if order is None:
            raise _error(404, "NOT_FOUND", "order with this orderID was not found")
        return {"order": self.render_order(order)}

    def accounts(self, account: Account, query: MultiDictProxy[str]) -> dict[str, Any]:
        fiat = {m.spec.quote for m in self.venue.markets.by_symbol.values()}
        rows = []
        for asset, (free, locked) in sorted(account.balances.items()):
            ident = stable_uuid("account", account.api_key, asset)
            rows.append({
                "uuid": ident, "name": f"{asset} Wallet", "currency": asset,
                "available_balance": {"value": plain(free), "currency": asset}, "default": True, "active": True,
                "created_at": "2024-01-01T00:00:00.000Z", "updated_at": iso_us(), "deleted_at": None,
                "type": "ACCOUNT_TYPE_FIAT" if asset in fiat else "ACCOUNT_TYPE_CRYPTO", "ready": True,
                "hold": {"value": plain(locked), "currency": asset},
                "retail_portfolio_id": stable_uuid("portfolio", account.api_key),
                "platform": "ACCOUNT_PLATFORM_CONSUMER"})
        limit = max(1, min(int(query.get("limit") or 49), 250))
        start = int(query.get("cursor") or 0)
        more = start + limit < len(rows)
        return {"accounts": rows[start:start + limit], "has_next": more,
                "cursor": str(start + limit) if more else "", "size": len(rows[start:start + limit])}

    def accounts_v2(self, account: Account, query: MultiDictProxy[str]) -> dict[str, Any]:
        """``GET /v2/accounts`` (the Coinbase App API ccxt's fetch_balance reads by default): totals only."""
        fiat = {m.spec.quote for m in self.venue.markets.by_symbol.values()}
        rows = [{"id": stable_uuid("account", account.api_key, asset), "name": f"{asset} Wallet", "primary": True,
                 "type": "fiat" if asset in fiat else "wallet",
                 "currency": {"code": asset, "name": asset, "type": "fiat" if asset in fiat else "crypto"},
                 "balance": {"amount": plain(free + locked), "currency": asset},
                 "created_at": "2024-01-01T00:00:00Z", "updated_at": iso_us(), "resource": "account",
                 "resource_path": f"/v2/accounts/{stable_uuid('account', account.api_key, asset)}"}
                for asset, (free, locked) in sorted(account.balances.items())]
        return {"pagination": {"ending_before": None, "starting_after": None, "limit": 250, "order": "desc",
                               "previous_uri": None, "next_uri": None}, "data": rows}

    def transaction_summary(self, account: Account, query: MultiDictProxy[str]) -> dict[str, Any]:
        fills = account.all_fills()
        volume = sum((f.quote for f in fills), Decimal(0))
        fees = sum((f.fee for f in fills), Decimal(0))
        return {"total_volume": float(volume), "total_fees": float(fees),
                "fee_tier": {"pricing_tier": "Advanced 1", "usd_from": "0", "usd_to": "1000",
                             "taker_fee_rate": plain(account.taker_fee), "maker_fee_rate": plain(account.maker_fee),
                             "aop_from": "", "aop_to": ""},
                "margin_rate": None, "goods_and_services_tax": None, "advanced_trade_only_volume": float(volume),
                "advanced_trade_only_fees": float(fees), "coinbase_pro_volume": 0, "coinbase_pro_fees": 0,
                "total_balance": "", "has_promo_fee": False}

    @staticmethod
    def key_permissions(account: Account, query: MultiDictProxy[str]) -> dict[str, Any]:
        return {"can_view": account.can("read"), "can_trade": account.can("trade"),
                "can_transfer": account.can("withdraw"),
                "portfolio_uuid": stable_uuid("portfolio", account.api_key), "portfolio_type": "DEFAULT"}


def authenticate(venue: Venue, request: web.Request) -> Account:
    """The account whose JWT signs ``request`` (raises :class:`Unauthorized`)."""
    engine = venue.trading
    keys = {k: a.verifier for k, a in engine.accounts.items() if a.verifier is not None}
    name = verify_token(request.headers.get("Authorization", ""), keys, request.method, request.host,
                        request.path, engine.server_ms() / 1000)
    return engine.accounts[name]


def gate(venue: Venue, request: web.Request) -> Account | web.Response:
    """Authenticate and count a request: its account, or the 401 / 429 answer."""
    try:
        account = authenticate(venue, request)
    except Unauthorized:
        return web.Response(status=401, text="Unauthorized\n")
    if not venue.trading.allow(account):
        return web.json_response({"errors": [{"id": "rate_limit_exceeded", "message": "Too many requests"}]},
                                 status=429)
    return account


def private(venue: Venue, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
            ) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    """A public market-data handler served on its authenticated path (``/brokerage/products`` ...)."""
    async def guarded(request: web.Request) -> web.StreamResponse:
        account = gate(venue, request)
        return account if isinstance(account, web.Response) else await handler(request)
    return guarded


def add_routes(app: web.Application, venue: Venue, rest: CoinbaseRest) -> None:
    """Register the authenticated endpoints under ``/coinbase/api/v3/brokerage``."""

    def route(action: Callable[..., dict[str, Any]], permission: str, body: bool = False,
              match: str = "") -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
        async def handler(request: web.Request) -> web.StreamResponse:
            account = gate(venue, request)
            if isinstance(account, web.Response):
                return account
            try:
                if permission and not account.can(permission):
                    raise _error(403, "PERMISSION_DENIED", "Missing required scopes")
                failure = venue.injected_failure() if body else None  # the POSTs: order entry
                if failure is not None:
                    return failure
                if body:
                    try:
                        payload = json.loads(await request.text() or "{}")
                    except ValueError as exc:
                        raise _error(400, "INVALID_ARGUMENT", "malformed JSON body") from exc
                    if not isinstance(payload, dict):
                        raise _error(400, "INVALID_ARGUMENT", "malformed JSON body")
                    result = action(account, payload)
                elif match:
                    result = action(account, request.match_info[match])
                else:
                    result = action(account, request.query)
            except CoinbaseFailure as exc:
                return web.json_response(exc.body, status=exc.status)
            if body:
                lost = await venue.hold_answer(request)
                if lost is not None:
                    return lost
            return web.json_response(result)
        return handler

    base = "/coinbase/api/v3/brokerage"
    app.router.add_post(base + "/orders", route(rest.create_order, "trade", body=True))
    app.router.add_post(base + "/orders/batch_cancel", route(rest.batch_cancel, "trade", body=True))
    app.router.add_get(base + "/orders/historical/batch", route(rest.list_orders, "read"))
    app.router.add_get(base + "/orders/historical/fills", route(rest.list_fills, "read"))
    app.router.add_get(base + "/orders/historical/{order_id}", route(rest.get_order, "read", match="order_id"))
    app.router.add_get(base + "/accounts", route(rest.accounts, "read"))
    app.router.add_get(base + "/transaction_summary", route(rest.transaction_summary, "read"))
    app.router.add_get(base + "/key_permissions", route(rest.key_permissions, ""))
    app.router.add_get("/coinbase/v2/accounts", route(rest.accounts_v2, "read"))
