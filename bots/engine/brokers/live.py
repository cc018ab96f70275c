"""Live trading on any venue whose adapter declares ``live_trading``, through its ``TradingClient``
(``marketdata/exchanges/<venue>/trading.py``, ccxt underneath).

Our client order id goes out with every order, so an order whose answer was lost can always be found
again (``fetch``) by that id. A refusal the venue states is ``rejected``; anything ambiguous (timeout,
network, 5xx, rate limit) is raised, so the engine marks the order ``unknown`` and reconciles it; only
the venue's definite "no such order" (``OrderAbsent``, each venue's rule is in its folder) settles an
unknown order as never placed. Open orders are polled for fills every ``poll_interval`` seconds. The
account's fees and balances come from the venue; the venue's published base tier is used only until
the account's own rates have loaded.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from marketdata.exchanges.base import (
    Credentials,
    Fees,
    OrderAbsent,
    OrderRefused,
    OrderRequest,
    TradingClient,
    VenueOrder,
    VenueTrade,
    VenueUnavailable,
)
from marketdata.exchanges.registry import get_adapter

from ..ports import Clock, UpdateHandler
from ..positions import Position
from ..types import FINAL_STATUSES, ZERO, BotSpec, Fill, Order, OrderUpdate

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class LiveAccount:
    """Credentials and endpoint of one exchange account; ``protocol`` picks the venue adapter."""

    protocol: str
    credentials: Credentials = field(repr=False)
    rest_url: str = ""  # empty: the venue's own endpoint


def to_fill(order: Order, trade: VenueTrade) -> Fill:
    """A venue trade as the engine's fill of ``order``."""
    return Fill(order.client_order_id, trade.trade_id, order.side, trade.price, trade.quantity, trade.fee,
                trade.fee_asset, trade.time, trade.is_maker)


def to_update(order: Order, venue: VenueOrder) -> OrderUpdate:
    """The venue's view of ``order`` as an engine update."""
    return OrderUpdate(order.client_order_id, venue.status, venue.exchange_order_id or None,
                       [to_fill(order, t) for t in venue.trades])


