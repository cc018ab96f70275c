"""Seeded mutations of recorded venue frames, and a harness that proves no bad frame escapes.

A parser's contract (``marketdata.exchanges.base``): a frame it cannot use raises ``ParseError``, which
the connection counts and skips. Any other exception would kill the connection's read loop, so the
harness treats it as a failure and keeps the frame that caused it.

Mutations, chosen at random from a seeded ``random.Random`` so a run is reproducible:
- JSON-aware: replace one leaf with a hostile value (wrong type, NaN, huge, negative, bad time),
  delete a key, duplicate a list element, swap two leaves, wrap the document in a list;
- byte-level: flip a byte, truncate, insert garbage, duplicate a slice, invalid UTF-8.
Valid frames (the original) are interleaved so book and sequence state is exercised too.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from marketdata.exchanges.base import ParseError
from marketdata.exchanges.registry import get_adapter

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "exchanges"

# Recorded frames per venue adapter (files under tests/fixtures/exchanges).
SAMPLES: dict[str, tuple[str, ...]] = {
    "binance": ("binance/book_ticker.jsonl", "binance/agg_trade.jsonl", "binance/kline_1m.jsonl",
                "binance/depth_diff_100ms.jsonl", "binance_testnet/trade.jsonl"),
    "coinbase": ("coinbase_advanced/l2_data.jsonl", "coinbase_advanced/market_trades.jsonl",
                 "coinbase_advanced/heartbeats.jsonl", "coinbase_advanced/subscriptions.jsonl"),
    "kraken": ("kraken_v2/book.jsonl", "kraken_v2/ticker.jsonl", "kraken_v2/status.jsonl",
               "kraken_v2/method_responses.jsonl", "kraken_v2/doc_examples.jsonl"),
}  # fmt: skip
# Binance's REST depth snapshot is the one REST body a session parses itself (apply_snapshot).
DEPTH_SNAPSHOTS = "binance/rest_depth_snapshot.jsonl"

HOSTILE: tuple[object, ...] = (
    None, "", "NaN", "nan", "Infinity", "-Infinity", "1e999", "-1e999", "1E-12", "abc", "0x10", "١٢٣",
    0, -1, 1.5, -0.0, 2**70, -(2**70), True, False, [], {}, [[]], {"": None}, "2026-13-45T99:99:99Z",
    "9" * 400, "\u0000", "\ud800".encode("utf-8", "surrogatepass").decode("utf-8", "replace"),
)  # fmt: skip


def recorded(venue: str, per_file: int = 200) -> list[str]:
    """Up to ``per_file`` recorded frames of each sample file of ``venue``."""
    frames: list[str] = []
    for relative in SAMPLES[venue]:
        text = (FIXTURES / relative).read_text()
        frames.extend([line for line in text.splitlines() if line.strip()][:per_file])
    return frames


def _leaves(doc: object) -> list[tuple[object, object]]:
    out: list[tuple[object, object]] = []
    stack: list[object] = [doc]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            for k, v in node.items():
                out.append((node, k))
                stack.append(v)
        elif isinstance(node, list):
            for i, v in enumerate(node):
                out.append((node, i))
                stack.append(v)
    return out


def _json_mutation(rng: random.Random, frame: str) -> str | None:
    try:
        doc = json.loads(frame)
    except ValueError:
        return None
    leaves = _leaves(doc)
    if not leaves:
        return json.dumps(rng.choice(HOSTILE))
    parent, key = rng.choice(leaves)
    op = rng.randrange(5)
    if op == 0 or op == 4:
        parent[key] = rng.choice(HOSTILE)
    elif op == 1:
        del parent[key]
    elif op == 2 and isinstance(parent, list):
        parent.insert(int(key), parent[int(key)])
    elif op == 3:
        other_parent, other_key = rng.choice(leaves)
        a, b = parent[key], other_parent[other_key]
        parent[key], other_parent[other_key] = b, a
    else:
        return json.dumps([doc])
    return json.dumps(doc)


def _byte_mutation(rng: random.Random, frame: str) -> bytes:
    data = bytearray(frame.encode())
    if not data:
        return bytes(rng.randbytes(8))
    op = rng.randrange(5)
    i = rng.randrange(len(data))
    if op == 0:
        data[i] ^= 1 << rng.randrange(8)
    elif op == 1:
        del data[i:]
    elif op == 2:
        data[i:i] = rng.randbytes(rng.randrange(1, 16))
    elif op == 3:
        j = min(len(data), i + rng.randrange(1, 64))
        data[i:i] = data[i:j]
    else:
        data[i:i] = b"\xff\xfe\xc3"  # invalid UTF-8
    return bytes(data)


def mutations(rng: random.Random, frames: list[str]) -> Iterator[tuple[bool, str | bytes]]:
    """An endless stream of (mutated?, frame): about two mutated frames for every valid one."""
    while True:
        original = rng.choice(frames)
        roll = rng.random()
        if roll < 0.34:
            yield False, original
        elif roll < 0.8:
            mutated = _json_mutation(rng, original)
            yield True, mutated if mutated is not None else _byte_mutation(rng, original)
        else:
            yield True, _byte_mutation(rng, original)


@dataclass
class FuzzResult:
    """What one venue's run saw: every frame is either parsed, or counted as a parse error."""

    venue: str
    frames: int = 0
    mutated: int = 0
    parse_errors: int = 0
    events: int = 0
    escaped: list[tuple[str, str]] = field(default_factory=list)  # (exception, frame) that escaped

    @property
    def ok(self) -> bool:
        return not self.escaped


def fuzz_venue(venue: str, count: int, seed: int = 2026, reset_every: int = 5_000) -> FuzzResult:
    """Feed ``count`` frames (valid and mutated) to a session of ``venue``; count what it refuses.

    A fresh session every ``reset_every`` frames keeps book state from growing without bound, the way a
    reconnect would. Binance sessions also get mutated REST depth snapshots (``apply_snapshot``).
    """
    rng = random.Random(f"{seed}:{venue}")
    adapter = get_adapter(venue)
    result = FuzzResult(venue)
    events: list[object] = []
    frames = recorded(venue)
    snapshots = recorded_snapshots() if venue == "binance" else []
    stream = mutations(rng, frames)
    session = adapter.new_session(events.append, [])
    for n in range(count):
        if n and n % reset_every == 0:
            session = adapter.new_session(events.append, [])
            result.events += len(events)
            events.clear()
        mutated, frame = next(stream)
        result.frames += 1
        result.mutated += mutated
        try:
            if snapshots and n % 97 == 0:
                payload = _json_mutation(rng, rng.choice(snapshots)) or "{}"
                session.apply_snapshot(_symbol_of(session), payload.encode(), n)
            else:
                session.feed(frame, n)
        except ParseError:
            result.parse_errors += 1
        except Exception as exc:  # the point: anything but ParseError is a finding
            if len(result.escaped) < 20:
                result.escaped.append((repr(exc), frame if isinstance(frame, str) else frame.decode("latin-1")))
            else:
                result.escaped.append(("", ""))
        session.take_actions()
    result.events += len(events)
    return result


def recorded_snapshots() -> list[str]:
    """Recorded Binance REST depth snapshot bodies."""
    text = (FIXTURES / DEPTH_SNAPSHOTS).read_text()
    return [line for line in text.splitlines() if line.strip()][:20]


def _symbol_of(session: object) -> str:
    books = getattr(session, "books", None) or {}
    return next(iter(books), "BTC/USDT")
