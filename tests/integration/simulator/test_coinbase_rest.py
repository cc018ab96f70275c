"""ccxt's async coinbase client trades on the simulator's Advanced Trade REST with ES256 JWT keys."""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal

import aiohttp
import ccxt.async_support as ccxt
import pytest
import pytest_asyncio
from ccxt.base.errors import (
    AuthenticationError,
    BadRequest,
    ExchangeError,
    ExchangeNotAvailable,
    InsufficientFunds,
    NetworkError,
    PermissionDenied,
    RateLimitExceeded,
)

from marketdata.simulator import Simulator
from marketdata.simulator.coinbase_auth import generate_key

KEY, SECRET = generate_key()

pytestmark = pytest.mark.asyncio(loop_scope="package")


def coinbase(sim: Simulator, key: str = KEY, secret: str = SECRET) -> ccxt.coinbase:
    exchange = ccxt.coinbase({"apiKey": key, "secret": secret, "enableRateLimit": False,
                              "options": {"fetchBalance": "v3PrivateGetBrokerageAccounts"}})
    exchange.urls["api"]["rest"] = sim.urls["coinbase"].rest
    return exchange


@pytest_asyncio.fixture(loop_scope="package")
async def client(sim: Simulator) -> AsyncIterator[ccxt.coinbase]:
    sim.pause()
    await sim.set_price("coinbase", "BTC/USD", "60000")  # tick 0.01: bid 59999.99, ask 60000.01
    sim.coinbase.add_account(KEY, SECRET, {"USD": "100000", "BTC": "1"})
    exchange = coinbase(sim)
    yield exchange
    await exchange.close()


async def test_limit_order_with_client_id_is_listed_fetched_and_cancelled(sim: Simulator,
                                                                         client: ccxt.coinbase) -> None:
    placed = await client.create_order("BTC/USD", "limit", "buy", 0.01, 59000, {"client_order_id": "bot-1-0001"})
    assert placed["clientOrderId"] == "bot-1-0001"
    [listed] = await client.fetch_open_orders("BTC/USD")
    assert (listed["id"], listed["clientOrderId"], listed["status"], listed["price"], listed["amount"]) == (
        placed["id"], "bot-1-0001", "open", 59000, 0.01)
    # 590 USD plus the 1.2% fee Coinbase holds with a buy
    assert sim.coinbase.balances(KEY)["USD"] == (Decimal("100000") - Decimal("597.08"), Decimal("597.08"))
    again = await client.create_order("BTC/USD", "limit", "buy", 0.01, 59000, {"client_order_id": "bot-1-0001"})
    assert again["id"] == placed["id"] and len(await client.fetch_open_orders("BTC/USD")) == 1  # idempotent
    await client.cancel_order(placed["id"])
    assert await client.fetch_open_orders("BTC/USD") == []
    cancelled = await client.fetch_order(placed["id"])
    assert cancelled["status"] == "canceled"
    assert sim.coinbase.balances(KEY)["USD"] == (Decimal("100000"), Decimal("0"))


async def test_market_orders_fill_and_show_in_fills_balances_and_fees(sim: Simulator, client: ccxt.coinbase) -> None:
    sell = await client.create_order("BTC/USD", "market", "sell", 0.01, None, {"client_order_id": "bot-1-0002"})
    buy = await client.create_order("BTC/USD", "market", "buy", 600.0, None,  # quote to spend, fee included
                                    {"client_order_id": "bot-1-0003", "createMarketBuyOrderRequiresPrice": False})
    done = {o["id"]: o for o in await client.fetch_closed_orders("BTC/USD")}
    assert (done[sell["id"]]["average"], done[sell["id"]]["filled"]) == (59999.99, 0.01)
    assert done[buy["id"]]["average"] == 60000.01 and done[buy["id"]]["filled"] == pytest.approx(0.00988142)
    trades = {t["order"]: t for t in await client.fetch_my_trades("BTC/USD")}
    assert trades[sell["id"]]["takerOrMaker"] == "taker"
    assert trades[sell["id"]]["fee"] == {"cost": pytest.approx(7.1999988), "currency": "USD"}
    balance = await client.fetch_balance()
    assert balance["BTC"]["free"] == pytest.approx(1 - 0.01 + 0.00988142)
    fees = await client.fetch_trading_fees()
    assert (fees["BTC/USD"]["maker"], fees["BTC/USD"]["taker"]) == (0.006, 0.012)


async def test_resting_limit_sell_fills_as_maker_when_the_price_crosses(sim: Simulator,
                                                                       client: ccxt.coinbase) -> None:
    order = await client.create_order("BTC/USD", "limit", "sell", 0.5, 60100, {"client_order_id": "bot-1-0004"})
    await sim.set_price("coinbase", "BTC/USD", "60200")
    filled = await client.fetch_order(order["id"])
    assert (filled["status"], filled["average"], filled["filled"]) == ("closed", 60100, 0.5)
    [trade] = await client.fetch_my_trades("BTC/USD")
    assert trade["takerOrMaker"] == "maker" and trade["fee"]["cost"] == pytest.approx(180.3)  # 0.6%


async def test_order_errors_map_to_ccxt_exceptions(client: ccxt.coinbase) -> None:
    with pytest.raises(InsufficientFunds, match="PREVIEW_INSUFFICIENT_FUND"):
        await client.create_order("BTC/USD", "limit", "buy", 5, 59000, {"client_order_id": "bot-1-0005"})
    # ccxt maps neither NOT_FOUND nor a failed cancel to OrderNotFound: the adapter must read the body
    with pytest.raises(ExchangeError, match="NOT_FOUND"):
        await client.fetch_order("4b0e6d2e-1c1f-4e55-9b7e-000000000000")
    with pytest.raises(BadRequest):
        await client.cancel_order("4b0e6d2e-1c1f-4e55-9b7e-000000000000")


