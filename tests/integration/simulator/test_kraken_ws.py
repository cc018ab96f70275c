"""Kraken v2 over a raw client: status, method responses, book checksums verified independently."""

from __future__ import annotations

import asyncio
import json
from decimal import Decimal

import aiohttp
import pytest
import websockets

from marketdata.simulator import Simulator
from tests.core.simulator.test_checksum import apply, independent_checksum

from .conftest import recv_json, recv_until

pytestmark = pytest.mark.asyncio(loop_scope="package")


def sub(channel: str, symbols: list[str], req_id: int = 1, **params: object) -> str:
    return json.dumps({"method": "subscribe", "params": {"channel": channel, "symbol": symbols, **params},
                       "req_id": req_id})


def decimal_frame(text: str) -> dict:
    return json.loads(text, parse_float=Decimal)


def apply_and_check(book: dict, data: dict, depth: int) -> None:
    apply(book, data, depth)
    asks = [(f"{p:f}", f"{q:f}") for p, q in sorted(book["asks"].items())]
    bids = [(f"{p:f}", f"{q:f}") for p, q in sorted(book["bids"].items(), reverse=True)]
    assert independent_checksum(asks, bids) == data["checksum"]


async def test_connect_gets_status_and_subscribe_gets_a_method_response(sim: Simulator) -> None:
    async with websockets.connect(sim.urls["kraken"].ws) as ws:
        status = await recv_json(ws)
        assert status["channel"] == "status" and status["data"][0]["system"] == "online"
        await ws.send(sub("ticker", ["BTC/USD"], req_id=42))
        reply = await recv_json(ws)
        assert reply["method"] == "subscribe" and reply["success"] is True and reply["req_id"] == 42
        assert reply["result"] == {"channel": "ticker", "event_trigger": "trades", "snapshot": True,
                                   "symbol": "BTC/USD"}
        assert {"time_in", "time_out"} <= set(reply)
        await ws.send(sub("ticker", ["NOPE/USD"], req_id=43))
        error = await recv_until(ws, lambda f: f.get("req_id") == 43)
        assert list(error) == ["error", "method", "success", "symbol", "time_in", "time_out", "req_id"]
        assert error["success"] is False and error["error"] == "Currency pair not supported NOPE/USD"


async def test_book_snapshot_and_updates_carry_correct_checksums_at_each_depth(sim: Simulator) -> None:
    for depth in (10, 25):
        async with websockets.connect(sim.urls["kraken"].ws) as ws:
            await ws.send(sub("book", ["ETH/USD"], depth=depth))
            reply = await recv_until(ws, lambda f: f.get("method") == "subscribe")
            assert reply["result"]["depth"] == depth
            raw = await asyncio.wait_for(ws.recv(), 5)
            snapshot = decimal_frame(raw)
            assert snapshot["type"] == "snapshot"
            assert '"qty":"' not in raw  # v2 sends JSON numbers, not strings
            data = snapshot["data"][0]
            assert len(data["bids"]) == len(data["asks"]) == depth
            book = {"bids": {}, "asks": {}}
            apply_and_check(book, data, depth)
            updates = 0
            while updates < 15:
                frame = decimal_frame(await asyncio.wait_for(ws.recv(), 5))
                if frame.get("channel") != "book":
                    continue
                apply_and_check(book, frame["data"][0], depth)
                updates += 1
            market = sim.market("kraken", "ETH/USD")
            assert abs(max(book["bids"]) - market.best_bid()[0]) < Decimal("50")


async def test_prices_are_printed_at_the_pair_precision_with_trailing_zeros(sim: Simulator) -> None:
    sim.pause()
    await sim.set_price("kraken", "BTC/USD", "60000")
    await sim.set_price("kraken", "ETH/USD", "3000.11")
    async with websockets.connect(sim.urls["kraken"].ws) as ws:
        await ws.send(sub("book", ["BTC/USD", "ETH/USD"]))
        texts = []
        while len(texts) < 2:
            text = await asyncio.wait_for(ws.recv(), 5)
            if text.startswith('{"channel":"book"'):
                texts.append(text)
    btc, eth = sorted(texts, key=lambda t: "ETH/USD" in t)
    assert '{"price":59999.9,"qty":' in btc and '{"price":60000.1,"qty":' in btc
    assert '{"price":3000.10,"qty":' in eth and '{"price":3000.12,"qty":' in eth


async def test_ping_gets_pong_and_idle_subscribers_get_heartbeats() -> None:
    async with Simulator(heartbeat_interval=0.1) as sim, websockets.connect(sim.urls["kraken"].ws) as ws:
        sim.pause()
        await ws.send(json.dumps({"method": "ping", "req_id": 5}))
        pong = await recv_until(ws, lambda f: f.get("method") == "pong")
        assert pong["req_id"] == 5
        await ws.send(sub("trade", ["BTC/USD"]))
        assert await recv_until(ws, lambda f: f.get("channel") == "heartbeat") == {"channel": "heartbeat"}


async def test_trade_and_ticker_follow_a_scripted_price(sim: Simulator) -> None:
    sim.pause()
    async with websockets.connect(sim.urls["kraken"].ws) as ws:
        await ws.send(sub("trade", ["BTC/USD"], req_id=1))
        await ws.send(sub("ticker", ["BTC/USD"], req_id=2))
        await recv_until(ws, lambda f: f.get("channel") == "ticker")
        await sim.set_price("kraken", "BTC/USD", "65000.3")
        seen: dict[str, dict] = {}
        while len(seen) < 2:
            frame = await recv_until(ws, lambda f: f.get("channel") in ("trade", "ticker") and f["type"] == "update")
            seen[frame["channel"]] = frame
    trade, ticker = seen["trade"], seen["ticker"]
    assert trade["data"][0]["price"] == 65000.3
    assert (ticker["data"][0]["bid"], ticker["data"][0]["ask"]) == (65000.2, 65000.4)


async def test_rest_asset_pairs_and_depth(sim: Simulator) -> None:
    async with aiohttp.ClientSession() as http:
        pairs = await (await http.get(sim.urls["kraken"].rest + "/0/public/AssetPairs")).json()
        depth = await (await http.get(sim.urls["kraken"].rest + "/0/public/Depth?pair=XBTUSD&count=5")).json()
    assert pairs["result"]["XXBTZUSD"]["wsname"] == "XBT/USD"
    assert len(depth["result"]["XXBTZUSD"]["bids"]) == 5


async def test_ohlc_snapshot_and_unsubscribe_stops_the_channel(sim: Simulator) -> None:
    async with websockets.connect(sim.urls["kraken"].ws) as ws:
        await ws.send(sub("ohlc", ["ETH/USD"], req_id=3, interval=5))
        reply = await recv_until(ws, lambda f: f.get("req_id") == 3)
        assert reply["result"]["interval"] == 5
        candle = await recv_until(ws, lambda f: f.get("channel") == "ohlc")
        assert candle["type"] == "snapshot" and candle["data"][0]["interval"] == 5
        await ws.send(json.dumps({"method": "unsubscribe", "params": {"channel": "ohlc", "symbol": ["ETH/USD"],
                                                                      "interval": 5}, "req_id": 4}))
        assert (await recv_until(ws, lambda f: f.get("req_id") == 4))["success"] is True
        assert sim.subscriptions("kraken") == [set()]
