"""A worker taking over many bots reads them in batches: the same few queries for one bot or for
many, and the same bots (spec, position, open orders, saved status) as reading them one by one."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from bots.engine.types import Order as CoreOrder
from bots.models import Order, Position
from bots.services import orders as order_services
from bots.store import DjangoStore
from marketdata.feeds.types import Instrument

pytestmark = pytest.mark.django_db


def test_loading_many_bots_costs_the_queries_of_one_and_reads_the_same(make_bot, alice):
    bots = [make_bot(alice, name=f"b{i}", symbol=["BTC/USDT", "ETH/USDT"][i % 2], status="running")
            for i in range(20)]
    busy = bots[3]
    at = timezone.now() - timedelta(minutes=5)
    order_services.create_order(CoreOrder(
        client_order_id="c-open", bot_id=busy.id, instrument=Instrument("simulator", busy.market.symbol),
        side="sell", type="limit", quantity=Decimal("0.01"), price=Decimal("99999"), created_at=at))
    Position.objects.create(bot=busy, market=busy.market, quantity=Decimal("0.01"), average_entry=Decimal("100"),
                            opened_at=at, realized_pnl=Decimal("1.5"))
    busy.status, busy.status_reason, busy.control_seq = "paused", "requested by alice", 4
    busy.save(update_fields=["status", "status_reason", "control_seq"])
    store = DjangoStore(publish=False)

    with CaptureQueriesContext(connection) as one:
        store.load_many([busy.id])
    with CaptureQueriesContext(connection) as many:
        loaded = store.load_many([b.id for b in bots])
    assert len(many) == len(one), [q["sql"][:150] for q in many]
    assert set(loaded) == {b.id for b in bots}

    for bot in (busy, bots[0], bots[1]):
        spec, position, orders, account = store.load(bot.id)  # what the single-bot path reads
        got = loaded[bot.id]
        assert (got.spec, got.position, got.orders, got.account) == (spec, position, orders, account)
    got = loaded[busy.id]
    assert [o.client_order_id for o in got.orders] == ["c-open"]
    assert Decimal(got.position["quantity"]) == Decimal("0.01") and got.position["last_order_at"] == (
        Order.objects.get(client_order_id="c-open").created_at)
    assert (got.status, got.status_reason, got.control_seq) == ("paused", "requested by alice", 4)
    assert loaded[bots[0].id].position is None and loaded[bots[0].id].orders == []
