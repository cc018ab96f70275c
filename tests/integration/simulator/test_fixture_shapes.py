"""Simulator frames have the same shape (keys, nesting, JSON types) as the recorded real frames."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import aiohttp
import pytest
import websockets

from marketdata.simulator import Simulator
from tests.fixtures import EXCHANGES as FIXTURES

from .conftest import recv_until

pytestmark = pytest.mark.asyncio(loop_scope="package")


def shape(value: Any) -> Any:
    """Keys and JSON types, recursively; a list is described by its first element."""
    if isinstance(value, dict):
        return {k: shape(v) for k, v in value.items()}
    if isinstance(value, list):
        return [shape(value[0])] if value else []
    if isinstance(value, bool) or value is None:
        return type(value).__name__
    return "number" if isinstance(value, int | float) else type(value).__name__


def recorded(path: str, match: Any = lambda f: True) -> Any:
    return next(f for f in map(json.loads, (FIXTURES / path).read_text().splitlines()) if match(f))


async def frames_by_stream(sim: Simulator, streams: list[str]) -> dict[str, Any]:
    seen: dict[str, Any] = {}
    async with websockets.connect(sim.urls["binance"].stream + "?streams=" + "/".join(streams)) as ws:
        while len(seen) < len(streams):
            frame = await recv_until(ws, lambda f: "stream" in f)
            if frame["stream"].endswith("depth@100ms") and not (frame["data"]["b"] and frame["data"]["a"]):
                continue  # compare a diff that has both sides, like the recording
            seen[frame["stream"]] = frame
    return seen


async def test_binance_streams_match_the_recorded_shapes(sim: Simulator) -> None:
    frames = await frames_by_stream(sim, ["btcusdt@bookTicker", "btcusdt@aggTrade", "btcusdt@kline_1m",
                                          "btcusdt@trade", "btcusdt@depth@100ms"])
    pairs = {"btcusdt@bookTicker": "binance/book_ticker.jsonl", "btcusdt@aggTrade": "binance/agg_trade.jsonl",
             "btcusdt@kline_1m": "binance/kline_1m.jsonl", "btcusdt@trade": "binance_testnet/trade.jsonl"}
    for stream, path in pairs.items():
        assert shape(frames[stream]) == shape(recorded(path)), stream
    diff = recorded("binance/depth_diff_100ms.jsonl", lambda f: f["data"]["b"] and f["data"]["a"])
    assert shape(frames["btcusdt@depth@100ms"]) == shape(diff)
    async with aiohttp.ClientSession() as http:
        snapshot = await (await http.get(sim.urls["binance"].rest + "/api/v3/depth?symbol=BTCUSDT")).json()
    assert shape(snapshot) == shape(recorded("binance/rest_depth_snapshot.jsonl"))


async def test_coinbase_frames_match_the_recorded_shapes(sim: Simulator) -> None:
    async with websockets.connect(sim.urls["coinbase"].ws, max_size=None) as ws:
        await ws.send(json.dumps({"type": "subscribe", "product_ids": ["BTC-USD"], "channel": "level2"}))
        await ws.send(json.dumps({"type": "subscribe", "product_ids": ["BTC-USD"], "channel": "market_trades"}))
        await ws.send(json.dumps({"type": "subscribe", "product_ids": [], "channel": "heartbeats"}))
        ack = await recv_until(ws, lambda f: f["channel"] == "subscriptions")
        l2 = await recv_until(ws, lambda f: f["channel"] == "l2_data" and f["events"][0]["type"] == "update")
        trades = await recv_until(ws, lambda f: f["channel"] == "market_trades" and f["events"][0]["type"] == "update")
        beat = await recv_until(ws, lambda f: f["channel"] == "heartbeats")
    real_ack = recorded("coinbase_advanced/subscriptions.jsonl")
    assert list(ack) == list(real_ack) and list(ack["events"][0]) == list(real_ack["events"][0])
    assert shape(l2) == shape(recorded("coinbase_advanced/l2_data.jsonl"))
    assert shape(trades) == shape(recorded("coinbase_advanced/market_trades.jsonl"))
    assert shape(beat) == shape(recorded("coinbase_advanced/heartbeats.jsonl"))


async def test_kraken_frames_match_the_recorded_shapes(sim: Simulator) -> None:
    async with websockets.connect(sim.urls["kraken"].ws) as ws:
        status = json.loads(await asyncio.wait_for(ws.recv(), 5))
        await ws.send(json.dumps({"method": "subscribe", "params": {"channel": "book", "symbol": ["ETH/USD"]}}))
        reply = await recv_until(ws, lambda f: f.get("method") == "subscribe")
        await recv_until(ws, lambda f: f.get("channel") == "book" and f["type"] == "snapshot")
        update = await recv_until(ws, lambda f: f.get("channel") == "book" and f["data"][0]["bids"]
                                  and f["data"][0]["asks"])
    assert shape(status) == shape(recorded("kraken_v2/status.jsonl"))
    assert shape(reply) == shape(recorded("kraken_v2/method_responses.jsonl", lambda f: "depth" in f.get("result", {})))
    real = recorded("kraken_v2/doc_examples.jsonl")  # has both sides and a timestamp
    real["type"] = "update"
    assert shape(update) == shape(real)
