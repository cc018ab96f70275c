"""Read models of the backtest pages: a run's snapshot, runs side by side, a sweep's sortable table,
trades as CSV rows. Readers only; the writers are in ``backtest_runs``."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal, InvalidOperation
from typing import Any

from bots.models import BacktestRun, BacktestSweep

# (key, label) of the metrics table, in reading order.
METRICS = [
    ("net_profit", "Net profit"), ("return_pct", "Return %"), ("cagr_pct", "CAGR %"),
    ("max_drawdown_pct", "Max drawdown %"), ("max_drawdown", "Max drawdown"),
    ("max_drawdown_duration_s", "Max drawdown duration (s)"), ("sharpe", "Sharpe"), ("sortino", "Sortino"),
    ("win_rate_pct", "Win rate %"), ("profit_factor", "Profit factor"), ("trades", "Trades"),
    ("average_trade", "Average trade"), ("exposure_pct", "Exposure %"),
    ("exposure_time_s", "Exposure time (s)"), ("fees", "Fees paid"),
    ("buy_and_hold_pct", "Buy and hold %"), ("buy_and_hold_profit", "Buy and hold profit"),
    ("final_equity", "Final equity"), ("bars", "Bars"), ("orders_rejected", "Orders rejected"),
    ("paused", "Paused by risk"),
]
SORTABLE = {"net_profit", "return_pct", "max_drawdown_pct", "sharpe", "sortino", "win_rate_pct", "profit_factor",
            "trades", "exposure_pct", "fees", "oos_return_pct"}


def number(value: Any) -> Decimal | None:
    """A metric as a Decimal for sorting and colouring (None when missing)."""
    if value in (None, ""):
        return None
    try:
        return Decimal(str(value))
    except InvalidOperation:
        return None


def run_snapshot(run: BacktestRun) -> dict[str, Any]:
    """What the result page shows before its charts: status, progress, settings and metrics."""
    return {"id": run.pk, "status": run.status, "progress": run.progress, "error": run.error,
            "strategy": run.strategy, "params": run.params, "settings": run.settings,
            "market": str(run.market), "timeframe": run.timeframe,
            "since": run.since.isoformat() if run.since else None,
            "until": run.until.isoformat() if run.until else None, "summary": run.summary,
            "oos_summary": run.oos_summary, "sweep_id": run.sweep_id}


def metric_rows(*summaries: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per metric with a value per summary (for one run, or several side by side)."""
    return [{"key": k, "label": label, "values": [s.get(k) for s in summaries]} for k, label in METRICS]


def same_strategy_runs(run: BacktestRun, limit: int = 20) -> list[BacktestRun]:
    """The owner's other finished runs of the same strategy (to compare side by side)."""
    return list(BacktestRun.objects.for_user(run.owner).filter(strategy=run.strategy, status="done")
                .exclude(pk=run.pk).select_related("market")[:limit])


def sweep_rows(sweep: BacktestSweep, sort: str = "net_profit", descending: bool = True) -> list[dict[str, Any]]:
    """Every run of a sweep with its in- and out-of-sample headline metrics, sorted by ``sort``."""
    rows = []
    for run in sweep.runs.only("pk", "params", "status", "summary", "oos_summary", "error"):
        s, o = run.summary or {}, run.oos_summary or {}
        rows.append({"id": run.pk, "params": run.params, "status": run.status, "error": run.error,
                     **{k: s.get(k) for k in SORTABLE if k != "oos_return_pct"},
                     "oos_return_pct": o.get("return_pct"), "oos_trades": o.get("trades")})
    key = sort if sort in SORTABLE else "net_profit"
    present = [r for r in rows if number(r.get(key)) is not None]
    missing = [r for r in rows if number(r.get(key)) is None]
    present.sort(key=lambda r: number(r[key]), reverse=descending)  # type: ignore[arg-type,return-value]
    return present + missing


def trades_csv_rows(run: BacktestRun) -> Iterator[list[str]]:
    """The run's fills as CSV rows (header first)."""
    yield ["time", "side", "price", "quantity", "fee", "purpose"]
    for t in (run.result or {}).get("trades", []):
        yield [t["time"], t["side"], t["price"], t["quantity"], t["fee"], t["purpose"]]
