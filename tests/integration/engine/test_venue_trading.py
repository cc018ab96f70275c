"""Each venue's signed trading client (``marketdata/exchanges/<venue>/trading.py``) against the
simulator's signed REST of that venue: orders with our client order id, lookups, cancels, fills,
balances, the account's own fees and the key's permissions, and the "unknown is not not-found" rule."""

from __future__ import annotations

import asyncio
import base64
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from marketdata.exchanges.base import Credentials, OrderAbsent, OrderRefused, OrderRequest, VenueUnavailable
from marketdata.exchanges.registry import get_adapter
from marketdata.simulator.coinbase_auth import generate_key
from marketdata.simulator.server import Simulator

D = Decimal
pytestmark = pytest.mark.timeout(60)


@dataclass(frozen=True)
class Venue:
    name: str
    symbol: str
    quote: str

    def keys(self) -> tuple[str, str]:
        if self.name == "coinbase":
            return generate_key()
        if self.name == "kraken":
            return f"kr-{secrets.token_hex(4)}", base64.b64encode(secrets.token_bytes(32)).decode()
        return f"bn-{secrets.token_hex(4)}", secrets.token_hex(16)


VENUES = [Venue("binance", "BTC/USDT", "USDT"), Venue("coinbase", "BTC/USD", "USD"), Venue("kraken", "BTC/USD", "USD")]


@pytest.fixture
async def sim():
    s = Simulator(seed=5)
    await s.start()
    s.pause()
    yield s
    await s.stop()


@pytest.fixture(params=VENUES, ids=lambda v: v.name)
async def venue(request, sim):
    v: Venue = request.param
    await sim.set_price(v.name, v.symbol, "60000")
    return v


async def client_for(sim, v: Venue, *, permissions=("read", "trade"), fees=(D("0.0011"), D("0.0023")),
                     balances=None):
    key, secret = v.keys()
    getattr(sim, v.name).add_account(key, secret, balances or {v.quote: "100000", "BTC": "1"},
                                     maker_fee=fees[0], taker_fee=fees[1], permissions=permissions)
    client = get_adapter(v.name).trading_client(sim.urls[v.name].rest, Credentials(key, secret), timeout=5)
    client.exchange.enableRateLimit = False
    return client, key


def coid() -> str:
    return f"bp7-{secrets.token_hex(10)}"  # longer than Kraken's 18-char free text: it travels as a UUID


async def test_a_market_order_fills_at_the_ask_with_our_id_and_the_accounts_taker_fee(sim, venue):
    client, _ = await client_for(sim, venue)
    try:
        ours = coid()
        placed = await client.place(OrderRequest(venue.symbol, ours, "buy", "market", D("0.01")))
        assert placed.client_order_id == ours and placed.status == "filled" and placed.exchange_order_id
        assert sum(t.quantity for t in placed.trades) == D("0.01")
        _, ask = sim.best_bid_ask(venue.name, venue.symbol)
        assert {t.price for t in placed.trades} == {ask}
        for t in placed.trades:  # Binance takes a buy's commission in the asset bought
            charged = t.quantity if t.fee_asset == "BTC" else t.price * t.quantity
            assert t.fee == (charged * D("0.0023")).quantize(t.fee)
        again = await client.order(venue.symbol, ours, since=datetime.now(UTC) - timedelta(minutes=1))
        assert (again.status, again.filled_quantity) == ("filled", D("0.01"))
        trades = await client.trades(venue.symbol, datetime.now(UTC) - timedelta(hours=1))
        assert {t.trade_id for t in trades} == {t.trade_id for t in placed.trades}
    finally:
        await client.close()


async def test_a_resting_limit_is_listed_found_by_our_id_and_cancelled(sim, venue):
    client, _ = await client_for(sim, venue)
    try:
        ours = coid()
        placed = await client.place(OrderRequest(venue.symbol, ours, "buy", "limit", D("0.01"), D("50000")))
        assert placed.status == "open" and placed.price == D("50000")
        [listed] = await client.open_orders(venue.symbol)
        assert (listed.client_order_id, listed.exchange_order_id) == (ours, placed.exchange_order_id)
        found = await client.order(venue.symbol, ours)
        assert (found.status, found.quantity, found.side, found.type) == ("open", D("0.01"), "buy", "limit")
        by_id = await client.order(venue.symbol, ours, exchange_order_id=placed.exchange_order_id)
        assert (by_id.client_order_id, by_id.status) == (ours, "open")  # one cheap request by the venue's id
        assert (await client.cancel(venue.symbol, ours)).status == "canceled"
        assert await client.open_orders(venue.symbol) == []
        assert (await client.order(venue.symbol, ours)).status == "canceled"
    finally:
        await client.close()


