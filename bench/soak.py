"""Soak: many paper bots on the simulator for minutes, with feed faults, watched from outside.

``python -m bench.soak [--bots 1000] [--minutes 10]`` (``make soak``):

1. a scratch database (SQLite in a temporary DATA_DIR, or a scratch PostgreSQL database when
   ``DATABASE_URL`` is set), migrated, with the catalogue and ``--bots`` running paper bots spread over
   every market of Binance, Coinbase and Kraken and over the four strategies;
2. the exchange simulator in this process, the three exchanges' rows pointed at it;
3. ``manage.py runengine --feeds live`` as a real subprocess (it reads the simulator as it would read
   the venues), serving Prometheus metrics;
4. every ``--fault-every`` seconds one feed fault, in turn: dropped connections, malformed frames, a
   Coinbase sequence gap, a Kraken checksum mismatch, a stalled feed;
5. every ``--sample-every`` seconds the engine's RSS and CPU time (from /proc) and its feed counters;
6. SIGTERM, then the verdict: error lines in the engine's log, memory growth after warm-up (the first
   fifth of the run), CPU share, and every order's final state (none left unconfirmed, every filled
   order's fills add up to its filled quantity, every fill's order exists).

It prints a table and writes ``bench/results/soak.json``; ``bench/results/latest.md`` carries its
summary rows (``python -m bench.run soak`` re-reads them). Exit status 1 when a check fails.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
STRATEGIES: list[tuple[str, dict[str, Any]]] = [
    ("crossover", {"fast_period": 5, "slow_period": 20, "timeframe": "tick"}),
    ("rsi", {"period": 14, "oversold": "40", "overbought": "60", "timeframe": "tick"}),
    ("grid", {"lower": "0.9", "upper": "1.1", "levels": 5}),  # bounds scaled to the market's price below
    ("dca", {"interval_seconds": 30, "max_buys": 20}),
]
SHUTDOWN_WAIT = 300  # seconds for SIGTERM: the worker stops every bot and flushes its writes first
FAULTS = ("drop", "malformed", "gap", "checksum", "stall")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _setup_django(env: dict[str, str]) -> None:
    os.environ.update(env)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "botplatform.settings")
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()


def _create_world(bots: int, urls: dict[str, Any], prices: dict[tuple[str, str], Decimal]) -> int:
    from django.contrib.auth import get_user_model
    from django.core.management import call_command

    from bots.models import Bot, BotStatus
    from marketdata.models import Exchange, Market
    from marketdata.services import load_catalogue

    call_command("migrate", verbosity=0, interactive=False)
    load_catalogue()
    user = get_user_model().objects.create_user("soak", "soak@example.invalid", "soak-password-2026")
    markets = []
    for code in ("binance", "coinbase", "kraken"):
        Exchange.objects.filter(code=code).update(ws_url=urls[code].ws, rest_url=urls[code].rest)
        markets += list(Market.objects.filter(exchange__code=code).select_related("exchange"))
    rows = []
    for i in range(bots):
        market = markets[i % len(markets)]
        name, params = STRATEGIES[(i // len(markets)) % len(STRATEGIES)]
        params = dict(params)
        price = prices.get((market.exchange.code, market.symbol), Decimal(100))
        if name == "grid":
            params["lower"] = str((price * Decimal(params["lower"])).quantize(market.price_tick))
            params["upper"] = str((price * Decimal(params["upper"])).quantize(market.price_tick))
            params["amount_per_level"] = "20"
        if name == "dca":
            params["amount"] = "20"
        rows.append(Bot(
            owner=user, name=f"soak {i}", exchange=market.exchange, market=market, strategy=name, params=params,
            capital=Decimal(10_000), order_size=Decimal(50), max_position=None,
            stop_loss_pct=Decimal("0.5"), take_profit_pct=Decimal("0.5"), trailing_stop_pct=Decimal("0.3"),
            max_open_orders=2, cooldown_seconds=5, status=BotStatus.RUNNING,
        ))
    Bot.objects.bulk_create(rows, batch_size=500)
    return len(rows)


def _proc_sample(pid: int) -> tuple[int, float]:
    """RSS in bytes and user+system CPU seconds of ``pid``."""
    rss = 0
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            rss = int(line.split()[1]) * 1024
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return rss, (int(fields[11]) + int(fields[12])) / ticks


def _metrics(port: int) -> dict[str, float]:
    """Sum of each ``marketdata_*`` counter over exchanges, from the engine's Prometheus endpoint."""
    out: dict[str, float] = {}
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as resp:  # noqa: S310
            text = resp.read().decode()
    except OSError:
        return out
    for line in text.splitlines():
        if line.startswith(("marketdata_", "engine_queued_writes")):
            name = line.split("{", 1)[0].split(" ", 1)[0]
            try:
                out[name] = out.get(name, 0.0) + float(line.rsplit(" ", 1)[1])
            except ValueError:
                continue
    return out


