"""Kraken spot private REST (``/0/private/*``) over the shared matching engine, signed as Kraken signs it.

Authentication: ``API-Key`` names the key; ``API-Sign`` is base64(HMAC-SHA512(base64-decoded secret,
URI path + SHA-256(nonce + POST data))), the path being ``/0/private/<Method>`` as the client signs it
(our ``/kraken`` mount prefix is not part of it). The ``nonce`` must increase strictly per key.

Errors come back as HTTP 200 with ``{"error": ["<code>"]}`` in this order: unknown key ``EAPI:Invalid
key``, bad signature ``EAPI:Invalid signature``, stale nonce ``EAPI:Invalid nonce``, over the rate
limit ``EAPI:Rate limit exceeded``, missing permission ``EGeneral:Permission denied``. Order errors:
``EOrder:Insufficient funds``, ``EOrder:Cost minimum not met``, ``EOrder:Unknown order`` (cancel of an
id that is not open), ``EOrder:Invalid order`` (QueryOrders of an id we never issued: our choice, the
docs do not say), ``EQuery:Unknown asset pair``.

Permissions: orders and balances need ``read``, AddOrder/CancelOrder/CancelAll ``trade``,
WithdrawMethods/WithdrawInfo ``withdraw`` (a key without it gets ``EGeneral:Permission denied``; with it,
WithdrawInfo answers ``EFunding:Unknown withdraw key`` for any key name: the simulator has no wallets).
Fees are charged in the quote asset (``oflags`` ``fciq``), as Kraken does by default for buys and sells.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from collections.abc import Callable
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import parse_qsl

from aiohttp import web

from .kraken_pairs import asset_ids, find_pair
from .matching import Account, Fill, Order, OrderRejected
from .model import Market
from .venue import Venue
from .wire import decimals_of, fixed

REJECTIONS = {
    "price_filter": "EOrder:Invalid price",
    "lot_size": "EGeneral:Invalid arguments:volume",
    "min_notional": "EOrder:Cost minimum not met",  # below the pair's costmin
    "duplicate": "EOrder:Duplicate order",  # an open order already carries this cl_ord_id
    "insufficient_funds": "EOrder:Insufficient funds",
    "would_take": "EOrder:Post only order",
    "not_open": "EOrder:Unknown order",
}
STATUS = {"NEW": "open", "PARTIALLY_FILLED": "open", "FILLED": "closed", "CANCELED": "canceled",
          "EXPIRED": "expired"}
PAGE = 50  # ClosedOrders and TradesHistory return 50 rows a page, newest first
WITHDRAW_METHODS = {"BTC": ("Bitcoin", "0.0005"), "ETH": ("Ether", "0.004"), "USD": ("Bank Frick (SWIFT)", "5")}


class KrakenError(Exception):
    """A Kraken error string such as ``EOrder:Unknown order``."""


def txid(prefix: str, seed: str, number: int) -> str:
    """A Kraken-looking id (``OQCLML-BW3P3-BUCMWZ``), stable for a seed and number."""
    digest = base64.b32encode(hashlib.sha256(f"{seed}:{prefix}:{number}".encode()).digest()).decode()
    return f"{prefix}{digest[:5]}-{digest[5:10]}-{digest[10:16]}"


def signature(secret: str, path: str, nonce: str, body: str) -> str:
    """Kraken's ``API-Sign`` of a request."""
    try:
        key = base64.b64decode(secret)
    except (binascii.Error, ValueError):
        key = secret.encode()
    digest = hashlib.sha256((nonce + body).encode()).digest()
    return base64.b64encode(hmac.new(key, path.encode() + digest, hashlib.sha512).digest()).decode()


def verify(venue: Venue, request: web.Request, body: str) -> tuple[Account, dict[str, str]]:
    """Authenticate a private request; return its account and parameters."""
    engine = venue.trading
    account = engine.accounts.get(request.headers.get("API-Key", ""))
    if account is None:
        raise KrakenError("EAPI:Invalid key")
    if request.content_type == "application/json":
        params = {k: v if isinstance(v, str) else json.dumps(v) for k, v in (json.loads(body or "{}")).items()}
    else:
        params = dict(parse_qsl(body, keep_blank_values=True))
    nonce = str(params.get("nonce", ""))
    path = request.path.removeprefix("/kraken")
    given = request.headers.get("API-Sign", "")
    if not hmac.compare_digest(signature(account.secret, path, nonce, body), given):
        raise KrakenError("EAPI:Invalid signature")
    if not nonce.isdigit() or int(nonce) <= account.last_nonce:
        raise KrakenError("EAPI:Invalid nonce")
    account.last_nonce = int(nonce)
    if not engine.allow(account):
        raise KrakenError("EAPI:Rate limit exceeded")
    return account, params