async def test_kraken_round_trips_fit_a_starter_keys_request_budget_without_waiting(sim):
    """An entry with its fills (AddOrder, QueryOrders, TradesHistory: 3 points), its protective stop (1),
    the stop's cancel (1) and the exit (3) spend 8 of the 15 points a starter key holds, and the points
    come back while the key is idle. So neither the first round trip nor one after a pause may wait on
    our own throttle. (With ccxt's units taken for points the budget was a third of Kraken's, and ccxt's
    bucket gave nothing back for idle time: an exit after an entry waited past the engine's send timeout.)"""
    v = VENUES[2]
    await sim.set_price(v.name, v.symbol, "60000")
    key, secret = v.keys()
    sim.kraken.add_account(key, secret, {v.quote: "100000", "BTC": "1"})
    client = get_adapter("kraken").trading_client(sim.urls["kraken"].rest, Credentials(key, secret), timeout=5)
    exchange = client.exchange
    assert exchange.enableRateLimit  # the real throttle, as the engine runs it
    exchange.throttler.config["refillRate"] *= 10  # the counter's decay, 10 times faster: a pause of 3 s, not 30
    held_back: list[float] = []
    throttle = exchange.throttle

    async def counted(cost=None):
        if cost and exchange.throttler.config["tokens"] < 0:
            held_back.append(cost)  # the bucket is in debt: this request waits for it to refill
        await throttle(cost)

    async def round_trip() -> None:
        entry = await client.place(OrderRequest(v.symbol, coid(), "buy", "market", D("0.01")))
        assert entry.status == "filled" and entry.trades
        stop_id = coid()
        stop = await client.place_protective_stop(v.symbol, D("0.01"), D("59000"), D("58900"), stop_id)
        assert stop.status == "open"
        assert (await client.cancel(v.symbol, stop_id, stop.exchange_order_id)).status == "canceled"
        exit_ = await client.place(OrderRequest(v.symbol, coid(), "sell", "market", D("0.01")))
        assert exit_.status == "filled" and exit_.trades

    exchange.throttle = counted
    try:
        for n in range(3):  # 24 of ccxt's units a trip: the third would start in debt without the pauses' credit
            if n:
                await asyncio.sleep(3)  # 30 s of a real key's decay: every point is back
            await round_trip()
            assert held_back == [], n
    finally:
        await client.close()


async def test_an_order_the_venue_never_saw_is_definitely_absent(sim, venue):
    client, _ = await client_for(sim, venue)
    try:
        with pytest.raises(OrderAbsent):
            await client.order(venue.symbol, coid(), since=datetime.now(UTC) - timedelta(minutes=5))
    finally:
        await client.close()


async def test_a_rate_limited_or_unreachable_venue_is_unavailable_never_absent(sim, venue):
    client, key = await client_for(sim, venue)
    try:
        getattr(sim, venue.name).rate_limit_next(count=10, api_key=key)
        with pytest.raises(VenueUnavailable) as caught:
            await client.order(venue.symbol, coid())
        assert not isinstance(caught.value, OrderAbsent)
    finally:
        await client.close()
    dead = get_adapter(venue.name).trading_client("http://127.0.0.1:9/x", Credentials(*venue.keys()), timeout=2)
    try:
        with pytest.raises(VenueUnavailable):
            await dead.order(venue.symbol, coid())
    finally:
        await dead.close()


async def test_refusals_with_a_stated_reason_are_refused(sim, venue):
    client, _ = await client_for(sim, venue, balances={venue.quote: "10", "BTC": "0"})
    try:
        with pytest.raises(OrderRefused):
            await client.place(OrderRequest(venue.symbol, coid(), "buy", "limit", D("1"), D("50000")))
    finally:
        await client.close()


async def test_balances_fees_and_permissions_are_the_accounts_own(sim, venue):
    client, _ = await client_for(sim, venue)
    try:
        balances = await client.balances()
        assert balances["BTC"].total == D("1") and balances[venue.quote].free == D("100000")
        fees = await client.fees(venue.symbol)
        assert (fees.maker, fees.taker) == (D("0.0011"), D("0.0023"))
        permissions = await client.permissions()
        assert permissions.trade and not permissions.withdraw
    finally:
        await client.close()
    risky, _ = await client_for(sim, venue, permissions=("read", "trade", "withdraw"))
    try:
        assert (await risky.permissions()).withdraw
    finally:
        await risky.close()


async def test_a_5xx_or_a_lost_answer_to_a_place_is_unavailable_and_the_lookup_then_decides(sim, venue):
    client, _ = await client_for(sim, venue)
    faults = getattr(sim, venue.name)
    try:
        faults.fail_next_orders(1, 500)
        with pytest.raises(VenueUnavailable):  # not refused: the engine marks it unknown
            await client.place(OrderRequest(venue.symbol, coid(), "buy", "limit", D("0.01"), D("50000")))
        lost = coid()
        faults.drop_next_order_responses(1, "close")  # accepted by the venue, the answer never arrives
        with pytest.raises(VenueUnavailable):
            await client.place(OrderRequest(venue.symbol, lost, "buy", "limit", D("0.01"), D("50000")))
        faults.clear_order_faults()
        found = await client.order(venue.symbol, lost, since=datetime.now(UTC) - timedelta(minutes=1))
        assert (found.client_order_id, found.status) == (lost, "open")  # found again by our id
    finally:
        await client.close()
