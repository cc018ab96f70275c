"""The venue-neutral matching engine: holds, fees in base or quote, resting fills, rejections, limits."""

from __future__ import annotations

from decimal import Decimal

import pytest

from marketdata.simulator.matching import MatchingEngine, OrderRejected
from marketdata.simulator.model import Market, MarketSpec, VenueMarkets

D = Decimal
SPEC = MarketSpec("BTC/USD", "BTC-USD", "BTC", "USD", D("60000"), D("0.01"), D("0.00001"), min_notional=D("5"))


def engine(fee_in_quote: bool) -> tuple[MatchingEngine, Market]:
    markets = VenueMarkets("test")
    market = Market("test", SPEC, 7)
    market.move_to(D("60000"))  # bid 59999.99, ask 60000.01
    markets.add(market)
    return MatchingEngine(markets, "seed", fee_in_quote=fee_in_quote), market


def test_a_quote_fee_venue_holds_the_fee_with_a_buy_and_returns_it_on_cancel() -> None:
    eng, market = engine(fee_in_quote=True)
    account = eng.add_account("k", "s", {"USD": "1000"}, maker_fee="0.006", taker_fee="0.012")
    order = eng.submit(account, market, "BUY", "LIMIT", D("0.01"), D("59000"))
    assert eng.balances("k")["USD"] == (D("1000") - D("597.08"), D("597.08"))
    eng.cancel(order)
    assert eng.balances("k")["USD"] == (D("1000"), D("0"))
    with pytest.raises(OrderRejected, match="not_open"):
        eng.cancel(order)


def test_a_resting_buy_fills_as_maker_and_the_unused_hold_comes_back() -> None:
    eng, market = engine(fee_in_quote=True)
    account = eng.add_account("k", "s", {"USD": "1000"}, maker_fee="0.006", taker_fee="0.012")
    order = eng.submit(account, market, "BUY", "LIMIT", D("0.01"), D("59000"))
    market.move_to(D("58000"))
    eng.on_market(market)
    [fill] = order.fills
    assert (order.status, fill.maker, fill.fee, fill.fee_asset) == ("FILLED", True, D("3.54"), "USD")
    assert eng.balances("k") == {"USD": (D("1000") - D("590") - D("3.54"), D("0")), "BTC": (D("0.01"), D("0"))}


def test_a_base_fee_venue_takes_a_buyers_fee_from_what_it_receives() -> None:
    eng, market = engine(fee_in_quote=False)
    account = eng.add_account("k", "s", {"USD": "1000"})
    order = eng.submit(account, market, "BUY", "MARKET", D("0.01"))
    assert (order.status, order.average, order.fills[0].fee_asset) == ("FILLED", D("60000.01"), "BTC")
    assert eng.balances("k")["BTC"] == (D("0.00999"), D("0"))


def test_a_market_buy_by_quote_spends_at_most_the_quote_including_the_fee() -> None:
    eng, market = engine(fee_in_quote=True)
    account = eng.add_account("k", "s", {"USD": "1000"}, taker_fee="0.012")
    order = eng.submit(account, market, "BUY", "MARKET", D(0), quote_qty=D("600"))
    spent = D("1000") - eng.balances("k")["USD"][0]
    assert order.executed_qty == D("0.00988") and spent <= D("600")


@pytest.mark.parametrize(("qty", "price", "reason"), [
    (D("0.01"), D("59000.001"), "price_filter"), (D("0.000001"), D("59000"), "lot_size"),
    (D("0.00001"), D("59000"), "min_notional"), (D("1"), D("59000"), "insufficient_funds")])
def test_bad_orders_are_rejected_with_a_neutral_reason_and_hold_nothing(qty: Decimal, price: Decimal,
                                                                       reason: str) -> None:
    eng, market = engine(fee_in_quote=True)
    account = eng.add_account("k", "s", {"USD": "1000"})
    with pytest.raises(OrderRejected) as caught:
        eng.submit(account, market, "BUY", "LIMIT", qty, price)
    assert caught.value.reason == reason and eng.balances("k")["USD"] == (D("1000"), D("0"))


def test_open_client_ids_are_unique_and_post_only_never_takes() -> None:
    eng, market = engine(fee_in_quote=True)
    account = eng.add_account("k", "s", {"USD": "10000"})
    eng.submit(account, market, "BUY", "LIMIT", D("0.01"), D("59000"), client_id="c1")
    with pytest.raises(OrderRejected, match="duplicate"):
        eng.submit(account, market, "BUY", "LIMIT", D("0.01"), D("59000"), client_id="c1")
    with pytest.raises(OrderRejected, match="would_take"):
        eng.submit(account, market, "BUY", "LIMIT", D("0.01"), D("60001"), post_only=True)


def test_permissions_default_to_read_and_trade_and_rate_limits_count_per_key() -> None:
    eng, _ = engine(fee_in_quote=True)
    account = eng.add_account("k", "s")
    assert (account.can("read"), account.can("trade"), account.can("withdraw")) == (True, True, False)
    with pytest.raises(ValueError, match="fly"):
        eng.set_permissions("k", ("fly",))
    eng.limit_requests("k", 2, window=60)
    assert [eng.allow(account) for _ in range(3)] == [True, True, False]
    eng.limit_requests("k", None)
    eng.rate_limit_next(1)
    assert [eng.allow(account) for _ in range(2)] == [False, True]
