"""What the three venues' signed clients share: a ccxt async client pointed at an endpoint, and one
call wrapper that counts requests and turns every exception into our three answers.

ccxt signs the requests, honours the venue's request weights (``enableRateLimit``) and maps the
venue's error codes to its exception classes. Each venue module calls the raw signed endpoints (not
ccxt's unified methods), so every amount stays a ``Decimal`` parsed from the venue's strings and no
``load_markets`` round trip is needed; the paths are the ones ccxt's unified methods call.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from ccxt.base.errors import BaseError

from marketdata.exchanges.base import ZERO, Credentials, OrderAbsent, OrderRefused, VenueUnavailable

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

    def __init__(self, exchange: Any) -> None:
        self.exchange = exchange
        self.requests = 0

    def expect(self, client_order_ids: Any) -> None:
        """Our ids travel verbatim on this venue: nothing to remember."""

    async def call(self, method: str, params: dict[str, Any], *, op: str = "read") -> Any:
        """One signed request. ``op`` is what it is for ("place", "cancel", "lookup", "read"), so the
        venue's classifier can tell a definite answer from an unavailable one."""
        self.requests += 1
        try:
            return await getattr(self.exchange, method)(params)
        except (TimeoutError, BaseError, OSError) as exc:
            mapped = type(self).classify(exc, op)
            if mapped is not None:
                raise mapped from exc
            raise VenueUnavailable(f"{type(exc).__name__}: {exc}"[:500]) from exc

    async def close(self) -> None:
        """Close the HTTP session."""
        await self.exchange.close()


def refusal(exc: BaseException) -> OrderRefused:
    """The venue's stated reason, trimmed for a row."""
    return OrderRefused(str(exc)[:500])


def absent(exc: BaseException) -> OrderAbsent:
    return OrderAbsent(str(exc)[:500])