class KrakenRest:
    """The private endpoints, rendering the shared engine's orders and fills in Kraken's shapes."""

    def __init__(self, venue: Venue) -> None:
        self.venue = venue
        self.engine = venue.trading

    # -- rendering ------------------------------------------------------------------------------------
    def pair_name(self, market: Market) -> str:
        """The pair's altname (XBTUSD), as ``descr.pair`` prints it."""
        return asset_ids(market.spec.base)[1] + asset_ids(market.spec.quote)[1]

    def render_order(self, order: Order, trades: bool = False) -> dict[str, Any]:
        """One order as OpenOrders / ClosedOrders / QueryOrders print it (cached until the order changes:
        OpenOrders over 10,000 orders stays fast)."""
        if order.cached is None:
            order.cached = self._render(order)
        if trades:
            return order.cached | {"trades": [f.ref for f in order.fills]}
        return order.cached

    def _render(self, order: Order) -> dict[str, Any]:
        market = self.venue.markets.by_id[order.symbol]
        places = decimals_of(market.spec.tick)
        kind = order.type.lower() if order.type != "LIMIT_MAKER" else "limit"
        price = fixed(order.price, places) if kind == "limit" else "0"
        pair = self.pair_name(market)
        where = f"limit {price}" if kind == "limit" else "market"
        row: dict[str, Any] = {
            "refid": None, "userref": order.extra.get("userref"), "status": STATUS[order.status],
            "opentm": order.time_ms / 1000, "starttm": 0, "expiretm": 0,
            "descr": {"pair": pair, "type": order.side.lower(), "ordertype": kind, "price": price, "price2": "0",
                      "leverage": "none", "order": f"{order.side.lower()} {fixed(order.orig_qty, 8)} {pair} @ {where}",
                      "close": ""},
            "vol": fixed(order.orig_qty, 8), "vol_exec": fixed(order.executed_qty, 8),
            "cost": fixed(order.cum_quote, 5), "fee": fixed(order.fee_total, 5),
            "price": fixed(order.average, places), "stopprice": "0.00000", "limitprice": "0.00000", "misc": "",
            "oflags": "fciq,post" if order.post_only else "fciq",
        }
        if order.extra.get("cl_ord_id"):
            row["cl_ord_id"] = order.extra["cl_ord_id"]
        if not order.is_open:
            row["closetm"] = order.update_ms / 1000
            row["reason"] = "User requested" if order.status == "CANCELED" else None
        return row

    def render_fill(self, fill: Fill) -> dict[str, Any]:
        """One TradesHistory row."""
        market = self.venue.markets.by_id[fill.order.symbol]
        return {"ordertxid": fill.order.ref, "postxid": txid("T", "post", fill.trade_id),
                "pair": market.spec.rest_id or market.spec.venue_id, "time": fill.time_ms / 1000,
                "type": fill.order.side.lower(), "ordertype": "market" if fill.order.type == "MARKET" else "limit",
                "price": fixed(fill.price, decimals_of(market.spec.tick)), "cost": fixed(fill.quote, 5),
                "fee": fixed(fill.fee, 5), "vol": fixed(fill.qty, 8), "margin": "0.00000", "leverage": "0",
                "misc": "", "trade_id": fill.trade_id, "maker": fill.maker}

    # -- helpers --------------------------------------------------------------------------------------
    def market(self, name: str) -> Market:
        market = find_pair(self.venue, name) if name else None
        if market is None:
            raise KrakenError("EQuery:Unknown asset pair")
        return market

    @staticmethod
    def decimal(params: dict[str, str], name: str) -> Decimal:
        try:
            value = Decimal(params.get(name, ""))
        except InvalidOperation as exc:
            raise KrakenError(f"EGeneral:Invalid arguments:{name}") from exc
        if not value.is_finite():
            raise KrakenError(f"EGeneral:Invalid arguments:{name}")
        return value

    @staticmethod
    def matches(order: Order, params: dict[str, str]) -> bool:
        """The ``userref`` / ``cl_ord_id`` filters of the order lists."""
        if params.get("userref") and str(order.extra.get("userref")) != params["userref"]:
            return False
        return not (params.get("cl_ord_id") and order.extra.get("cl_ord_id") != params["cl_ord_id"])

    @staticmethod
    def lookup(account: Account, ident: str) -> list[Order]:
        """Orders named by a txid or a userref (every order carrying it), as ``txid`` takes either."""
        if ident in account.by_ref:
            return [account.by_ref[ident]]
        return [o for o in account.orders.values() if ident and str(o.extra.get("userref")) == ident]

    # -- endpoints ------------------------------------------------------------------------------------
    def add_order(self, account: Account, params: dict[str, str]) -> dict[str, Any]:
        market = self.market(params.get("pair", ""))
        side = params.get("type", "")
        kind = params.get("ordertype", "")
        if side not in ("buy", "sell"):
            raise KrakenError("EGeneral:Invalid arguments:type")
        if kind not in ("market", "limit"):
            raise KrakenError("EGeneral:Invalid arguments:ordertype")
        flags = set(filter(None, params.get("oflags", "").split(",")))
        userref, client_id = params.get("userref"), params.get("cl_ord_id")
        if userref and client_id:  # Kraken: the two are mutually exclusive
            raise KrakenError("EGeneral:Invalid arguments:cl_ord_id")
        if userref is not None and not userref.lstrip("-").isdigit():
            raise KrakenError("EGeneral:Invalid arguments:userref")
        volume = self.decimal(params, "volume")
        price = self.decimal(params, "price") if kind == "limit" else Decimal(0)
        if kind == "limit" and price % market.spec.tick:
            raise KrakenError(f"EOrder:Invalid price:{self.pair_name(market)} price can only be specified up to "
                              f"{decimals_of(market.spec.tick)} decimals.")
        quote_qty = volume if "viqc" in flags and kind == "market" else Decimal(0)
        tif = params.get("timeinforce", "GTC")
        if tif not in ("GTC", "IOC"):
            raise KrakenError("EGeneral:Invalid arguments:timeinforce")
        extra = {"userref": int(userref) if userref else None, "cl_ord_id": client_id}
        if params.get("validate") in ("true", "1"):
            return {"descr": {"order": f"{side} {fixed(volume, 8)} {self.pair_name(market)} @ {kind}"}}
        try:
            order = self.engine.submit(account, market, side.upper(), kind.upper(), Decimal(0) if quote_qty else volume,
                                       price, tif, client_id, quote_qty, post_only="post" in flags, extra=extra)
        except OrderRejected as exc:
            raise KrakenError(REJECTIONS[exc.reason]) from exc
        descr = self.render_order(order)["descr"]["order"]
        return {"descr": {"order": descr}, "txid": [order.ref]}

    def cancel_order(self, account: Account, params: dict[str, str]) -> dict[str, Any]:
        if params.get("cl_ord_id"):
            targets = [o for o in self.engine.open_orders(account) if o.extra.get("cl_ord_id") == params["cl_ord_id"]]
        else:
            targets = [o for o in self.lookup(account, params.get("txid", "")) if o.is_open]
        if not targets:
            raise KrakenError("EOrder:Unknown order")
        for order in targets:
            self.engine.cancel(order)
        return {"count": len(targets), "pending": False}

    def cancel_all(self, account: Account, params: dict[str, str]) -> dict[str, Any]:
        targets = self.engine.open_orders(account)
        for order in targets:
            self.engine.cancel(order)
        return {"count": len(targets)}

    def open_orders(self, account: Account, params: dict[str, str]) -> dict[str, Any]:
        trades = params.get("trades") in ("true", "1")
        return {"open": {o.ref: self.render_order(o, trades) for o in self.engine.open_orders(account)
                         if self.matches(o, params)}}

    def closed_orders(self, account: Account, params: dict[str, str]) -> dict[str, Any]:
        trades = params.get("trades") in ("true", "1")
        rows = [o for o in reversed(account.orders.values()) if not o.is_open and self.matches(o, params)]
        if params.get("start"):
            rows = [o for o in rows if o.update_ms / 1000 > float(params["start"])]
        if params.get("end"):
            rows = [o for o in rows if o.update_ms / 1000 <= float(params["end"])]
        offset = int(params.get("ofs", "0") or 0)
        return {"closed": {o.ref: self.render_order(o, trades) for o in rows[offset:offset + PAGE]},
                "count": len(rows)}

    def query_orders(self, account: Account, params: dict[str, str]) -> dict[str, Any]:
        trades = params.get("trades") in ("true", "1")
        found: dict[str, Any] = {}
        for ident in filter(None, params.get("txid", "").split(",")):
            orders = [o for o in self.lookup(account, ident) if self.matches(o, params)]
            if not orders:
                raise KrakenError("EOrder:Invalid order")
            for order in orders:
                found[order.ref] = self.render_order(order, trades)
        return found

    def trades_history(self, account: Account, params: dict[str, str]) -> dict[str, Any]:
        rows = list(reversed(account.all_fills()))
        if params.get("start"):
            rows = [f for f in rows if f.time_ms / 1000 > float(params["start"])]
        if params.get("end"):
            rows = [f for f in rows if f.time_ms / 1000 <= float(params["end"])]
        offset = int(params.get("ofs", "0") or 0)
        return {"trades": {f.ref: self.render_fill(f) for f in rows[offset:offset + PAGE]}, "count": len(rows)}

    def balance(self, account: Account, params: dict[str, str]) -> dict[str, Any]:
        return {asset_ids(a)[0]: fixed(free + locked, 10) for a, (free, locked) in sorted(account.balances.items())}

    def balance_ex(self, account: Account, params: dict[str, str]) -> dict[str, Any]:
        return {asset_ids(a)[0]: {"balance": fixed(free + locked, 10), "hold_trade": fixed(locked, 10)}
                for a, (free, locked) in sorted(account.balances.items())}

    def trade_volume(self, account: Account, params: dict[str, str]) -> dict[str, Any]:
        names = [n for n in params.get("pair", "").split(",") if n]
        markets = [self.market(n) for n in names]
        volume = sum((f.quote for f in account.all_fills()), Decimal(0))

        def tier(rate: Decimal) -> dict[str, str]:
            pct = fixed(rate * 100, 4)
            return {"fee": pct, "minfee": "0.1000", "maxfee": pct, "nextfee": pct, "tiervolume": "0.0000",
                    "nextvolume": "50000.0000"}

        result: dict[str, Any] = {"currency": "ZUSD", "volume": fixed(volume, 4)}
        if markets:
            result["fees"] = {m.spec.rest_id or m.spec.venue_id: tier(account.taker_fee) for m in markets}
            result["fees_maker"] = {m.spec.rest_id or m.spec.venue_id: tier(account.maker_fee) for m in markets}
        return result

    def withdraw_methods(self, account: Account, params: dict[str, str]) -> list[dict[str, Any]]:
        wanted = params.get("asset")
        return [{"asset": asset_ids(a)[0], "method": method, "network": method, "minimum": minimum}
                for a, (method, minimum) in WITHDRAW_METHODS.items()
                if wanted in (None, a, asset_ids(a)[0], asset_ids(a)[1])]

    def withdraw_info(self, account: Account, params: dict[str, str]) -> dict[str, Any]:
        if not params.get("asset") or not params.get("key") or not params.get("amount"):
            raise KrakenError("EGeneral:Invalid arguments")
        raise KrakenError("EFunding:Unknown withdraw key")


