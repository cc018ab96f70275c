"""Reconciliation benchmark: 10,000 open live orders over 100 bots, reconciled against the simulator.

The exchange simulator runs in a process of its own (as an exchange would): it registers 34
accounts and rests 100 limit orders for each of 100 bots across its 3 markets. A Django child (its
own SQLite in a temporary directory, or a scratch PostgreSQL database when DATABASE_URL is set)
creates the 100 live bots and the matching ``open`` rows, then times one ``reconcile_orders()``
pass: signed REST through ccxt with Binance's request weights (one rolling 60 s budget per venue
endpoint), every (account, symbol) batch answered by one ``openOrders`` request, never one request
per order. The pass must find every order in its
true state and change nothing. Both processes share this machine's cores (the simulator needs
about 65 ms to serve 100 open orders).

A second pass does the same over three venues (``reconcile 10k orders, 3 venues``): Binance (the
simulator exchange), Coinbase and Kraken, each through its own signed REST and trading client, with
each venue's ccxt rate limits (Coinbase and Kraken limit per key); one open-orders request per
(account, symbol) on each venue.

Run alone: ``python -m bench.bench_reconcile`` (prints the rows).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from bench.common import scratch_postgres

ROOT = Path(__file__).resolve().parent.parent
ORDERS, BOTS, ACCOUNTS, TARGET_S = 10_000, 100, 34, 30.0

SIM = r"""
import json, sys
from marketdata.simulator.thread import SimulatorThread

ORDERS, BOTS, ACCOUNTS = __COUNTS__
SYMBOLS = [("BTC/USDT", "BTCUSDT", "30000.00", "0.001"), ("ETH/USDT", "ETHUSDT", "1500.00", "0.01"),
           ("SOL/USDT", "SOLUSDT", "75.00", "0.1")]  # far below the market: every order rests
sim = SimulatorThread(update_interval=3600, venues=("binance",)).start()
engine = sim.sim.binance.trading

