"""A bot page's chart starts full: when the engine hosts a bot it backfills the chart with the
venue's recent 1-minute klines (the simulator serves them over REST, as Binance does)."""

from __future__ import annotations

import pytest

from bots import price_memory as snapshots

from .conftest import read, until

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(60)]


async def test_a_started_bot_has_a_full_chart_before_its_first_minute(sim, make_host, make_bot, alice):
    bot = await read(make_bot, alice, status="running")
    await read(lambda: snapshots.forget_price_memory())
    from django.core.cache import cache

    await cache.adelete(snapshots.CANDLES_KEY.format(bot.id))
    await make_host()
    rows = await until(lambda: len(snapshots.candles(bot.id)) >= 40 and snapshots.candles(bot.id))
    times = [c["t"] for c in rows]
    assert times == sorted(times) and len(set(times)) == len(times)
    assert all(t % 60 == 0 for t in times)
    assert all(float(c["l"]) <= float(c["c"]) <= float(c["h"]) for c in rows)
