"""ccxt's async kraken client trades on the simulator's private REST, signed as Kraken signs it."""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from collections.abc import AsyncIterator
from decimal import Decimal
from urllib.parse import urlencode

import aiohttp
import ccxt.async_support as ccxt
import pytest
import pytest_asyncio
from ccxt.base.errors import (
    AuthenticationError,
    DDoSProtection,
    ExchangeError,
    ExchangeNotAvailable,
    InsufficientFunds,
    InvalidNonce,
    InvalidOrder,
    NetworkError,
    OrderNotFound,
    PermissionDenied,
)

from marketdata.simulator import Simulator

KEY, SECRET = "kraken-key", base64.b64encode(b"kraken secret bytes for the simulator").decode()

pytestmark = pytest.mark.asyncio(loop_scope="package")


def kraken(sim: Simulator, key: str = KEY, secret: str = SECRET) -> ccxt.kraken:
    exchange = ccxt.kraken({"apiKey": key, "secret": secret, "enableRateLimit": False})
    exchange.urls["api"]["public"] = exchange.urls["api"]["private"] = sim.urls["kraken"].rest
    return exchange


@pytest_asyncio.fixture(loop_scope="package")
async def client(sim: Simulator) -> AsyncIterator[ccxt.kraken]:
    sim.pause()
    await sim.set_price("kraken", "BTC/USD", "60000")  # tick 0.1: bid 59999.9, ask 60000.1
    sim.kraken.add_account(KEY, SECRET, {"USD": "100000", "BTC": "1"})
    exchange = kraken(sim)
    yield exchange
    await exchange.close()


async def test_limit_order_with_client_id_is_listed_queried_and_cancelled(sim: Simulator,
                                                                         client: ccxt.kraken) -> None:
    placed = await client.create_order("BTC/USD", "limit", "buy", 0.01, 59000, {"clientOrderId": "bot-1-0001"})
    assert placed["id"].startswith("O") and len(placed["id"]) == 19
    [listed] = await client.fetch_open_orders("BTC/USD")
    assert (listed["id"], listed["clientOrderId"], listed["status"], listed["price"], listed["amount"]) == (
        placed["id"], "bot-1-0001", "open", 59000, 0.01)
    found = await client.fetch_order(placed["id"])
    assert (found["id"], found["side"], found["type"]) == (placed["id"], "buy", "limit")
    # 590 USD plus the 0.40% fee the venue holds with the order (Kraken charges it in USD)
    assert sim.kraken.balances(KEY)["USD"] == (Decimal("100000") - Decimal("592.36"), Decimal("592.36"))
    await client.cancel_order(None, params={"clientOrderId": "bot-1-0001"})
    assert await client.fetch_open_orders("BTC/USD") == []
    [closed] = await client.fetch_closed_orders("BTC/USD")
    assert (closed["id"], closed["status"]) == (placed["id"], "canceled")
    assert sim.kraken.balances(KEY)["USD"] == (Decimal("100000"), Decimal("0"))


async def test_market_buy_fills_at_the_ask_and_shows_in_trades_balances_and_fees(sim: Simulator,
                                                                                client: ccxt.kraken) -> None:
    order = await client.create_order("BTC/USD", "market", "buy", 0.01, None, {"userref": 42})
    filled = await client.fetch_order(order["id"])
    assert (filled["status"], filled["filled"], filled["average"]) == ("closed", 0.01, 60000.1)
    [trade] = await client.fetch_my_trades("BTC/USD")
    assert (trade["order"], trade["price"], trade["amount"], trade["takerOrMaker"]) == (
        order["id"], 60000.1, 0.01, "taker")
    assert trade["fee"] == {"cost": 2.4, "currency": "USD"}  # 600.001 x 0.40%, printed at 5 places
    [by_userref] = (await client.fetch_closed_orders("BTC/USD", params={"userref": 42}))
    assert by_userref["id"] == order["id"] and by_userref["clientOrderId"] == "42"
    balance = await client.fetch_balance()
    assert balance["BTC"]["total"] == pytest.approx(1.01)
    assert balance["USD"]["total"] == pytest.approx(100000 - 600.001 - 2.400004)
    fee = await client.fetch_trading_fee("BTC/USD")
    assert (fee["maker"], fee["taker"]) == (0.0025, 0.004)


async def test_resting_limit_sell_fills_as_maker_when_the_price_crosses(sim: Simulator,
                                                                       client: ccxt.kraken) -> None:
    order = await client.create_order("BTC/USD", "limit", "sell", 0.5, 60100)
    await sim.set_price("kraken", "BTC/USD", "60200")
    filled = await client.fetch_order(order["id"])
    assert (filled["status"], filled["average"], filled["filled"]) == ("closed", 60100, 0.5)
    [trade] = await client.fetch_my_trades("BTC/USD")
    assert trade["takerOrMaker"] == "maker" and trade["fee"]["cost"] == pytest.approx(75.125)  # 0.25%


async def test_order_errors_map_to_ccxt_exceptions(client: ccxt.kraken) -> None:
    with pytest.raises(InsufficientFunds, match="EOrder:Insufficient funds"):
        await client.create_order("BTC/USD", "limit", "buy", 5, 59000)
    with pytest.raises(OrderNotFound, match="EOrder:Unknown order"):
        await client.cancel_order("OAAAAA-BBBBB-CCCCCC")
    with pytest.raises(InvalidOrder, match="EOrder:Invalid order"):
        await client.fetch_order("OAAAAA-BBBBB-CCCCCC")
    with pytest.raises(ExchangeError, match="EOrder:Cost minimum not met"):  # below costmin: 0.59 USD < 5
        await client.create_order("BTC/USD", "limit", "buy", 0.00001, 59000)


