"""Drill: the exchange answers 429 and 5xx storms and loses or delays acks, with the engine in its
own process.

``runengine --feeds live`` trades a live bot on Binance's protocol, its endpoints pointed at a
simulator running in the test (so the test can inject the faults). While the bot trades, the venue
answers 429s with Retry-After, 503s on order entry (not processed) and drops order answers after
processing them. Afterwards every order the venue holds was sent once (one venue order per client
order id), every one has its row with the venue's status, and the orders the venue never saw are
rejected: nothing is left unknown."""

from __future__ import annotations

import time
from collections import Counter

import pytest

from marketdata.simulator.thread import SimulatorThread

from .procs import Engine, base_env, django, sqlite_rows, until

pytestmark = [pytest.mark.slow, pytest.mark.timeout(150)]
SETUP = """
from decimal import Decimal as D
from bots.models import Bot, ExchangeAccount
from marketdata.models import Exchange, Market
Bot.objects.update(status="stopped")
ex = Exchange.objects.get(code="binance")
ex.ws_url, ex.rest_url = "{ws}", "{rest}"
ex.save()
owner = Bot.objects.first().owner
account = ExchangeAccount.objects.create(owner=owner, exchange=ex, label="drill", api_key="drill-key",
                                         api_secret="drill-secret")
bot = Bot.objects.create(owner=owner, name="live drill", exchange=ex, market=Market.objects.get(exchange=ex,
    symbol="BTC/USDT"), strategy="crossover", params={{"fast_period": 2, "slow_period": 3, "timeframe": "tick"}},
    capital=D("20000"), order_size=D("1000"), max_position=D("1"), max_open_orders=2, mode="live",
    live_confirmed=True, account=account, status="running")
print("BOT", bot.id)
"""
VENUE_STATUS = {"FILLED": "filled", "NEW": "open", "CANCELED": "canceled", "PARTIALLY_FILLED": "partially_filled",
                "EXPIRED": "expired", "REJECTED": "rejected"}
UNSETTLED = ("pending_submit", "submitted", "unknown")


def venue_orders(sim) -> dict[str, str]:
    orders = sim.call(lambda: list(sim.sim.binance.trading.orders.values()))
    ids = Counter(o.client_order_id for o in orders)
    assert all(n == 1 for n in ids.values()), ids  # never duplicated
    return {o.client_order_id: o.status for o in orders}


def test_a_live_bot_in_runengine_neither_duplicates_nor_loses_orders_under_exchange_storms(data_dir):
    with SimulatorThread(seed=5) as sim:
        binance = sim.sim.binance
        sim.call(binance.trading.add_account, "drill-key", "drill-secret", {"USDT": "1000000", "BTC": "0"})
        urls = sim.urls["binance"]
        env = base_env(data_dir)
        out = django(env, SETUP.format(ws=urls.stream or urls.ws, rest=urls.rest))
        bot_id = int(out.split("BOT")[1])
        sim.call(binance.rate_limit_next, 3, api_key="drill-key")
        sim.call(binance.fail_next_orders, 2, 503)
        sim.call(binance.drop_next_order_responses, 2, "close")
        engine = Engine(env, feeds="live")
        started = time.monotonic()
        try:
            try:
                until(lambda: len(venue_orders(sim)) >= 6, 60, "six orders on the venue")
            except AssertionError as exc:
                log = sqlite_rows(data_dir, "select kind, message from bots_botevent where bot_id = ?", (bot_id,))
                raise AssertionError(f"{exc}; engine said: {engine.output[-3000:]}; bot log: {log}") from None
            faults = binance.order_faults
            assert faults.fail_count == 0 and faults.drop_count == 0  # every storm was met
            stormed = time.monotonic() - started

            def settled():
                rows = sqlite_rows(data_dir, "select client_order_id, status from bots_order where bot_id = ?",
                                   (bot_id,))
                return rows if rows and not any(s in UNSETTLED for _, s in rows) else None

            rows = dict(until(settled, 40, "every order settled by reconciliation"))
            settle = time.monotonic() - started - stormed
        finally:
            code = engine.stop()
        venue = venue_orders(sim)
    assert code == 0, engine.output
    assert "rate limited by the venue" in engine.output
    rows = dict(sqlite_rows(data_dir, "select client_order_id, status from bots_order where bot_id = ?", (bot_id,)))
    assert set(venue) <= set(rows)  # every venue order has its row (written before it was sent)
    for coid, status in rows.items():
        if coid in venue:
            assert status == VENUE_STATUS[venue[coid]], (coid, status, venue[coid])
        else:
            assert status == "rejected", (coid, status)
    unknown_seen = sqlite_rows(data_dir, "select count(distinct order_id) from bots_orderevent "
                                         "where status = 'unknown'")
    print(f"\nDRILL exchange-storms (runengine): 3x 429, 2x 503, 2 answers dropped; {len(venue)} venue orders "
          f"once each, {sum(1 for c in rows if c not in venue)} rejected (never on the venue), "
          f"{unknown_seen[0][0]} went through unknown; storms met within {stormed:.1f} s, "
          f"all settled {settle:.1f} s later")
