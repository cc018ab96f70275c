"""Feed metrics: plain counters bumped on the hot path, summarised on demand.

The hot path only increments integers and, for one message in ``SAMPLE_EVERY``, stores a latency
sample in a fixed ring; rates, percentiles, health and the Prometheus view are computed when someone
asks (the portal, a scrape), never per tick.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

from prometheus_client.core import CollectorRegistry, CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

SAMPLE_EVERY = 8  # latency sampled on one message in 8: enough for p99 at feed rates, ~free per tick
RING = 2048


class LatencyRing:
    """The last ``RING`` latency samples in nanoseconds; percentiles on demand."""

    __slots__ = ("samples", "i", "count")

    def __init__(self) -> None:
        self.samples = [0] * RING
        self.i = 0
        self.count = 0

    def add(self, ns: int) -> None:
        """Record one sample."""
        self.samples[self.i] = ns
        self.i = (self.i + 1) % RING
        self.count += 1

    def percentiles_ms(self) -> dict[str, float | None]:
        """p50/p99/max of the retained samples, in milliseconds."""
        n = min(self.count, RING)
        if n == 0:
            return {"p50": None, "p99": None, "max": None}
        data = sorted(self.samples[:n])
        return {
            "p50": data[n // 2] / 1e6,
            "p99": data[min(n - 1, (n * 99) // 100)] / 1e6,
            "max": data[-1] / 1e6,
        }


class RouteStats:
    """Counters of one (exchange, channel, symbol) subscription."""

    __slots__ = ("messages", "last_ns", "listener_errors", "dispatch", "venue", "rate", "_seen", "_seen_ns")

    def __init__(self) -> None:
        self.messages = 0
        self.last_ns = 0
        self.listener_errors = 0
        self.dispatch = LatencyRing()  # receive -> all listeners returned
        self.venue = LatencyRing()  # exchange time -> receive
        self.rate = 0.0
        self._seen = 0
        self._seen_ns = time.monotonic_ns()

    def sample_rate(self, now_ns: int) -> None:
        """Update messages/s since the previous sample (called by the watchdog, about once a second)."""
        dt = now_ns - self._seen_ns
        if dt > 0:
            self.rate = (self.messages - self._seen) * 1e9 / dt
        self._seen, self._seen_ns = self.messages, now_ns

    def as_dict(self, now_wall_ns: int) -> dict[str, Any]:
        """Plain-dict view."""
        return {
            "messages": self.messages,
            "messages_per_s": round(self.rate, 2),
            "last_message_age_s": (now_wall_ns - self.last_ns) / 1e9 if self.last_ns else None,
            "listener_errors": self.listener_errors,
            "latency_exchange_to_receive_ms": self.venue.percentiles_ms(),
            "latency_receive_to_dispatch_ms": self.dispatch.percentiles_ms(),
        }


class ConnectionStats:
    """Counters of one socket (all its subscriptions)."""

    __slots__ = (
        "messages", "bytes", "parse_errors", "last_parse_error", "reconnects", "stale", "resyncs",
        "last_ns", "connected_since", "started", "up_total", "rate", "_seen", "_seen_ns", "fallback_ticks",
        "error_rate", "_errors_seen",
    )  # fmt: skip

    def __init__(self) -> None:
        self.messages = 0
        self.bytes = 0  # characters for text frames: venue JSON is ASCII
        self.parse_errors = 0
        self.last_parse_error = ""
        self.reconnects = 0
        self.stale = 0
        self.resyncs = 0
        self.last_ns = 0  # wall clock of the last frame
        self.connected_since: float | None = None  # monotonic seconds
        self.started = time.monotonic()
        self.up_total = 0.0  # seconds connected before the current connection
        self.rate = 0.0
        self._seen = 0
        self._seen_ns = time.monotonic_ns()
        self.fallback_ticks = 0
        self.error_rate = 0.0
        self._errors_seen = 0

    def sample_rate(self, now_ns: int) -> None:
        """Update messages/s and parse errors/s since the previous sample."""
        dt = now_ns - self._seen_ns
        if dt > 0:
            self.rate = (self.messages - self._seen) * 1e9 / dt
            self.error_rate = (self.parse_errors - self._errors_seen) * 1e9 / dt
        self._seen, self._seen_ns = self.messages, now_ns
        self._errors_seen = self.parse_errors

    def mark_up(self) -> None:
        """The socket is open."""
        self.connected_since = time.monotonic()

    def mark_down(self) -> None:
        """The socket closed."""
        if self.connected_since is not None:
            self.up_total += time.monotonic() - self.connected_since
            self.connected_since = None

    def uptime_s(self) -> float:
        """Seconds connected since the connection object started."""
        current = time.monotonic() - self.connected_since if self.connected_since is not None else 0.0
        return self.up_total + current

    def as_dict(self) -> dict[str, Any]:
        """Plain-dict view."""
        now_wall = time.time_ns()
        elapsed = max(time.monotonic() - self.started, 1e-9)
        return {
            "messages": self.messages,
            "bytes": self.bytes,
            "messages_per_s": round(self.rate, 2),
            "parse_errors": self.parse_errors,
            "parse_errors_per_s": round(self.error_rate, 2),
            "last_parse_error": self.last_parse_error,
            "reconnects": self.reconnects,
            "stale_detections": self.stale,
            "book_resyncs": self.resyncs,
            "fallback_ticks": self.fallback_ticks,
            "last_message_age_s": (now_wall - self.last_ns) / 1e9 if self.last_ns else None,
            "uptime_s": round(self.uptime_s(), 3),
            "uptime_ratio": round(self.uptime_s() / elapsed, 4),
        }


class FeedCollector(Collector):
    """Prometheus view of ``MarketDataManager.metrics()``, read at scrape time."""

    def __init__(self, source: Callable[[], dict[str, Any]]) -> None:
        self.source = source

    def collect(self) -> Iterator[Any]:
        """Metric families for every exchange and subscription."""
        data = self.source()
        counters = {
            "messages": CounterMetricFamily("marketdata_messages", "Frames received", labels=["exchange"]),
            "bytes": CounterMetricFamily("marketdata_bytes", "Frame bytes received", labels=["exchange"]),
            "parse_errors": CounterMetricFamily(
                "marketdata_parse_errors", "Frames counted and skipped", labels=["exchange"]
            ),
            "reconnects": CounterMetricFamily("marketdata_reconnects", "Reconnections", labels=["exchange"]),
        }
        rate = GaugeMetricFamily("marketdata_messages_per_second", "Recent frame rate", labels=["exchange"])
        age = GaugeMetricFamily("marketdata_last_message_age_seconds", "Age of last frame", labels=["exchange"])
        uptime = GaugeMetricFamily("marketdata_uptime_seconds", "Seconds connected", labels=["exchange"])
        health = GaugeMetricFamily(
            "marketdata_health", "0 down, 1 degraded, 2 healthy", labels=["exchange"]
        )
        sub_msgs = CounterMetricFamily(
            "marketdata_subscription_messages", "Events dispatched", labels=["exchange", "channel", "symbol"]
        )
        sub_p99 = GaugeMetricFamily(
            "marketdata_dispatch_latency_p99_seconds",
            "Receive to dispatch p99",
            labels=["exchange", "channel", "symbol"],
        )
        levels = {"down": 0, "degraded": 1, "healthy": 2}
        for exchange, ex in data.get("exchanges", {}).items():
            for key, family in counters.items():
                family.add_metric([exchange], ex[key])
            rate.add_metric([exchange], ex["messages_per_s"])
            if ex["last_message_age_s"] is not None:
                age.add_metric([exchange], ex["last_message_age_s"])
            uptime.add_metric([exchange], ex["uptime_s"])
            health.add_metric([exchange], levels[ex["health"]["status"]])
        for sub in data.get("subscriptions", []):
            labels = [sub["exchange"], sub["channel"], sub["symbol"]]
            sub_msgs.add_metric(labels, sub["messages"])
            p99 = sub["latency_receive_to_dispatch_ms"]["p99"]
            if p99 is not None:
                sub_p99.add_metric(labels, p99 / 1000)
        yield from counters.values()
        yield from (rate, age, uptime, health, sub_msgs, sub_p99)


def prometheus_registry(source: Callable[[], dict[str, Any]]) -> CollectorRegistry:
    """A private registry (never the global one) exposing the feed metrics."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(FeedCollector(source))
    return registry


def serve_metrics(registry: CollectorRegistry, port: int, host: str = "127.0.0.1") -> Callable[[], None]:
    """Expose ``registry`` for Prometheus to scrape at ``http://host:port/metrics`` from a daemon
    thread (off the event loop); returns a function that stops the server."""
    from prometheus_client import start_http_server

    server, thread = start_http_server(port, addr=host, registry=registry)

    def stop() -> None:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)

    return stop
