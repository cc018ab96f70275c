"""The coalescer on its own, with a fake clock: what a socket sends and when."""

from __future__ import annotations

from bots.consumers import Coalescer
from bots.events import engine_payload


class Clock:
    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


def test_the_first_push_after_a_quiet_interval_goes_out_at_once():
    clock = Clock()
    c = Coalescer(0.25, clock)
    assert c.add(engine_payload(1, "price", {"price": "1"})) == 0.0
    assert [i["price"] for i in c.flush()] == ["1"]


def test_pushes_within_the_interval_wait_and_keep_only_the_newest_price_per_bot():
    clock = Clock()
    c = Coalescer(0.25, clock)
    c.add(engine_payload(1, "price", {"price": "1"}))
    c.flush()
    clock.t += 0.1
    delay = c.add(engine_payload(1, "price", {"price": "2"}))
    assert abs(delay - 0.15) < 1e-9
    c.add(engine_payload(2, "price", {"price": "7"}))
    c.add(engine_payload(1, "event", {"message": "hello"}))
    c.add(engine_payload(1, "price", {"price": "3"}))
    items = c.flush()
    assert [(i["type"], i["bot_id"]) for i in items] == [("bot.price", 2), ("bot.event", 1), ("bot.price", 1)]
    assert items[-1]["price"] == "3"


def test_order_updates_keep_the_newest_per_client_order_id_and_log_lines_are_all_kept():
    c = Coalescer(0.25, Clock())
    c.add(engine_payload(1, "order", {"client_order_id": "a", "status": "submitted"}))
    c.add(engine_payload(1, "order", {"client_order_id": "b", "status": "submitted"}))
    c.add(engine_payload(1, "order", {"client_order_id": "a", "status": "filled"}))
    for n in range(3):
        c.add(engine_payload(1, "signal", {"side": "buy", "reason": f"r{n}"}))
    items = c.flush()
    orders = [(i["client_order_id"], i["status"]) for i in items if i["type"] == "bot.order"]
    assert orders == [("b", "submitted"), ("a", "filled")]
    assert [i["message"] for i in items if i["type"] == "bot.event"] == ["buy: r0", "buy: r1", "buy: r2"]


def test_engine_payloads_carry_decimals_as_exact_text():
    from datetime import UTC, datetime
    from decimal import Decimal

    p = engine_payload(5, "fill", {"client_order_id": "x", "side": "buy", "price": Decimal("0.0000000123456789010"),
                                   "quantity": Decimal("12"), "time": datetime(2026, 1, 1, tzinfo=UTC)})
    assert p == {"type": "bot.fill", "bot_id": 5, "client_order_id": "x", "side": "buy",
                 "price": "0.000000012345678901", "quantity": "12", "time": "2026-01-01T00:00:00+00:00"}
    pos = engine_payload(5, "position", {"quantity": Decimal("1"), "average_entry": Decimal("2"),
                                         "stop_loss_price": None, "realized_pnl": Decimal("-1.5"),
                                         "unrealized_pnl": Decimal("0.25")})
    assert (pos["average_entry"], pos["realized_pnl"], pos["stop_loss_price"]) == ("2", "-1.5", None)
    rej = engine_payload(5, "risk", {"approved": False, "reasons": ["cooldown", "max position"]})
    assert rej["type"] == "bot.event" and rej["message"] == "rejected: cooldown; max position"


def test_a_position_push_carries_the_bots_realised_total_over_all_its_positions():
    """The dashboard's P&L is the bot's: after a second round trip the push says the total of both,
    beside the second position's own realised P&L (the dashboard once showed the latter as the bot's)."""
    from datetime import UTC, datetime
    from decimal import Decimal

    from bots.engine.positions import Position
    from bots.engine.types import Fill, RiskSettings

    position, risk, at = Position("BTC"), RiskSettings(), datetime(2026, 1, 1, tzinfo=UTC)
    trips = [("100", "90"), ("100", "104")]  # -10 then +4, no fees
    for n, (buy, sell) in enumerate(trips):
        for side, price in (("buy", buy), ("sell", sell)):
            position.apply_fill(Fill(f"c{n}{side}", f"t{n}{side}", side, Decimal(price), Decimal(1), Decimal(0), "USDT",
                                     at), risk)
    pos = engine_payload(5, "position", {**position.to_dict(), "unrealized_pnl": Decimal(0)})
    assert (pos["quantity"], pos["realized_pnl"], pos["realized_total"]) == ("0", "4", "-6")
