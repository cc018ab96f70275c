"""Coinbase Advanced Trade over a raw client: subscriptions ack, snapshots, one sequence per connection."""

from __future__ import annotations

import json
from decimal import Decimal

import aiohttp
import pytest
import websockets

from marketdata.simulator import Simulator

from .conftest import recv_json, recv_until

pytestmark = pytest.mark.asyncio(loop_scope="package")


def subscribe(channel: str, products: list[str], kind: str = "subscribe") -> str:
    return json.dumps({"type": kind, "product_ids": products, "channel": channel})


async def test_subscriptions_ack_lists_every_channel_and_product(sim: Simulator) -> None:
    async with websockets.connect(sim.urls["coinbase"].ws) as ws:
        await ws.send(subscribe("level2", ["BTC-USD", "ETH-USD"]))
        ack = await recv_until(ws, lambda f: f["channel"] == "subscriptions")
        assert list(ack) == ["channel", "timestamp", "sequence_num", "events"]  # as recorded in 2026
        assert ack["events"] == [{"subscriptions": {"level2": ["BTC-USD", "ETH-USD"]}}]
        await ws.send(subscribe("level2", ["ETH-USD"], "unsubscribe"))
        ack = await recv_until(ws, lambda f: f["channel"] == "subscriptions")
        assert ack["events"] == [{"subscriptions": {"level2": ["BTC-USD"]}}]


async def test_one_sequence_counter_runs_across_all_channels_of_a_connection(sim: Simulator) -> None:
    async with websockets.connect(sim.urls["coinbase"].ws, max_size=None) as ws:
        for channel in ("ticker", "market_trades", "level2", "heartbeats"):
            await ws.send(subscribe(channel, ["BTC-USD"]))
        seqs, channels = [], set()
        while len(seqs) < 60:
            frame = await recv_json(ws)
            seqs.append(frame["sequence_num"])
            channels.add(frame["channel"])
    assert seqs == list(range(seqs[0], seqs[0] + len(seqs)))
    assert {"subscriptions", "ticker", "market_trades", "l2_data"} <= channels


async def test_level2_snapshot_then_updates_rebuild_the_simulator_book(sim: Simulator) -> None:
    sim.pause()
    async with websockets.connect(sim.urls["coinbase"].ws, max_size=None) as ws:
        await ws.send(subscribe("level2", ["ETH-USD"]))
        snapshot = await recv_until(ws, lambda f: f["channel"] == "l2_data")
        event = snapshot["events"][0]
        assert event["type"] == "snapshot" and event["product_id"] == "ETH-USD"
        assert {u["side"] for u in event["updates"]} == {"bid", "offer"}
        book = {"bid": {}, "offer": {}}
        for update in event["updates"]:
            book[update["side"]][Decimal(update["price_level"])] = Decimal(update["new_quantity"])
        await sim.step("coinbase", count=5)
        updates = 0
        while updates < 5:
            frame = await recv_until(ws, lambda f: f["channel"] == "l2_data")
            for update in frame["events"][0]["updates"]:
                price, qty = Decimal(update["price_level"]), Decimal(update["new_quantity"])
                if qty == 0:
                    book[update["side"]].pop(price, None)
                else:
                    book[update["side"]][price] = qty
            updates += 1
        market = sim.market("coinbase", "ETH-USD")
        assert book["bid"] == market.bids and book["offer"] == market.asks


async def test_ticker_and_trades_follow_a_scripted_price(sim: Simulator) -> None:
    sim.pause()
    async with websockets.connect(sim.urls["coinbase"].ws) as ws:
        await ws.send(subscribe("ticker", ["BTC-USD"]))
        await ws.send(subscribe("market_trades", ["BTC-USD"]))
        await recv_until(ws, lambda f: f["channel"] == "market_trades")
        await sim.set_price("coinbase", "BTC-USD", "61234.56")
        ticker = await recv_until(ws, lambda f: f["channel"] == "ticker" and f["events"][0]["type"] == "update")
        trade = await recv_until(ws, lambda f: f["channel"] == "market_trades" and f["events"][0]["type"] == "update")
    tick = ticker["events"][0]["tickers"][0]
    assert (tick["price"], tick["best_bid"], tick["best_ask"]) == ("61234.56", "61234.55", "61234.57")
    assert trade["events"][0]["trades"][0]["price"] == "61234.56"


async def test_heartbeats_count_up() -> None:
    async with Simulator(heartbeat_interval=0.1) as fast, websockets.connect(fast.urls["coinbase"].ws) as ws:
        await ws.send(subscribe("heartbeats", []))
        beats = [await recv_until(ws, lambda f: f["channel"] == "heartbeats") for _ in range(2)]
    counters = [b["events"][0]["heartbeat_counter"] for b in beats]
    assert counters[1] > counters[0]


async def test_unknown_product_is_an_error_frame(sim: Simulator) -> None:
    async with websockets.connect(sim.urls["coinbase"].ws) as ws:
        await ws.send(subscribe("ticker", ["NOPE-USD"]))
        frame = await recv_json(ws)
    assert frame["type"] == "error"


async def test_rest_products_and_book(sim: Simulator) -> None:
    base = sim.urls["coinbase"].rest
    async with aiohttp.ClientSession() as http:
        products = await (await http.get(base + "/api/v3/brokerage/market/products")).json()
        book = await (await http.get(base + "/api/v3/brokerage/market/product_book?product_id=BTC-USD&limit=3")).json()
    assert [p["product_id"] for p in products["products"]] == ["BTC-USD", "ETH-USD"]
    assert len(book["pricebook"]["bids"]) == 3


async def test_candles_channel_sends_five_minute_bars(sim: Simulator) -> None:
    async with websockets.connect(sim.urls["coinbase"].ws) as ws:
        await ws.send(subscribe("candles", ["ETH-USD"]))
        frames = [await recv_until(ws, lambda f: f["channel"] == "candles") for _ in range(2)]
    assert [f["events"][0]["type"] for f in frames] == ["snapshot", "update"]
    bar = frames[1]["events"][0]["candles"][0]
    assert int(bar["start"]) % 300 == 0 and bar["product_id"] == "ETH-USD"
