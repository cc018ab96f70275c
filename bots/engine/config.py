"""The engine's timings, shared by the engine and its order flow."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(slots=True)
class EngineConfig:
    """Timings (seconds)."""

    price_interval: float = 1.0  # per-bot throttle of price_update events
    heartbeat_interval: float = 5.0
    submit_timeout: float = 10.0  # no answer by then: the order is ``unknown`` until reconciled
    reconcile_interval: float = 5.0
    warmup_timeout: float = 5.0
    candles_from_trades: bool = True  # else candles are built from ticker prices (no volume)
    limits_interval: float = 1.0  # how often each owner's loss today across bots is added up
