"""The market-data page shows live prices from the market-data fan-out (the feed processes' Redis
stream the engine workers read): a ticker published through the fan-out appears on the page.

Its own web process (``manage.py run --no-engine``) with ``REDIS_URL`` set, as the scale-out's
``web`` is; the ticker is published the way ``runfeeds`` publishes (``marketdata.fanout``'s wire
format through its pipelined ``Publisher``) on a channel prefix of its own."""

from __future__ import annotations

import asyncio
import os
import secrets
import time
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal

import pytest
import redis

from .conftest import log_in, start_platform
from .test_portal_flow import wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.skipif(not os.environ.get("REDIS_URL"),
                                                  reason="needs REDIS_URL: prices fan out through Redis")]

PREFIX = f"e2e-{secrets.token_hex(3)}"


@pytest.fixture(scope="module")
def fanout_platform(tmp_path_factory):
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "PRODUCTION")}
    env["MARKET_FANOUT_PREFIX"] = PREFIX
    yield from start_platform(tmp_path_factory.mktemp("fanout-platform"), env, "--no-engine",
                              ready="Platform running")


def publish(price: str) -> None:
    from marketdata.fanout import channel_name, encode
    from marketdata.feeds.types import Subscription, Ticker
    from marketdata.pubsub import Publisher

    p = Decimal(price)
    tick = Ticker("simulator", "ETH/USDT", p - Decimal("0.5"), p + Decimal("0.5"), p, None, None, None, None,
                  time.time_ns())
    channel = channel_name(PREFIX, Subscription("simulator", "ticker", "ETH/USDT"))

    async def send() -> None:
        pub = Publisher(os.environ["REDIS_URL"])
        await pub.publish_many([(channel, encode(tick) or b"")])
        await asyncio.sleep(0.05)  # the reply drains before the socket closes
        await pub.close()

    # Playwright's sync API runs its own loop on this thread: the publisher gets a thread of its own.
    with ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, send()).result(10)


def test_a_price_published_through_the_fan_out_appears_on_the_market_page(chromium, fanout_platform):
    page = log_in(chromium, fanout_platform, "alice")
    page.goto(f"{fanout_platform.url}/market/")
    page.select_option("#price-market", "simulator:ETH/USDT")  # the page reloads on the chosen market
    page.wait_for_url("**market=simulator%3AETH%2FUSDT**")
    assert page.locator("#live-price td").first.inner_text().startswith("ETH/USDT")
    # The page's socket subscribes the web process to the market's fan-out channel.
    r = redis.Redis.from_url(os.environ["REDIS_URL"])
    channel = f"{PREFIX}|simulator|ticker|ETH/USDT"
    wait_until(lambda: dict(r.pubsub_numsub(channel)).get(channel.encode(), 0) > 0, 15, "the web's subscription")
    publish("2345.67")
    wait_until(lambda: page.locator("#live-price [data-field=last]").inner_text() == "2345.67", 10,
               "the published price on the page")
    assert page.locator("#live-price [data-field=bid]").inner_text() == "2345.17"
    assert page.locator("#live-price [data-field=ask]").inner_text() == "2346.17"
    publish("2400")  # and the next one replaces it
    wait_until(lambda: page.locator("#live-price [data-field=last]").inner_text() == "2400", 10, "the next price")
    assert page.csp_violations == []
    r.close()
    page.context.close()
