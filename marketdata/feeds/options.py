"""Connection tuning and connection events.

Defaults: the SEED's connect timeout 30 s, ping 30 s, pong timeout 10 s and backoff 1 s doubling to
30 s with 10 % jitter, but unlimited attempts (``max_attempts=None``); the reasons are in
``connection.py``'s docstring.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any, Literal

State = Literal["idle", "connecting", "connected", "reconnecting", "failed", "closed"]
FeedEventKind = Literal[
    "connected", "disconnected", "reconnecting", "stale", "resyncing", "resynced", "failed",
    "fallback_started", "fallback_stopped",
]  # fmt: skip


@dataclass(frozen=True, slots=True)
class Backoff:
    """Exponential backoff with jitter; ``max_attempts=None`` retries forever."""

    initial: float = 1.0
    max: float = 30.0
    multiplier: float = 2.0
    jitter: float = 0.1
    max_attempts: int | None = None

    def delay(self, attempt: int, rng: random.Random | None = None) -> float:
        """Seconds to wait before retry number ``attempt`` (1-based), within ±jitter and never above max."""
        base = min(self.max, self.initial * self.multiplier ** max(0, attempt - 1))
        spread = base * self.jitter
        return min(self.max, max(0.0, base + (rng or random).uniform(-spread, spread)))


@dataclass(frozen=True, slots=True)
class ConnectionSettings:
    """Per-venue connection tuning; see the module docstring for the reasoning behind the defaults."""

    connect_timeout: float = 30.0
    ping_interval: float = 30.0
    pong_timeout: float = 10.0
    stale_after: float = 60.0
    healthy_after: float = 2.0
    immediate_first_retry: bool = True
    backoff: Backoff = field(default_factory=Backoff)
    snapshot_retry: float = 1.0  # seconds between failed REST depth snapshot attempts


@dataclass(frozen=True, slots=True)
class FeedEvent:
    """A connection-level event for ``MarketDataManager.add_event_listener`` callbacks."""

    kind: FeedEventKind
    exchange: str
    detail: dict[str, Any]
    time_ns: int
