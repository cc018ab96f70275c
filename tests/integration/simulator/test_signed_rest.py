"""Binance signed REST by hand: HMAC over query + body, timestamp window, error codes, order faults."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import time
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode

import aiohttp
import pytest
import pytest_asyncio

from marketdata.simulator import Simulator

KEY, SECRET = "key-s", "secret-s"

pytestmark = pytest.mark.asyncio(loop_scope="package")


def sign(params: dict[str, Any], secret: str = SECRET, extra: str = "") -> str:
    query = urlencode(params)
    return query + "&signature=" + hmac.new(secret.encode(), (extra + query).encode(), hashlib.sha256).hexdigest()


def stamp(**params: Any) -> dict[str, Any]:
    return params | {"timestamp": int(time.time() * 1000)}


class Api:
    def __init__(self, sim: Simulator, http: aiohttp.ClientSession) -> None:
        self.base, self.http = sim.urls["binance"].rest + "/api/v3", http

    async def call(self, method: str, path: str, params: dict[str, Any], key: str = KEY, secret: str = SECRET,
                   timeout: float = 5) -> tuple[int, Any]:
        headers = {"X-MBX-APIKEY": key} if key else {}
        query = sign(params, secret)
        limit = aiohttp.ClientTimeout(total=timeout)
        if method == "POST":
            headers["Content-Type"] = "application/x-www-form-urlencoded"
            resp = await self.http.post(self.base + path, data=query, headers=headers, timeout=limit)
        else:
            resp = await self.http.request(method, f"{self.base}{path}?{query}", headers=headers, timeout=limit)
        async with resp:
            return resp.status, await resp.json()

    async def order(self, **params: Any) -> tuple[int, Any]:
        base = {"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", "timeInForce": "GTC", "quantity": "0.01",
                "price": "59000"}
        return await self.call("POST", "/order", stamp(**(base | params)))


@pytest_asyncio.fixture(loop_scope="package")
async def api(sim: Simulator) -> AsyncIterator[Api]:
    sim.pause()
    await sim.set_price("binance", "BTC/USDT", "60000")
    sim.binance.add_account(KEY, SECRET, {"USDT": "1000000", "BTC": "2"})
    async with aiohttp.ClientSession() as http:
        yield Api(sim, http)


async def test_signature_may_cover_query_and_body_together(sim: Simulator, api: Api) -> None:
    query = urlencode({"symbol": "BTCUSDT", "side": "BUY"})
    body_params = stamp(type="LIMIT", timeInForce="GTC", quantity="0.01", price="59000")
    body = sign(body_params, extra=query)  # Binance signs query string + body, concatenated
    async with api.http.post(f"{api.base}/order?{query}", data=body, headers={
            "X-MBX-APIKEY": KEY, "Content-Type": "application/x-www-form-urlencoded"}) as resp:
        assert resp.status == 200
        assert (await resp.json())["status"] == "NEW"


@pytest.mark.parametrize(("key", "secret", "status", "code"), [
    ("", SECRET, 401, -2014), ("unknown", SECRET, 401, -2015), (KEY, "wrong", 400, -1022)])
async def test_bad_credentials_get_binance_codes(api: Api, key: str, secret: str, status: int, code: int) -> None:
    got_status, body = await api.call("GET", "/account", stamp(), key=key, secret=secret)
    assert (got_status, body["code"]) == (status, code)


async def test_timestamp_window_is_enforced_both_ways(api: Api) -> None:
    now = int(time.time() * 1000)
    status, body = await api.call("GET", "/account", {"timestamp": now - 6000})
    assert (status, body) == (400, {"code": -1021, "msg": "Timestamp for this request is outside of the recvWindow."})
    status, body = await api.call("GET", "/account", {"timestamp": now - 6000, "recvWindow": 10000})
    assert status == 200
    status, body = await api.call("GET", "/account", {"timestamp": now + 3000})
    assert body["code"] == -1021 and "ahead" in body["msg"]
    status, body = await api.call("GET", "/account", {"timestamp": now, "recvWindow": 70000})
    assert body["code"] == -1131


async def test_client_order_ids_are_unique_while_open_and_queryable(api: Api) -> None:
    status, first = await api.order(newClientOrderId="cid-1")
    assert status == 200 and first["clientOrderId"] == "cid-1"
    status, body = await api.order(newClientOrderId="cid-1")
    assert (status, body) == (400, {"code": -2010, "msg": "Duplicate order sent."})
    status, found = await api.call("GET", "/order", stamp(symbol="BTCUSDT", origClientOrderId="cid-1"))
    assert found["orderId"] == first["orderId"] and found["status"] == "NEW"
    status, body = await api.call("GET", "/order", stamp(symbol="BTCUSDT", origClientOrderId="nope"))
    assert (status, body["code"]) == (400, -2013)


async def test_filters_reject_off_grid_price_and_tiny_notional(api: Api) -> None:
    assert (await api.order(price="59000.001"))[1] == {"code": -1013, "msg": "Filter failure: PRICE_FILTER"}
    assert (await api.order(quantity="0.000001"))[1] == {"code": -1013, "msg": "Filter failure: LOT_SIZE"}
    assert (await api.order(quantity="0.00001"))[1] == {"code": -1013, "msg": "Filter failure: NOTIONAL"}


async def test_orphan_order_is_visible_to_the_platform(sim: Simulator, api: Api) -> None:
    orphan = sim.binance.create_orphan_order(KEY, "BTC/USDT", "SELL", "0.1", price="61000", client_order_id="manual")
    status, orders = await api.call("GET", "/openOrders", stamp(symbol="BTCUSDT"))
    assert [o["clientOrderId"] for o in orders] == ["manual"] and orders[0]["orderId"] == orphan["orderId"]
    assert sim.binance.balances(KEY)["BTC"] == (Decimal("1.9"), Decimal("0.1"))


async def test_failing_requests_return_500_minus_1001_and_place_nothing(sim: Simulator, api: Api) -> None:
    sim.binance.fail_next_orders(2)
    for _ in range(2):
        assert await api.order() == (500, {"code": -1001, "msg": sim_internal_error()})
    assert sim.binance.orders(KEY) == []
    assert (await api.order())[0] == 200


def sim_internal_error() -> str:
    return "Internal error; unable to process your request. Please try again."


@pytest.mark.parametrize("mode", ["close", "hang"])
async def test_a_dropped_response_leaves_the_order_on_the_exchange(sim: Simulator, api: Api, mode: str) -> None:
    sim.binance.drop_next_order_responses(1, mode=mode)
    with pytest.raises((aiohttp.ClientError, asyncio.TimeoutError)):
        await api.call("POST", "/order", stamp(symbol="BTCUSDT", side="BUY", type="LIMIT", timeInForce="GTC",
                                               quantity="0.01", price="59000", newClientOrderId="lost"), timeout=0.5)
    status, found = await api.call("GET", "/order", stamp(symbol="BTCUSDT", origClientOrderId="lost"))
    assert status == 200 and found["status"] == "NEW"


async def test_a_delayed_ack_arrives_late_but_the_order_is_live_at_once(sim: Simulator, api: Api) -> None:
    sim.binance.delay_order_acks(0.5, count=1)
    started = time.perf_counter()
    pending = asyncio.create_task(api.order(newClientOrderId="slow"))
    await asyncio.sleep(0.2)
    assert not pending.done()
    status, found = await api.call("GET", "/order", stamp(symbol="BTCUSDT", origClientOrderId="slow"))
    assert status == 200
    assert (await pending)[0] == 200 and time.perf_counter() - started >= 0.5
    started = time.perf_counter()
    await api.order(newClientOrderId="fast")
    assert time.perf_counter() - started < 0.5


async def test_ten_thousand_open_orders_are_listed_fast_and_fill_as_the_price_falls(sim: Simulator, api: Api) -> None:
    engine = sim.binance.trading
    account = engine.accounts[KEY]
    for i in range(10_000):
        price = Decimal("59000") - Decimal(i % 1000)  # 1000 price levels, 10 orders each
        engine.place(account, {"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", "timeInForce": "GTC",
                               "quantity": "0.0001", "price": str(price)})
    started = time.perf_counter()
    status, orders = await api.call("GET", "/openOrders", stamp(symbol="BTCUSDT"))
    elapsed = time.perf_counter() - started
    assert status == 200 and len(orders) == 10_000
    assert elapsed < 2.0, elapsed
    await sim.set_price("binance", "BTC/USDT", "58500.01")  # ask 58500.02: levels 59000..58501 fill (500 x 10)
    status, orders = await api.call("GET", "/openOrders", stamp(symbol="BTCUSDT"))
    assert len(orders) == 5_000
    assert max(Decimal(o["price"]) for o in orders) == Decimal("58500")
    status, account_info = await api.call("GET", "/account", stamp(omitZeroBalances="true"))
    btc = next(b for b in account_info["balances"] if b["asset"] == "BTC")
    assert Decimal(btc["free"]) == Decimal("2") + Decimal("0.5") - Decimal("0.0005")  # 0.1% fee in BTC
