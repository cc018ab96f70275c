"""REST fallback: while a venue's socket is down, poll its public ticker endpoint at a bounded rate.

It starts only after the socket has been down ``start_after`` seconds (a quick reconnect should not
fire REST calls) and stops as soon as the socket is back. Requests are spaced so one venue never sees
more than ``max_requests_per_second`` from us, whatever the number of symbols; each symbol is polled
at most every ``interval`` seconds.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from marketdata.exchanges.base import RestClient
from marketdata.feeds.types import Ticker

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class FallbackSettings:
    """When and how fast to poll tickers over REST while a socket is down."""

    enabled: bool = True
    start_after: float = 3.0
    interval: float = 2.0
    max_requests_per_second: float = 2.0
    request_timeout: float = 5.0


class TickerFallback:
    """Polls tickers of one venue; ``symbols`` is read each round so it follows subscriptions."""

    def __init__(
        self,
        rest: RestClient,
        symbols: Callable[[], list[str]],
        deliver: Callable[[Ticker], None],
        is_up: Callable[[], bool],
        settings: FallbackSettings,
        on_active: Callable[[bool], None] | None = None,
    ) -> None:
        self.on_active = on_active
        self.rest = rest
        self.symbols = symbols
        self.deliver = deliver
        self.is_up = is_up
        self.settings = settings
        self.polls = 0
        self.errors = 0
        self.last_error = ""
        self.active = False

    async def run(self) -> None:
        """Wait ``start_after``, then poll until the socket is up again."""
        settings = self.settings
        await asyncio.sleep(settings.start_after)
        if self.is_up():
            return
        self._set_active(True)
        spacing = 1.0 / settings.max_requests_per_second
        try:
            while not self.is_up():
                round_started = time.monotonic()
                for symbol in self.symbols():
                    if self.is_up():
                        return
                    try:
                        ticker = await asyncio.wait_for(self.rest.fetch_ticker(symbol), settings.request_timeout)
                    except asyncio.CancelledError:
                        raise
                    except Exception as exc:  # the venue may be down too; keep trying, bounded
                        self.errors += 1
                        self.last_error = repr(exc)[:200]
                        log.debug("ticker fallback %s failed: %r", symbol, exc)
                    else:
                        self.polls += 1
                        if not self.is_up():  # the socket may have recovered during the request
                            self.deliver(ticker)
                    await asyncio.sleep(spacing)
                rest_of_round = settings.interval - (time.monotonic() - round_started)
                await asyncio.sleep(max(rest_of_round, spacing))
        finally:
            self._set_active(False)

    def _set_active(self, active: bool) -> None:
        self.active = active
        if self.on_active is not None:
            self.on_active(active)