def add_routes(app: web.Application, venue: Venue) -> None:
    """Register ``/kraken/0/private/<Method>`` (POST, as Kraken takes them)."""
    rest = KrakenRest(venue)
    table: dict[str, tuple[Callable[[Account, dict[str, str]], Any], str]] = {
        "AddOrder": (rest.add_order, "trade"), "CancelOrder": (rest.cancel_order, "trade"),
        "CancelAll": (rest.cancel_all, "trade"), "OpenOrders": (rest.open_orders, "read"),
        "ClosedOrders": (rest.closed_orders, "read"), "QueryOrders": (rest.query_orders, "read"),
        "TradesHistory": (rest.trades_history, "read"), "Balance": (rest.balance, "read"),
        "BalanceEx": (rest.balance_ex, "read"), "TradeVolume": (rest.trade_volume, "read"),
        "WithdrawMethods": (rest.withdraw_methods, "withdraw"), "WithdrawInfo": (rest.withdraw_info, "withdraw"),
    }

    def route(action: Callable[[Account, dict[str, str]], Any], permission: str) -> Any:
        entry = permission == "trade"  # placing and cancelling: where the order-entry faults apply

        async def handler(request: web.Request) -> web.Response:
            body = await request.text() if request.can_read_body else ""
            try:
                account, params = verify(venue, request, body)
                if not account.can(permission):
                    raise KrakenError("EGeneral:Permission denied")
                failure = venue.injected_failure() if entry else None
                if failure is not None:
                    return failure
                result = action(account, params)
            except KrakenError as exc:
                return web.json_response({"error": [str(exc)]})
            if entry:
                lost = await venue.hold_answer(request)
                if lost is not None:
                    return lost
            return web.json_response({"error": [], "result": result})
        return handler

    for name, (action, permission) in table.items():
        app.router.add_post(f"/kraken/0/private/{name}", route(action, permission))
