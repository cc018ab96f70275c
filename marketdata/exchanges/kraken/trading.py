"""Kraken spot signed REST (``/0/private/*``) through ccxt's async client.

ccxt signs each request (``API-Key``; ``API-Sign`` = HMAC-SHA512 over the path and SHA-256 of nonce +
body, with a strictly increasing nonce per key: processes sharing a key should use Kraken's nonce
window). The nonce is local milliseconds, kept increasing when the local clock steps back (NTP); a
request refused with ``EAPI:Invalid nonce`` (not processed: e.g. two concurrent requests of the key
arriving out of order) is signed again once with a fresh nonce. Refused again, the key has signed a
higher nonce elsewhere (another process on the same key, or an earlier clock far ahead): an order is
refused with that reason, anything else is unavailable.

Endpoints: ``AddOrder``, ``CancelOrder``, ``OpenOrders``, ``ClosedOrders``, ``QueryOrders``,
``TradesHistory``, ``BalanceEx``, ``TradeVolume`` (the account's fees) and ``WithdrawInfo`` (probed
for the withdraw permission).

Client order ids: Kraken's ``cl_ord_id`` takes a UUID or free text of at most 18 characters. Ours are
longer, so a longer id travels as the UUID-5 of our id (deterministic: a lookup after a restart finds
it); the client maps what it has been told to ``expect`` back to our ids.

Unknown is not "not found" on Kraken: an order is definitely absent only when ``OpenOrders`` and
``ClosedOrders`` filtered by its ``cl_ord_id`` both answer without error and neither lists it (or
``QueryOrders`` answers ``EOrder:Invalid order`` for its txid). ``EAPI:Invalid nonce`` (after the retry),
``EService:*``,
``EGeneral:Internal error``, rate limits (``EAPI:Rate limit exceeded``, ``EOrder:Rate limit exceeded``,
``EGeneral:Too many requests``), timeouts and 5xx are ``VenueUnavailable``. Refusals of a place
(``EOrder:Insufficient funds``, ``EOrder:Order minimum not met``, ``EGeneral:Invalid arguments``,
``EGeneral:Permission denied``, ``EAPI:Invalid key``) are ``OrderRefused``.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterable
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
    OrderRequest,
    VenueOrder,
    VenueTrade,
    VenueUnavailable,
)
from marketdata.exchanges.ccxt_client import CcxtTrading, absent, dec, make_ccxt, place_refusal
from marketdata.exchanges.kraken.rest import rest_pair

DEFAULT_REST = "https://api.kraken.com"
FREE_TEXT_MAX = 18
COID_NAMESPACE = uuid.UUID("6f1c2a52-7d0e-4c1b-9a51-3f0d2b8e4c17")  # fixed forever: ids must map the same
STATUS = {"pending": "submitted", "open": "open", "closed": "filled", "canceled": "canceled", "expired": "expired"}
ASSETS = {"XXBT": "BTC", "XBT": "BTC", "XETH": "ETH", "ZUSD": "USD", "ZEUR": "EUR", "XXDG": "DOGE", "XDG": "DOGE"}


def classify(exc: BaseException, op: str) -> Exception | None:
    """Kraken's answers in our three kinds (see the module docstring)."""
    text = str(exc)
    if op == "lookup" and "EOrder:Invalid order" in text:
        return absent(exc)
    return place_refusal(exc, op)


def venue_client_id(client_order_id: str) -> str:
    """Our id as Kraken's ``cl_ord_id``: verbatim when it is short free text, else its UUID-5."""
    if len(client_order_id) <= FREE_TEXT_MAX and client_order_id.isascii() and client_order_id.isprintable():
        return client_order_id
    return str(uuid.uuid5(COID_NAMESPACE, client_order_id))


def asset(name: str) -> str:
    """Kraken's asset names in ours: ``XXBT`` -> ``BTC``, ``ZUSD`` -> ``USD`` (``.F`` earn balances kept apart)."""
    return ASSETS.get(name, name)


