"""Reconciliation fixtures: the exchange simulator on its own thread (sync tests talk to it over
real sockets), a live bot whose account is registered on the simulator, and row/order helpers."""

from __future__ import annotations

import asyncio
import itertools
import threading
from collections.abc import Callable, Iterator
from decimal import Decimal
from typing import Any

import pytest

from marketdata.simulator.server import Simulator

_keys = itertools.count(1)


class SimThread:
    """A ``Simulator`` running on a private event loop in a daemon thread."""

    def __init__(self, **kwargs: Any) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="simulator", daemon=True)
        self.thread.start()
        self.sim: Simulator = self.run(self._start(kwargs))

    async def _start(self, kwargs: dict[str, Any]) -> Simulator:
        return await Simulator(host="127.0.0.1", port=0, seed=11, venues=("binance",), **kwargs).start()

    def run(self, coro: Any, timeout: float = 10.0) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def call(self, fn: Callable[..., Any], *args: Any) -> Any:
        async def go() -> Any:
            return fn(*args)
        return self.run(go())

    @property
    def rest(self) -> str:
        return self.sim.urls["binance"].rest

    @property
    def trading(self) -> Any:
        return self.sim.binance.trading

    def add_account(self, balances: dict[str, str] | None = None) -> tuple[str, str]:
        n = next(_keys)
        key, secret = f"key-{n}-{threading.get_ident()}", f"secret-{n}"
        self.call(self.trading.add_account, key, secret, balances or {"USDT": "1000000", "BTC": "10", "ETH": "100"})
        return key, secret

    def place(self, api_key: str, **params: str) -> dict[str, Any]:
        """Place an order on the exchange directly (as the engine's request would have)."""
        account = self.trading.accounts[api_key]
        return self.call(lambda: self.trading.place(account, params).as_dict())

    def order(self, api_key: str, client_order_id: str, symbol: str = "BTCUSDT") -> Any:
        return self.trading.accounts[api_key].by_client_id.get((symbol, client_order_id))

    def stop(self) -> None:
        self.run(self.sim.stop())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)


@pytest.fixture(scope="module")
def sim() -> Iterator[SimThread]:
    runner = SimThread(update_interval=3600)  # prices move only when a test moves them
    yield runner
    runner.stop()


@pytest.fixture
def live_bot(alice: Any, make_bot: Callable[..., Any], sim: SimThread) -> Callable[..., Any]:
    """A factory: a live bot of ``owner`` on the simulator with an account registered there."""
    from bots.models import ExchangeAccount
    from marketdata.models import Exchange

    Exchange.objects.filter(code="simulator").update(rest_url=sim.rest)

    def make(owner: Any = None, symbol: str = "BTC/USDT", account: Any = None, **fields: Any) -> Any:
        owner = owner or alice
        if account is None:
            key, secret = sim.add_account()
            account = ExchangeAccount.objects.create(owner=owner, exchange=Exchange.objects.get(code="simulator"),
                                                     label=key, api_key=key, api_secret=secret)
        fields.setdefault("name", f"{owner.username} live {symbol} {account.id}")
        return make_bot(owner, symbol=symbol, mode="live", account=account, live_confirmed=True,
                        status="running", **fields)

    return make


def write_order(bot: Any, client_order_id: str, *, status: str = "pending_submit", side: str = "buy",
                quantity: str = "0.01", price: str | None = "50000", type: str = "limit", age: float = 120,
                **fields: Any) -> Any:
    """An order row as the engine writes it ahead of the request, ``age`` seconds ago."""
    from datetime import timedelta

    from django.utils import timezone

    from bots.models import Order

    order = Order.objects.create(bot=bot, client_order_id=client_order_id, side=side, type=type,
                                 quantity=Decimal(quantity), price=None if price is None else Decimal(price),
                                 status=status, is_paper=bot.mode == "paper", **fields)
    Order.objects.filter(pk=order.pk).update(created_at=timezone.now() - timedelta(seconds=age))
    order.refresh_from_db()
    return order


@pytest.fixture(autouse=True)
def _fast_simulator_rate_limit(settings: Any) -> None:
    """The simulator has no request weights; real venues keep ccxt's (``RECONCILE_RATE_LIMIT_MS`` 0)."""
    settings.RECONCILE_RATE_LIMIT_MS = 1
