"""Test-only stand-in for the engine's order path, run as a subprocess the test SIGKILLs.

``python engine_stub.py <stage> <bot_id> <client_order_id> <side> <type> <quantity> <price|-> <rest_url>``

It writes the order ahead through the engine's own service (``orders.create_order``), then sends it
through the live broker's ccxt client, printing a line at each step so the test can kill it at:

- ``before-send``: after the write-ahead, before the request (the exchange never hears of it);
- ``in-flight``: the request is sent and the exchange holds its answer (the test kills it there);
- ``after-ack``: the answer came back; only the ack is stored (``open`` with the exchange id) and
  nothing of the fills, then it waits to be killed.
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
from datetime import UTC, datetime
from decimal import Decimal

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "botplatform.settings")
sys.path.insert(0, os.getcwd())

import django  # noqa: E402

django.setup()

from bots.engine import types as core  # noqa: E402
from bots.engine.brokers.live import LiveAccount, make_client  # noqa: E402
from bots.models import Bot  # noqa: E402
from bots.services.orders import create_order, update_order  # noqa: E402
from marketdata.feeds.types import Instrument  # noqa: E402


def say(line: str) -> None:
    print(line, flush=True)


def main(stage: str, bot_id: int, coid: str, side: str, kind: str, qty: str, price: str, rest: str) -> None:
    bot = Bot.objects.select_related("account", "market", "exchange").get(pk=bot_id)
    order = core.Order(coid, bot.id, Instrument(bot.exchange.code, bot.market.symbol), side, kind,
                       Decimal(qty), None if price == "-" else Decimal(price), datetime.now(UTC))
    create_order(order, is_paper=False)
    say("written")
    if stage == "before-send":
        time.sleep(600)
    client = make_client(LiveAccount(bot.account.api_key, bot.account.api_secret, rest), timeout=600)
    params = {"symbol": bot.market.native_symbol, "side": side.upper(), "type": kind.upper(),
              "quantity": qty, "newClientOrderId": coid, "newOrderRespType": "FULL"}
    if kind == "limit":
        params.update(price=price, timeInForce="GTC")
    say("sending")

    async def send() -> dict:
        try:
            return await client.private_post_order(params)
        finally:
            await client.close()

    ack = asyncio.run(send())
    order.exchange_order_id, order.status = str(ack["orderId"]), "open"
    update_order(order, "ack (the fills are not stored yet)")
    say(f"acked {ack['status']}")
    time.sleep(600)


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), *sys.argv[3:9])
