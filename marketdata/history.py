"""Stored candle history: the writers (download from a venue, import a CSV) and the readers (stream
bars for a backtest, what is stored with its gaps). The only code that writes ``Candle`` rows."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, TextIO

from django.db import OperationalError, connection, transaction
from django.db.models import Count, Max, Min, Q

from botplatform import heartbeat
from botplatform.celery import enqueue_on_commit
from botplatform.heartbeat import STALE_AFTER

from .events import publish_history
from .exchanges.base import Endpoint
from .exchanges.registry import get_adapter
from .klines import INTERVAL_MS, CandleRow, CsvStats, gaps, interval_ms, pages, read_csv
from .models import Candle, HistoryDownload, Market

log = logging.getLogger(__name__)
BATCH = 5_000
# exchange code -> REST base of the venue this process's engine serves (its simulator's, under the
# single-process ``run``): a download started from the portal asks the same venue the bots trade on.
SERVED_REST: dict[str, str] = {}
Progress = Callable[[int, int], None]  # (done ms, total ms) of the range


def ms(dt: datetime) -> int:
    return int(dt.timestamp() * 1000)


def from_ms(value: int) -> datetime:
    return datetime.fromtimestamp(value / 1000, tz=UTC)


@dataclass
class HistoryReport:
    """What a download or import did, and the holes left in the range."""

    market: str
    timeframe: str
    stored: int = 0
    skipped: int = 0
    first: datetime | None = None
    last: datetime | None = None
    gaps: list[tuple[datetime, datetime]] = field(default_factory=list)
    note: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {"market": self.market, "timeframe": self.timeframe, "stored": self.stored, "skipped": self.skipped,
                "first": self.first and self.first.isoformat(), "last": self.last and self.last.isoformat(),
                "gaps": [(a.isoformat(), b.isoformat()) for a, b in self.gaps], "note": self.note}


def find_market(exchange: str, symbol: str) -> Market:
    """The market by venue code and unified symbol (``Market.DoesNotExist`` otherwise)."""
    return Market.objects.select_related("exchange").get(exchange__code=exchange, symbol=symbol.upper())


def store_rows(market: Market, timeframe: str, rows: Iterable[CandleRow]) -> int:
    """Insert candles, keeping the ones already stored (unique per market, timeframe, open time)."""
    objs = [Candle(market=market, timeframe=timeframe, open_time=from_ms(t), open=o, high=h, low=low, close=c,
                   volume=v) for t, o, h, low, c, v in rows]
    if not objs:
        return 0
    # Counted over the batch's own time range (the unique index serves it), not the whole series.
    span = Candle.objects.series(market, timeframe).filter(
        open_time__gte=min(o.open_time for o in objs), open_time__lte=max(o.open_time for o in objs))
    before = span.count()

    def insert() -> None:
        with transaction.atomic():
            for i in range(0, len(objs), BATCH):
                Candle.objects.bulk_create(objs[i:i + BATCH], ignore_conflicts=True)

    _retry_locked(insert)
    return span.count() - before


def fetch_history(market: Market, timeframe: str, since: datetime, until: datetime | None = None, *,
                  rest_url: str = "", progress: Progress | None = None) -> HistoryReport:
    """Download ``[since, until)`` from the venue's public candles (paged, paced, resumable: it starts
    after the newest candle already stored in the range) and report the gaps left."""
    step = interval_ms(timeframe)
    end = ms(until or datetime.now(UTC))
    start = ms(since)
    newest = Candle.objects.series(market, timeframe).filter(
        open_time__gte=since, open_time__lt=from_ms(end)).order_by("-open_time").values_list("open_time", flat=True)
    if newest:
        start = max(start, ms(newest[0]) + step)
    report = HistoryReport(str(market), timeframe)
    adapter = get_adapter(market.exchange.protocol)
    url = rest_url or market.exchange.rest_url or adapter.default_endpoint.rest
    client = adapter.rest_client(Endpoint(ws="", rest=url))
    if not getattr(client, "candle_history", True):
        report.note = f"{market.exchange.code} serves only its latest {client.candle_page} candles"
        # Asking for older pages would get those same latest candles again, a paced request each.
        start = max(start, end - client.candle_page * step)

    if start < end:
        # The pages are fetched on an event loop and written here, in the caller's thread and transaction.
        loop = asyncio.new_event_loop()
        walk = pages(client, market.symbol, timeframe, start, end)
        try:
            while True:
                try:
                    covered, rows = loop.run_until_complete(walk.__anext__())
                except StopAsyncIteration:
                    break
                report.stored += store_rows(market, timeframe, rows)
                if progress is not None:
                    progress(min(covered, end) - ms(since), end - ms(since))
        finally:
            loop.run_until_complete(walk.aclose())
            loop.run_until_complete(client.close())
            loop.close()
    return describe_range(market, timeframe, since, from_ms(end), report)


def import_csv(market: Market, timeframe: str, stream: TextIO) -> HistoryReport:
    """Load ``timestamp_ms,open,high,low,close,volume`` rows (malformed rows are counted and skipped)."""
    stats = CsvStats()
    report = HistoryReport(str(market), timeframe)
    batch: list[CandleRow] = []
    for row in read_csv(stream, stats):
        batch.append(row)
        if len(batch) >= BATCH:
            report.stored += store_rows(market, timeframe, batch)
            batch = []
    report.stored += store_rows(market, timeframe, batch)
    report.skipped = stats.skipped
    return describe_range(market, timeframe, None, None, report)


def describe_range(market: Market, timeframe: str, since: datetime | None, until: datetime | None,
                   report: HistoryReport | None = None) -> HistoryReport:
    """First, last and the gaps of what is stored (within ``[since, until)`` when given)."""
    report = report or HistoryReport(str(market), timeframe)
    qs = Candle.objects.series(market, timeframe)
    if since is not None:
        qs = qs.filter(open_time__gte=since)
    if until is not None:
        qs = qs.filter(open_time__lt=until)
    times = (ms(t) for t in qs.order_by("open_time").values_list("open_time", flat=True).iterator(chunk_size=BATCH))
    first = last = None
    step = interval_ms(timeframe)
    found: list[tuple[int, int]] = []

    def tracked() -> Iterator[int]:
        nonlocal first, last
        for t in times:
            if first is None:
                first = t
            last = t
            yield t

    found = gaps(tracked(), step)
    report.first = from_ms(first) if first is not None else None
    report.last = from_ms(last) if last is not None else None
    report.gaps = [(from_ms(a), from_ms(b)) for a, b in found]
    return report


def stored_series(market: Market) -> list[HistoryReport]:
    """Every stored timeframe of a market with its range and gaps (the portal's and admin's view)."""
    timeframes = Candle.objects.filter(market=market).values_list("timeframe", flat=True).distinct()
    return [describe_range(market, tf, None, None) for tf in sorted(set(timeframes))]


def candle_bars(market: Market, timeframe: str, since: datetime | None = None,
                until: datetime | None = None) -> Iterator[CandleRow]:
    """Stored candles as backtest bars, oldest first, streamed from the database a page of ``BATCH`` at a
    time. Each page is its own query, read whole (keyset paging on the open time), so no read stays open
    while the run writes its progress: on SQLite a write from a connection whose read began before
    another connection's commit fails at once with "database is locked" (no busy wait helps)."""
    qs = Candle.objects.series(market, timeframe)
    if until is not None:
        qs = qs.filter(open_time__lt=until)
    columns = ("open_time", "open", "high", "low", "close", "volume")
    after = None
    while True:
        page = qs.filter(open_time__gte=since) if after is None and since is not None else (
            qs.filter(open_time__gt=after) if after is not None else qs)
        rows = list(page.order_by("open_time").values_list(*columns)[:BATCH])
        for t, o, h, low, c, v in rows:
            yield ms(t), o, h, low, c, v
        if len(rows) < BATCH:
            return
        after = rows[-1][0]