def same_pair(pair: str, symbol: str) -> bool:
    """Whether Kraken's pair name (``XBTUSD``, ``XXBTZUSD``, ``BTC/USD``) is the unified ``symbol``."""
    p = pair.upper().replace("/", "")
    if len(p) == 8 and p[0] in "XZ" and p[4] in "XZ":
        p = p[1:4] + p[5:]
    want = symbol.upper().replace("/", "")
    return p.replace("XBT", "BTC").replace("XDG", "DOGE") == want or p == rest_pair(symbol)


COUNTER_MAX = 15  # points a starter-tier key may hold on Kraken's REST counter (intermediate and pro: 20)
CCXT_UNITS_PER_POINT = 3  # ccxt's cost of a 1-point call (QueryOrders: 3, TradesHistory: 6)


def wall_ms() -> int:
    """The local wall clock in milliseconds (what a nonce is made of)."""
    return time.time_ns() // 1_000_000


class KrakenTrading(CcxtTrading):
    """The ``TradingClient`` of one Kraken spot account."""

    classify = staticmethod(classify)
    limit_per_key = True  # Kraken's REST counter is per key

    def __init__(self, rest_url: str, credentials: Credentials, *, timeout: float = 10.0) -> None:
        base = (rest_url or DEFAULT_REST).rstrip("/")
        # Kraken's REST counter: a starter-tier key may spend 15 points at once, then 0.33 a second (a query
        # costs 1 point, a history page 2, AddOrder and CancelOrder none). ccxt writes a point as 3 of its
        # units (rateLimit 1 s: a point decays in 3 s), so the key's burst is 45 units, not 15: with 15 (5
        # points) an entry and its fills, its protective stop and the exit waited on our own throttle past
        # the engine's send timeout, and orders Kraken would have taken at once went ``unknown``.
        super().__init__(make_ccxt("kraken", credentials, timeout, {"public": base, "private": base},
                                   burst=COUNTER_MAX * CCXT_UNITS_PER_POINT))
        self.ours: dict[str, str] = {}  # cl_ord_id -> our client order id
        self.last_nonce = 0
        self.nonce_retries = 0
        self.exchange.nonce = self._nonce  # ccxt signs each private request with ``nonce()``

    def _nonce(self) -> int:
        """Local milliseconds, strictly increasing even when the local clock steps back."""
        self.last_nonce = max(self.last_nonce + 1, wall_ms())
        return self.last_nonce

    async def refused_nonce(self) -> bool:
        """``EAPI:Invalid nonce``: the request was not processed; sign it again once with a fresh nonce."""
        self.nonce_retries += 1
        return True

    def nonce_reason(self, exc: BaseException) -> str:
        return (f"Kraken refused our nonce twice ({exc}): this API key has signed a higher nonce elsewhere "
                "(another process using the same key, or a clock that was ahead); give each process its own "
                "key or set a nonce window on the key")

    def expect(self, client_order_ids: Iterable[str]) -> None:
        """Remember how our ids look on Kraken, to map listed orders back to them."""
        for coid in client_order_ids:
            self.ours[venue_client_id(coid)] = coid

    def parse_order(self, txid: str, raw: dict[str, Any]) -> VenueOrder:
        """One Kraken order (``OpenOrders``/``ClosedOrders``/``QueryOrders`` value) in our vocabulary."""
        descr = raw.get("descr") or {}
        filled = dec(raw.get("vol_exec"))
        status = STATUS.get(str(raw.get("status")), "unknown")
        if status == "open" and filled > 0:
            status = "partially_filled"
        elif status == "canceled" and filled > 0 and filled >= dec(raw.get("vol")):
            status = "filled"
        cl = str(raw.get("cl_ord_id") or "")
        price, stop = dec(descr.get("price")), ZERO
        if str(descr.get("ordertype", "")).startswith("stop-loss"):  # ``price`` is the trigger, ``price2`` the limit
            price, stop = dec(descr.get("price2")), price
        opened = raw.get("opentm")
        return VenueOrder(
            client_order_id=self.ours.get(cl, cl), exchange_order_id=txid, status=status, quantity=dec(raw.get("vol")),
            filled_quantity=filled, side=str(descr.get("type", "")), type=str(descr.get("ordertype", "")),
            price=price if price > 0 else None,
            time=datetime.fromtimestamp(float(opened), tz=UTC) if opened else None,  # seconds, not money
            stop_price=stop if stop > 0 else None,
        )

    def parse_trade(self, tid: str, raw: dict[str, Any]) -> VenueTrade:
        """One ``TradesHistory`` value; the fee is in the quote currency."""
        maker = raw.get("maker")
        return VenueTrade(
            trade_id=tid, exchange_order_id=str(raw.get("ordertxid", "")), side=str(raw.get("type", "")),
            price=dec(raw.get("price")), quantity=dec(raw.get("vol")), fee=dec(raw.get("fee")),
            fee_asset=asset(str(raw.get("fee_currency", ""))) if raw.get("fee_currency") else "",
            time=datetime.fromtimestamp(float(raw.get("time") or 0), tz=UTC),
            is_maker=bool(maker) if maker is not None else str(raw.get("ordertype")) == "limit",
        )

    async def _query(self, symbol: str, txid: str) -> VenueOrder:
        raw = await self.call("private_post_queryorders", {"txid": txid, "trades": "true"}, op="lookup")
        result = raw.get("result") or {}
        if txid not in result:
            raise VenueUnavailable(f"QueryOrders answered without {txid}")
        return await self._with_trades(symbol, txid, result[txid])

    async def _with_trades(self, symbol: str, txid: str, raw: dict[str, Any]) -> VenueOrder:
        """The order with its trades (``TradesHistory`` since it opened, filtered by its txid)."""
        order = self.parse_order(txid, raw)
        if order.filled_quantity <= 0:
            return order
        since = (order.time or datetime.now(UTC)) - timedelta(seconds=5)
        return replace(order, trades=tuple(await self.trades(symbol, since, txid)))

    async def place(self, order: OrderRequest) -> VenueOrder:
        """``AddOrder`` with our id as ``cl_ord_id``; then the order and its trades."""
        params: dict[str, Any] = {"ordertype": order.type}
        if order.type == "limit":
            params["price"] = format(order.price, "f")
        return await self._add(order, params)

    async def place_protective_stop(self, symbol: str, quantity: Decimal, stop_price: Decimal, limit_price: Decimal,
                                    client_order_id: str) -> VenueOrder:
        """``AddOrder`` ``stop-loss-limit`` (sell): ``price`` is the trigger, ``price2`` the limit."""
        return await self._add(OrderRequest(symbol, client_order_id, "sell", "limit", quantity, limit_price),
                               {"ordertype": "stop-loss-limit", "price": format(stop_price, "f"),
                                "price2": format(limit_price, "f")})

    async def _add(self, order: OrderRequest, params: dict[str, Any]) -> VenueOrder:
        cl = venue_client_id(order.client_order_id)
        self.ours[cl] = order.client_order_id
        params = {"pair": rest_pair(order.symbol), "type": order.side, "volume": format(order.quantity, "f"),
                  "cl_ord_id": cl, **params}
        raw = await self.call("private_post_addorder", params, op="place")
        txids = (raw.get("result") or {}).get("txid") or []
        if not txids:
            raise VenueUnavailable(f"AddOrder answered without a txid: {raw!r}"[:500])
        try:
            return await self._query(order.symbol, str(txids[0]))
        except (VenueUnavailable, OrderAbsent):  # accepted: the poller reads its state later
            return VenueOrder(order.client_order_id, str(txids[0]), "submitted", order.quantity, ZERO, order.side,
                              order.type, order.price, datetime.now(UTC))

    async def cancel(self, symbol: str, client_order_id: str, exchange_order_id: str = "") -> VenueOrder:
        """``CancelOrder`` by ``cl_ord_id`` (or txid); ``EOrder:Unknown order`` (already final) answers its state."""
        params = {"txid": exchange_order_id} if exchange_order_id else {"cl_ord_id": venue_client_id(client_order_id)}
        try:
            await self.call("private_post_cancelorder", params, op="cancel")
        except VenueUnavailable as exc:
            if "EOrder:Unknown order" not in str(exc):
                raise
        if exchange_order_id:
            return await self._query(symbol, exchange_order_id)
        return await self.order(symbol, client_order_id)

    async def order(self, symbol: str, client_order_id: str, since: datetime | None = None,
                    exchange_order_id: str = "") -> VenueOrder:
        """By txid (one ``QueryOrders``) when known, else by ``cl_ord_id`` in the open orders, then the
        closed ones; absent from both: ``OrderAbsent``."""
        cl = venue_client_id(client_order_id)
        self.ours[cl] = client_order_id
        if exchange_order_id:
            return await self._query(symbol, exchange_order_id)
        for method, key in (("private_post_openorders", "open"), ("private_post_closedorders", "closed")):
            params: dict[str, Any] = {"cl_ord_id": cl, "trades": "true"}
            if since is not None and key == "closed":
                params["start"] = int(since.timestamp()) - 120
            found = ((await self.call(method, params)).get("result") or {}).get(key) or {}
            for txid, raw in found.items():
                if str(raw.get("cl_ord_id") or "") == cl:
                    return await self._with_trades(symbol, txid, raw)
        raise OrderAbsent(f"no order with cl_ord_id {cl} among the open or closed orders")

    async def open_orders(self, symbol: str) -> list[VenueOrder]:
        """The account's open orders on ``symbol`` (one ``OpenOrders`` request for every pair)."""
        found = ((await self.call("private_post_openorders", {})).get("result") or {}).get("open") or {}
        return [self.parse_order(t, r) for t, r in found.items()
                if same_pair(str((r.get("descr") or {}).get("pair", "")), symbol)]

    async def trades(self, symbol: str, since: datetime, order_id: str = "") -> list[VenueTrade]:
        """The account's trades on ``symbol`` since ``since`` (or of one order), 50 a page by offset."""
        out: list[VenueTrade] = []
        offset = 0
        while True:
            result = (await self.call("private_post_tradeshistory",
                                      {"start": int(since.timestamp()), "ofs": offset})).get("result") or {}
            rows = result.get("trades") or {}
            for tid, raw in rows.items():
                if same_pair(str(raw.get("pair", "")), symbol) and (not order_id or raw.get("ordertxid") == order_id):
                    out.append(self.parse_trade(tid, raw))
            offset += len(rows)
            if not rows or offset >= int(result.get("count") or 0):
                return out

    async def balances(self) -> dict[str, Balance]:
        """``BalanceEx``: total and free (total - held for open orders) per asset."""
        result = (await self.call("private_post_balanceex", {})).get("result") or {}
        out: dict[str, Balance] = {}
        for name, b in result.items():
            total, held = dec(b.get("balance")), dec(b.get("hold_trade"))
            out[asset(name)] = Balance(total - held, total)
        return out

    async def fees(self, symbol: str) -> Fees:
        """``TradeVolume`` for the pair: the account's taker (``fees``) and maker (``fees_maker``) percent."""
        result = (await self.call("private_post_tradevolume", {"pair": rest_pair(symbol)})).get("result") or {}
        taker = next(iter((result.get("fees") or {}).values()), None)
        maker = next(iter((result.get("fees_maker") or {}).values()), taker)
        if not taker or not maker:
            raise VenueUnavailable("TradeVolume without fees")
        hundred = Decimal(100)
        return Fees(dec(maker["fee"]) / hundred, dec(taker["fee"]) / hundred)

    async def permissions(self) -> KeyPermissions:
        """Read: ``BalanceEx`` answers. Withdraw: probe ``WithdrawInfo`` with a withdrawal key that does not
        exist; ``EGeneral:Permission denied`` means the key cannot withdraw, any funding answer means it can."""
        await self.balances()
        try:
            await self.call("private_post_withdrawinfo", {"asset": "XBT", "key": "botplatform-probe", "amount": "0"})
        except VenueUnavailable as exc:
            text = str(exc)
            if "Permission denied" in text:
                return KeyPermissions(True, True, False, "query funds; withdraw: denied (probed)")
            if "EFunding:" not in text:
                raise
        return KeyPermissions(True, True, True, "withdraw: allowed (probed WithdrawInfo)")
