"""Coinbase Advanced Trade WebSocket (``advanced-trade-ws``) and the public REST ccxt's coinbase reads."""

from __future__ import annotations

import json
import time
from decimal import Decimal
from typing import Any

from aiohttp import web

from . import coinbase_trading
from .coinbase_auth import public_key
from .matching import Account, MatchingEngine, Order
from .model import Market, MarketEvent, VenueMarkets
from .venue import Connection, Venue, VenueHost
from .wire import dumps, iso_ns, iso_us, plain

CHANNELS = ("ticker", "ticker_batch", "market_trades", "level2", "candles", "heartbeats", "status")
CANDLE_MS = 300_000  # the candles channel carries 5-minute bars
GRANULARITY_MS = {"ONE_MINUTE": 60_000, "FIVE_MINUTE": 300_000, "FIFTEEN_MINUTE": 900_000,
                  "THIRTY_MINUTE": 1_800_000, "ONE_HOUR": 3_600_000, "TWO_HOUR": 7_200_000,
                  "SIX_HOUR": 21_600_000, "ONE_DAY": 86_400_000}


class CoinbaseVenue(Venue):
    """Coinbase Advanced Trade: one ``sequence_num`` counter per connection across all channels."""

    name = "coinbase"
    default_fees = ("0.006", "0.012")  # Advanced Trade's first tier: 0.60% maker, 1.20% taker

    def __init__(self, sim: VenueHost, markets: VenueMarkets) -> None:
        super().__init__(sim, markets)
        self.heartbeat_counter = 0
        self.started_ns = time.time_ns()
        seed = f"{sim.seed}:coinbase-orders"
        self.trading = MatchingEngine(markets, seed, fee_in_quote=True,
                                      order_ref=lambda n: coinbase_trading.stable_uuid(seed, "order", n),
                                      trade_ref=lambda n: coinbase_trading.stable_uuid(seed, "trade", n))
        self.rest = coinbase_trading.CoinbaseRest(self)

    def add_routes(self, app: web.Application) -> None:
        """``/coinbase/ws`` and the REST paths under ``/coinbase``."""
        app.router.add_get("/coinbase/ws", self.serve_ws)
        app.router.add_get("/coinbase", self.serve_ws)
        _add_rest_routes(app, self)
        coinbase_trading.add_routes(app, self, self.rest)

    def add_account(self, api_key: str, secret: str, balances: dict[str, Decimal | str | int] | None = None,
                    maker_fee: Decimal | str | None = None, taker_fee: Decimal | str | None = None,
                    permissions: tuple[str, ...] | frozenset[str] | None = None) -> Account:
        """Register a key: ``api_key`` is its name (``organizations/.../apiKeys/...``), ``secret`` its EC
        private key PEM (see ``coinbase_auth.generate_key``); requests are checked with the public half."""
        account = super().add_account(api_key, secret, balances, maker_fee, taker_fee, permissions)
        account.verifier = public_key(secret)
        return account

    def failure_body(self, code: int | None) -> Any:
        """A plain-text 5xx, as Coinbase's front end answers (ccxt: ExchangeNotAvailable)."""
        return "Internal Server Error\n"

    def render_order(self, order: Order) -> dict[str, Any]:
        """The ``orders/historical/{id}`` shape."""
        return self.rest.render_order(order)

    # -- frames ---------------------------------------------------------------------------------------
    def _send(self, conn: Connection, channel: str, events_json: str, ts: str) -> None:
        gap = conn.state.pop("gap", 0)
        conn.seq += gap
        # the 2026 recordings carry client_id on heartbeats only; the other channels omit it
        client = ',"client_id":""' if channel == "heartbeats" else ""
        text = (f'{{"channel":"{channel}"{client},"timestamp":"{ts}",'
                f'"sequence_num":{conn.seq},"events":{events_json}}}')
        conn.seq += 1
        conn.send(text)

    def _subscribers(self, channel: str, product: str) -> list[Connection]:
        return [c for c in self.connections if (channel, product) in c.subs]

    def _ack(self, conn: Connection) -> None:
        table: dict[str, list[str]] = {}
        for channel, product in sorted(conn.subs):
            table.setdefault(channel, []).append(product)
        self._send(conn, "subscriptions", dumps([{"subscriptions": table}]), iso_ns())

    async def on_text(self, conn: Connection, text: str) -> None:
        """``{"type": "subscribe"|"unsubscribe", "product_ids": [...], "channel": name}``."""
        try:
            msg = json.loads(text)
        except ValueError:
            conn.send(dumps({"type": "error", "message": "malformed json"}))
            return
        if not isinstance(msg, dict) or msg.get("type") not in ("subscribe", "unsubscribe"):
            conn.send(dumps({"type": "error", "message": "invalid message type"}))
            return
        channel = msg.get("channel")
        products = msg.get("product_ids") or []
        if channel not in CHANNELS or not isinstance(products, list):
            conn.send(dumps({"type": "error", "message": "Failure to subscribe"}))
            return
        unknown = [p for p in products if self.market(p) is None]
        if unknown:
            conn.send(dumps({"type": "error", "message": f"Failure to subscribe: unknown product {unknown[0]}"}))
            return
        if channel in ("heartbeats", "status") and not products:
            products = [""]
        await self.maybe_delay_ack()
        if msg["type"] == "unsubscribe":
            conn.subs -= {(channel, p) for p in products}
            self._ack(conn)
            return
        new = [p for p in products if (channel, p) not in conn.subs]
        conn.subs |= {(channel, p) for p in products}
        self._ack(conn)
        for product in new:
            market = self.market(product)
            if market is not None:
                self._snapshot(conn, channel, market)

    def _snapshot(self, conn: Connection, channel: str, market: Market) -> None:
        ts = iso_ns()
        if channel in ("ticker", "ticker_batch"):
            self._send(conn, channel, dumps([{"type": "snapshot", "tickers": [self._ticker(market)]}]), ts)
        elif channel == "market_trades":
            trades = [self._trade(market, t) for t in reversed(list(market.recent_trades)[-50:])]
            self._send(conn, channel, dumps([{"type": "snapshot", "trades": trades}]), ts)
        elif channel == "level2":
            stamp = iso_us()
            updates = [self._level("bid", p, q, stamp) for p, q in market.top("bid")]
            updates += [self._level("offer", p, q, stamp) for p, q in market.top("ask")]
            events = [{"type": "snapshot", "product_id": market.spec.venue_id, "updates": updates}]
            self._send(conn, "l2_data", dumps(events), ts)
        elif channel == "candles":
            bar = market.current_bar(CANDLE_MS)
            self._send(conn, channel, dumps([{"type": "snapshot", "candles": [self._candle(market, bar)]}]), ts)

    # -- payloads -------------------------------------------------------------------------------------
    @staticmethod
    def _level(side: str, price: Decimal, qty: Decimal, stamp: str) -> dict[str, str]:
        return {"side": side, "event_time": stamp, "price_level": plain(price), "new_quantity": plain(qty)}

    @staticmethod
    def _ticker(market: Market) -> dict[str, str]:
        stats = market.stats()
        bid, bid_qty = market.best_bid()
        ask, ask_qty = market.best_ask()
        price = market.last_trade.price if market.last_trade else market.price
        pct = (price - stats.open) / stats.open * 100 if stats.open else Decimal(0)
        return {"type": "ticker", "product_id": market.spec.venue_id, "price": plain(price),
                "volume_24_h": plain(stats.volume), "low_24_h": plain(stats.low), "high_24_h": plain(stats.high),
                "low_52_w": plain(stats.low), "high_52_w": plain(stats.high),
                "price_percent_chg_24_h": plain(pct.quantize(Decimal("0.00000000000001"))),
                "best_bid": plain(bid), "best_bid_quantity": plain(bid_qty),
                "best_ask": plain(ask), "best_ask_quantity": plain(ask_qty)}

    @staticmethod
    def _trade(market: Market, trade: Any) -> dict[str, str]:
        return {"product_id": market.spec.venue_id, "trade_id": str(trade.id), "price": plain(trade.price),
                "size": plain(trade.qty), "time": iso_us(trade.time_ns), "side": trade.side.upper()}

    @staticmethod
    def _candle(market: Market, bar: Any) -> dict[str, str]:
        return {"start": str(bar.open_ms // 1000), "high": plain(bar.high), "low": plain(bar.low),
                "open": plain(bar.open), "close": plain(bar.close), "volume": plain(bar.volume),
                "product_id": market.spec.venue_id}

    def publish(self, event: MarketEvent) -> None:
        """Send a model step on ``ticker``, ``market_trades``, ``l2_data`` and ``candles``."""
        market = event.market
        product = market.spec.venue_id
        gap = self.gap_pending.pop(market.spec.symbol, 0)
        if gap:  # fault: every connection seeing this product skips sequence numbers
            for conn in self.connections:
                if any(p == product for _, p in conn.subs):
                    conn.state["gap"] = gap
        ts = iso_ns(event.time_ns)
        stamp = iso_us(event.time_ns)
        encoded: dict[str, str] = {}
        for channel in ("ticker", "ticker_batch", "market_trades", "level2", "candles"):
            conns = self._subscribers(channel, product)
            if not conns:
                continue
            if channel in ("ticker", "ticker_batch"):
                events = [{"type": "update", "tickers": [self._ticker(market)]}]
            elif channel == "market_trades":
                if event.trade is None:
                    continue
                events = [{"type": "update", "trades": [self._trade(market, event.trade)]}]
            elif channel == "level2":
                if not event.changes:
                    continue
                updates = [self._level("bid" if side == "bid" else "offer", p, q, stamp)
                           for side, p, q in event.changes]
                events = [{"type": "update", "product_id": product, "updates": updates}]
            else:
                bar = market.current_bar(CANDLE_MS)
                events = [{"type": "update", "candles": [self._candle(market, bar)]}]
            encoded[channel] = dumps(events)
            wire = "l2_data" if channel == "level2" else channel
            for conn in conns:
                self._send(conn, wire, encoded[channel], ts)
        self.trading.on_market(market)

    def on_second(self) -> None:
        """Heartbeats to every connection subscribed to ``heartbeats``."""
        self.heartbeat_counter += 1
        now = time.time_ns()
        uptime = (now - self.started_ns) / 1e9
        current = iso_ns(now).replace("T", " ").replace("Z", f" +0000 UTC m=+{uptime:.9f}")
        events = dumps([{"current_time": current, "heartbeat_counter": self.heartbeat_counter}])
        ts = iso_ns(now)
        for conn in list(self.connections):
            if any(ch == "heartbeats" for ch, _ in conn.subs):
                self._send(conn, "heartbeats", events, ts)


def _product(market: Market) -> dict[str, Any]:
    spec = market.spec
    stats = market.stats()
    price = market.last_trade.price if market.last_trade else market.price
    pct = (price - stats.open) / stats.open * 100 if stats.open else Decimal(0)
    return {
        "product_id": spec.venue_id, "price": plain(price), "price_percentage_change_24h": plain(pct),
        "volume_24h": plain(stats.volume), "volume_percentage_change_24h": "0", "base_increment": plain(spec.lot),
        "quote_increment": plain(spec.tick), "quote_min_size": plain(spec.min_notional),
        "quote_max_size": "150000000", "base_min_size": plain(spec.lot), "base_max_size": "3400",
        "base_name": spec.base, "quote_name": spec.quote, "watched": False, "is_disabled": False, "new": False,
        "status": "online", "cancel_only": False, "limit_only": False, "post_only": False,
        "trading_disabled": False, "auction_mode": False, "product_type": "SPOT",
        "quote_currency_id": spec.quote, "base_currency_id": spec.base, "fcm_trading_session_details": None,
        "mid_market_price": "", "alias": "", "alias_to": [], "base_display_symbol": spec.base,
        "quote_display_symbol": spec.quote, "view_only": False, "price_increment": plain(spec.tick),
        "display_name": spec.venue_id, "product_venue": "CBE",
    }


def _add_rest_routes(app: web.Application, venue: CoinbaseVenue) -> None:
    def not_found(product: str) -> web.Response:
        return web.json_response({"error": "NOT_FOUND", "error_details": f"product {product} not found",
                                  "message": "NotFound"}, status=404)

    async def products(request: web.Request) -> web.Response:
        if request.query.get("product_type", "SPOT") != "SPOT":
            return web.json_response({"products": [], "num_products": 0})
        rows = [_product(m) for m in venue.markets.by_symbol.values()]
        return web.json_response({"products": rows, "num_products": len(rows)})

    async def product(request: web.Request) -> web.Response:
        market = venue.market(request.match_info["product_id"])
        return web.json_response(_product(market)) if market else not_found(request.match_info["product_id"])

    async def ticker(request: web.Request) -> web.Response:
        market = venue.market(request.match_info["product_id"])
        if market is None:
            return not_found(request.match_info["product_id"])
        limit = int(request.query.get("limit", "50"))
        trades = [venue._trade(market, t) | {"bid": "", "ask": "", "exchange": "COINBASE"}
                  for t in reversed(list(market.recent_trades)[-limit:])]
        return web.json_response({"trades": trades, "best_bid": plain(market.best_bid()[0]),
                                  "best_ask": plain(market.best_ask()[0])})

    async def candles(request: web.Request) -> web.Response:
        market = venue.market(request.match_info["product_id"])
        if market is None:
            return not_found(request.match_info["product_id"])
        span = GRANULARITY_MS.get(request.query.get("granularity", "ONE_MINUTE"), 60_000)
        start = int(request.query.get("start", "0")) * 1000
        end = int(request.query["end"]) * 1000 if "end" in request.query else None
        bars = [b for b in market.klines(span, limit=100_000, end_ms=end) if b.open_ms >= start][-350:]
        rows = [{"start": str(b.open_ms // 1000), "low": plain(b.low), "high": plain(b.high),
                 "open": plain(b.open), "close": plain(b.close), "volume": plain(b.volume)} for b in reversed(bars)]
        return web.json_response({"candles": rows})

    async def product_book(request: web.Request) -> web.Response:
        market = venue.market(request.query.get("product_id", ""))
        if market is None:
            return not_found(request.query.get("product_id", ""))
        limit = int(request.query.get("limit", "50") or 50)
        return web.json_response({"pricebook": {
            "product_id": market.spec.venue_id,
            "bids": [{"price": plain(p), "size": plain(q)} for p, q in market.top("bid", limit)],
            "asks": [{"price": plain(p), "size": plain(q)} for p, q in market.top("ask", limit)],
            "time": iso_us()}})

    async def server_time(request: web.Request) -> web.Response:
        now = venue.trading.server_ms() * 1_000_000  # the exchange clock (skewed in clock drills)
        return web.json_response({"iso": iso_us(now), "epochSeconds": str(now // 10**9),
                                  "epochMillis": str(now // 10**6)})

    def assets() -> tuple[set[str], set[str]]:
        specs = [m.spec for m in venue.markets.by_symbol.values()]
        return {s.base for s in specs}, {s.quote for s in specs}

    async def fiat(request: web.Request) -> web.Response:
        _, quotes = assets()
        return web.json_response({"data": [{"id": q, "name": q, "min_size": "0.01"} for q in sorted(quotes)]})

    async def crypto(request: web.Request) -> web.Response:
        bases, _ = assets()
        return web.json_response({"data": [
            {"asset_id": f"sim-{b.lower()}", "code": b, "name": b, "color": "#000000", "sort_index": i,
             "exponent": 8, "type": "crypto", "address_regex": ".*"} for i, b in enumerate(sorted(bases))]})

    async def rates(request: web.Request) -> web.Response:
        currency = request.query.get("currency", "USD")
        table = {currency: "1"}
        for market in venue.markets.by_symbol.values():
            if market.spec.quote == currency:
                table[market.spec.base] = plain((1 / market.price).quantize(Decimal("1e-12")))
        return web.json_response({"data": {"currency": currency, "rates": table}})

    async def best_bid_ask(request: web.Request) -> web.Response:
        names = request.query.getall("product_ids", []) or list(venue.markets.by_id)
        books = []
        for name in names:
            market = venue.market(name)
            if market is None:
                return not_found(name)
            (bid, bid_qty), (ask, ask_qty) = market.best_bid(), market.best_ask()
            books.append({"product_id": market.spec.venue_id, "time": iso_us(),
                          "bids": [{"price": plain(bid), "size": plain(bid_qty)}],
                          "asks": [{"price": plain(ask), "size": plain(ask_qty)}]})
        return web.json_response({"pricebooks": books})

    base = "/coinbase/api/v3/brokerage"
    for path, handler in (("/products", products), ("/products/{product_id}", product),
                          ("/products/{product_id}/ticker", ticker), ("/products/{product_id}/candles", candles),
                          ("/product_book", product_book)):
        app.router.add_get(base + "/market" + path, handler)  # public
        app.router.add_get(base + path, coinbase_trading.private(venue, handler))  # the same, signed
    app.router.add_get(base + "/best_bid_ask", coinbase_trading.private(venue, best_bid_ask))
    app.router.add_get(base + "/time", server_time)
    app.router.add_get("/coinbase/v2/currencies", fiat)
    app.router.add_get("/coinbase/v2/currencies/crypto", crypto)
    app.router.add_get("/coinbase/v2/exchange-rates", rates)
