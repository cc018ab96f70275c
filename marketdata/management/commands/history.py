"""``history fetch`` downloads candles from a venue's public REST; ``history import`` loads a CSV."""

from __future__ import annotations

import sys
import time
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from marketdata.history import HistoryReport, fetch_history, find_market, import_csv, parse_utc
from marketdata.models import Market


class ProgressBar:
    """A one-line terminal progress bar on stderr (redrawn at most ten times a second)."""

    def __init__(self, stream: Any = None, width: int = 30) -> None:
        self.stream, self.width, self._last = stream or sys.stderr, width, 0.0

    def __call__(self, done: int, total: int) -> None:
        now = time.monotonic()
        if now - self._last < 0.1 and done < total:
            return
        self._last = now
        share = done / total if total else 1.0
        filled = int(share * self.width)
        self.stream.write(f"\r[{'#' * filled}{'.' * (self.width - filled)}] {share:6.1%}")
        if done >= total:
            self.stream.write("\n")
        self.stream.flush()


class Command(BaseCommand):
    help = "Download candle history from a venue (fetch) or load it from a CSV file (import)."

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        fetch = sub.add_parser("fetch", help="download from the venue's public candles endpoint")
        imp = sub.add_parser("import", help="load timestamp_ms,open,high,low,close,volume rows")
        imp.add_argument("file")
        for p in (fetch, imp):
            p.add_argument("--exchange", default="binance")
            p.add_argument("--symbol", default="BTC/USDT")
            p.add_argument("--timeframe", default="1m")
        fetch.add_argument("--since", required=True, type=parse_utc)
        fetch.add_argument("--until", type=parse_utc)
        fetch.add_argument("--rest-url", default="", help="override the venue's REST base URL")

    def handle(self, *args: Any, **o: Any) -> None:
        try:
            market = find_market(o["exchange"], o["symbol"])
        except Market.DoesNotExist:
            raise CommandError(f"no market {o['symbol']} on {o['exchange']} (run load_catalogue)") from None
        try:
            if o["action"] == "fetch":
                report = fetch_history(market, o["timeframe"], o["since"], o["until"], rest_url=o["rest_url"],
                                       progress=ProgressBar(self.stderr._out))
            else:
                with open(o["file"], newline="") as stream:
                    report = import_csv(market, o["timeframe"], stream)
        except (ValueError, OSError) as exc:
            raise CommandError(str(exc)) from exc
        self.print_report(report)

    def print_report(self, r: HistoryReport) -> None:
        self.stdout.write(f"{r.market} {r.timeframe}: {r.stored} candles stored"
                          + (f", {r.skipped} malformed rows skipped" if r.skipped else ""))
        if r.first is not None:
            self.stdout.write(f"range {r.first:%Y-%m-%d %H:%M} .. {r.last:%Y-%m-%d %H:%M} UTC")
        self.stdout.write(f"gaps: {len(r.gaps)}")
        for a, b in r.gaps[:20]:
            self.stdout.write(f"  missing {a:%Y-%m-%d %H:%M} .. {b:%Y-%m-%d %H:%M}")
        if r.note:
            self.stdout.write(r.note)