def request_download(user: Any, market: Market, timeframe: str, since: datetime,
                     until: datetime | None = None) -> HistoryDownload:
    """A pending download, started on commit as the ``marketdata.fetch_history`` task."""
    interval_ms(timeframe)  # ValueError for a timeframe we do not store
    download = HistoryDownload.objects.create(
        market=market, timeframe=timeframe, since=since, until=until,
        requested_by=user if getattr(user, "is_authenticated", False) else None)
    enqueue_on_commit("marketdata.fetch_history", download.pk)
    return download


def parse_utc(text: str) -> datetime:
    """An ISO date or date-time (``2026-01-01``, ``2026-01-01T12:00``), UTC when it has no offset."""
    value = datetime.fromisoformat(text)
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def download_rest(market: Market) -> str:
    """Where a portal download asks: the venue this process serves, the exchange's own override, or,
    with live market data only, the venue's public REST; an offline platform never calls a real venue."""
    from django.conf import settings

    url = SERVED_REST.get(market.exchange.code) or market.exchange.rest_url
    if not url and settings.MARKET_DATA_SOURCE != "live":
        raise RuntimeError(f"no {market.exchange.code} endpoint here: market data comes from the simulator, "
                           "so set the exchange's REST URL or run with live market data")
    return url


def _retry_locked(write: Callable[[], Any], *, tries: int = 9) -> Any:
    """Run a write, retried with backoff while SQLite says the database is locked (the engine's writer
    shares the file under ``run``; its own writes retry the same way). Inside an outer transaction a
    failed statement spoils it, so there it is not retried."""
    for attempt in range(tries):
        try:
            return write()
        except OperationalError as exc:
            if attempt == tries - 1 or "locked" not in str(exc) or connection.in_atomic_block:
                raise
            time.sleep(min(0.05 * 2**attempt, 3.0))
    raise AssertionError("unreachable")


