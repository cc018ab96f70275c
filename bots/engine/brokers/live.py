"""Live trading on Binance-protocol venues (Binance, its testnet, the simulator) through ccxt's async
client, with the REST endpoint overridable.

ccxt signs the requests (HMAC-SHA256, timestamp, recvWindow) and maps the venue's error codes; the
raw signed endpoints are called rather than the unified methods so every amount stays a ``Decimal``
parsed from the venue's strings. Our client order id goes out as ``newClientOrderId``, so an order
whose answer was lost can always be found again (``fetch``) by that id.

Refusals the venue states (bad parameters, insufficient balance, auth) become ``rejected``; a
timeout or a network or server error is ambiguous and is raised, so the engine marks the order
``unknown`` and reconciles it. Open orders are polled for fills every ``poll_interval`` seconds.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import ccxt.async_support as ccxt_async
from ccxt.base.errors import (
    AuthenticationError,
    BadRequest,
    BadSymbol,
    InsufficientFunds,
    InvalidOrder,
    OrderNotFound,
    PermissionDenied,
)

from marketdata.exchanges.binance.status import order_status

from ..ports import Clock, UpdateHandler
from ..positions import Position
from ..types import ZERO, BotSpec, Fill, Order, OrderUpdate

log = logging.getLogger(__name__)

DEFINITE_REFUSALS = (InsufficientFunds, InvalidOrder, BadRequest, BadSymbol, AuthenticationError,
                     PermissionDenied)
TYPES = {"market": "MARKET", "limit": "LIMIT"}


@dataclass(frozen=True, slots=True)
class LiveAccount:
    """Credentials and endpoint of one exchange account."""

    api_key: str = field(repr=False)  # never in a log line or a traceback's locals
    secret: str = field(repr=False)
    rest_url: str = "https://api.binance.com"


def api_base(rest_url: str) -> str:
    """``http://host/binance`` or ``.../api/v3`` -> the ``.../api/v3`` prefix of the spot calls."""
    base = rest_url.rstrip("/")
    return base if base.endswith("/api/v3") else f"{base}/api/v3"


def make_client(account: LiveAccount, timeout: float) -> Any:
    """ccxt's async Binance client with its spot endpoints pointed at ``account.rest_url``."""
    client = ccxt_async.binance({
        "apiKey": account.api_key, "secret": account.secret, "enableRateLimit": True,
        "timeout": int(timeout * 1000), "options": {"fetchCurrencies": False, "adjustForTimeDifference": False},
    })
    base = api_base(account.rest_url)
    for name in ("public", "private", "v3"):
        client.urls["api"][name] = base
    return client


def _dec(value: Any) -> Decimal:
    return Decimal(str(value)) if value not in (None, "") else ZERO


def _ms(value: Any) -> datetime:
    return datetime.fromtimestamp(int(value) / 1000, tz=UTC) if value else datetime.now(UTC)


def native(symbol: str) -> str:
    """``BTC/USDT`` -> ``BTCUSDT``."""
    return symbol.replace("/", "")


