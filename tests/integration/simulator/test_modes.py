"""TLS, replay of recorded sessions and CSV price paths, and the benchmark firehose."""

from __future__ import annotations

import asyncio
import json
import ssl
from decimal import Decimal
from pathlib import Path

import aiohttp
import pytest
import websockets

from marketdata.simulator import Simulator
from tests.fixtures import EXCHANGES as SESSIONS

from .conftest import recv_json

pytestmark = pytest.mark.asyncio(loop_scope="package")


async def test_tls_serves_wss_and_https_trusted_through_the_generated_certificate() -> None:
    async with Simulator(tls=True, update_interval=0.05, venues=("binance",)) as sim:
        assert sim.urls["binance"].ws.startswith("wss://") and sim.urls["binance"].rest.startswith("https://")
        assert sim.plain_urls["binance"].ws.startswith("ws://")
        context = ssl.create_default_context(cafile=sim.cert_path)
        async with websockets.connect(sim.urls["binance"].ws + "/btcusdt@bookTicker", ssl=context) as ws:
            assert (await recv_json(ws))["s"] == "BTCUSDT"
        async with aiohttp.ClientSession() as http:
            async with http.get(sim.urls["binance"].rest + "/api/v3/time", ssl=context) as resp:
                assert "serverTime" in await resp.json()
            with pytest.raises(aiohttp.ClientConnectorCertificateError):
                await http.get(sim.urls["binance"].rest + "/api/v3/time")  # untrusted without the CA


async def test_recorded_binance_session_replays_verbatim_to_subscribers_with_its_rest_snapshot() -> None:
    path = SESSIONS / "binance/sessions/cryptofeed_BINANCE_HEAD.jsonl"
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    wanted = [r["raw"] for r in rows if r["dir"] == "in" and json.loads(r["raw"])["stream"].startswith("nknusdt@")]
    async with Simulator(replay=path, speed=0, venues=("binance",)) as sim:
        streams = "nknusdt@depth@100ms/nknusdt@bookTicker/nknusdt@kline_1m/nknusdt@aggTrade"
        async with websockets.connect(f"{sim.urls['binance'].stream}?streams={streams}") as ws:
            got = [await asyncio.wait_for(ws.recv(), 5) for _ in range(len(wanted))]
            await asyncio.wait_for(sim.replayer.done.wait(), 5)
        async with aiohttp.ClientSession() as http:
            async with http.get(sim.urls["binance"].rest + "/api/v3/depth?symbol=NKNUSDT&limit=1000") as resp:
                snapshot = await resp.json()
    assert got == wanted
    assert snapshot["lastUpdateId"] in {json.loads(r["raw"])["lastUpdateId"] for r in rows
                                        if r["dir"] == "rest" and "NKNUSDT" in r["url"]}


async def test_recorded_coinbase_session_replays_to_every_connection() -> None:
    path = SESSIONS / "coinbase_advanced/sessions/fastmm_advanced_md_stream_excerpt.jsonl"
    wanted = [json.loads(line)["raw"] for line in path.read_text().splitlines()]
    async with Simulator(replay=path, speed=0, venues=("coinbase",)) as sim:
        async with websockets.connect(sim.urls["coinbase"].ws) as ws:
            got = [await asyncio.wait_for(ws.recv(), 5) for _ in range(len(wanted))]
    assert got == wanted


async def test_csv_price_path_drives_the_market_at_the_chosen_speed(tmp_path: Path) -> None:
    path = tmp_path / "path.csv"
    path.write_text("timestamp,price\n" + "\n".join(f"{1700000000 + i},{100 + i}.5" for i in range(5)))
    async with Simulator(replay=path, speed=50, replay_symbol="ETH/USDT", venues=("binance",)) as sim:
        async with websockets.connect(sim.urls["binance"].ws + "/ethusdt@trade") as ws:
            prices = [Decimal((await recv_json(ws))["p"]) for _ in range(5)]
            await asyncio.wait_for(sim.replayer.done.wait(), 5)
    assert prices == [Decimal(f"{100 + i}.5") for i in range(5)]
    assert sim.price("binance", "ETH/USDT") == Decimal("104.5")


async def test_firehose_delivers_every_frame_and_paced_frames_carry_their_send_time(sim: Simulator) -> None:
    sim.pause()
    async with websockets.connect(sim.urls["binance"].ws + "/btcusdt@bookTicker", max_queue=None) as ws:
        while sim.connection_count("binance") < 1 or not sim.binance.subscribers.get("btcusdt@bookTicker"):
            await asyncio.sleep(0.01)
        assert await sim.firehose(20_000) == 20_000
        frames = [await asyncio.wait_for(ws.recv(), 5) for _ in range(20_000)]
        assert json.loads(frames[-1])["s"] == "BTCUSDT" and json.loads(frames[0])["u"] == 0
        assert await sim.paced(2000, 0.2) == 400
        stamped = [json.loads(await asyncio.wait_for(ws.recv(), 5)) for _ in range(400)]
    ns = [f["sim_ns"] for f in stamped]
    assert ns == sorted(ns) and all(f["E"] == f["sim_ns"] // 1_000_000 for f in stamped)
    assert 0.15e9 < ns[-1] - ns[0] < 0.6e9