async def test_expired_tokens_foreign_keys_and_rate_limits_are_refused(sim: Simulator,
                                                                      client: ccxt.coinbase) -> None:
    other_key, other_secret = generate_key()
    forger = coinbase(sim, KEY, other_secret)  # our key name, somebody else's private key
    try:
        with pytest.raises(AuthenticationError):
            await forger.fetch_balance()
    finally:
        await forger.close()
    sim.coinbase.trading.clock_offset_ms = 130_000  # the venue's clock is past the token's 120 s expiry
    with pytest.raises(AuthenticationError):
        await client.fetch_balance()
    sim.coinbase.trading.clock_offset_ms = 0
    sim.coinbase.rate_limit_next(1)
    with pytest.raises(RateLimitExceeded):
        await client.fetch_balance()
    await client.fetch_balance()


async def test_key_permissions_report_and_enforce_scopes(sim: Simulator, client: ccxt.coinbase) -> None:
    assert await client.v3PrivateGetBrokerageKeyPermissions() == {
        "can_view": True, "can_trade": True, "can_transfer": False,
        "portfolio_uuid": (await client.v3PrivateGetBrokerageKeyPermissions())["portfolio_uuid"],
        "portfolio_type": "DEFAULT"}
    sim.coinbase.set_permissions(KEY, ("read", "withdraw"))
    assert (await client.v3PrivateGetBrokerageKeyPermissions())["can_transfer"] is True
    with pytest.raises(PermissionDenied):
        await client.create_order("BTC/USD", "limit", "buy", 0.01, 59000, {"client_order_id": "bot-1-0006"})


async def test_a_token_is_bound_to_its_method_and_path(sim: Simulator, client: ccxt.coinbase) -> None:
    base = sim.urls["coinbase"].rest
    token = client.create_auth_token(client.seconds(), "GET", base + "/api/v3/brokerage/accounts")
    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {token}"}) as http:
        async with http.get(base + "/api/v3/brokerage/accounts") as resp:
            assert resp.status == 200 and {a["currency"] for a in (await resp.json())["accounts"]} == {"USD", "BTC"}
        async with http.get(base + "/api/v3/brokerage/key_permissions") as resp:
            assert (resp.status, await resp.text()) == (401, "Unauthorized\n")


async def test_markets_and_candles_come_from_the_public_rest(client: ccxt.coinbase) -> None:
    markets = {m["symbol"]: m for m in await client.fetch_markets()}
    assert markets["BTC/USD"]["precision"]["price"] == 0.01 and markets["BTC/USD"]["limits"]["cost"]["min"] == 5
    candles = await client.fetch_ohlcv("BTC/USD", "1m", limit=5)
    assert len(candles) == 5 and candles[0][0] < candles[-1][0]


async def test_an_internal_error_places_nothing_and_a_lost_answer_leaves_the_order_open(
        sim: Simulator, client: ccxt.coinbase) -> None:
    sim.coinbase.fail_next_orders(1, status=503)
    with pytest.raises(ExchangeNotAvailable):
        await client.create_order("BTC/USD", "limit", "buy", 0.01, 59000, {"client_order_id": "bot-1-0009"})
    assert sim.coinbase.orders(KEY) == []
    sim.coinbase.drop_next_order_responses(1, mode="close")
    with pytest.raises(NetworkError):
        await client.create_order("BTC/USD", "limit", "buy", 0.01, 59000, {"client_order_id": "bot-1-0010"})
    [found] = await client.fetch_open_orders("BTC/USD")
    assert found["clientOrderId"] == "bot-1-0010"
    retried = await client.create_order("BTC/USD", "limit", "buy", 0.01, 59000, {"client_order_id": "bot-1-0010"})
    assert retried["id"] == found["id"]  # resending the same client_order_id is safe on Coinbase


async def test_market_data_is_also_served_on_the_signed_paths(sim: Simulator, client: ccxt.coinbase) -> None:
    client.options["usePrivate"] = True
    client.options["fetchMarkets"] = {"usePrivate": True}
    markets = await client.fetch_markets()
    assert {m["symbol"] for m in markets} == {"BTC/USD", "ETH/USD"}
    assert len(await client.fetch_ohlcv("BTC/USD", "5m", limit=3)) == 3
    quotes = await client.fetch_bids_asks(["BTC/USD"])
    assert (quotes["BTC/USD"]["bid"], quotes["BTC/USD"]["ask"]) == (59999.99, 60000.01)
    async with aiohttp.ClientSession() as http:
        async with http.get(sim.urls["coinbase"].rest + "/api/v3/brokerage/products") as resp:
            assert resp.status == 401


async def test_ccxt_default_balance_reads_the_v2_accounts_with_the_same_token(sim: Simulator) -> None:
    sim.coinbase.add_account(KEY, SECRET, {"USD": "100", "BTC": "0.5"})
    exchange = ccxt.coinbase({"apiKey": KEY, "secret": SECRET, "enableRateLimit": False})
    exchange.urls["api"]["rest"] = sim.urls["coinbase"].rest
    try:
        balance = await exchange.fetch_balance()
    finally:
        await exchange.close()
    assert (balance["BTC"]["total"], balance["USD"]["total"]) == (0.5, 100)