class LiveBroker:
    """The Gateway for one Binance-protocol account (shared by every live bot on that account)."""

    def __init__(self, account: LiveAccount, clock: Clock, *, poll_interval: float = 1.0,
                 timeout: float = 10.0, client: Any = None) -> None:
        self.account = account
        self.clock = clock
        self.poll_interval = poll_interval
        self.client = client or make_client(account, timeout)
        self.handlers: dict[int, UpdateHandler] = {}
        self.tracked: dict[str, Order] = {}
        self.balances: dict[str, Decimal] = {}
        self._poller: asyncio.Task[Any] | None = None
        self._refresh: asyncio.Task[Any] | None = None

    # GatewayFactory-ish ---------------------------------------------------------------------------
    def for_bot(self, spec: BotSpec, on_update: UpdateHandler) -> LiveBroker:
        """Attach a bot; starts the balance refresh and the fill poller on first use."""
        if spec.instrument.exchange not in ("binance", "simulator"):
            raise ValueError(f"live trading supports Binance-protocol venues, not {spec.instrument.exchange!r}")
        self.handlers[spec.id] = on_update
        self._ensure_poller()
        self.refresh_balances()
        return self

    def _ensure_poller(self) -> None:
        if self._poller is None:
            self._poller = asyncio.get_running_loop().create_task(self._poll())

    def release(self, bot_id: int) -> None:
        """Detach a stopped bot."""
        self.handlers.pop(bot_id, None)

    async def close(self) -> None:
        """Stop polling and close the HTTP session."""
        for task in (self._poller, self._refresh):
            if task is not None:
                task.cancel()
                with contextlib.suppress(BaseException):
                    await task
        await self.client.close()

    def adopt(self, order: Order) -> None:
        """Track an order restored after a restart, so its fills are polled."""
        self.tracked[order.client_order_id] = order
        self._ensure_poller()

    def sync_account(self, spec: BotSpec, position: Position) -> None:
        """Nothing to align: a live account's balances are the exchange's (``refresh_balances``)."""

    def balance(self, bot_id: int, asset: str) -> Decimal | None:
        """The account's free balance of ``asset`` (None until first loaded)."""
        if not self.balances:
            return None
        return self.balances.get(asset, ZERO)

    def taker_fee(self, exchange: str) -> Decimal:
        return Decimal("0.001")

    def refresh_balances(self) -> None:
        """Reload free balances in the background."""
        if self._refresh is None or self._refresh.done():
            self._refresh = asyncio.get_running_loop().create_task(self._load_balances())

    async def _load_balances(self) -> None:
        try:
            raw = await self.client.private_get_account({"omitZeroBalances": "true"})
            self.balances = {b["asset"]: _dec(b["free"]) for b in raw.get("balances", [])}
        except Exception as exc:
            log.info("balance refresh failed: %r", exc)

    # Gateway --------------------------------------------------------------------------------------
    async def submit(self, order: Order) -> OrderUpdate:
        """``POST /api/v3/order`` with our client order id."""
        coid = order.client_order_id
        kind = TYPES.get(order.type)
        if kind is None:
            return OrderUpdate(coid, "rejected", error=f"{order.type} orders are not supported live")
        params: dict[str, Any] = {"symbol": native(order.instrument.symbol), "side": order.side.upper(),
                                  "type": kind, "quantity": format(order.quantity, "f"),
                                  "newClientOrderId": coid, "newOrderRespType": "FULL"}
        if kind == "LIMIT":
            params.update(price=format(order.price, "f"), timeInForce="GTC")
        self.tracked[coid] = order  # tracked before the call: a lost answer is still polled
        self._ensure_poller()
        try:
            raw = await self.client.private_post_order(params)
        except DEFINITE_REFUSALS as exc:
            self.tracked.pop(coid, None)
            return OrderUpdate(coid, "rejected", error=str(exc)[:500])
        update = self._parse(order, raw, raw.get("fills") or [], raw.get("transactTime"))
        if update.status not in ("open", "partially_filled"):
            self.tracked.pop(coid, None)
        if update.fills:
            self.refresh_balances()
        return update

    async def cancel(self, order: Order) -> OrderUpdate:
        """``DELETE /api/v3/order`` by client order id."""
        try:
            raw = await self.client.private_delete_order(
                {"symbol": native(order.instrument.symbol), "origClientOrderId": order.client_order_id})
        except OrderNotFound:
            return await self.fetch(order)
        self.tracked.pop(order.client_order_id, None)
        return await self._with_trades(order, raw)

    async def fetch(self, order: Order) -> OrderUpdate:
        """``GET /api/v3/order`` by client order id (reconciliation); unknown there: it never arrived."""
        try:
            raw = await self.client.private_get_order(
                {"symbol": native(order.instrument.symbol), "origClientOrderId": order.client_order_id})
        except OrderNotFound:
            self.tracked.pop(order.client_order_id, None)
            return OrderUpdate(order.client_order_id, "rejected", error="Not found on the exchange")
        return await self._with_trades(order, raw)

    async def _with_trades(self, order: Order, raw: dict[str, Any]) -> OrderUpdate:
        fills: list[dict[str, Any]] = []
        if _dec(raw.get("executedQty")) > order.filled_quantity:
            fills = await self.client.private_get_mytrades(
                {"symbol": native(order.instrument.symbol), "orderId": raw["orderId"]})
        return self._parse(order, raw, fills, raw.get("updateTime") or raw.get("time"))

    def _parse(self, order: Order, raw: dict[str, Any], fills: list[dict[str, Any]], ms: Any) -> OrderUpdate:
        when = _ms(ms)
        parsed = [Fill(order.client_order_id, str(f.get("tradeId", f.get("id"))), order.side, _dec(f["price"]),
                       _dec(f["qty"]), _dec(f.get("commission")), str(f.get("commissionAsset", "")),
                       _ms(f["time"]) if f.get("time") else when, bool(f.get("isMaker")))
                  for f in fills]
        return OrderUpdate(order.client_order_id, order_status(raw.get("status")),
                           str(raw.get("orderId", "")) or None, parsed)

    async def _poll(self) -> None:
        while True:
            await asyncio.sleep(self.poll_interval)
            for order in list(self.tracked.values()):
                if order.status in ("pending_submit",):
                    continue  # its submit call is still running
                try:
                    update = await self.fetch(order)
                except Exception as exc:
                    log.info("poll of %s failed: %r", order.client_order_id, exc)
                    continue
                if update.status not in ("open", "partially_filled", "pending_cancel"):
                    self.tracked.pop(order.client_order_id, None)
                if update.status != order.status or update.fills:
                    handler = self.handlers.get(order.bot_id)
                    if handler is not None:
                        handler(update)
                    if update.fills:
                        self.refresh_balances()


class LiveGateways:
    """GatewayFactory for live bots: one ``LiveBroker`` per exchange account (registered by the host)."""

    def __init__(self, clock: Clock, *, poll_interval: float = 1.0, timeout: float = 10.0) -> None:
        self.clock = clock
        self.poll_interval, self.timeout = poll_interval, timeout
        self.accounts: dict[int, LiveAccount] = {}
        self.brokers: dict[int, LiveBroker] = {}

    def add_account(self, account_id: int, account: LiveAccount) -> None:
        """Register (or replace) an account's credentials before its bots start."""
        self.accounts[account_id] = account

    def for_bot(self, spec: BotSpec, on_update: UpdateHandler) -> LiveBroker:
        if spec.account_id is None or spec.account_id not in self.accounts:
            raise ValueError("live bot has no exchange account credentials")
        broker = self.brokers.get(spec.account_id)
        if broker is None:
            broker = self.brokers[spec.account_id] = LiveBroker(
                self.accounts[spec.account_id], self.clock, poll_interval=self.poll_interval, timeout=self.timeout)
        return broker.for_bot(spec, on_update)

    async def close(self) -> None:
        """Close every account's client."""
        for broker in self.brokers.values():
            await broker.close()
        self.brokers.clear()
