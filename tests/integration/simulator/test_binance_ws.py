"""Binance spot streams over a raw ``websockets`` client: acks, shapes, depth id continuity, pings."""

from __future__ import annotations

import json
from decimal import Decimal

import aiohttp
import pytest
import websockets

from marketdata.simulator import Simulator

from .conftest import recv_json, recv_until

pytestmark = pytest.mark.asyncio(loop_scope="package")


async def test_subscribe_is_acked_with_null_result_and_listed(sim: Simulator) -> None:
    async with websockets.connect(sim.urls["binance"].ws) as ws:
        await ws.send(json.dumps({"method": "SUBSCRIBE", "params": ["btcusdt@trade", "ethusdt@bookTicker"], "id": 7}))
        assert await recv_until(ws, lambda f: "id" in f) == {"result": None, "id": 7}
        await ws.send(json.dumps({"method": "LIST_SUBSCRIPTIONS", "id": 8}))
        listed = await recv_until(ws, lambda f: f.get("id") == 8)
        assert listed == {"result": ["btcusdt@trade", "ethusdt@bookTicker"], "id": 8}
        await ws.send(json.dumps({"method": "UNSUBSCRIBE", "params": ["btcusdt@trade"], "id": 9}))
        assert await recv_until(ws, lambda f: f.get("id") == 9) == {"result": None, "id": 9}
        assert sim.subscriptions("binance") == [{"ethusdt@bookTicker"}]


async def test_bad_requests_get_binance_error_objects(sim: Simulator) -> None:
    async with websockets.connect(sim.urls["binance"].ws) as ws:
        await ws.send(json.dumps({"method": "SUBSCRIBE", "params": ["btcusdt@nonsense"], "id": 1}))
        error = await recv_json(ws)
        assert error["id"] == 1 and error["error"]["code"] == 2
        await ws.send("{not json")
        assert (await recv_json(ws))["error"]["code"] == 3


async def test_raw_endpoint_sends_bare_payloads_and_combined_wraps_them(sim: Simulator) -> None:
    async with websockets.connect(sim.urls["binance"].ws + "/btcusdt@bookTicker") as raw, \
            websockets.connect(sim.urls["binance"].stream + "?streams=btcusdt@bookTicker/btcusdt@trade") as comb:
        frame = await recv_json(raw)
        assert set(frame) == {"u", "s", "b", "B", "a", "A"} and frame["s"] == "BTCUSDT"
        assert Decimal(frame["b"]) < Decimal(frame["a"])
        wrapped = await recv_until(comb, lambda f: f["stream"] == "btcusdt@trade")
        assert wrapped["data"]["e"] == "trade" and wrapped["data"]["s"] == "BTCUSDT"
        assert set(wrapped["data"]) == {"e", "E", "s", "t", "p", "q", "T", "m", "M"}


async def test_depth_diffs_continue_from_the_rest_snapshot_without_gaps(sim: Simulator) -> None:
    async with websockets.connect(sim.urls["binance"].ws + "/btcusdt@depth@100ms") as ws, \
            aiohttp.ClientSession() as http:
        first = await recv_json(ws)
        async with http.get(sim.urls["binance"].rest + "/api/v3/depth?symbol=BTCUSDT&limit=1000") as resp:
            snapshot = await resp.json()
        last_id = snapshot["lastUpdateId"]
        assert first["U"] <= last_id + 1 or first["u"] <= last_id
        book = {"b": {Decimal(p): Decimal(q) for p, q in snapshot["bids"]},
                "a": {Decimal(p): Decimal(q) for p, q in snapshot["asks"]}}
        applied, previous = 0, None
        while applied < 20:
            event = await recv_json(ws)
            if event["u"] <= last_id:
                continue  # older than the snapshot: Binance says drop
            if previous is None:
                assert event["U"] <= last_id + 1 <= event["u"]
            else:
                assert event["U"] == previous + 1
            previous = event["u"]
            for side in ("b", "a"):
                for price, qty in event[side]:
                    if Decimal(qty) == 0:
                        book[side].pop(Decimal(price), None)
                    else:
                        book[side][Decimal(price)] = Decimal(qty)
            applied += 1
        market = sim.market("binance", "BTC/USDT")
        assert book["b"] == market.bids and book["a"] == market.asks


async def test_ticker_kline_and_agg_trade_streams_carry_binance_fields(sim: Simulator) -> None:
    streams = "btcusdt@ticker/btcusdt@kline_1m/btcusdt@aggTrade/btcusdt@depth5@100ms"
    async with websockets.connect(sim.urls["binance"].stream + "?streams=" + streams) as ws:
        seen: dict[str, dict] = {}
        while len(seen) < 4:
            frame = await recv_json(ws)
            seen[frame["stream"]] = frame["data"]
    assert seen["btcusdt@ticker"]["e"] == "24hrTicker" and "c" in seen["btcusdt@ticker"]
    assert seen["btcusdt@kline_1m"]["k"]["i"] == "1m"
    assert seen["btcusdt@aggTrade"]["e"] == "aggTrade"
    assert len(seen["btcusdt@depth5@100ms"]["bids"]) == 5


