"""The backtest and history pages through HTTP: alice runs, reads, exports and compares her backtests,
sweeps a grid and starts a paper bot from a run; bob sees nothing of hers; the admin sees them all."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from bots.backtest import synthetic
from bots.backtest.bars import write_csv
from bots.models import BacktestRun, BacktestSweep, Bot
from marketdata.history import find_market, import_csv
from marketdata.models import Candle, Exchange, HistoryDownload
from marketdata.simulator import SimulatorThread

pytestmark = pytest.mark.django_db


@pytest.fixture
def market(catalogue):
    buffer = io.StringIO()
    write_csv(synthetic(4000, seed=12), buffer)
    buffer.seek(0)
    m = find_market("binance", "BTC/USDT")
    import_csv(m, "1m", buffer)
    return m


def periods(fast: int, slow: int) -> dict:
    """The crossover's two periods, as the page's per-parameter inputs send them."""
    return {"param-crossover-fast_period": str(fast), "param-crossover-slow_period": str(slow)}


def form(market, **extra) -> dict:
    return {"strategy": "crossover", **periods(10, 30), "market": market.pk, "timeframe": "1m",
            "since": "", "until": "", "capital": "1000", "order_size": "500", "slippage_bps": "5", **extra}


@pytest.fixture
def alice_run(alice_client, market, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        response = alice_client.post("/backtests/", form(market, take_profit_pct="0.2"))
    assert response.status_code == 302
    run = BacktestRun.objects.get()
    assert response["Location"] == f"/backtests/{run.pk}/"
    return run


def test_alice_runs_a_backtest_and_reads_its_results(alice_client, alice_run):
    alice_run.refresh_from_db()
    assert alice_run.status == "done" and alice_run.summary["bars"] == 4000
    page = alice_client.get(f"/backtests/{alice_run.pk}/").content.decode()
    for text in ("Net profit", "Max drawdown %", "Sharpe", "Buy and hold %", "aria-label=\"equity curve and drawdown\"",
                 "aria-label=\"price with trades\"", "class=\"fill-buy\"", "take_profit",
                 "Start a paper bot with these settings"):
        assert text in page, text
    rows = list(csv.reader(io.StringIO(alice_client.get(f"/backtests/{alice_run.pk}/trades.csv").content.decode())))
    assert rows[0] == ["time", "side", "price", "quantity", "fee", "purpose"]
    assert len(rows) - 1 == len(alice_run.result["trades"]) > 10
    snapshot = alice_client.get(f"/backtests/{alice_run.pk}/snapshot.json").json()
    assert snapshot["status"] == "done" and snapshot["summary"] == alice_run.summary


def test_runs_of_one_strategy_side_by_side(alice_client, alice_run, market, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        alice_client.post("/backtests/", form(market, **periods(5, 20)))
    other = BacktestRun.objects.exclude(pk=alice_run.pk).get()
    assert f"/backtests/{other.pk}/" in alice_client.get(f"/backtests/{alice_run.pk}/").content.decode()
    page = alice_client.get(f"/backtests/compare/?ids={alice_run.pk}&ids={other.pk}").content.decode()
    assert "fast_period=10" in page and "fast_period=5" in page and page.count('data-metric="net_profit"') == 1


def test_a_bad_form_is_shown_again_with_the_strategy_s_own_message(alice_client, market):
    response = alice_client.post("/backtests/", form(market, **periods(30, 10)))
    assert response.status_code == 200 and "Must be greater than the fast period." in response.content.decode()
    assert not BacktestRun.objects.exists()


def test_backtest_this_bot_fills_the_form_with_its_settings(alice_client, bob_client, alice, make_bot):
    bot = make_bot(alice, exchange="binance", params={"fast_period": 4, "slow_period": 12})
    page = alice_client.get(f"/backtests/?bot={bot.pk}").content.decode()
    assert 'name="param-crossover-fast_period" value="4"' in page
    assert bob_client.get(f"/backtests/?bot={bot.pk}").status_code == 404


def test_a_paper_bot_is_started_from_a_run(alice_client, alice, alice_run):
    response = alice_client.post(f"/backtests/{alice_run.pk}/paper-bot/")
    bot = Bot.objects.get(owner=alice)
    assert response["Location"] == f"/bots/{bot.pk}/"
    assert (bot.mode, bot.status, bot.strategy, bot.order_size) == ("paper", "stopped", "crossover", Decimal(500))


def test_bob_sees_nothing_of_alices_backtests(bob_client, alice_run, alice_client, market,
                                              django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        alice_client.post("/backtests/sweeps/", sweep_form(market))
    sweep = BacktestSweep.objects.get()
    for url in (f"/backtests/{alice_run.pk}/", f"/backtests/{alice_run.pk}/snapshot.json",
                f"/backtests/{alice_run.pk}/trades.csv", f"/backtests/sweeps/{sweep.pk}/",
                f"/backtests/sweeps/{sweep.pk}/snapshot.json"):
        assert bob_client.get(url).status_code == 404, url
    assert bob_client.post(f"/backtests/{alice_run.pk}/paper-bot/").status_code == 404
    index = bob_client.get("/backtests/").content.decode()
    assert f"/backtests/{alice_run.pk}/" not in index and f"/backtests/sweeps/{sweep.pk}/" not in index
    compare = bob_client.get(f"/backtests/compare/?ids={alice_run.pk}").content.decode()
    assert "fast_period" not in compare
    assert not Bot.objects.filter(owner__username="bob").exists()


def test_the_admin_sees_every_backtest(admin_client, alice_run):
    page = admin_client.get("/admin/bots/backtestrun/").content.decode()
    assert f"/admin/bots/backtestrun/{alice_run.pk}/change/" in page


def sweep_form(market, **extra) -> dict:
    split = datetime(2026, 1, 1, tzinfo=UTC) + timedelta(minutes=3000)
    return {"strategy": "crossover", "ranges": "fast_period = 5..15 step 5\nslow_period = 20, 30",
            "param-crossover-average": "ema",
            "market": market.pk, "timeframe": "1m", "since": "2026-01-01 00:00",
            "until": split.strftime("%Y-%m-%d %H:%M"), "oos_since": split.strftime("%Y-%m-%d %H:%M"),
            "oos_until": "", "capital": "1000", "slippage_bps": "5", **extra}


def test_a_sweep_fills_a_table_sortable_by_any_metric(alice_client, market, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        response = alice_client.post("/backtests/sweeps/", sweep_form(market))
    sweep = BacktestSweep.objects.get()
    assert response["Location"] == f"/backtests/sweeps/{sweep.pk}/"
    assert sweep.total == 6 and sweep.runs.filter(status="done").count() == 6
    page = alice_client.get(f"/backtests/sweeps/{sweep.pk}/?sort=trades&dir=asc").content.decode()
    trades = [int(r.summary["trades"]) for r in sweep.runs.all()]
    order = [int(x.split('data-value="')[1].split('"')[0]) for x in page.split('data-key="trades"')[1:]]
    assert order == sorted(trades)
    assert page.count('data-key="oos_return_pct" data-value=""') == 0  # out-of-sample filled in for every set
    rows = alice_client.get(f"/backtests/sweeps/{sweep.pk}/snapshot.json").json()["rows"]
    assert len(rows) == 6 and all(r["status"] == "done" for r in rows)
    # The best set (by return, the table's first row sorted that way) opens in the results page.
    best = max(sweep.runs.all(), key=lambda r: Decimal(str(r.summary["return_pct"])))
    by_return = alice_client.get(f"/backtests/sweeps/{sweep.pk}/?sort=return_pct&dir=desc").content.decode()
    assert by_return.split('<tr data-run="')[1].startswith(f'{best.pk}"')
    assert f'href="/backtests/{best.pk}/"' in by_return
    detail = alice_client.get(f"/backtests/{best.pk}/").content.decode()
    for text in ("Net profit", 'aria-label="equity curve and drawdown"', 'aria-label="price with trades"',
                 "Start a paper bot with these settings"):
        assert text in detail, text


def test_a_sweep_with_a_reversed_out_of_sample_range_is_refused(alice_client, market):
    response = alice_client.post("/backtests/sweeps/", sweep_form(market, oos_since="2026-01-01 00:10"))
    assert response.status_code == 400 and not BacktestSweep.objects.exists()


def test_the_history_page_shows_ranges_and_gaps_and_downloads_from_the_venue(
        alice_client, market, django_capture_on_commit_callbacks):
    Candle.objects.filter(open_time=datetime(2026, 1, 1, 1, tzinfo=UTC)).delete()
    page = alice_client.get("/market/history/").content.decode()
    assert "BTC/USDT" in page and ">3999<" in page and ">1<" in page  # candles, missing
    gaps = alice_client.get(f"/market/history/?market={market.pk}&timeframe=1m").content.decode()
    assert "missing 2026-01-01 01:00 – 2026-01-01 01:01" in gaps
    with SimulatorThread(seed=4, venues=("binance",)) as sim:
        Exchange.objects.filter(code="binance").update(rest_url=sim.urls["binance"].rest)
        since = (datetime.now(UTC) - timedelta(hours=3)).replace(second=0, microsecond=0)
        with django_capture_on_commit_callbacks(execute=True):
            alice_client.post("/market/history/download/", {"market": market.pk, "timeframe": "1m",
                                                            "since": since.strftime("%Y-%m-%d %H:%M"), "until": ""})
    download = HistoryDownload.objects.get()
    assert download.status == "done", download.error
    assert download.stored >= 179 and download.progress == 1.0
    assert f'data-download="{download.pk}"' in alice_client.get("/market/history/").content.decode()


def test_a_sweep_s_ranges_come_from_the_schema_s_inputs(alice_client, market, django_capture_on_commit_callbacks):
    data = sweep_form(market, ranges="", **{
        "param-crossover-fast_period-from": "4", "param-crossover-fast_period-to": "8",
        "param-crossover-fast_period-step": "2", "param-crossover-slow_period-from": "25"})
    with django_capture_on_commit_callbacks(execute=True):
        response = alice_client.post("/backtests/sweeps/", data)
    assert response.status_code == 302
    sweep = BacktestSweep.objects.get()
    assert sweep.ranges == {"fast_period": [4, 6, 8], "slow_period": [25]} and sweep.total == 3
    assert sweep.base_params["average"] == "ema"


def test_a_sweep_without_any_range_is_refused_on_the_page(alice_client, market):
    response = alice_client.post("/backtests/sweeps/", sweep_form(market, ranges=""))
    assert response.status_code == 400 and "Give at least one parameter a range" in response.content.decode()
    bad = alice_client.post("/backtests/sweeps/", sweep_form(market, ranges="", **{
        "param-crossover-fast_period-from": "9", "param-crossover-fast_period-to": "3"}))
    assert bad.status_code == 400 and "Bad range for fast_period." in bad.content.decode()
    assert not BacktestSweep.objects.exists()


def test_an_offline_platform_never_downloads_from_a_real_venue(alice_client, market, settings,
                                                               django_capture_on_commit_callbacks):
    settings.MARKET_DATA_SOURCE = "simulator"
    Exchange.objects.filter(code="binance").update(rest_url="")
    with django_capture_on_commit_callbacks(execute=True):
        alice_client.post("/market/history/download/", {"market": market.pk, "timeframe": "1m",
                                                        "since": "2026-01-01 00:00", "until": "2026-01-01 01:00"})
    download = HistoryDownload.objects.get()
    assert download.status == "failed" and "market data comes from the simulator" in download.error
    assert "market data comes from the simulator" in alice_client.get("/market/history/").content.decode()


def test_the_admin_lists_stored_history_and_starts_a_download(admin_client, market,
                                                              django_capture_on_commit_callbacks):
    Candle.objects.filter(open_time=datetime(2026, 1, 1, 1, tzinfo=UTC)).delete()
    listing = admin_client.get("/admin/marketdata/historydownload/").content.decode()
    assert 'id="stored-history"' in listing
    assert "BTC/USDT" in listing and "2026-01-01 00:00" in listing and "<td>3999</td><td>1</td>" in listing
    with SimulatorThread(seed=6, venues=("binance",)) as sim:
        Exchange.objects.filter(code="binance").update(rest_url=sim.urls["binance"].rest)
        since = (datetime.now(UTC) - timedelta(hours=2)).replace(second=0, microsecond=0)
        with django_capture_on_commit_callbacks(execute=True):
            response = admin_client.post("/admin/marketdata/historydownload/add/", {
                "market": market.pk, "timeframe": "1m", "since_0": since.strftime("%Y-%m-%d"),
                "since_1": since.strftime("%H:%M:%S"), "until_0": "", "until_1": ""})
    assert response.status_code == 302, response.content.decode()[-2000:]
    download = HistoryDownload.objects.get()
    assert download.status == "done" and download.stored >= 119 and download.requested_by.is_staff
    assert f"/admin/marketdata/historydownload/{download.pk}/change/" in admin_client.get(
        "/admin/marketdata/historydownload/").content.decode()