def _inject(sim: Any, fault: str) -> str:
    if fault == "drop":
        venue = "binance"
        return f"dropped {sim.drop_connections(venue)} {venue} connection(s)"
    if fault == "malformed":
        return f"sent {sum(sim.send_malformed(v) for v in ('binance', 'coinbase', 'kraken'))} malformed frame(s)"
    if fault == "gap":
        sim.sequence_gap("coinbase")
        return "coinbase sequence gap"
    if fault == "checksum":
        sim.bad_checksum()
        return "kraken checksum mismatch"
    sim.stall("kraken", 3.0)
    return "kraken stalled 3 s"


def _verdict_orders() -> dict[str, Any]:
    from django.db.models import Count, Sum

    from bots.models import Fill, Order

    by_status = dict(Order.objects.values_list("status").annotate(n=Count("id")).values_list("status", "n"))
    unconfirmed = sum(n for s, n in by_status.items() if s in ("pending_submit", "submitted", "unknown"))
    mismatched = 0
    sums = dict(Fill.objects.values("order_id").annotate(q=Sum("quantity")).values_list("order_id", "q"))
    for order_id, filled in Order.objects.values_list("id", "filled_quantity"):
        if (sums.get(order_id) or Decimal(0)) != filled:
            mismatched += 1
    return {"orders": sum(by_status.values()), "by_status": by_status, "unconfirmed": unconfirmed,
            "fill_sum_mismatches": mismatched, "fills": Fill.objects.count()}


def _all_hosted_after(log_text: str, bots: int) -> float | None:
    """Seconds from the engine's first log line until its worker had taken every bot up (None: never)."""
    stamps = re.findall(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}) .*took up (\d+) bot", log_text, re.M)
    first = re.search(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}) ", log_text, re.M)
    total = 0
    for stamp, count in stamps:
        total += int(count)
        if total >= bots and first is not None:
            fmt = "%Y-%m-%d %H:%M:%S,%f"
            return round((datetime.strptime(stamp, fmt) - datetime.strptime(first.group(1), fmt)).total_seconds(), 1)
    return None


def run_soak(bots: int, minutes: float, fault_every: float, sample_every: float) -> dict[str, Any]:
    """Run the soak and return its report (see the module docstring)."""
    data_dir = tempfile.mkdtemp(prefix="soak-")
    env = {"DATA_DIR": data_dir}
    drop_db = None
    if os.environ.get("DATABASE_URL"):
        from bench.common import scratch_postgres

        env["DATABASE_URL"], drop_db = scratch_postgres(os.environ["DATABASE_URL"], "soak")
    _setup_django(env)
    from marketdata.simulator.thread import SimulatorThread

    sim = SimulatorThread(update_interval=0.05).start()
    log_path = Path(data_dir) / "engine.log"
    engine = None
    try:
        urls = {name: sim.urls[name] for name in ("binance", "coinbase", "kraken")}
        prices = {}
        for code in urls:
            for sym in ("BTC/USDT", "ETH/USDT", "SOL/USDT", "BTC/USD", "ETH/USD"):
                try:
                    prices[(code, sym)] = Decimal(str(sim.price(code, sym)))
                except Exception:  # the venue does not list it
                    continue
        created = _create_world(bots, urls, prices)
        metrics_port = _free_port()
        engine_env = os.environ | env | {"METRICS_PORT": str(metrics_port), "PYTHONUNBUFFERED": "1"}
        engine_env.pop("REDIS_URL", None)  # the engine alone: no control messages are sent in a soak
        with log_path.open("w") as log:
            engine = subprocess.Popen(  # noqa: S603
                [sys.executable, "manage.py", "runengine", "--feeds", "live"],
                cwd=ROOT, env=engine_env, stdout=log, stderr=subprocess.STDOUT,
            )
        samples: list[dict[str, Any]] = []
        faults: list[dict[str, Any]] = []
        start = time.monotonic()
        next_fault = start + fault_every
        n_fault = 0
        deadline = start + minutes * 60
        while time.monotonic() < deadline:
            if engine.poll() is not None:
                raise RuntimeError(f"the engine exited with {engine.returncode}; see {log_path}")
            now = time.monotonic()
            if now >= next_fault:
                fault = FAULTS[n_fault % len(FAULTS)]
                faults.append({"t": round(now - start, 1), "fault": _inject(sim, fault)})
                n_fault += 1
                next_fault += fault_every
            rss, cpu = _proc_sample(engine.pid)
            samples.append({"t": round(now - start, 1), "rss_mb": round(rss / 2**20, 1), "cpu_s": round(cpu, 2),
                            **_metrics(metrics_port)})
            print(f"  t={samples[-1]['t']:>6.0f}s  rss={samples[-1]['rss_mb']:>7.1f} MB  cpu={cpu:8.1f}s  "
                  f"msgs={samples[-1].get('marketdata_messages_total', 0):>10.0f}  "
                  f"bad={samples[-1].get('marketdata_parse_errors_total', 0):>5.0f}  "
                  f"queued writes={samples[-1].get('engine_queued_writes', 0):>6.0f}", flush=True)
            time.sleep(min(sample_every, max(0.0, deadline - time.monotonic())))
        engine.send_signal(signal.SIGTERM)
        stopping = time.monotonic()
        engine.wait(timeout=SHUTDOWN_WAIT)
        shutdown_s = time.monotonic() - stopping
        log_text = log_path.read_text(errors="replace")
        errors = [line for line in log_text.splitlines() if " ERROR " in line or line.startswith("Traceback")]
        warm = [s for s in samples if s["t"] >= minutes * 60 / 5]
        base = min((s["rss_mb"] for s in warm), default=0.0)
        growth = (warm[-1]["rss_mb"] - base) / base * 100 if warm and base else 0.0
        cpu_share = samples[-1]["cpu_s"] / max(samples[-1]["t"], 1e-9) * 100 if samples else 0.0
        orders = _verdict_orders()
        report = {
            "bots": created, "minutes": minutes, "faults": faults, "samples": samples,
            "engine_exit": engine.returncode, "error_lines": len(errors), "first_errors": errors[:10],
            "shutdown_s": round(shutdown_s, 1), "all_hosted_s": _all_hosted_after(log_text, created),
            "queued_writes_max": max((s.get("engine_queued_writes", 0) for s in samples), default=0),
            "rss_growth_after_warmup_pct": round(growth, 2), "rss_final_mb": samples[-1]["rss_mb"] if samples else 0,
            "cpu_share_pct": round(cpu_share, 1), "orders": orders,
            "parse_errors_counted": samples[-1].get("marketdata_parse_errors_total", 0) if samples else 0,
            "messages": samples[-1].get("marketdata_messages_total", 0) if samples else 0,
        }
        report["ok"] = (engine.returncode == 0 and not errors and growth < 5.0 and orders["unconfirmed"] == 0
                        and orders["fill_sum_mismatches"] == 0)
        return report
    finally:
        if engine is not None and engine.poll() is None:
            engine.kill()
        sim.stop()
        if drop_db is not None:
            from django.db import connections

            connections.close_all()
            drop_db()


