"""What the three venues' signed clients share: a ccxt async client pointed at an endpoint, and one
call wrapper that counts requests and turns every exception into our three answers.

ccxt signs the requests, honours the venue's request weights (``enableRateLimit``) and maps the
venue's error codes to its exception classes. Each venue module calls the raw signed endpoints (not
ccxt's unified methods), so every amount stays a ``Decimal`` parsed from the venue's strings and no
``load_markets`` round trip is needed; the paths are the ones ccxt's unified methods call.

Rate limits: ccxt spaces the requests by the venue's weights; its bucket is credited for the time the
client was idle (``CcxtTrading._credit_idle``), as the venue's own counter is. After a 429/418 every
request of the account waits the venue's ``Retry-After`` (or an
exponential backoff when it gives none). A rate-limited order entry was not processed, so it is sent
again unchanged, with the same client order id. Other requests answer ``VenueUnavailable`` at once,
and their callers (poller, reconciliation) try again later.

Clock: a venue that checks timestamps refuses a request signed on a skewed local clock: Binance with
-1021 (``InvalidNonce``), Coinbase with a bare 401 for a JWT outside its ``nbf``/``exp`` window. The
client then takes the venue's server time (ccxt's ``load_time_difference``) and signs the request
again on it, once (``clock_sync``; on Coinbase only when the venue's time is off ours, else the 401
is a real authentication failure). Kraken needs no clock, only nonces that increase per key
(``KrakenTrading`` keeps them increasing when the local clock steps back, and retries a refused nonce
once). If that fails too, it says so: an order entry is refused with a "Clock skew" (or Kraken's
nonce) reason, anything else is unavailable: never left unknown, never sent twice (a request refused
for its timestamp or nonce was not processed).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from ccxt.base import errors as ccxt_errors
from ccxt.base.errors import AuthenticationError, BaseError, DDoSProtection, InvalidNonce, RateLimitExceeded

from marketdata.exchanges.base import ZERO, Credentials, OrderAbsent, OrderRefused, VenueUnavailable

log = logging.getLogger(__name__)
PLACE_RETRIES = 4  # resends of a rate-limited order entry (it was not processed: same client order id)
BACKOFF_FIRST, BACKOFF_MAX = 0.5, 10.0  # seconds, when the venue gives no Retry-After

# A venue's classifier: the exception ccxt raised -> OrderAbsent / OrderRefused / None (unavailable).
Classifier = Callable[[BaseException, str], Exception | None]


def make_ccxt(venue: str, credentials: Credentials, timeout: float, urls: dict[str, str],
              options: dict[str, Any] | None = None, burst: float | None = None) -> Any:
    """ccxt's async client of ``venue`` with ``urls`` merged over its API URLs. ``burst``: the request
    cost (in ccxt's units) the venue lets a key spend at once before its decay rate applies."""
    import ccxt.async_support as ccxt_async

    config: dict[str, Any] = {
        "apiKey": credentials.api_key, "secret": credentials.secret, "password": credentials.passphrase or None,
        "enableRateLimit": True, "timeout": int(timeout * 1000), "options": options or {},
    }
    if burst is not None:
        config["tokenBucket"] = {"capacity": burst, "tokens": burst}
    client = getattr(ccxt_async, venue)(config)
    client.urls["api"].update(urls)
    return client


def dec(value: Any) -> Decimal:
    """A Decimal from a venue's number string; empty or missing is zero (never through float)."""
    if value in (None, ""):
        return ZERO
    try:
        d = Decimal(value if isinstance(value, str | int) else str(value))
    except InvalidOperation as exc:
        raise VenueUnavailable(f"bad number {value!r}") from exc
    if not d.is_finite():
        raise VenueUnavailable(f"non-finite number {value!r}")
    return d


def ms_time(value: Any) -> datetime | None:
    """Epoch milliseconds -> aware UTC."""
    return datetime.fromtimestamp(int(value) / 1000, tz=UTC) if value not in (None, "", 0) else None


def iso_time(value: Any) -> datetime | None:
    """ISO-8601 -> aware UTC (Coinbase's 'Z' times)."""
    if not value:
        return None
    dt = datetime.fromisoformat(str(value))
    return dt if dt.tzinfo else dt.replace(tzinfo=UTC)


class CcxtTrading:
    """The shared part of each venue's ``TradingClient``: the client, the counter, the error mapping."""

    classify: Classifier
    limit_per_key = False  # the venue's request limits count per API key (else per IP address)

    clock_sync = False  # the venue refuses timestamps off its clock and serves its time (Binance, Coinbase)
    time_params: dict[str, Any] = {}  # how ccxt's ``fetch_time`` reads this venue's server time

    def __init__(self, exchange: Any) -> None:
        self.exchange = exchange
        self.requests = 0
        self.rate_limited = 0
        self.time_offset_ms = 0  # local minus venue milliseconds, once taken from the venue
        self._quiet_until = 0.0  # loop time before which no request is sent (a 429's backoff)
        self._backoffs = 0  # consecutive rate limits, for the backoff without Retry-After
        self._idle_since: float | None = None  # loop time the last request ended (see ``_credit_idle``)

    def expect(self, client_order_ids: Any) -> None:
        """Our ids travel verbatim on this venue: nothing to remember."""

    async def call(self, method: str, params: dict[str, Any], *, op: str = "read") -> Any:
        """One signed request. ``op`` is what it is for ("place", "cancel", "lookup", "read"), so the
        venue's classifier can tell a definite answer from an unavailable one."""
        loop = asyncio.get_running_loop()
        resynced = False
        attempt = 0
        while True:
            wait = self._quiet_until - loop.time()
            if wait > 0:
                await asyncio.sleep(wait)
            self.requests += 1
            self._credit_idle(loop)
            try:
                result = await getattr(self.exchange, method)(params)
                self._backoffs = 0
                return result
            except (DDoSProtection, RateLimitExceeded) as exc:
                self._rate_limited(loop, exc)
                if op == "place" and attempt < PLACE_RETRIES:
                    attempt += 1
                    continue
                raise VenueUnavailable(f"rate limited: {type(exc).__name__}: {exc}"[:500]) from exc
            except InvalidNonce as exc:
                if not resynced and await self.refused_nonce():
                    resynced = True
                    continue
                reason = self.nonce_reason(exc)[:500]
                raise (OrderRefused(reason) if op == "place" else VenueUnavailable(reason)) from exc
            except AuthenticationError as exc:
                if not resynced and await self.unauthorized():  # a token outside the venue's time window
                    resynced = True
                    continue
                mapped = type(self).classify(exc, op)
                if mapped is not None:
                    raise mapped from exc
                raise VenueUnavailable(f"{type(exc).__name__}: {exc}"[:500]) from exc
            except (TimeoutError, BaseError, OSError) as exc:
                mapped = type(self).classify(exc, op)
                if mapped is not None:
                    raise mapped from exc
                raise VenueUnavailable(f"{type(exc).__name__}: {exc}"[:500]) from exc
            finally:
                self._idle_since = loop.time()

    def _credit_idle(self, loop: asyncio.AbstractEventLoop) -> None:
        """Give ccxt's leaky bucket the time since our last request ended. It refills only while a
        request waits in debt, never while idle, so after its first burst every request paid the last
        one's cost in full however long ago that was (on Kraken, 3 s a query and 6 s a trades page:
        an exit after an entry waited past the engine's send timeout). A venue's counter decays all
        the time; crediting idle time up to the burst is what it allows."""
        throttler = getattr(self.exchange, "throttler", None)
        if throttler is None or self._idle_since is None or throttler.running:
            return  # no request yet, or one waiting: the bucket's own loop is counting
        config = throttler.config
        if config.get("algorithm", "leakyBucket") != "leakyBucket":
            return
        idle_ms = (loop.time() - self._idle_since) * 1000
        config["tokens"] = min(config["tokens"] + idle_ms * config["refillRate"], config["capacity"])

    def _rate_limited(self, loop: asyncio.AbstractEventLoop, exc: BaseException) -> None:
        self.rate_limited += 1
        delay = self._retry_after() or min(BACKOFF_FIRST * 2**self._backoffs, BACKOFF_MAX)
        self._backoffs += 1
        self._quiet_until = max(self._quiet_until, loop.time() + delay)
        log.warning("rate limited by the venue (%s); backing off %.1f s", type(exc).__name__, delay)

    def _retry_after(self) -> float | None:
        headers = getattr(self.exchange, "last_response_headers", None) or {}
        value = next((v for k, v in headers.items() if str(k).lower() == "retry-after"), None)
        try:
            return min(max(float(value), 0.0), BACKOFF_MAX) if value is not None else None
        except (TypeError, ValueError):
            return None

    async def refused_nonce(self) -> bool:
        """The venue refused the request's timestamp or nonce (not processed): True to sign it again."""
        return self.clock_sync and await self.sync_time()

    def nonce_reason(self, exc: BaseException) -> str:
        """Why a request refused for its timestamp or nonce failed again (the order's reason)."""
        return (f"Clock skew: the venue refuses our timestamps ({exc}); local clock off the venue's by "
                f"{self.time_offset_ms / 1000:+.1f} s")

    async def unauthorized(self) -> bool:
        """An authentication failure: True to sign again (a venue whose tokens carry a validity window
        answers a skewed one as unauthenticated; default: a real failure)."""
        return False

    async def sync_time(self) -> bool:
        """Take the venue's server time: ccxt then signs with local time minus the offset (the venue's
        own advice for a skewed clock). False when the venue's time cannot be read."""
        try:
            await self.exchange.load_time_difference(dict(self.time_params))
        except Exception as exc:
            log.warning("could not read the venue's time: %r", exc)
            return False
        offset = int(self.exchange.options.get("timeDifference") or 0)
        if abs(offset - self.time_offset_ms) > 1000:
            log.warning("local clock is %+.1f s off the venue's; signing on the venue's time", offset / 1000)
        self.time_offset_ms = offset
        return True

    async def close(self) -> None:
        """Close the HTTP session."""
        await self.exchange.close()


def refusal(exc: BaseException) -> OrderRefused:
    """The venue's stated reason, trimmed for a row."""
    return OrderRefused(str(exc)[:500])


# ccxt's exceptions that, raised by a place, mean the venue read the order and said no (a stated reason).
REFUSALS = (ccxt_errors.InsufficientFunds, ccxt_errors.InvalidOrder, ccxt_errors.BadRequest, ccxt_errors.BadSymbol,
            ccxt_errors.AuthenticationError, ccxt_errors.PermissionDenied)


def place_refusal(exc: BaseException, op: str) -> OrderRefused | None:
    """A place the venue refused with a reason, as ``OrderRefused``; None for anything else (a network
    error or a "not found" is never a refusal: the order may have been placed)."""
    maybe_placed = ccxt_errors.NetworkError | ccxt_errors.OrderNotFound
    if op == "place" and isinstance(exc, REFUSALS) and not isinstance(exc, maybe_placed):
        return refusal(exc)
    return None


def absent(exc: BaseException) -> OrderAbsent:
    return OrderAbsent(str(exc)[:500])