class LiveBroker:
    """The Gateway for one exchange account (shared by every live bot on that account)."""

    def __init__(self, account: LiveAccount, clock: Clock, *, poll_interval: float = 1.0,
                 timeout: float = 10.0, client: TradingClient | None = None) -> None:
        self.account = account
        self.adapter = get_adapter(account.protocol)
        self.clock = clock
        self.poll_interval = poll_interval
        self.client = client or self.adapter.trading_client(account.rest_url, account.credentials, timeout=timeout)
        self.handlers: dict[int, UpdateHandler] = {}
        self.tracked: dict[str, Order] = {}
        self.balances: dict[str, Decimal] = {}
        self.fee_rates: dict[str, Fees] = {}  # symbol -> the account's rates
        self._poller: asyncio.Task[Any] | None = None
        self._refresh: asyncio.Task[Any] | None = None

    # GatewayFactory-ish ---------------------------------------------------------------------------
    def for_bot(self, spec: BotSpec, on_update: UpdateHandler) -> LiveBroker:
        """Attach a bot; starts the balance refresh and the fill poller on first use."""
        if not self.adapter.capabilities.live_trading:
            raise ValueError(f"{self.account.protocol} does not support live trading")
        self.handlers[spec.id] = on_update
        self._ensure_poller()
        self.refresh_balances()
        return self

    async def prepare(self, symbol: str) -> None:
        """Load the account's fee rates on ``symbol`` and its balances (before a bot starts)."""
        try:
            self.fee_rates[symbol] = await self.client.fees(symbol)
        except (VenueUnavailable, OrderRefused) as exc:
            log.warning("fees of %s on %s not loaded (the venue's base tier is used): %s",
                        symbol, self.account.protocol, exc)
        await self._load_balances()

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
        self.client.expect([order.client_order_id])
        self._ensure_poller()

    def sync_account(self, spec: BotSpec, position: Position) -> None:
        """Nothing to align: a live account's balances are the exchange's (``refresh_balances``)."""

    def balance(self, bot_id: int, asset: str) -> Decimal | None:
        """The account's free balance of ``asset`` (None until first loaded)."""
        if not self.balances:
            return None
        return self.balances.get(asset, ZERO)

    def taker_fee(self, exchange: str) -> Decimal:
        """The account's highest loaded taker rate (risk sizes with it), else the venue's base tier."""
        if self.fee_rates:
            return max(f.taker for f in self.fee_rates.values())
        return self.adapter.fee_schedule.taker

    def refresh_balances(self) -> None:
        """Reload free balances in the background."""
        if self._refresh is None or self._refresh.done():
            self._refresh = asyncio.get_running_loop().create_task(self._load_balances())

    async def _load_balances(self) -> None:
        try:
            self.balances = {a: b.free for a, b in (await self.client.balances()).items()}
        except Exception as exc:
            log.info("balance refresh failed: %r", exc)

    # Gateway --------------------------------------------------------------------------------------
    async def submit(self, order: Order) -> OrderUpdate:
        """Place ``order`` with our client order id; a stated refusal is ``rejected``, the rest raises."""
        coid = order.client_order_id
        if order.type not in self.adapter.capabilities.order_types:
            return OrderUpdate(coid, "rejected", error=f"{order.type} orders are not supported live")
        self.tracked[coid] = order  # tracked before the call: a lost answer is still polled
        self.client.expect([coid])
        self._ensure_poller()
        request = OrderRequest(order.instrument.symbol, coid, order.side, order.type, order.quantity,  # type: ignore[arg-type]
                               order.price)
        try:
            venue = await self.client.place(request)
        except OrderRefused as exc:
            self.tracked.pop(coid, None)
            return OrderUpdate(coid, "rejected", error=str(exc)[:500])
        update = to_update(order, venue)
        if update.status in FINAL_STATUSES:
            self.tracked.pop(coid, None)
        if update.fills:
            self.refresh_balances()
        return update

    async def cancel(self, order: Order) -> OrderUpdate:
        """Cancel by client order id; the answer is the order's state after it."""
        try:
            venue = await self.client.cancel(order.instrument.symbol, order.client_order_id,
                                             order.exchange_order_id or "")
        except OrderAbsent:
            return await self.fetch(order)
        if venue.status in FINAL_STATUSES:
            self.tracked.pop(order.client_order_id, None)
        return await self._with_trades(order, venue)

    async def fetch(self, order: Order) -> OrderUpdate:
        """Look the order up by client order id (reconciliation, polling). Only the venue's definite
        "no such order" answers ``rejected``; an unavailable venue raises."""
        try:
            venue = await self.client.order(order.instrument.symbol, order.client_order_id, since=order.created_at,
                                            exchange_order_id=order.exchange_order_id or "")
        except OrderAbsent:
            self.tracked.pop(order.client_order_id, None)
            return OrderUpdate(order.client_order_id, "rejected", error="Not found on the exchange")
        update = await self._with_trades(order, venue)
        if update.fills:  # a fill found by reconciliation moves balances too (a sell must see the base)
            self.refresh_balances()
        return update

    async def _with_trades(self, order: Order, venue: VenueOrder) -> OrderUpdate:
        update = to_update(order, venue)
        if not venue.trades and venue.filled_quantity > order.filled_quantity and venue.exchange_order_id:
            since: datetime = order.created_at
            trades = await self.client.trades(order.instrument.symbol, since, venue.exchange_order_id)
            update.fills = [to_fill(order, t) for t in trades]
        return update

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
                if update.status in FINAL_STATUSES:
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

    def broker(self, account_id: int) -> LiveBroker:
        """The account's broker, created on first use."""
        if account_id not in self.accounts:
            raise ValueError("live bot has no exchange account credentials")
        broker = self.brokers.get(account_id)
        if broker is None:
            broker = self.brokers[account_id] = LiveBroker(
                self.accounts[account_id], self.clock, poll_interval=self.poll_interval, timeout=self.timeout)
        return broker

    async def prepare(self, account_id: int, symbol: str) -> None:
        """Load the account's fees on ``symbol`` and its balances before a bot starts."""
        await self.broker(account_id).prepare(symbol)

    def for_bot(self, spec: BotSpec, on_update: UpdateHandler) -> LiveBroker:
        if spec.account_id is None:
            raise ValueError("live bot has no exchange account credentials")
        return self.broker(spec.account_id).for_bot(spec, on_update)

    async def close(self) -> None:
        """Close every account's client."""
        for broker in self.brokers.values():
            await broker.close()
        self.brokers.clear()