def rows(report: dict[str, Any]) -> list[dict[str, Any]]:
    """The soak's summary rows for the benchmark table."""
    label = f"soak {report['bots']} bots {report['minutes']:g} min"
    o = report["orders"]
    return [
        {"name": f"{label}: RSS growth after warm-up", "value": report["rss_growth_after_warmup_pct"], "unit": "%",
         "baseline": 5.0, "ratio": None},
        {"name": f"{label}: engine CPU", "value": report["cpu_share_pct"], "unit": "% of one core",
         "baseline": None, "ratio": None},
        {"name": f"{label}: error log lines", "value": report["error_lines"], "unit": "lines", "baseline": 0,
         "ratio": None},
        {"name": f"{label}: orders / unconfirmed / fill mismatches",
         "value": f"{o['orders']} / {o['unconfirmed']} / {o['fill_sum_mismatches']}", "unit": "",
         "baseline": None, "ratio": None},
        {"name": f"{label}: every bot hosted after", "value": report.get("all_hosted_s") or "never", "unit": "s",
         "baseline": None, "ratio": None},
        {"name": f"{label}: most writes queued", "value": report.get("queued_writes_max", 0), "unit": "writes",
         "baseline": None, "ratio": None},
        {"name": f"{label}: SIGTERM to exit", "value": report.get("shutdown_s", 0), "unit": "s",
         "baseline": None, "ratio": None},
        {"name": f"{label}: malformed frames counted", "value": report["parse_errors_counted"], "unit": "frames",
         "baseline": None, "ratio": None},
    ]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bots", type=int, default=1000)
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--fault-every", type=float, default=20.0, help="seconds between feed faults")
    parser.add_argument("--sample-every", type=float, default=10.0, help="seconds between samples")
    parser.add_argument("--out", default=str(RESULTS / "soak.json"))
    args = parser.parse_args()
    report = run_soak(args.bots, args.minutes, args.fault_every, args.sample_every)
    report["measured_at"] = datetime.now(UTC).isoformat(timespec="minutes")  # a checkout resets the file's time
    Path(args.out).write_text(json.dumps(report, indent=2, default=str))
    for row in rows(report):
        print(f"{row['name']:<70} {row['value']} {row['unit']}")
    o = report["orders"]
    print(f"orders by status: {o['by_status']}; fills: {o['fills']}; faults injected: {len(report['faults'])}")
    for line in report["first_errors"]:
        print("  error:", line[:200])
    print("soak:", "OK" if report["ok"] else "FAILED")
    return 0 if report["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
