"""One chart renderer: the server draws the bot's price chart into the page (no JavaScript needed) and
serves the same drawing at ``chart.svg``, which the live page re-requests while prices arrive."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from asgiref.sync import async_to_sync
from django.test import Client

from bots import events, price_memory

pytestmark = pytest.mark.django_db
STATIC = Path(__file__).resolve().parents[3] / "static" / "portal"


def publish_price(bot, value: str, second: int) -> None:
    when = datetime(2026, 1, 1, 12, 0, second, tzinfo=UTC)  # the minute of alice's fill
    async_to_sync(events.apublish_engine_event)(bot.owner_id, bot.pk, "price", {"price": Decimal(value), "time": when})


def test_the_live_chart_is_the_pages_own_drawing_and_only_its_owner_gets_it(alice_client, bob_client, alice_bot):
    publish_price(alice_bot, "50010", 5)
    response = alice_client.get(f"/bots/{alice_bot.pk}/chart.svg")
    assert response.status_code == 200 and response["Content-Type"] == "image/svg+xml"
    svg = response.content.decode()
    assert 'class="candle' in svg and "fill-buy" in svg and "line-sl" in svg and "line-tp" in svg
    page = alice_client.get(f"/bots/{alice_bot.pk}/").content.decode()
    assert re.search(r'<div id="chart">(.*?)</div>', page, re.S).group(1) == svg
    assert bob_client.get(f"/bots/{alice_bot.pk}/chart.svg").status_code == 404
    assert Client().get(f"/bots/{alice_bot.pk}/chart.svg").status_code == 302  # signed out


def test_a_chart_served_by_another_process_shows_the_forming_candle(alice_client, alice_bot, monkeypatch):
    monkeypatch.setattr(price_memory, "PRICE_FLUSH_SECONDS", 0)  # every price reaches the cache
    for value, second in (("100", 1), ("104", 20), ("98", 30), ("101", 40)):
        publish_price(alice_bot, value, second)
    price_memory.forget_price_memory()  # this process is now a web worker, not the engine's
    (candle,) = alice_client.get(f"/bots/{alice_bot.pk}/snapshot.json").json()["candles"]
    assert [Decimal(candle[k]) for k in "ohlc"] == [100, 104, 98, 101]
    assert 'class="candle up"' in alice_client.get(f"/bots/{alice_bot.pk}/chart.svg").content.decode()


def test_the_browser_does_not_draw_a_second_chart():
    script = (STATIC / "chart.js").read_text()
    assert "createElementNS" not in script and "chart.svg" not in script  # it swaps in the server's drawing
    assert "chart.svg" in (STATIC / "bot.js").read_text()


def test_a_chart_without_a_usable_price_says_so_instead_of_failing():
    from bots.chart import render_price_chart

    assert "No prices yet" in render_price_chart({})
    assert "No prices yet" in render_price_chart({"candles": [{"t": 0, "o": "x", "h": "", "l": None, "c": "NaN"}]})
