"""Every injected fault is observable by a plain client."""

from __future__ import annotations

import asyncio
import json
import time
from decimal import Decimal

import pytest
import websockets
from websockets.exceptions import ConnectionClosedError, ConnectionClosedOK, InvalidStatus

from marketdata.simulator import Simulator
from marketdata.simulator.venue import MALFORMED_FRAMES
from tests.core.simulator.test_checksum import independent_checksum

from .conftest import recv_json, recv_until

SUBSCRIBE = {
    "binance": json.dumps({"method": "SUBSCRIBE", "params": ["btcusdt@bookTicker"], "id": 1}),
    "coinbase": json.dumps({"type": "subscribe", "product_ids": ["BTC-USD"], "channel": "ticker"}),
    "kraken": json.dumps({"method": "subscribe", "params": {"channel": "ticker", "symbol": ["BTC/USD"]}}),
}

pytestmark = pytest.mark.asyncio(loop_scope="package")


async def test_drop_cuts_sockets_without_a_close_frame_and_clean_drop_sends_one(sim: Simulator) -> None:
    async with websockets.connect(sim.urls["binance"].ws) as ws:
        await asyncio.sleep(0.05)
        assert sim.drop_connections("binance") == 1
        with pytest.raises(ConnectionClosedError):
            await asyncio.wait_for(ws.recv(), 5)
    async with websockets.connect(sim.urls["kraken"].ws) as ws:
        await recv_json(ws)
        sim.drop_connections("kraken", clean=True)
        with pytest.raises(ConnectionClosedOK):
            await asyncio.wait_for(ws.recv(), 5)
    assert sim.connection_count("binance") == sim.connection_count("kraken") == 0


@pytest.mark.parametrize("venue", ["binance", "coinbase", "kraken"])
async def test_stall_keeps_the_socket_open_but_silent_until_resumed(sim: Simulator, venue: str) -> None:
    async with websockets.connect(sim.urls[venue].ws) as ws:
        await ws.send(SUBSCRIBE[venue])
        for _ in range(3):
            await recv_json(ws)
        sim.stall(venue)
        await asyncio.sleep(0.1)
        for _ in range(100):  # frames already on the wire may still arrive; then silence
            try:
                await asyncio.wait_for(ws.recv(), 0.3)
            except TimeoutError:
                break
        else:
            pytest.fail("the stalled connection kept sending")
        assert ws.state.name == "OPEN"
        sim.unstall(venue)
        await recv_json(ws, timeout=2)


async def test_a_timed_stall_ends_by_itself(sim: Simulator) -> None:
    async with websockets.connect(sim.urls["binance"].ws + "/btcusdt@bookTicker") as ws:
        await recv_json(ws)
        arrivals = [time.perf_counter()]
        sim.stall("binance", seconds=0.5)
        for _ in range(200):  # frames already on the wire, the silence, then the first frame after it
            await recv_json(ws, timeout=3)
            arrivals.append(time.perf_counter())
            if arrivals[-1] - arrivals[-2] > 0.3:
                break
        assert arrivals[-1] - arrivals[-2] > 0.3
        assert sim.connection_count("binance") == 1


@pytest.mark.parametrize("venue", ["binance", "coinbase", "kraken"])
async def test_malformed_frames_arrive_verbatim(sim: Simulator, venue: str) -> None:
    sim.pause()
    async with websockets.connect(sim.urls[venue].ws) as ws:
        await asyncio.sleep(0.05)
        assert sim.send_malformed(venue) == len(MALFORMED_FRAMES)
        got = []
        while len(got) < len(MALFORMED_FRAMES):
            text = await asyncio.wait_for(ws.recv(), 5)
            if '"channel":"status"' not in text:
                got.append(text)
    assert got == list(MALFORMED_FRAMES)


async def test_binance_gap_breaks_u_continuity_once(sim: Simulator) -> None:
    async with websockets.connect(sim.urls["binance"].ws + "/btcusdt@depth@100ms") as ws:
        previous = (await recv_json(ws))["u"]
        sim.sequence_gap("binance", "BTC/USDT", size=7)
        jumps = []
        for _ in range(5):
            event = await recv_json(ws)
            jumps.append(event["U"] - previous - 1)
            previous = event["u"]
    assert sorted(jumps) == [0, 0, 0, 0, 7]


async def test_coinbase_gap_skips_sequence_numbers_on_the_connection(sim: Simulator) -> None:
    async with websockets.connect(sim.urls["coinbase"].ws, max_size=None) as ws:
        await ws.send(json.dumps({"type": "subscribe", "product_ids": ["BTC-USD"], "channel": "level2"}))
        seqs = [(await recv_json(ws))["sequence_num"] for _ in range(3)]
        sim.sequence_gap("coinbase", "BTC-USD", size=4)
        seqs += [(await recv_json(ws))["sequence_num"] for _ in range(4)]
    steps = [b - a for a, b in zip(seqs, seqs[1:], strict=False)]
    assert sorted(steps) == [1, 1, 1, 1, 1, 5]


async def test_kraken_bad_checksum_hits_exactly_the_next_update(sim: Simulator) -> None:
    async with websockets.connect(sim.urls["kraken"].ws) as ws:
        await ws.send(json.dumps({"method": "subscribe", "params": {"channel": "book", "symbol": ["BTC/USD"]}}))
        book: dict[str, dict[Decimal, Decimal]] = {"bids": {}, "asks": {}}
        results = []
        while len(results) < 6:
            frame = json.loads(await asyncio.wait_for(ws.recv(), 5), parse_float=Decimal)
            if frame.get("channel") != "book":
                continue
            data = frame["data"][0]
            for side in ("bids", "asks"):
                for level in data[side]:
                    book[side].pop(level["price"], None) if level["qty"] == 0 else book[side].update(
                        {level["price"]: level["qty"]})
                book[side] = dict(sorted(book[side].items(), reverse=side == "bids")[:10])
            asks = [(f"{p:f}", f"{q:f}") for p, q in sorted(book["asks"].items())]
            bids = [(f"{p:f}", f"{q:f}") for p, q in sorted(book["bids"].items(), reverse=True)]
            results.append(independent_checksum(asks, bids) == data["checksum"])
            if len(results) == 2:
                sim.bad_checksum("BTC/USD")
    assert results[:2] == [True, True] and results.count(False) == 1


@pytest.mark.parametrize("venue", ["binance", "coinbase", "kraken"])
async def test_slow_acks_hold_the_subscribe_reply(sim: Simulator, venue: str) -> None:
    sim.slow_acks(venue, 0.4)
    async with websockets.connect(sim.urls[venue].ws) as ws:
        started = time.perf_counter()
        await ws.send(SUBSCRIBE[venue])
        await recv_until(ws, lambda f: "id" in f or f.get("channel") == "subscriptions" or "method" in f)
        assert time.perf_counter() - started >= 0.4


async def test_refused_connections_get_503_until_the_window_ends(sim: Simulator) -> None:
    sim.refuse_connections("coinbase", 0.4)
    with pytest.raises(InvalidStatus) as refused:
        await websockets.connect(sim.urls["coinbase"].ws)
    assert refused.value.response.status_code == 503
    await asyncio.sleep(0.45)
    async with websockets.connect(sim.urls["coinbase"].ws) as ws:
        assert ws.state.name == "OPEN"