def seed():
    accounts, bots = [], []
    for i in range(ACCOUNTS):
        key, secret = f"bench-key-{i}", f"bench-secret-{i}"
        engine.add_account(key, secret, {"USDT": "100000000"})
        accounts.append([key, secret])
    for b in range(BOTS):
        account = b % ACCOUNTS
        symbol, native, price, qty = SYMBOLS[(b // ACCOUNTS) % len(SYMBOLS)]
        acct = engine.accounts[accounts[account][0]]
        orders = []
        for n in range(ORDERS // BOTS):
            coid = f"bp-bench-{b}-{n:05d}"
            o = engine.place(acct, {"symbol": native, "side": "BUY", "type": "LIMIT", "timeInForce": "GTC",
                                    "price": price, "quantity": qty, "newClientOrderId": coid})
            orders.append([coid, o.order_id])
        bots.append({"account": account, "symbol": symbol, "price": price, "quantity": qty, "orders": orders})
    return {"rest": sim.urls["binance"].rest, "accounts": accounts, "bots": bots}

with open(sys.argv[1], "w") as fh:
    json.dump(sim.call(seed), fh)
print("READY", flush=True)
sys.stdin.read()  # serve until the benchmark closes our stdin
sim.stop()
"""

SIM3 = r"""
import json, sys
from decimal import Decimal
from marketdata.exchanges.kraken.trading import venue_client_id
from marketdata.simulator.coinbase_auth import generate_key
from marketdata.simulator.thread import SimulatorThread

ORDERS, BOTS = __COUNTS__
# venue, exchange code, accounts, [(symbol, price far below the market, quantity)]
VENUES = [("binance", "simulator", 12, [("BTC/USDT", "30000.00", "0.001"), ("ETH/USDT", "1500.00", "0.01"),
                                         ("SOL/USDT", "75.00", "0.1")]),
          ("coinbase", "coinbase", 11, [("BTC/USD", "30000.00", "0.001"), ("ETH/USD", "1500.00", "0.01")]),
          ("kraken", "kraken", 11, [("BTC/USD", "30000.0", "0.001"), ("ETH/USD", "1500.00", "0.01")])]
sim = SimulatorThread(update_interval=3600).start()

def key(venue, i):
    if venue == "coinbase":
        return generate_key(f"bench{i}")
    if venue == "kraken":
        import base64
        return f"bench-kr-{i}", base64.b64encode(f"kraken-bench-secret-{i}".encode()).decode()
    return f"bench-bn-{i}", f"bench-secret-{i}"

def seed():
    out = {"rest": {}, "accounts": [], "bots": []}
    per_venue = BOTS // len(VENUES) + 1
    b = 0
    for venue, code, n_accounts, symbols in VENUES:
        v = getattr(sim.sim, venue)
        out["rest"][code] = sim.urls[venue].rest
        first = len(out["accounts"])
        for i in range(n_accounts):
            k, s = key(venue, i)
            v.add_account(k, s, {"USDT": "100000000", "USD": "100000000"})
            out["accounts"].append([code, k, s])
        for j in range(min(per_venue, BOTS - b)):
            account = first + j % n_accounts
            symbol, price, qty = symbols[(j // n_accounts) % len(symbols)]
            acct = v.trading.accounts[out["accounts"][account][1]]
            market = v.market(symbol)
            orders = []
            for n in range(ORDERS // BOTS):
                coid = f"bp-bench-{b}-{n:05d}"
                client_id, extra = coid, None
                if venue == "kraken":
                    client_id = venue_client_id(coid)
                    extra = {"userref": None, "cl_ord_id": client_id}
                elif venue == "coinbase":
                    extra = {"configuration": {"limit_limit_gtc": {"base_size": qty, "limit_price": price,
                                                                   "post_only": False}}}
                o = v.trading.submit(acct, market, "BUY", "LIMIT", Decimal(qty), Decimal(price), "GTC", client_id,
                                     extra=extra)
                orders.append([coid, o.ref or str(o.order_id)])
            out["bots"].append({"exchange": code, "account": account, "symbol": symbol, "price": price,
                                "quantity": qty, "orders": orders})
            b += 1
    return out

with open(sys.argv[1], "w") as fh:
    json.dump(sim.call(seed), fh)
print("READY", flush=True)
sys.stdin.read()
sim.stop()
"""

# The children's common end: write the orders, reconcile twice (cold, then nothing to do), print the report.
RECONCILE_AND_REPORT = r"""
Order.objects.bulk_create(rows, batch_size=2000)
started = time.perf_counter()
report = reconcile_orders()
seconds = time.perf_counter() - started
again = reconcile_orders()
print("RESULT " + json.dumps({"seconds": seconds, "again": again.seconds, "vendor": connection.vendor,
                              **{k: v for k, v in report.as_dict().items() if k != "seconds"}}))
"""

CHILD3 = r"""
import json, os, time
from decimal import Decimal
from django.core.management import call_command
call_command("migrate", verbosity=0)
from django.contrib.auth import get_user_model
from django.db import connection
from bots.models import Bot, ExchangeAccount, Order
from bots.services.reconcile import reconcile_orders
from marketdata.models import Exchange, Market
from marketdata.services import load_catalogue

seed = json.load(open(os.environ["BENCH_SEED"]))
load_catalogue()
for code, rest in seed["rest"].items():
    Exchange.objects.filter(code=code).update(rest_url=rest)
exchanges = {e.code: e for e in Exchange.objects.all()}
markets = {(m.exchange.code, m.symbol): m for m in Market.objects.select_related("exchange")}
user = get_user_model().objects.create_user("bench", "bench@example.invalid", "bench-pass-123")
accounts = [ExchangeAccount.objects.create(owner=user, exchange=exchanges[c], label=f"{c}-{i}", api_key=k,
                                           api_secret=s) for i, (c, k, s) in enumerate(seed["accounts"])]
rows = []
for b, spec in enumerate(seed["bots"]):
    exchange = exchanges[spec["exchange"]]
    bot = Bot.objects.create(owner=user, name=f"bench {b}", exchange=exchange,
                             market=markets[(spec["exchange"], spec["symbol"])], account=accounts[spec["account"]],
                             mode="live", live_confirmed=True, status="running", strategy="crossover",
                             params={"fast_period": 3, "slow_period": 8}, capital=Decimal("100000"),
                             order_size=Decimal("100"))
    rows += [Order(bot=bot, client_order_id=coid, exchange_order_id=ref, side="buy", type="limit",
                   quantity=Decimal(spec["quantity"]), price=Decimal(spec["price"]), status="open", is_paper=False)
             for coid, ref in spec["orders"]]
""" + RECONCILE_AND_REPORT

CHILD = r"""
import json, os, time
from decimal import Decimal
from django.core.management import call_command
call_command("migrate", verbosity=0)
from django.contrib.auth import get_user_model
from django.db import connection
from bots.models import Bot, ExchangeAccount, Order
from bots.services.reconcile import reconcile_orders
from marketdata.models import Exchange, Market
from marketdata.services import load_catalogue

seed = json.load(open(os.environ["BENCH_SEED"]))
load_catalogue()
Exchange.objects.filter(code="simulator").update(rest_url=seed["rest"])
exchange = Exchange.objects.get(code="simulator")
markets = {m.symbol: m for m in Market.objects.filter(exchange=exchange)}
user = get_user_model().objects.create_user("bench", "bench@example.invalid", "bench-pass-123")
accounts = [ExchangeAccount.objects.create(owner=user, exchange=exchange, label=k, api_key=k, api_secret=s)
            for k, s in seed["accounts"]]
rows = []
for b, spec in enumerate(seed["bots"]):
    bot = Bot.objects.create(owner=user, name=f"bench {b}", exchange=exchange, market=markets[spec["symbol"]],
                             account=accounts[spec["account"]], mode="live", live_confirmed=True, status="running",
                             strategy="sma_crossover", params={"fast": 3, "slow": 8}, capital=Decimal("100000"),
                             order_size=Decimal("100"))
    rows += [Order(bot=bot, client_order_id=coid, exchange_order_id=str(order_id), side="buy", type="limit",
                   quantity=Decimal(spec["quantity"]), price=Decimal(spec["price"]), status="open", is_paper=False)
             for coid, order_id in spec["orders"]]
""" + RECONCILE_AND_REPORT


def row(name: str, value: float | None, unit: str, baseline: float | None, note: str) -> dict[str, Any]:
    ratio = round(value / baseline, 3) if value is not None and baseline else None
    return {"name": name, "value": None if value is None else round(value, 3), "unit": unit,
            "baseline": baseline, "ratio": ratio, "note": note}


def _scratch_postgres(url: str) -> tuple[str, Any]:
    return scratch_postgres(url, "bench_reconcile")


def measure(sim_script: str = SIM, child: str = CHILD, counts: str = f"{ORDERS}, {BOTS}, {ACCOUNTS}",
            ) -> dict[str, Any]:
    """Start the simulator process, seed it, run the timed child against it, and return the result."""
    with tempfile.TemporaryDirectory() as data:
        seed = str(Path(data) / "seed.json")
        base_env = {**os.environ, "PYTHONPATH": str(ROOT), "LOG_LEVEL": "WARNING"}
        sim = subprocess.Popen([sys.executable, "-c", sim_script.replace("__COUNTS__", counts), seed], cwd=ROOT,
                               env=base_env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        try:
            assert sim.stdout is not None
            if "READY" not in sim.stdout.readline():
                raise RuntimeError("the simulator did not start")
            env = {**base_env, "DATA_DIR": data, "DJANGO_SETTINGS_MODULE": "botplatform.settings", "BENCH_SEED": seed}
            env.pop("REDIS_URL", None)  # the pass is a plain service call; no broker needed
            drop = None
            if os.environ.get("DATABASE_URL"):
                env["DATABASE_URL"], drop = _scratch_postgres(os.environ["DATABASE_URL"])
            else:
                env.pop("DATABASE_URL", None)
            try:
                out = subprocess.run([sys.executable, "-c", "import django; django.setup()\n" + child], cwd=ROOT,
                                     env=env, capture_output=True, text=True, timeout=600)
            finally:
                if drop:
                    drop()
        finally:
            if sim.stdin:
                sim.stdin.close()
            try:
                sim.wait(15)
            except subprocess.TimeoutExpired:
                sim.kill()
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
    r3 = measure(SIM3, CHILD3, f"{ORDERS}, {BOTS}")
    ok3 = r3["orders"] == ORDERS and r3["changed"] == 0 and r3["fills"] == 0 and r3["findings"] == 0
    note3 = (f"{db}; {r3['orders']} open orders over Binance (simulator exchange), Coinbase and Kraken, {BOTS} bots, "
             f"{r3['batches']} (account, symbol) batches, {r3['requests']} signed REST requests with each venue's "
             f"ccxt rate limits (Coinbase and Kraken per key); "
             f"{'every order confirmed unchanged' if ok3 else 'UNEXPECTED CHANGES: ' + json.dumps(r3)}; "
             f"second pass {r3['again']:.2f} s")
    return [
        row("reconcile 10k orders", r["seconds"], "s", TARGET_S, note),
        row("reconcile requests per batch", r["requests"] / max(1, r["batches"]), "requests", None,
            "one openOrders per (account, symbol); myTrades only where an order shows unrecorded fills, "
            "account balances only on the 5-minute full pass"),
        row("reconcile 10k orders, 3 venues", r3["seconds"], "s", TARGET_S, note3),
        row("reconcile requests per batch, 3 venues", r3["requests"] / max(1, r3["batches"]), "requests", None,
            "one open-orders request per (account, symbol) on each venue (Coinbase pages at 250 orders)"),
    ]


if __name__ == "__main__":
    for item in run():
        print(item)
