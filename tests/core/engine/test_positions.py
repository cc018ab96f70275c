from datetime import timedelta
from decimal import Decimal

from bots.engine.positions import Position
from bots.engine.types import Fill, RiskSettings

from .fakes import T0

D = Decimal


def fill(side, price, qty, fee="0", asset="USDT", at=T0):
    return Fill("c", "t", side, D(price), D(qty), D(fee), asset, at)


def test_buys_average_the_entry_and_sells_realise_pnl_net_of_fees():
    p = Position("BTC")
    r = RiskSettings()
    p.apply_fill(fill("buy", "100", "1", "0.1"), r)
    p.apply_fill(fill("buy", "110", "1", "0.11"), r)
    assert p.quantity == 2 and p.average_entry == D("105")
    realized = p.apply_fill(fill("sell", "120", "2", "0.24"), r)
    assert realized == D("30") - D("0.24")
    assert p.realized_pnl == p.realized_total == D("30") - D("0.45")
    assert p.quantity == 0 and p.average_entry is None and p.closed_at == T0
    p.apply_fill(fill("buy", "100", "1", "0.1"), r)
    assert p.realized_pnl == D("-0.1")  # a new position starts its own P&L
    assert p.realized_total == D("30") - D("0.55")


def test_fee_paid_in_the_base_asset_reduces_the_quantity_received():
    p = Position("BTC")
    p.apply_fill(fill("buy", "100", "1", "0.001", asset="BTC"), RiskSettings())
    assert p.quantity == D("0.999")
    assert p.realized_pnl == D("-0.1")


def test_stop_loss_and_take_profit_levels_follow_the_average_entry():
    p = Position()
    p.apply_fill(fill("buy", "100", "1"), RiskSettings(stop_loss_pct=D(2), take_profit_pct=D(5)))
    assert p.stop_loss_price == D("98") and p.take_profit_price == D("105")
    assert p.check_exit(D("98.01")) is None
    assert p.check_exit(D("98")) == ("stop_loss", "stop-loss at 98")
    assert p.check_exit(D("105")) == ("take_profit", "take-profit at 105")


def test_trailing_stop_follows_the_high_and_triggers_on_the_pullback():
    p = Position()
    p.apply_fill(fill("buy", "100", "1"), RiskSettings(trailing_stop_pct=D(10)))
    assert p.check_exit(D("120")) is None
    assert p.check_exit(D("108.01")) is None
    assert p.check_exit(D("108")) == ("trailing_stop", "trailing stop at 108 (high 120)")


def test_an_exit_is_reported_only_once_while_it_is_in_flight():
    p = Position()
    p.apply_fill(fill("buy", "100", "1"), RiskSettings(stop_loss_pct=D(1)))
    assert p.check_exit(D("90"))
    p.exit_order_id = "exit-1"
    assert p.check_exit(D("80")) is None
    p.release_exit("exit-1")
    assert p.check_exit(D("80"))


def test_daily_pnl_resets_at_utc_midnight_and_includes_unrealised():
    p = Position()
    r = RiskSettings()
    p.apply_fill(fill("buy", "100", "2"), r)
    p.apply_fill(fill("sell", "90", "1"), r)
    assert p.daily_pnl(D("95"), T0) == D("-10") + D("-5")
    assert p.daily_pnl(D("95"), T0 + timedelta(days=1)) == D("-5")


def test_a_position_survives_a_round_trip_through_its_durable_form():
    r = RiskSettings(stop_loss_pct=D(2), trailing_stop_pct=D(5))
    p = Position("BTC")
    p.apply_fill(fill("buy", "100.123456789012345678", "1.5"), r)
    p.check_exit(D("130"))
    q = Position.from_dict(p.to_dict(), r, "BTC")
    assert (q.quantity, q.average_entry, q.stop_loss_price, q.highest_price) == (
        p.quantity, p.average_entry, p.stop_loss_price, D("130"))
    assert q.opened_at == T0


def test_a_sell_that_leaves_less_than_one_quantity_step_closes_the_position():
    p = Position("BTC")
    p.dust = D("0.00001")
    p.apply_fill(fill("buy", "100", "0.01663", "0.00001663", asset="BTC"), RiskSettings())
    assert p.quantity == D("0.01661337")
    p.apply_fill(fill("sell", "110", "0.01661"), RiskSettings())
    assert p.quantity == 0 and p.closed_at is not None
