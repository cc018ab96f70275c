"""A read-only Binance spot client for reconciliation: the live broker's ccxt async client on the raw
signed endpoints.

Raw endpoints (not ccxt's unified methods) keep every amount a ``Decimal`` parsed from the wire's
strings, never a float, and need no ``load_markets`` round trip. ccxt still signs the requests,
honours the venue's request weights (``enableRateLimit``) and maps the venue's error codes.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from ccxt.base.errors import BaseError, OrderNotFound

from marketdata.exchanges.binance.status import order_status

from ..engine.brokers.live import LiveAccount, make_client
from .types import ZERO, OrderAbsent, VenueOrder, VenueTrade, VenueUnavailable

DEFAULT_REST = "https://api.binance.com"
TIMEOUT_S = 10.0
MAX_TRADES = 1000  # Binance's page size for myTrades


def make_exchange(rest_url: str, api_key: str, secret: str, *, timeout: float = TIMEOUT_S) -> Any:
    """The engine's live broker's ccxt client (same signing, endpoint override, rate limits)."""
    return make_client(LiveAccount(api_key, secret, rest_url or DEFAULT_REST), timeout)


def _ms(value: Any) -> datetime | None:
    return datetime.fromtimestamp(int(value) / 1000, tz=UTC) if value not in (None, "") else None


def _dec(value: Any) -> Decimal:
    return Decimal(str(value)) if value not in (None, "") else ZERO


def parse_order(raw: dict[str, Any]) -> VenueOrder:
    """One Binance order object in our vocabulary."""
    price = _dec(raw.get("price"))
    return VenueOrder(
        client_order_id=str(raw.get("clientOrderId", "")), exchange_order_id=str(raw.get("orderId", "")),
        status=order_status(raw.get("status")), quantity=_dec(raw.get("origQty")),
        filled_quantity=_dec(raw.get("executedQty")), side=str(raw.get("side", "")).lower(),
        type=str(raw.get("type", "")).lower(), price=price if price > 0 else None,
        time=_ms(raw.get("time") or raw.get("transactTime")),
    )


def parse_trade(raw: dict[str, Any]) -> VenueTrade:
    """One Binance myTrades row."""
    return VenueTrade(
        trade_id=str(raw["id"]), exchange_order_id=str(raw.get("orderId", "")),
        side="buy" if raw.get("isBuyer") else "sell", price=_dec(raw["price"]), quantity=_dec(raw["qty"]),
        fee=_dec(raw.get("commission")), fee_asset=str(raw.get("commissionAsset", "")),
        time=_ms(raw.get("time")) or datetime.now(UTC), is_maker=bool(raw.get("isMaker")),
    )


class BinanceClient:
    """The ``VenueClient`` for Binance-protocol venues (Binance, its testnet, the simulator)."""

    def __init__(self, exchange: Any, natives: dict[str, str]) -> None:
        self.exchange = exchange
        self.natives = natives  # unified symbol -> venue symbol
        self.requests = 0

    @classmethod
    def connect(cls, rest_url: str, api_key: str, secret: str, natives: dict[str, str],
                *, timeout: float = TIMEOUT_S) -> BinanceClient:
        return cls(make_exchange(rest_url, api_key, secret, timeout=timeout), natives)

    async def _call(self, method: str, params: dict[str, Any]) -> Any:
        self.requests += 1
        try:
            return await getattr(self.exchange, method)(params)
        except OrderNotFound as exc:
            if "-2013" in str(exc):
                raise OrderAbsent(str(exc)) from exc
            raise VenueUnavailable(str(exc)) from exc
        except (TimeoutError, BaseError, OSError) as exc:
            raise VenueUnavailable(f"{type(exc).__name__}: {exc}"[:500]) from exc

    async def open_orders(self, symbol: str) -> list[VenueOrder]:
        """Every open order of the account on ``symbol``: one request."""
        rows = await self._call("private_get_openorders", {"symbol": self.natives[symbol]})
        return [parse_order(r) for r in rows]

    async def order(self, symbol: str, client_order_id: str) -> VenueOrder:
        """The order with this client order id; ``OrderAbsent`` only on the venue's -2013."""
        raw = await self._call("private_get_order",
                               {"symbol": self.natives[symbol], "origClientOrderId": client_order_id})
        return parse_order(raw)

    async def trades(self, symbol: str, since: datetime, order_id: str = "") -> list[VenueTrade]:
        """The account's trades on ``symbol`` since ``since`` (or of one order), paging by trade id."""
        params: dict[str, Any] = {"symbol": self.natives[symbol], "limit": MAX_TRADES}
        if order_id:
            params["orderId"] = order_id
        else:
            params["startTime"] = int(since.timestamp() * 1000)
        out: list[VenueTrade] = []
        while True:
            rows = await self._call("private_get_mytrades", params)
            out.extend(parse_trade(r) for r in rows)
            if len(rows) < MAX_TRADES:
                return out
            params = {"symbol": params["symbol"], "limit": MAX_TRADES, "fromId": int(rows[-1]["id"]) + 1}

    async def balances(self) -> dict[str, Decimal]:
        """Total (free + locked) balance per asset."""
        raw = await self._call("private_get_account", {})
        return {b["asset"]: _dec(b.get("free")) + _dec(b.get("locked")) for b in raw.get("balances", [])}

    async def close(self) -> None:
        await self.exchange.close()


async def cancel_order(client: BinanceClient, symbol: str, exchange_order_id: str) -> VenueOrder:
    """Cancel one order on the venue by its exchange id (used to flatten an orphan order)."""
    raw = await client._call("private_delete_order", {"symbol": client.natives[symbol], "orderId": exchange_order_id})
    return parse_order(raw)