async def test_server_sends_protocol_pings_every_ping_interval() -> None:
    async with Simulator(update_interval=0.5, ping_interval=0.2) as sim, aiohttp.ClientSession() as http:
        async with http.ws_connect(sim.urls["binance"].ws, autoping=False) as ws:
            msg = await ws.receive(timeout=2)
            assert msg.type == aiohttp.WSMsgType.PING
            await ws.pong(msg.data)
            assert (await ws.receive(timeout=2)).type == aiohttp.WSMsgType.PING


async def test_rest_endpoints_answer_like_binance(sim: Simulator) -> None:
    base = sim.urls["binance"].rest + "/api/v3"
    async with aiohttp.ClientSession() as http:
        assert await (await http.get(base + "/ping")).json() == {}
        info = await (await http.get(base + "/exchangeInfo")).json()
        assert [s["symbol"] for s in info["symbols"]] == ["BTCUSDT", "ETHUSDT", "SOLUSDT"]
        bad = await http.get(base + "/depth?symbol=NOPE")
        assert bad.status == 400 and await bad.json() == {"code": -1121, "msg": "Invalid symbol."}
        klines = await (await http.get(base + "/klines?symbol=ETHUSDT&interval=15m&limit=3")).json()
        assert len(klines) == 3 and klines[1][0] - klines[0][0] == 900_000
        ticker = await (await http.get(base + "/ticker/bookTicker?symbol=SOLUSDT")).json()
        bid, ask = sim.best_bid_ask("binance", "SOL/USDT")
        assert Decimal(ticker["bidPrice"]) <= bid + Decimal("1") and ticker["symbol"] == "SOLUSDT"
        assert Decimal(ticker["askPrice"]) > Decimal(ticker["bidPrice"])


async def test_a_client_that_never_pongs_is_disconnected() -> None:
    async with Simulator(update_interval=0.5, ping_interval=0.1, pong_timeout=0.35) as sim, \
            aiohttp.ClientSession() as http:
        async with http.ws_connect(sim.urls["binance"].ws, autoping=False) as ws:
            kinds = []
            for _ in range(100):
                msg = await ws.receive(timeout=3)
                kinds.append(msg.type)
                if msg.type in (aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.ERROR):
                    break
        assert kinds.count(aiohttp.WSMsgType.PING) >= 2


async def test_message_rate_limit_and_connection_lifetime_disconnect() -> None:
    async with Simulator(update_interval=0.5, binance_message_limit=5, max_connection_age=0.5) as sim:
        async with websockets.connect(sim.urls["binance"].ws) as ws:
            for i in range(6):
                await ws.send(json.dumps({"method": "LIST_SUBSCRIPTIONS", "id": i}))
            with pytest.raises(websockets.ConnectionClosedError):
                for _ in range(10):
                    await recv_json(ws)
        async with websockets.connect(sim.urls["binance"].ws) as ws:
            await ws.send(json.dumps({"method": "LIST_SUBSCRIPTIONS", "id": 1}))
            assert (await recv_json(ws))["id"] == 1
            with pytest.raises(websockets.ConnectionClosedError):
                await recv_json(ws, timeout=2)


async def test_one_second_depth_stream_merges_the_diffs_of_that_second(sim: Simulator) -> None:
    async with websockets.connect(sim.urls["binance"].stream + "?streams=btcusdt@depth/btcusdt@depth@100ms") as ws:
        fast, slow = [], []
        while len(slow) < 2:
            frame = await recv_json(ws, timeout=3)
            (slow if frame["stream"] == "btcusdt@depth" else fast).append(frame["data"])
    assert slow[1]["U"] == slow[0]["u"] + 1
    assert len(fast) > len(slow)


async def test_malformed_rest_parameters_get_the_venue_error_not_a_500(sim: Simulator) -> None:
    async with aiohttp.ClientSession() as http:
        binance = await http.get(sim.urls["binance"].rest + "/api/v3/klines?symbol=BTCUSDT&interval=1m&limit=abc")
        kraken = await http.get(sim.urls["kraken"].rest + "/0/public/Depth?pair=XBTUSD&count=many")
        assert (binance.status, await binance.json()) == (400, {"code": -1100,
                                                                "msg": "Illegal characters found in a parameter."})
        assert (await kraken.json())["error"] == ["EGeneral:Invalid arguments"]
