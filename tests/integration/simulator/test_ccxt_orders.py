"""ccxt's async REST client places, queries and cancels Binance orders on the simulator's signed API."""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal

import ccxt.async_support as ccxt
import pytest
import pytest_asyncio
from ccxt.base.errors import (
    AuthenticationError,
    DDoSProtection,
    InsufficientFunds,
    InvalidNonce,
    OrderNotFound,
)

from marketdata.simulator import Simulator

pytestmark = pytest.mark.asyncio(loop_scope="package")


@pytest_asyncio.fixture(loop_scope="package")
async def client(sim: Simulator) -> AsyncIterator[ccxt.binance]:
    sim.pause()
    await sim.set_price("binance", "BTC/USDT", "60000")
    sim.binance.add_account("key-a", "secret-a", {"USDT": "100000", "BTC": "1"})
    options = {"fetchMarkets": {"types": ["spot"]}, "defaultType": "spot", "fetchCurrencies": False,
               "fetchMargins": False}
    exchange = ccxt.binance({"apiKey": "key-a", "secret": "secret-a", "enableRateLimit": False,
                             "options": options})
    for key in ("public", "private", "v1"):
        exchange.urls["api"][key] = sim.urls["binance"].rest + "/api/v3"
    exchange.urls["api"]["sapi"] = sim.urls["binance"].rest + "/sapi/v1"
    yield exchange
    await exchange.close()


async def test_limit_order_is_placed_queried_by_both_ids_and_cancelled(sim: Simulator, client: ccxt.binance) -> None:
    placed = await client.create_order("BTC/USDT", "limit", "buy", 0.01, 59000, {"clientOrderId": "bot-1-0001"})
    assert (placed["status"], placed["clientOrderId"], placed["price"], placed["amount"]) == (
        "open", "bot-1-0001", 59000, 0.01)
    by_id = await client.fetch_order(placed["id"], "BTC/USDT")
    by_client_id = await client.fetch_order(None, "BTC/USDT", {"origClientOrderId": "bot-1-0001"})
    assert by_id["id"] == by_client_id["id"] == placed["id"]
    assert [o["id"] for o in await client.fetch_open_orders("BTC/USDT")] == [placed["id"]]
    assert sim.binance.balances("key-a")["USDT"] == (Decimal("99410"), Decimal("590"))
    cancelled = await client.cancel_order(placed["id"], "BTC/USDT")
    assert cancelled["status"] == "canceled"
    assert await client.fetch_open_orders("BTC/USDT") == []
    assert sim.binance.balances("key-a")["USDT"] == (Decimal("100000"), Decimal("0"))


async def test_market_buy_fills_at_the_ask_with_the_fee_taken_in_base(sim: Simulator, client: ccxt.binance) -> None:
    order = await client.create_order("BTC/USDT", "market", "buy", 0.01)
    assert (order["status"], order["filled"], order["average"]) == ("closed", 0.01, 60000.01)
    trades = await client.fetch_my_trades("BTC/USDT")
    assert len(trades) == 1 and trades[0]["fee"] == {"currency": "BTC", "cost": 0.00001}
    balance = await client.fetch_balance()
    assert balance["BTC"]["free"] == pytest.approx(1.00999)
    assert balance["USDT"]["free"] == pytest.approx(100000 - 600.0001)


async def test_resting_limit_sell_fills_when_the_price_crosses(sim: Simulator, client: ccxt.binance) -> None:
    order = await client.create_order("BTC/USDT", "limit", "sell", 0.5, 60100)
    await sim.set_price("binance", "BTC/USDT", "60050")
    assert (await client.fetch_order(order["id"], "BTC/USDT"))["status"] == "open"
    await sim.set_price("binance", "BTC/USDT", "60200")
    filled = await client.fetch_order(order["id"], "BTC/USDT")
    assert (filled["status"], filled["average"], filled["filled"]) == ("closed", 60100, 0.5)
    trade = (await client.fetch_my_trades("BTC/USDT"))[-1]
    assert trade["takerOrMaker"] == "maker" and trade["fee"]["currency"] == "USDT"


async def test_unknown_orders_and_insufficient_balance_raise_ccxt_errors(client: ccxt.binance) -> None:
    with pytest.raises(OrderNotFound, match="-2013"):
        await client.fetch_order("123", "BTC/USDT")
    with pytest.raises(OrderNotFound, match="-2011"):
        await client.cancel_order("123", "BTC/USDT")
    with pytest.raises(InsufficientFunds, match="insufficient balance"):
        await client.create_order("BTC/USDT", "limit", "buy", 5, 59000)


async def test_bad_signature_and_stale_timestamp_are_rejected_like_binance(sim: Simulator,
                                                                          client: ccxt.binance) -> None:
    client.secret = "not-the-secret"
    with pytest.raises(AuthenticationError, match="-1022"):
        await client.fetch_balance()
    client.secret = "secret-a"
    sim.binance.trading.clock_offset_ms = 30_000  # our clock runs 30 s behind the exchange's
    with pytest.raises(InvalidNonce, match="-1021"):
        await client.fetch_balance()


async def test_api_restrictions_report_what_the_key_may_do_and_orders_need_trade(sim: Simulator,
                                                                                client: ccxt.binance) -> None:
    restrictions = await client.sapiGetAccountApiRestrictions()
    assert (restrictions["enableReading"], restrictions["enableSpotAndMarginTrading"],
            restrictions["enableWithdrawals"]) == (True, True, False)
    sim.binance.set_permissions("key-a", ("read", "withdraw"))
    assert (await client.sapiGetAccountApiRestrictions())["enableWithdrawals"] is True
    assert (await client.fetch_balance())["info"]["canWithdraw"] is True
    # ccxt reads -2015 after a successful call as a temporary ban: the adapter must not trust its class
    with pytest.raises(DDoSProtection, match="-2015"):
        await client.create_order("BTC/USDT", "limit", "buy", 0.01, 59000)


async def test_a_key_over_its_rate_limit_gets_429_minus_1003(sim: Simulator, client: ccxt.binance) -> None:
    sim.binance.limit_requests("key-a", 1, window=60)
    await client.fetch_balance()
    with pytest.raises(DDoSProtection, match="429 Too Many Requests.*-1003"):  # ccxt's class for Binance's 429
        await client.fetch_balance()


async def test_markets_with_their_rules_and_candles_come_from_the_public_rest(client: ccxt.binance) -> None:
    market = next(m for m in await client.fetch_markets() if m["symbol"] == "BTC/USDT")
    assert (market["precision"]["price"], market["precision"]["amount"], market["limits"]["cost"]["min"]) == (
        0.01, 0.00001, 5)
    candles = await client.fetch_ohlcv("BTC/USDT", "1m", limit=5)
    assert len(candles) == 5 and candles[0][0] < candles[-1][0]