async def test_unknown_key_bad_signature_and_reused_nonce_are_refused(sim: Simulator, client: ccxt.kraken) -> None:
    stranger = kraken(sim, key="nobody")
    forger = kraken(sim, secret=base64.b64encode(b"not the secret").decode())
    try:
        with pytest.raises(AuthenticationError, match="EAPI:Invalid key"):
            await stranger.fetch_balance()
        with pytest.raises(ExchangeError, match="EAPI:Invalid signature"):  # ccxt has no class of its own for it
            await forger.fetch_balance()
    finally:
        await stranger.close()
        await forger.close()
    await client.fetch_balance()
    client.incrementing_nonce = lambda: 1  # a nonce lower than the one the key already used
    with pytest.raises(InvalidNonce, match="EAPI:Invalid nonce"):
        await client.fetch_balance()


async def test_the_rate_limit_answers_eapi_rate_limit_exceeded(sim: Simulator, client: ccxt.kraken) -> None:
    sim.kraken.limit_requests(KEY, 2, window=60)
    await client.fetch_balance()
    await client.fetch_open_orders()
    with pytest.raises(DDoSProtection, match="EAPI:Rate limit exceeded"):  # ccxt's exact map says DDoSProtection
        await client.fetch_balance()


async def test_withdrawal_probe_is_denied_unless_the_key_may_withdraw(sim: Simulator, client: ccxt.kraken) -> None:
    probe = {"asset": "XBT", "key": "platform-probe", "amount": "0.001"}
    with pytest.raises(PermissionDenied, match="EGeneral:Permission denied"):
        await client.privatePostWithdrawInfo(probe)
    sim.kraken.set_permissions(KEY, ("read", "trade", "withdraw"))
    with pytest.raises(ExchangeError, match="EFunding:Unknown withdraw key"):
        await client.privatePostWithdrawInfo(probe)
    methods = await client.privatePostWithdrawMethods({"asset": "XBT"})
    assert methods["result"][0]["asset"] == "XXBT"
    sim.kraken.set_permissions(KEY, ("read",))
    with pytest.raises(PermissionDenied):
        await client.create_order("BTC/USD", "limit", "buy", 0.01, 59000)


async def test_signature_covers_the_path_and_the_nonce_plus_body(sim: Simulator) -> None:
    sim.kraken.add_account(KEY, SECRET, {"USD": "10"})
    nonce = str(time.time_ns())
    body = urlencode({"nonce": nonce})
    digest = hashlib.sha256((nonce + body).encode()).digest()
    sign = base64.b64encode(hmac.new(base64.b64decode(SECRET), b"/0/private/Balance" + digest,
                                     hashlib.sha512).digest()).decode()
    headers = {"API-Key": KEY, "API-Sign": sign, "Content-Type": "application/x-www-form-urlencoded"}
    async with aiohttp.ClientSession() as http:
        async with http.post(sim.urls["kraken"].rest + "/0/private/Balance", data=body, headers=headers) as resp:
            assert (resp.status, await resp.json()) == (200, {"error": [], "result": {"ZUSD": "10.0000000000"}})
        async with http.post(sim.urls["kraken"].rest + "/0/private/Balance", data=body, headers=headers) as resp:
            assert await resp.json() == {"error": ["EAPI:Invalid nonce"]}  # the same request replayed


async def test_markets_and_candles_come_from_the_public_rest(sim: Simulator, client: ccxt.kraken) -> None:
    markets = {m["symbol"]: m for m in await client.fetch_markets()}
    btc = markets["BTC/USD"]
    assert (btc["id"], btc["precision"]["price"], btc["precision"]["amount"], btc["limits"]["cost"]["min"]) == (
        "XXBTZUSD", 0.1, 0.00000001, 5)
    candles = await client.fetch_ohlcv("BTC/USD", "1m", limit=5)
    assert len(candles) == 5 and all(low <= high for _, _, high, low, _, _ in candles)


async def test_an_internal_error_places_nothing_and_a_lost_answer_leaves_the_order_open(
        sim: Simulator, client: ccxt.kraken) -> None:
    sim.kraken.fail_next_orders(1)
    with pytest.raises(ExchangeNotAvailable, match="EGeneral:Internal error"):
        await client.create_order("BTC/USD", "limit", "buy", 0.01, 59000, {"clientOrderId": "bot-1-0009"})
    assert sim.kraken.orders(KEY) == []
    sim.kraken.drop_next_order_responses(1, mode="close")
    with pytest.raises(NetworkError):
        await client.create_order("BTC/USD", "limit", "buy", 0.01, 59000, {"clientOrderId": "bot-1-0010"})
    [found] = await client.fetch_open_orders("BTC/USD", params={"clientOrderId": "bot-1-0010"})
    assert found["clientOrderId"] == "bot-1-0010" and found["status"] == "open"


async def test_orders_are_cancelled_by_txid_userref_or_cl_ord_id(sim: Simulator, client: ccxt.kraken) -> None:
    by_txid = await client.create_order("BTC/USD", "limit", "buy", 0.01, 59000)
    await client.create_order("BTC/USD", "limit", "buy", 0.01, 58900, {"userref": 7})
    await client.create_order("BTC/USD", "limit", "buy", 0.01, 58800, {"userref": 7})
    await client.create_order("BTC/USD", "limit", "buy", 0.01, 58700, {"clientOrderId": "bot-1-0011"})
    assert (await client.privatePostCancelOrder({"txid": "7"}))["result"]["count"] == 2
    await client.cancel_order(by_txid["id"])
    with pytest.raises(InvalidOrder):  # a cl_ord_id is not a txid
        await client.fetch_order("bot-1-0011")
    await client.cancel_order(None, params={"clientOrderId": "bot-1-0011"})
    assert await client.fetch_open_orders() == []
