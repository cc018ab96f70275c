"""Property tests: random and mutated frames never make a parser raise anything but ParseError."""

from __future__ import annotations

import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from marketdata.exchanges.base import ParseError

from .conftest import Collector, lines

VENUES = ("binance", "coinbase", "kraken")
SAMPLES = {
    "binance": ["binance/book_ticker.jsonl", "binance/agg_trade.jsonl", "binance/kline_1m.jsonl",
                "binance/depth_diff_100ms.jsonl", "binance_testnet/trade.jsonl"],
    "coinbase": ["coinbase_advanced/l2_data.jsonl", "coinbase_advanced/market_trades.jsonl",
                 "coinbase_advanced/heartbeats.jsonl", "coinbase_advanced/subscriptions.jsonl"],
    "kraken": ["kraken_v2/book.jsonl", "kraken_v2/ticker.jsonl", "kraken_v2/status.jsonl",
               "kraken_v2/method_responses.jsonl", "kraken_v2/doc_examples.jsonl"],
}  # fmt: skip
FRAMES = {venue: [line for f in files for line in lines(f)[:20]] for venue, files in SAMPLES.items()}
COINBASE_SNAPSHOT = (
    '{"channel":"l2_data","timestamp":"2026-09-30T02:39:53.6Z","sequence_num":0,"events":[{"type":"snapshot",'
    '"product_id":"BTC-USD","updates":[{"side":"bid","event_time":"2026-09-30T02:39:53Z","price_level":"1",'
    '"new_quantity":"1"}]}]}'
)

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=5),
    max_leaves=20,
)
PROPS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _only_parse_errors(venue: str, frames: list) -> None:
    c = Collector(venue)
    if venue == "coinbase":
        c.feed(COINBASE_SNAPSHOT)  # so book updates reach the book code too
    for frame in frames:
        try:
            c.feed(frame)
        except ParseError:
            pass
        c.session.take_actions()


@PROPS
@given(venue=st.sampled_from(VENUES), data=st.binary(max_size=200) | st.text(max_size=200))
def test_random_bytes_and_text(venue: str, data) -> None:
    _only_parse_errors(venue, [data])


@PROPS
@given(venue=st.sampled_from(VENUES), value=json_values)
def test_random_json_documents(venue: str, value) -> None:
    _only_parse_errors(venue, [json.dumps(value)])


def _mutate(doc, path_choice: int, replacement):
    """Replace one leaf (chosen by index in a depth-first walk) with ``replacement``."""
    leaves = []

    def walk(node, parent, key):
        if isinstance(node, dict):
            for k in list(node):
                walk(node[k], node, k)
        elif isinstance(node, list):
            for i in range(len(node)):
                walk(node[i], node, i)
        if parent is not None:
            leaves.append((parent, key))

    walk(doc, None, None)
    if not leaves:
        return doc
    parent, key = leaves[path_choice % len(leaves)]
    if replacement == "__delete__":
        if isinstance(parent, dict):
            del parent[key]
        else:
            parent.pop(key)
    else:
        parent[key] = replacement
    return doc


@PROPS
@given(
    venue=st.sampled_from(VENUES),
    index=st.integers(min_value=0, max_value=10_000),
    path=st.integers(min_value=0, max_value=10_000),
    replacement=st.sampled_from(["__delete__", None, "", "NaN", "Infinity", "-1e999", "abc", 0, -1, 1.5, True,
                                 [], {}, "2026-13-45T99:99:99Z", 2**70, "0"]),
)  # fmt: skip
def test_mutated_recorded_frames(venue: str, index: int, path: int, replacement) -> None:
    frames = FRAMES[venue]
    original = frames[index % len(frames)]
    doc = json.loads(original)
    mutated = json.dumps(_mutate(doc, path, replacement))
    _only_parse_errors(venue, [original, mutated, original])


@PROPS
@given(venue=st.sampled_from(VENUES), index=st.integers(min_value=0, max_value=10_000),
       cut=st.integers(min_value=0, max_value=400))  # fmt: skip
def test_truncated_recorded_frames(venue: str, index: int, cut: int) -> None:
    frame = FRAMES[venue][index % len(FRAMES[venue])]
    _only_parse_errors(venue, [frame[:cut]])


@PROPS
@given(value=json_values)
def test_random_binance_depth_snapshots(value) -> None:
    c = Collector("binance")
    c.feed(FRAMES["binance"][60] if len(FRAMES["binance"]) > 60 else lines("binance/depth_diff_100ms.jsonl")[0])
    for payload in (json.dumps(value).encode(), b"not json", b'{"lastUpdateId": "x", "bids": [], "asks": []}'):
        try:
            c.session.apply_snapshot("SWRV/BUSD", payload, 0)
        except ParseError:
            pass