def reap_stale(older_than: timedelta = STALE_AFTER) -> int:
    """Mark failed, with the reason, every running download whose heartbeat stopped: its worker died
    or the platform stopped half-way. What it stored stays; downloading the range again resumes it."""
    reaped = heartbeat.reap(
        HistoryDownload.objects.filter(status=HistoryDownload.Status.RUNNING).select_related("market__exchange"),
        lambda beat: f"stopped without finishing: no progress since {beat:%Y-%m-%d %H:%M:%S} UTC (its worker or "
                     "the platform stopped). The candles it stored are kept; download the range again to resume.",
        older_than, HistoryDownload.Status.FAILED)
    for download in reaped:
        publish_history(download)
    return len(reaped)


def _claim(download_id: int) -> bool:
    """Take a pending download, or a running one whose heartbeat stopped (Celery redelivers the task of
    a lost worker: it resumes the download rather than leave it running for ever)."""
    now = datetime.now(UTC)
    takeable = Q(status=HistoryDownload.Status.PENDING) | (
        Q(status=HistoryDownload.Status.RUNNING) & heartbeat.stale(now - STALE_AFTER))
    return bool(_retry_locked(lambda: HistoryDownload.objects.filter(takeable, pk=download_id).update(
        status=HistoryDownload.Status.RUNNING, heartbeat_at=now, error="", finished_at=None)))


def run_download(download_id: int, rest_url: str = "") -> str:
    """Run a pending download (the Celery task's body): idempotent, progress saved and pushed, and it
    always ends done or failed with the reason (the final write outlasts a locked database)."""
    claimed = _claim(download_id)
    download = HistoryDownload.objects.select_related("market__exchange").filter(pk=download_id).first()
    if download is None or not claimed:
        return download.status if download else "gone"
    publish_history(download)
    last = [0.0]

    def progress(done: int, total: int) -> None:
        now = time.monotonic()
        if now - last[0] >= 0.5 or done >= total:
            last[0] = now
            download.progress = done / total if total else 1.0
            try:  # best effort: a locked database delays the bar, never fails the download
                HistoryDownload.objects.filter(pk=download.pk).update(
                    progress=download.progress, heartbeat_at=datetime.now(UTC))
            except OperationalError:
                log.info("history download %s: progress not saved (database busy)", download.pk)
            publish_history(download)

    try:
        rest_url = rest_url or download_rest(download.market)
        report = fetch_history(download.market, download.timeframe, download.since, download.until,
                               rest_url=rest_url, progress=progress)
    except BaseException as exc:  # the venue refused or went away: visible on the page, retried by hand
        download.status, download.error = HistoryDownload.Status.FAILED, f"{type(exc).__name__}: {exc}"[:2000]
        if not isinstance(exc, Exception):  # stopped (Ctrl-C, the task's time limit): say so, then stop
            _finish(download)
            raise
    else:
        download.status, download.stored, download.gaps = HistoryDownload.Status.DONE, report.stored, len(report.gaps)
        download.progress, download.error = 1.0, ""
    _finish(download)
    return download.status


def _finish(download: HistoryDownload) -> None:
    """The final status, saved through a locked database; if even that fails, the heartbeat stops and
    ``reap_stale`` shows the download failed: it is never left running."""
    download.finished_at = datetime.now(UTC)
    try:
        _retry_locked(lambda: download.save(update_fields=[
            "status", "error", "stored", "gaps", "progress", "finished_at"]))
    except Exception:
        log.exception("history download %s: its final status (%s) was not saved", download.pk, download.status)
        return
    publish_history(download)


def history_overview() -> list[dict[str, Any]]:
    """Per stored (market, timeframe): first and last candle, count and how many are missing between."""
    rows = Candle.objects.values("market", "timeframe").annotate(
        n=Count("id"), first=Min("open_time"), last=Max("open_time")).order_by("market", "timeframe")
    markets = Market.objects.select_related("exchange").in_bulk({r["market"] for r in rows})
    out = []
    for r in rows:
        step = INTERVAL_MS.get(r["timeframe"])
        expected = (ms(r["last"]) - ms(r["first"])) // step + 1 if step else r["n"]
        out.append({"market": markets[r["market"]], "timeframe": r["timeframe"], "count": r["n"],
                    "first": r["first"], "last": r["last"], "missing": max(0, expected - r["n"])})
    return out
