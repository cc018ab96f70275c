"""Asking the venues: one client per account (or paper bot), one shared request budget per venue
endpoint, retries, and the truth of each (account, symbol) batch. Called by ``reconcile.py``."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from ccxt.async_support.base.throttler import Throttler
from django.conf import settings

from bots.reconcile.binance import BinanceClient
from bots.reconcile.paper import PaperVenue
from bots.reconcile.plan import to_query, trades_missing
from bots.reconcile.types import BatchTruth, LocalOrder, OrderAbsent, VenueClient, VenueUnavailable

from ..models import ExchangeAccount


@dataclass(slots=True)
class Batch:
    """One (account, symbol) or (paper bot, symbol) and our non-final orders in it."""

    scope: str
    owner_id: int
    account_id: int | None
    bot_id: int | None
    exchange: str
    protocol: str
    rest_url: str
    symbol: str
    native: str
    orders: list[LocalOrder] = field(default_factory=list)




ClientFactory = Callable[[Batch, "ExchangeAccount | None"], "VenueClient | None"]


def client_factory(paper_book: Any | None = None) -> ClientFactory:
    """Venue clients for reconciliation. ``paper_book``: the engine's ``PaperBroker`` when the engine
    runs in this process (the single-process ``run``); without it a paper bot's book is empty."""

    def make(batch: Batch, account: ExchangeAccount | None) -> VenueClient | None:
        if account is None:
            return PaperVenue(batch.exchange, batch.bot_id or 0, paper_book)
        return default_client(batch, account)

    return make


def default_client(batch: Batch, account: ExchangeAccount | None) -> VenueClient | None:
    """The venue client of a batch: the (empty) paper book, or ccxt's Binance client on the account's keys."""
    if account is None:
        return PaperVenue(batch.exchange, batch.bot_id or 0)
    if batch.protocol != "binance":
        return None  # only Binance-protocol venues (Binance, its testnet, the simulator) have order endpoints here
    client = BinanceClient.connect(batch.rest_url, account.api_key, account.api_secret, {},
                                   timeout=settings.RECONCILE_TIMEOUT_SECONDS)
    if settings.RECONCILE_RATE_LIMIT_MS:  # else ccxt's own Binance request weights
        client.exchange.rateLimit = float(settings.RECONCILE_RATE_LIMIT_MS)
    return client


async def _retry(call: Callable[[], Any]) -> Any:
    """A venue call retried on ``VenueUnavailable`` (0.2 s, 0.4 s, ...); ``OrderAbsent`` is an answer."""
    attempts, delay = settings.RECONCILE_RETRIES + 1, settings.RECONCILE_RETRY_DELAY_SECONDS
    for attempt in range(attempts):
        try:
            return await call()
        except VenueUnavailable:
            if attempt == attempts - 1:
                raise
            await asyncio.sleep(delay * 2 ** attempt)


async def fetch_truth(client: VenueClient, batch: Batch, now: datetime, *, full: bool = False) -> BatchTruth:
    """The venue's truth for one batch: its open orders (one request), a targeted query per order it no
    longer lists, and the trades only where some order shows fills we have not recorded (or on a
    ``full`` pass, which also finds fills of orders we do not know)."""
    truth = BatchTruth()
    lookback = timedelta(seconds=settings.RECONCILE_TRADES_LOOKBACK_SECONDS)
    since = min([o.created_at for o in batch.orders] + [now - lookback])
    since = max(since, now - timedelta(hours=23)) - timedelta(seconds=5)  # myTrades windows are <= 24 h
    try:
        truth.open_orders = await _retry(lambda: client.open_orders(batch.symbol))
    except VenueUnavailable as exc:  # no list: every order waits; nothing is "not found"
        truth.queried = {o.client_order_id: exc for o in batch.orders}
        return truth
    for order in to_query(batch.orders, truth.open_orders):
        try:
            truth.queried[order.client_order_id] = await _retry(
                lambda o=order: client.order(batch.symbol, o.client_order_id))
        except (OrderAbsent, VenueUnavailable) as exc:
            truth.queried[order.client_order_id] = exc
    if not (full or trades_missing(batch.orders, truth)):
        return truth
    try:
        truth.trades = await _retry(lambda: client.trades(batch.symbol, since))
        for exchange_order_id in trades_missing(batch.orders, truth):  # older than the window
            truth.trades += await _retry(lambda e=exchange_order_id: client.trades(batch.symbol, since, e))
    except VenueUnavailable:
        truth.trades_complete = False  # the orders with unfetched fills wait for the next round
    return truth


