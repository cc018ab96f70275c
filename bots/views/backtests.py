"""Backtest pages: start one (or a sweep), watch it run, read its results, export its trades, compare
runs of one strategy, start a paper bot from one. Owner-scoped through ``access``."""

from __future__ import annotations

import csv

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from .. import access
from ..backtest_forms import BacktestForm, SweepForm
from ..chart import render_equity_chart, render_trades_chart
from ..forms import param_field_name
from ..models import BacktestRun, BacktestSweep
from ..services import backtest_reads as reads
from ..services import backtest_runs


def _bot_initial(request: HttpRequest) -> dict[str, object]:
    """The form filled from one of the user's bots ("backtest this bot")."""
    bot = access.get_bot_for_user(request.user, request.GET["bot"])
    initial: dict[str, object] = {"strategy": bot.strategy, "market": bot.market_id, "capital": bot.capital,
                                  "order_size": bot.order_size}
    initial.update({param_field_name(bot.strategy, k): v for k, v in (bot.params or {}).items()})
    for name in ("stop_loss_pct", "take_profit_pct", "trailing_stop_pct", "max_daily_loss", "max_position"):
        initial[name] = getattr(bot, name)
    return initial


@login_required
def backtest_index(request: HttpRequest) -> HttpResponse:
    """The form (a strategy, or a bot's settings), the user's runs and sweeps; POST starts a run."""
    backtest_runs.reap_stale()  # a run whose worker stopped is listed failed, with why
    if request.method == "POST":
        form = BacktestForm(request.POST)
        if form.is_valid():
            d = form.cleaned_data
            run = backtest_runs.create_run(
                request.user, market=d["market"], strategy=d["strategy"], params=d["params"],
                timeframe=d["timeframe"], since=d["since"], until=d["until"], capital=d["capital"], risk=form.risk(),
                slippage_bps=d["slippage_bps"])
            return redirect("backtest-detail", run_id=run.pk)
    else:
        form = BacktestForm(initial=_bot_initial(request) if "bot" in request.GET else None)
    return render(request, "backtest/index.html", {
        "form": form, "sweep_form": SweepForm(), "bots": access.bots_for_user(request.user).order_by("name"),
        "runs": BacktestRun.objects.for_user(request.user).filter(sweep=None).select_related("market")[:50],
        "sweeps": BacktestSweep.objects.for_user(request.user).select_related("market")[:20]})


@login_required
def backtest_detail(request: HttpRequest, run_id: int) -> HttpResponse:
    """A run: progress while it runs; then metrics, equity and drawdown, price with trades, trades."""
    backtest_runs.reap_stale()
    run = access.get_backtest_for_user(request.user, run_id)
    result = run.result or {}
    capital = reads.number((run.settings or {}).get("capital"))
    return render(request, "backtest/detail.html", {
        "run": run, "snapshot": reads.run_snapshot(run), "metrics": reads.metric_rows(run.summary or {}),
        "oos": reads.metric_rows(run.oos_summary) if run.oos_summary else None,
        "equity_chart": render_equity_chart(result.get("equity", []), float(capital) if capital else None),
        "price_chart": render_trades_chart(result.get("prices", []), result.get("trades", [])),
        "trades": result.get("trades", [])[:500], "trade_count": len(result.get("trades", [])),
        "others": reads.same_strategy_runs(run)})


@login_required
def backtest_snapshot(request: HttpRequest, run_id: int) -> JsonResponse:
    """The run's status and metrics as JSON (the live client reloads it on every (re)connect)."""
    backtest_runs.reap_stale()
    return JsonResponse(reads.run_snapshot(access.get_backtest_for_user(request.user, run_id)))


@login_required
def backtest_csv(request: HttpRequest, run_id: int) -> HttpResponse:
    """The run's trades as CSV."""
    run = access.get_backtest_for_user(request.user, run_id)
    response = HttpResponse(content_type="text/csv")
    response["Content-Disposition"] = f'attachment; filename="backtest-{run.pk}-trades.csv"'
    csv.writer(response).writerows(reads.trades_csv_rows(run))
    return response


