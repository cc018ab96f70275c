"""Writers of backtest runs and sweeps: create them (validated), execute them (the Celery tasks' one
call each: idempotent, progress pushed live to the owner), and start a paper bot from a run.

A run writes its heartbeat with each progress step (a sweep's runs, with each step of their chunk's
pass). One still "running" whose heartbeat stopped for ``heartbeat.STALE_AFTER`` was abandoned (its
worker was killed, or the platform stopped mid-run): the pages show it failed (``reap_stale``), and a
redelivered task takes it over and runs it again from the start (a backtest is deterministic)."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime
from decimal import Decimal
from typing import Any

from django.db import OperationalError, transaction
from django.db.models import Q
from django.utils import timezone

from botplatform import heartbeat
from botplatform.celery import enqueue_on_commit
from bots import events
from bots.backtest import run_many
from bots.engine.strategies import validate_params
from bots.models import BacktestRun, BacktestSweep, Bot, RunStatus
from marketdata.models import Candle, Market

from .backtests import RISK_FIELDS, BacktestRequest, canonical, grid, result_json
from .portal import create_bot

# Parameter sets per Celery task: one pass over the history serves them all. Reading a year of minutes
# costs ~2.5 CPU-seconds (psycopg's Decimals), so bigger chunks read it less often; 25 gives a
# 100-set sweep four tasks, two rounds on two worker processes (results arrive chunk by chunk).
CHUNK = 25
PROGRESS_SECONDS = 0.5  # at most two progress pushes (and row saves) a second per run
PROGRESS_BARS = 5_000  # bars between progress steps (a fraction of a second, a few for a sweep's chunk)


def settings_json(capital: Decimal, risk: dict[str, Any] | None, slippage_bps: Decimal) -> dict[str, Any]:
    """Capital, risk and slippage as JSON (decimal strings, never floats)."""
    data: dict[str, Any] = {"capital": str(capital), "slippage_bps": str(slippage_bps)}
    for key, value in (risk or {}).items():
        if value is not None:
            data[key] = str(value) if isinstance(value, Decimal) else value
    return data


def request_for(obj: BacktestRun | BacktestSweep, params: dict[str, Any], since: datetime | None,
                until: datetime | None) -> BacktestRequest:
    """The engine-side request a stored run (or a sweep's parameter set) describes."""
    s = obj.settings or {}
    risk = {k: Decimal(s[k]) for k in RISK_FIELDS if s.get(k) not in (None, "")}
    if s.get("max_open_orders"):
        risk["max_open_orders"] = int(s["max_open_orders"])
    if s.get("cooldown_seconds"):
        risk["cooldown_seconds"] = float(s["cooldown_seconds"])
    return BacktestRequest(obj.strategy, params, obj.market, obj.timeframe, since, until,
                           Decimal(s.get("capital", "1000")), risk, Decimal(s.get("slippage_bps", "5")))


def create_run(owner: Any, *, market: Market, strategy: str, params: dict[str, Any], timeframe: str = "1m",
               since: datetime | None = None, until: datetime | None = None, capital: Decimal = Decimal(1000),
               risk: dict[str, Any] | None = None, slippage_bps: Decimal = Decimal(5),
               bot: Bot | None = None, start: bool = True) -> BacktestRun:
    """A pending run (``ParamsError`` for parameters the strategy refuses), started on commit as the
    ``bots.run_backtest`` task unless ``start`` is false."""
    validate_params(strategy, params)
    params = canonical(strategy, params)
    run = BacktestRun.objects.create(owner=owner, bot=bot, market=market, timeframe=timeframe, strategy=strategy,
                                     params=params, settings=settings_json(capital, risk, slippage_bps),
                                     since=since, until=until)
    if start:
        enqueue_on_commit("bots.run_backtest", run.pk)
    return run


def bar_count(market: Market, timeframe: str, since: datetime | None, until: datetime | None) -> int:
    qs = Candle.objects.series(market, timeframe)
    if since is not None:
        qs = qs.filter(open_time__gte=since)
    if until is not None:
        qs = qs.filter(open_time__lt=until)
    return qs.count()


def _progress(run: BacktestRun, total: int) -> Callable[[int], None]:
    last = [0.0]

    def report(done: int) -> None:
        now = time.monotonic()
        if now - last[0] < PROGRESS_SECONDS:
            return
        last[0] = now
        run.progress = min(1.0, done / total) if total else 0.0
        try:  # best effort, as a download's: a locked database delays the bar, never fails the run
            BacktestRun.objects.filter(pk=run.pk).update(progress=run.progress, heartbeat_at=timezone.now())
        except OperationalError as exc:
            if "locked" not in str(exc):
                raise
        events.publish_backtest(run)

    return report


def _beating(run_ids: list[int]) -> Callable[[int], None]:
    """A sweep chunk's heartbeat (its runs have no progress bar of their own)."""
    last = [0.0]

    def beat(done: int) -> None:
        now = time.monotonic()
        if now - last[0] >= PROGRESS_SECONDS:
            last[0] = now
            BacktestRun.objects.filter(pk__in=run_ids, status=RunStatus.RUNNING).update(heartbeat_at=timezone.now())

    return beat


def _takeable() -> Q:
    """A pending run, or a running one whose heartbeat stopped (Celery redelivers a lost worker's task)."""
    return Q(status=RunStatus.PENDING) | (
        Q(status=RunStatus.RUNNING) & heartbeat.stale(timezone.now() - heartbeat.STALE_AFTER))


def reap_stale() -> int:
    """Mark failed, with the reason, every running run whose heartbeat stopped (its worker died or the
    platform stopped half-way); a sweep left with no run to wait for is done."""
    reaped = heartbeat.reap(
        BacktestRun.objects.filter(status=RunStatus.RUNNING).select_related("sweep"),
        lambda beat: f"stopped without finishing: no progress since {beat:%Y-%m-%d %H:%M:%S} UTC (its worker or "
                     "the platform stopped); run it again.", failed=RunStatus.FAILED)
    for run in reaped:
        events.publish_backtest(run)
    for sweep in {run.sweep_id: run.sweep for run in reaped if run.sweep is not None}.values():
        _close_sweep(sweep)
    return len(reaped)


def execute_run(run_id: int) -> str:
    """Run a pending backtest (the Celery task's body): idempotent, progress pushed live. A redelivered
    task takes over a run whose heartbeat stopped and runs it from the start."""
    with transaction.atomic():
        run = BacktestRun.objects.select_for_update(of=("self",)).select_related(
            "market__exchange").filter(_takeable(), pk=run_id).first()
        if run is None:
            status = BacktestRun.objects.filter(pk=run_id).values_list("status", flat=True).first()
            return status or "gone"
        now = timezone.now()
        run.status, run.started_at, run.heartbeat_at, run.progress, run.error = RunStatus.RUNNING, now, now, 0.0, ""
        run.save(update_fields=["status", "started_at", "heartbeat_at", "progress", "error"])
    events.publish_backtest(run)
    total = bar_count(run.market, run.timeframe, run.since, run.until)
    try:
        request = request_for(run, run.params, run.since, run.until)
        [result] = run_many([request.config()], request.bars(), _progress(run, total), progress_every=PROGRESS_BARS)
    except Exception as exc:  # a bad setting or a strategy error ends this run, visibly
        _finish(run, RunStatus.FAILED, error=f"{type(exc).__name__}: {exc}"[:2000])
        return run.status
    data = result_json(result)
    _finish(run, RunStatus.DONE, summary=data.pop("summary"), result=data)
    return run.status


def _finish(run: BacktestRun, status: str, **fields: Any) -> None:
    for key, value in fields.items():
        setattr(run, key, value)
    run.status, run.finished_at = status, timezone.now()
    run.progress = 1.0 if status == RunStatus.DONE else run.progress
    run.save(update_fields=["status", "finished_at", "progress", *fields])
    events.publish_backtest(run)


def create_sweep(owner: Any, *, market: Market, strategy: str, ranges: dict[str, list[Any]],
                 base_params: dict[str, Any] | None = None, timeframe: str = "1m", since: datetime | None = None,
                 until: datetime | None = None, oos_since: datetime | None = None, oos_until: datetime | None = None,
                 capital: Decimal = Decimal(1000), risk: dict[str, Any] | None = None,
                 slippage_bps: Decimal = Decimal(5), start: bool = True) -> tuple[BacktestSweep, list[list[int]]]:
    """A sweep and one pending run per valid parameter set (invalid combinations, e.g. fast >= slow,
    are left out), its chunks started on commit as ``bots.run_sweep_chunk`` tasks unless ``start`` is
    false; returns the run ids in chunks."""
    base = dict(base_params or {})
    sets = []
    for combo in grid(ranges):
        params = canonical(strategy, {**base, **combo})
        try:
            validate_params(strategy, params)
        except ValueError:
            continue
        sets.append(params)
    if not sets:
        raise ValueError("no valid parameter set in these ranges")
    conf = settings_json(capital, risk, slippage_bps)
    with transaction.atomic():
        sweep = BacktestSweep.objects.create(
            owner=owner, market=market, timeframe=timeframe, strategy=strategy, ranges=ranges, base_params=base,
            settings=conf, since=since, until=until, oos_since=oos_since, oos_until=oos_until,
            status=RunStatus.RUNNING, total=len(sets))
        runs = BacktestRun.objects.bulk_create([
            BacktestRun(owner=owner, sweep=sweep, market=market, timeframe=timeframe, strategy=strategy,
                        params=params, settings=conf, since=since, until=until) for params in sets])
    ids = [r.pk for r in runs]
    chunks = [ids[i:i + CHUNK] for i in range(0, len(ids), CHUNK)]
    if start:
        for chunk in chunks:
            enqueue_on_commit("bots.run_sweep_chunk", chunk)
    return sweep, chunks


def execute_sweep_chunk(run_ids: list[int]) -> int:
    """Run a chunk of a sweep's parameter sets in one pass over the history (and one over the
    out-of-sample range); each result is saved and pushed as it is known. Returns how many ran. A
    redelivered chunk takes over its runs whose heartbeat stopped and runs them from the start."""
    with transaction.atomic():
        runs = list(BacktestRun.objects.select_for_update(skip_locked=True, of=("self",)).select_related(
            "market__exchange", "sweep").filter(_takeable(), pk__in=run_ids))
        now = timezone.now()
        BacktestRun.objects.filter(pk__in=[r.pk for r in runs]).update(
            status=RunStatus.RUNNING, started_at=now, heartbeat_at=now, error="")
    if not runs:
        return 0
    sweep = runs[0].sweep
    assert sweep is not None
    beat = _beating([r.pk for r in runs])
    try:
        requests = [request_for(r, r.params, sweep.since, sweep.until) for r in runs]
        results = run_many([q.config() for q in requests], requests[0].bars(), beat, PROGRESS_BARS)
        oos = None
        if sweep.oos_since is not None:
            oos_requests = [request_for(r, r.params, sweep.oos_since, sweep.oos_until) for r in runs]
            oos = run_many([q.config() for q in oos_requests], oos_requests[0].bars(), beat, PROGRESS_BARS)
    except Exception as exc:
        for run in runs:
            _finish(run, RunStatus.FAILED, error=f"{type(exc).__name__}: {exc}"[:2000])
        _close_sweep(sweep)
        return len(runs)
    for i, (run, result) in enumerate(zip(runs, results, strict=True)):
        data = result_json(result)
        fields: dict[str, Any] = {"summary": data.pop("summary"), "result": data}
        if oos is not None:
            fields["oos_summary"] = result_json(oos[i], curves=False)["summary"]
        _finish(run, RunStatus.DONE, **fields)
    _close_sweep(sweep)
    return len(runs)


def _close_sweep(sweep: BacktestSweep) -> None:
    left = sweep.runs.filter(status__in=(RunStatus.PENDING, RunStatus.RUNNING)).exists()
    if not left:
        updated = BacktestSweep.objects.filter(pk=sweep.pk, status=RunStatus.RUNNING).update(
            status=RunStatus.DONE, finished_at=timezone.now())
        if updated:
            sweep.status = RunStatus.DONE
            events.publish_sweep(sweep)


def create_bot_from_run(run: BacktestRun, name: str = "") -> Bot:
    """A stopped paper bot with the run's strategy, parameters, market and risk settings (through the
    portal's bot writer; the model validates the parameters)."""
    s = run.settings or {}
    capital = Decimal(s.get("capital", "1000"))
    data: dict[str, Any] = {
        "name": name or f"{run.strategy} from backtest {run.pk}", "market": run.market, "account": None,
        "strategy": run.strategy, "params": dict(run.params), "mode": "paper", "live_confirmed": False,
        "capital": capital, "order_size": Decimal(s["order_size"]) if s.get("order_size") else capital}
    for key in ("max_position", "stop_loss_pct", "take_profit_pct", "trailing_stop_pct", "max_daily_loss"):
        data[key] = Decimal(s[key]) if s.get(key) else None
    bot = Bot(owner=run.owner, **{k: v for k, v in data.items() if k != "account"})
    bot.exchange = run.market.exchange
    bot.full_clean(exclude=["owner", "exchange", "market"])
    data["params"] = bot.params
    return create_bot(run.owner, data)
