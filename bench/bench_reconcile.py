"""Reconciliation benchmark: 10,000 open live orders over 100 bots, reconciled against the simulator.

A child process (its own SQLite in a temporary directory, or a scratch PostgreSQL database when
DATABASE_URL is set) starts the exchange simulator on a thread, registers 34 accounts with 100 live
bots across its 3 markets, rests 100 limit orders per bot on the simulator and writes the matching
``open`` rows, then times one ``reconcile_orders()`` pass: signed REST through ccxt with Binance's
request weights (one rolling 60 s budget per venue endpoint), every (account, symbol) batch answered
by one ``openOrders`` request, never one request per order. The pass must find every order in its
true state and change nothing. The simulator runs on a thread of the same process, so its own work
(about 65 ms to serve 100 open orders) shares the interpreter with the pass being timed.

Run alone: ``python -m bench.bench_reconcile`` (prints the rows).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
ORDERS, BOTS, ACCOUNTS, TARGET_S = 10_000, 100, 34, 30.0

CHILD = r"""
import json, time
from decimal import Decimal
from django.core.management import call_command
call_command("migrate", verbosity=0)
from django.contrib.auth import get_user_model
from bots.models import Bot, ExchangeAccount, Order
from bots.services.reconcile import reconcile_orders
from marketdata.models import Exchange, Market
from marketdata.services import load_catalogue
from marketdata.simulator.thread import SimulatorThread

ORDERS, BOTS, ACCOUNTS = __COUNTS__
load_catalogue()
sim = SimulatorThread(update_interval=3600, venues=("binance",)).start()
try:
    engine = sim.sim.binance.trading
    Exchange.objects.filter(code="simulator").update(rest_url=sim.urls["binance"].rest)
    exchange = Exchange.objects.get(code="simulator")
    markets = list(Market.objects.filter(exchange=exchange).order_by("symbol"))
    user = get_user_model().objects.create_user("bench", "bench@example.invalid", "bench-pass-123")
    # far below the market, so every order rests: (price, quantity) per market, notional >= 5 USDT
    levels = {"BTC/USDT": ("30000.00", "0.001"), "ETH/USDT": ("1500.00", "0.01"), "SOL/USDT": ("75.00", "0.1")}
    accounts = []
    for i in range(ACCOUNTS):
        key, secret = f"bench-key-{i}", f"bench-secret-{i}"
        sim.call(engine.add_account, key, secret, {"USDT": "100000000"})
        accounts.append(ExchangeAccount.objects.create(owner=user, exchange=exchange, label=key, api_key=key,
                                                       api_secret=secret))
    rows = []
    per_bot = ORDERS // BOTS
    for b in range(BOTS):
        account, market = accounts[b % ACCOUNTS], markets[(b // ACCOUNTS) % len(markets)]
        bot = Bot.objects.create(owner=user, name=f"bench {b}", exchange=exchange, market=market, account=account,
                                 mode="live", live_confirmed=True, status="running", strategy="sma_crossover",
                                 params={"fast": 3, "slow": 8}, capital=Decimal("100000"), order_size=Decimal("100"))
        price, qty = levels[market.symbol]

        def place_all(key=account.api_key, native=market.native_symbol, bot_id=bot.id, price=price, qty=qty):
            acct = engine.accounts[key]
            out = []
            for n in range(per_bot):
                coid = f"bp{bot_id}-{n:05d}"
                o = engine.place(acct, {"symbol": native, "side": "BUY", "type": "LIMIT", "timeInForce": "GTC",
                                        "price": price, "quantity": qty, "newClientOrderId": coid})
                out.append((coid, o.order_id))
            return out

        for coid, order_id in sim.call(place_all):
            rows.append(Order(bot=bot, client_order_id=coid, exchange_order_id=str(order_id), side="buy",
                              type="limit", quantity=Decimal(qty), price=Decimal(price), status="open",
                              is_paper=False))
    Order.objects.bulk_create(rows, batch_size=2000)
    from django.db import connection
    started = time.perf_counter()
    report = reconcile_orders()
    seconds = time.perf_counter() - started
    again = reconcile_orders()
    print("RESULT " + json.dumps({"seconds": seconds, "again": again.seconds, "vendor": connection.vendor,
                                  **{k: v for k, v in report.as_dict().items() if k != "seconds"}}))
finally:
    sim.stop()
"""


def row(name: str, value: float | None, unit: str, baseline: float | None, note: str) -> dict[str, Any]:
    ratio = round(value / baseline, 3) if value is not None and baseline else None
    return {"name": name, "value": None if value is None else round(value, 3), "unit": unit,
            "baseline": baseline, "ratio": ratio, "note": note}


def _scratch_postgres(url: str) -> tuple[str, Any]:
    """A scratch database on the DATABASE_URL server; returns its URL and a dropper."""
    import psycopg

    name = f"bench_reconcile_{uuid.uuid4().hex[:8]}"
    base = url.rsplit("/", 1)[0]
    with psycopg.connect(base + "/postgres", autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')

    def drop() -> None:
        with psycopg.connect(base + "/postgres", autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    return f"{base}/{name}", drop


def measure() -> dict[str, Any]:
    """Run the child and return its result line."""
    with tempfile.TemporaryDirectory() as data:
        env = {**os.environ, "DATA_DIR": data, "DJANGO_SETTINGS_MODULE": "botplatform.settings",
               "PYTHONPATH": str(ROOT), "LOG_LEVEL": "WARNING"}
        env.pop("REDIS_URL", None)  # the pass is a plain service call; no broker needed
        drop = None
        if os.environ.get("DATABASE_URL"):
            env["DATABASE_URL"], drop = _scratch_postgres(os.environ["DATABASE_URL"])
        else:
            env.pop("DATABASE_URL", None)
        try:
            script = "import django; django.setup()\n" + CHILD.replace("__COUNTS__", f"{ORDERS}, {BOTS}, {ACCOUNTS}")
            out = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True,
                                 timeout=600)
        finally:
            if drop:
                drop()
    for line in out.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[7:])
    raise RuntimeError(f"reconcile benchmark failed: {out.stderr[-3000:]}")


def run() -> list[dict[str, Any]]:
    """The rows: the pass time (target 30 s) and REST requests per (account, symbol) batch."""
    r = measure()
    db = {"postgresql": "PostgreSQL", "sqlite": "SQLite"}.get(r["vendor"], r["vendor"])
    ok = r["orders"] == ORDERS and r["changed"] == 0 and r["fills"] == 0 and r["findings"] == 0
    note = (f"{db}; {r['orders']} open orders, {BOTS} bots, {ACCOUNTS} accounts, {r['batches']} (account, symbol) "
            f"batches, {r['requests']} signed REST requests with ccxt's Binance rate limits; "
            f"{'every order confirmed unchanged' if ok else 'UNEXPECTED CHANGES: ' + json.dumps(r)}; "
            f"second pass {r['again']:.2f} s")
    return [
        row("reconcile 10k orders", r["seconds"], "s", TARGET_S, note),
        row("reconcile requests per batch", r["requests"] / max(1, r["batches"]), "requests", None,
            "one openOrders per (account, symbol); myTrades only where an order shows unrecorded fills, "
            "account balances only on the 5-minute full pass"),
    ]


if __name__ == "__main__":
    for item in run():
        print(item)