async def fetch_all(jobs: list[tuple[Batch, VenueClient]], now: datetime, full: bool,
                     ) -> tuple[list[BatchTruth], dict[int, dict[str, Decimal]]]:
    """Fetch every batch: accounts in parallel (bounded), one account's symbols in turn, and on a
    ``full`` pass the account's balances (for the position check). Clients of one venue share one
    request throttle: the venue's limits are per IP address, not per account."""
    _share_throttles([client for _, client in jobs])
    gate = asyncio.Semaphore(settings.RECONCILE_CONCURRENCY)
    by_client: dict[int, list[int]] = {}
    for i, (_, client) in enumerate(jobs):
        by_client.setdefault(id(client), []).append(i)
    out: list[BatchTruth] = [BatchTruth() for _ in jobs]
    balances: dict[int, dict[str, Decimal]] = {}

    async def run(indexes: list[int]) -> None:
        async with gate:
            for i in indexes:
                out[i] = await fetch_truth(jobs[i][1], jobs[i][0], now, full=full)
            batch, client = jobs[indexes[0]]
            if full and batch.account_id is not None:
                try:
                    balances[batch.account_id] = await _retry(client.balances)
                except VenueUnavailable:
                    pass  # no balance, no position check this round

    try:
        await asyncio.gather(*(run(ix) for ix in by_client.values()))
    finally:
        for client in {id(c): c for _, c in jobs}.values():
            await client.close()
    return out, balances


_ssl_context: Any = None
_throttles: dict[str, Throttler] = {}  # per venue endpoint and thread, kept across that thread's passes


def _share_throttles(clients: list[Any]) -> None:
    """One request throttle (and one TLS context) per venue endpoint for every ccxt client.

    The venue's limit is a weight budget per IP address and minute (Binance: 6,000), not per account,
    so the throttle is shared and is a rolling 60 s window over ccxt's request costs (its costs are
    Binance's weights scaled to ``rateLimit``): a pass may burst, and the passes one thread runs share
    the window (a worker thread's; concurrent threads each keep their own). Must run inside the
    pass's event loop.
    """
    global _ssl_context
    loop = asyncio.get_running_loop()
    for client in clients:
        exchange = getattr(client, "exchange", None)
        if not hasattr(exchange, "throttler"):  # not a ccxt client (the paper book)
            continue
        if _ssl_context is None:
            import ssl

            _ssl_context = ssl.create_default_context(cafile=exchange.cafile)
        exchange.ssl_context = _ssl_context  # loading the CA bundle costs ~75 ms per client otherwise
        key = f"{exchange.urls['api']['private']}|{exchange.rateLimit}|{threading.get_ident()}"
        throttle = _throttles.get(key)
        if throttle is None:
            throttle = _throttles[key] = Throttler({
                "refillRate": 1 / exchange.rateLimit, "delay": 0.001, "capacity": 1, "cost": 1,
                "algorithm": "rollingWindow", "windowSize": 60_000.0, "rateLimit": exchange.rateLimit}, loop)
        if throttle.loop is not loop:  # a new pass: its own event loop; nothing of the last is queued
            throttle.loop, throttle.running = loop, False
            throttle.queue.clear()
        exchange.throttler = throttle
