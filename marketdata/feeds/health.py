"""Health of one venue's feed: healthy | degraded | down, with the reason a person can act on."""

from __future__ import annotations

import time
from typing import Any

from marketdata.feeds.connection import Connection
from marketdata.feeds.fallback import TickerFallback

# A socket is "quiet" (degraded) when nothing arrived for this share of its stale timeout.
QUIET_SHARE = 0.5
# More skipped frames than this per second means the venue changed something we do not understand.
ERRORS_PER_S = 1.0


def exchange_health(conns: list[Connection], fallback: TickerFallback | None) -> dict[str, Any]:
    """{"status", "reason", "connections", "fallback"} for one venue."""
    if not conns:
        return {"status": "down", "reason": "no connection (nothing subscribed)", "connections": 0, "fallback": False}
    polling = bool(fallback and fallback.active)
    down = [c for c in conns if not c.is_connected]
    base = {"connections": len(conns), "fallback": polling}
    if len(down) == len(conns):
        reason = "; ".join(f"{c.name} {c.state}: {c.last_error or 'connecting'}" for c in down)
        if polling:
            reason += "; tickers served by REST polling"
        return {"status": "down", "reason": reason, **base}
    problems = [f"{c.name} {c.state}: {c.last_error}" for c in down]
    now = time.time_ns()
    for c in conns:
        if not c.is_connected:
            continue
        age = (now - c.stats.last_ns) / 1e9 if c.stats.last_ns else None
        if age is not None and age > c.settings.stale_after * QUIET_SHARE:
            problems.append(f"{c.name} quiet for {age:.1f} s")
        if c.stats.error_rate > ERRORS_PER_S:
            problems.append(f"{c.name} skipping {c.stats.error_rate:.1f} bad frames/s: {c.stats.last_parse_error}")
        session = c.session
        if session is not None and session.resyncing:
            problems.append(f"{c.name} resyncing books: {', '.join(sorted(session.resyncing))}")
    if problems:
        return {"status": "degraded", "reason": "; ".join(problems), **base}
    return {"status": "healthy", "reason": "", **base}