@login_required
def backtest_compare(request: HttpRequest) -> HttpResponse:
    """Several of the user's runs side by side (``?ids=1,2,3``); others' ids are simply not found."""
    ids = [int(x) for x in request.GET.getlist("ids") + request.GET.get("id", "").split(",") if x.strip().isdigit()]
    runs = list(BacktestRun.objects.for_user(request.user).filter(pk__in=ids).select_related("market"))
    return render(request, "backtest/compare.html", {
        "runs": runs, "metrics": reads.metric_rows(*(r.summary or {} for r in runs))})


@login_required
@require_POST
def backtest_start_bot(request: HttpRequest, run_id: int) -> HttpResponse:
    """Create a stopped paper bot with the run's settings and open it."""
    run = access.get_backtest_for_user(request.user, run_id)
    try:
        bot = backtest_runs.create_bot_from_run(run)
    except ValidationError as exc:
        messages.error(request, "; ".join(exc.messages))
        return redirect("backtest-detail", run_id=run.pk)
    messages.success(request, f"Paper bot {bot.name} created (stopped): start it when ready.")
    return redirect("bot-detail", bot_id=bot.pk)


@login_required
@require_POST
def sweep_create(request: HttpRequest) -> HttpResponse:
    """Start a sweep: one Celery task per chunk of parameter sets."""
    form = SweepForm(request.POST)
    if not form.is_valid():
        return render(request, "backtest/index.html", {
            "form": BacktestForm(), "sweep_form": form, "bots": access.bots_for_user(request.user),
            "runs": BacktestRun.objects.for_user(request.user).filter(sweep=None)[:50],
            "sweeps": BacktestSweep.objects.for_user(request.user)[:20]}, status=400)
    d = form.cleaned_data
    try:
        sweep, _ = backtest_runs.create_sweep(
            request.user, market=d["market"], strategy=d["strategy"], ranges=d["ranges"],
            base_params=d["base_params"], timeframe=d["timeframe"], since=d["since"], until=d["until"],
            oos_since=d["oos_since"], oos_until=d["oos_until"], capital=d["capital"], risk=form.risk(),
            slippage_bps=d["slippage_bps"])
    except ValueError as exc:
        messages.error(request, str(exc))
        return redirect("backtests")
    return redirect("sweep-detail", sweep_id=sweep.pk)


@login_required
def sweep_detail(request: HttpRequest, sweep_id: int) -> HttpResponse:
    """A sweep's results as a sortable table (``?sort=sharpe&dir=asc``), filled in live as they arrive."""
    backtest_runs.reap_stale()
    sweep = access.get_sweep_for_user(request.user, sweep_id)
    sort, descending = request.GET.get("sort", "net_profit"), request.GET.get("dir", "desc") != "asc"
    rows = reads.sweep_rows(sweep, sort, descending)
    return render(request, "backtest/sweep.html", {
        "sweep": sweep, "rows": rows, "sort": sort, "descending": descending,
        "done": sum(r["status"] in ("done", "failed") for r in rows), "columns": SWEEP_COLUMNS})


@login_required
def sweep_snapshot(request: HttpRequest, sweep_id: int) -> JsonResponse:
    """The sweep's rows as JSON (for the live table's (re)connect)."""
    backtest_runs.reap_stale()
    sweep = access.get_sweep_for_user(request.user, sweep_id)
    return JsonResponse({"status": sweep.status, "total": sweep.total, "rows": reads.sweep_rows(sweep)})


# (key, label, class): "wide" columns are left out on a phone, which keeps profit, return and the
# out-of-sample return beside the parameters.
SWEEP_COLUMNS = [("net_profit", "Net profit", ""), ("return_pct", "Return %", ""),
                 ("max_drawdown_pct", "Max DD %", "wide"), ("sharpe", "Sharpe", "wide"),
                 ("win_rate_pct", "Win %", "wide"), ("profit_factor", "PF", "wide"), ("trades", "Trades", "wide"),
                 ("fees", "Fees", "wide"), ("oos_return_pct", "OOS return %", "")]
