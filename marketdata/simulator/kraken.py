"""Kraken WebSocket v2 (``ticker``, ``trade``, ``book`` with CRC32 checksums, ``ohlc``) and public REST."""

from __future__ import annotations

import json
import random
import time
from decimal import Decimal
from typing import Any

from aiohttp import web

from . import kraken_trading
from .checksum import kraken_checksum
from .kraken_pairs import asset_ids, find_pair
from .matching import MatchingEngine, Order
from .model import Market, MarketEvent, VenueMarkets
from .venue import Connection, Venue, VenueHost
from .wire import Raw, decimals_of, dumps, dumps_raw, iso_us, plain

DEPTHS = (10, 25, 100, 500, 1000)
OHLC_MINUTES = (1, 5, 15, 30, 60, 240, 1440, 10080, 21600)
QTY_PLACES = 8


class KrakenVenue(Venue):
    """Kraken v2: method/result acks, status on connect, heartbeats, per-depth book views with checksums."""

    name = "kraken"
    default_fees = ("0.0025", "0.004")  # Kraken's starting tier: 0.25% maker, 0.40% taker

    def __init__(self, sim: VenueHost, markets: VenueMarkets) -> None:
        super().__init__(sim, markets)
        self.rng = random.Random(f"{sim.seed}:kraken-conn")
        # (symbol, depth) -> last top-of-book sent: {"bid": {price: qty}, "ask": {...}}
        self.views: dict[tuple[str, int], dict[str, dict[Decimal, Decimal]]] = {}
        self.bad_checksums: dict[str, int] = {}
        seed = f"{sim.seed}:kraken-orders"
        self.trading = MatchingEngine(markets, seed, fee_in_quote=True,
                                      order_ref=lambda n: kraken_trading.txid("O", seed, n),
                                      trade_ref=lambda n: kraken_trading.txid("T", seed, n))
        self.rest = kraken_trading.KrakenRest(self)

    def add_routes(self, app: web.Application) -> None:
        """``/kraken/v2``, ``/kraken/0/public/*`` and ``/kraken/0/private/*``."""
        app.router.add_get("/kraken/v2", self.serve_ws)
        _add_rest_routes(app, self)
        kraken_trading.add_routes(app, self)

    def failure_body(self, code: int | None) -> Any:
        """Kraken's internal error, which ccxt maps to ExchangeNotAvailable."""
        return {"error": ["EGeneral:Internal error"]}

    def render_order(self, order: Order) -> dict[str, Any]:
        """The QueryOrders shape, with ``txid`` added."""
        return self.rest.render_order(order) | {"txid": order.ref}

    def bad_checksum(self, symbol: str | None = None, count: int = 1) -> None:
        """The next ``count`` book updates of ``symbol`` (all when None) carry a wrong checksum."""
        for name in self._symbols(symbol):
            self.bad_checksums[name] = self.bad_checksums.get(name, 0) + count

    # -- number printing ------------------------------------------------------------------------------
    def _p(self, market: Market, value: Decimal) -> Decimal:
        return value.quantize(Decimal(1).scaleb(-decimals_of(market.spec.tick)))

    @staticmethod
    def _q(value: Decimal) -> Decimal:
        return value.quantize(Decimal(1).scaleb(-QTY_PLACES))

    def _levels(self, market: Market, levels: list[tuple[Decimal, Decimal]]) -> list[dict[str, Raw]]:
        return [{"price": Raw(f"{self._p(market, p):f}"), "qty": Raw(f"{self._q(q):f}")} for p, q in levels]

    def checksum(self, market: Market, depth: int = 10) -> int:
        """Checksum of the market's current top 10, printed at its precisions."""
        asks = [(self._p(market, p), self._q(q)) for p, q in market.top("ask", 10)]
        bids = [(self._p(market, p), self._q(q)) for p, q in market.top("bid", 10)]
        return kraken_checksum(asks, bids)

    # -- protocol -------------------------------------------------------------------------------------
    async def on_open(self, conn: Connection) -> None:
        """Kraken greets every connection with a ``status`` update."""
        status = {"channel": "status", "type": "update", "data": [
            {"version": "2.0.10", "system": "online", "api_version": "v2",
             "connection_id": self.rng.getrandbits(63)}]}
        conn.send(dumps(status))

    def _reply(self, conn: Connection, method: str, time_in: str, req_id: Any, **fields: Any) -> None:
        # errors lead with "error", as in the recorded replies; results lead with "method"
        head = {"error": fields.pop("error")} if "error" in fields else {}
        body: dict[str, Any] = {**head, "method": method, **fields, "time_in": time_in, "time_out": iso_us()}
        if req_id is not None:
            body["req_id"] = req_id
        conn.send(dumps(body))

    async def on_text(self, conn: Connection, text: str) -> None:
        """``subscribe``/``unsubscribe``/``ping`` requests."""
        time_in = iso_us()
        try:
            msg = json.loads(text)
        except ValueError:
            conn.send(dumps({"error": "Malformed request", "success": False, "time_in": time_in,
                             "time_out": iso_us()}))
            return
        if not isinstance(msg, dict):
            conn.send(dumps({"error": "Malformed request", "success": False, "time_in": time_in,
                             "time_out": iso_us()}))
            return
        method, req_id = msg.get("method"), msg.get("req_id")
        if method == "ping":
            self._reply(conn, "pong", time_in, req_id)
            return
        if method not in ("subscribe", "unsubscribe"):
            self._reply(conn, str(method), time_in, req_id, error=f"Method {method} not supported", success=False)
            return
        params = msg.get("params") or {}
        channel = params.get("channel")
        if channel not in ("ticker", "trade", "book", "ohlc", "heartbeat", "status"):
            self._reply(conn, method, time_in, req_id, error=f"Channel {channel} not supported", success=False)
            return
        depth = int(params.get("depth", 10))
        interval = int(params.get("interval", 1))
        if channel == "book" and depth not in DEPTHS:
            self._reply(conn, method, time_in, req_id, error="Invalid depth", success=False)
            return
        if channel == "ohlc" and interval not in OHLC_MINUTES:
            self._reply(conn, method, time_in, req_id, error="Invalid interval", success=False)
            return
        await self.maybe_delay_ack()
        if channel in ("heartbeat", "status"):
            self._reply(conn, method, time_in, req_id, result={"channel": channel}, success=True)
            return
        snapshot = params.get("snapshot", True)
        for symbol in params.get("symbol") or []:
            market = self.market(symbol) if isinstance(symbol, str) else None
            if market is None or market.spec.venue_id != symbol:
                self._reply(conn, method, time_in, req_id, error=f"Currency pair not supported {symbol}",
                            success=False, symbol=symbol)
                continue
            result: dict[str, Any] = {"channel": channel}
            if channel == "ticker":
                result["event_trigger"] = params.get("event_trigger", "trades")
            key: tuple[Any, ...] = (channel, symbol)
            if channel == "book":
                result["depth"] = depth
                key = (channel, symbol, depth)
            if channel == "ohlc":
                result["interval"] = interval
                key = (channel, symbol, interval)
            result |= {"snapshot": snapshot, "symbol": symbol}
            if method == "subscribe":
                conn.subs = {k for k in conn.subs if k[:2] != (channel, symbol)} | {key}
                self._reply(conn, method, time_in, req_id, result=result, success=True)
                if snapshot:
                    self._snapshot(conn, key, market)
            else:
                conn.subs = {k for k in conn.subs if k[:2] != (channel, symbol)}
                self._reply(conn, method, time_in, req_id, result=result, success=True)

    def _snapshot(self, conn: Connection, key: tuple[Any, ...], market: Market) -> None:
        channel = key[0]
        if channel == "ticker":
            conn.send(dumps_raw({"channel": "ticker", "type": "snapshot", "data": [self._ticker(market)]}))
        elif channel == "trade":
            rows = [self._trade(market, t) for t in list(market.recent_trades)[-50:]]
            conn.send(dumps_raw({"channel": "trade", "type": "snapshot", "data": rows}))
        elif channel == "book":
            depth = key[2]
            bids, asks = market.top("bid", depth), market.top("ask", depth)
            self.views.setdefault((market.spec.symbol, depth), {"bid": dict(bids), "ask": dict(asks)})
            data = {"symbol": market.spec.venue_id, "bids": self._levels(market, bids),
                    "asks": self._levels(market, asks), "checksum": self.checksum(market),
                    "timestamp": iso_us()}
            conn.send(dumps_raw({"channel": "book", "type": "snapshot", "data": [data]}))
        elif channel == "ohlc":
            conn.send(dumps_raw({"channel": "ohlc", "type": "snapshot", "timestamp": iso_us(),
                                 "data": [self._ohlc(market, key[2])]}))

    # -- payloads -------------------------------------------------------------------------------------
    def _ticker(self, market: Market) -> dict[str, Any]:
        stats = market.stats()
        bid, bid_qty = market.best_bid()
        ask, ask_qty = market.best_ask()
        last = market.last_trade.price if market.last_trade else market.price
        change = last - stats.open
        pct = (change / stats.open * 100).quantize(Decimal("0.01")) if stats.open else Decimal("0.00")
        vwap = stats.quote_volume / stats.volume if stats.volume else last
        p = self._p
        return {"symbol": market.spec.venue_id, "bid": Raw(f"{p(market, bid):f}"),
                "bid_qty": Raw(f"{self._q(bid_qty):f}"), "ask": Raw(f"{p(market, ask):f}"),
                "ask_qty": Raw(f"{self._q(ask_qty):f}"), "last": Raw(f"{p(market, last):f}"),
                "volume": Raw(f"{self._q(stats.volume):f}"), "vwap": Raw(f"{p(market, vwap):f}"),
                "low": Raw(f"{p(market, stats.low):f}"), "high": Raw(f"{p(market, stats.high):f}"),
                "change": Raw(f"{p(market, change):f}"), "change_pct": Raw(f"{pct:f}"), "timestamp": iso_us()}

    def _trade(self, market: Market, trade: Any) -> dict[str, Any]:
        return {"symbol": market.spec.venue_id, "side": trade.side, "price": Raw(f"{self._p(market, trade.price):f}"),
                "qty": Raw(f"{self._q(trade.qty):f}"), "ord_type": "market", "trade_id": trade.id,
                "timestamp": iso_us(trade.time_ns)}

    def _ohlc(self, market: Market, interval: int) -> dict[str, Any]:
        bar = market.current_bar(interval * 60_000)
        vwap = bar.quote_volume / bar.volume if bar.volume else bar.close
        p = self._p
        return {"symbol": market.spec.venue_id, "open": Raw(f"{p(market, bar.open):f}"),
                "high": Raw(f"{p(market, bar.high):f}"), "low": Raw(f"{p(market, bar.low):f}"),
                "close": Raw(f"{p(market, bar.close):f}"), "trades": bar.trades,
                "volume": Raw(f"{self._q(bar.volume):f}"), "vwap": Raw(f"{p(market, vwap):f}"),
                "interval_begin": iso_us(bar.open_ms * 1_000_000), "interval": interval, "timestamp": iso_us()}

    def _book_update(self, market: Market, depth: int) -> dict[str, Any] | None:
        """Diff of the top ``depth`` since the last update sent at that depth (None if unchanged)."""
        view = self.views.get((market.spec.symbol, depth))
        new = {"bid": dict(market.top("bid", depth)), "ask": dict(market.top("ask", depth))}
        self.views[(market.spec.symbol, depth)] = new
        if view is None:
            return None
        sides: dict[str, list[tuple[Decimal, Decimal]]] = {}
        for side in ("bid", "ask"):
            old, cur = view[side], new[side]
            changed = [(p, q) for p, q in cur.items() if old.get(p) != q]
            changed += [(p, Decimal(0)) for p in old if p not in cur]  # gone, or pushed out of the depth
            sides[side] = sorted(changed, reverse=(side == "bid"))
        if not sides["bid"] and not sides["ask"]:
            return None
        checksum = self.checksum(market)
        symbol = market.spec.symbol
        if self.bad_checksums.get(symbol):
            self.bad_checksums[symbol] -= 1
            checksum ^= 0x5A5A5A5A  # fault: any value but the right one
        return {"symbol": market.spec.venue_id, "bids": self._levels(market, sides["bid"]),
                "asks": self._levels(market, sides["ask"]), "checksum": checksum, "timestamp": iso_us()}

    def publish(self, event: MarketEvent) -> None:
        """Send a model step to ``ticker``, ``trade``, ``book`` (per depth) and ``ohlc`` subscribers."""
        market = event.market
        symbol = market.spec.venue_id
        by_key: dict[tuple[Any, ...], list[Connection]] = {}
        for conn in self.connections:
            for key in conn.subs:
                if key[1] == symbol:
                    by_key.setdefault(key, []).append(conn)
        for key, conns in by_key.items():
            channel = key[0]
            if channel == "ticker":
                text = dumps_raw({"channel": "ticker", "type": "update", "data": [self._ticker(market)]})
            elif channel == "trade":
                if event.trade is None:
                    continue
                text = dumps_raw({"channel": "trade", "type": "update", "data": [self._trade(market, event.trade)]})
            elif channel == "book":
                update = self._book_update(market, key[2])
                if update is None:
                    continue
                text = dumps_raw({"channel": "book", "type": "update", "data": [update]})
            else:
                text = dumps_raw({"channel": "ohlc", "type": "update", "timestamp": iso_us(),
                                  "data": [self._ohlc(market, key[2])]})
            for conn in conns:
                conn.send(text)
        # views of depths nobody watches any more would go stale; drop them
        live = {(k[1], k[2]) for c in self.connections for k in c.subs if k[0] == "book"}
        for view_key in [k for k in self.views if k[0] == market.spec.symbol and (symbol, k[1]) not in live]:
            del self.views[view_key]
        self.trading.on_market(market)

    def on_second(self) -> None:
        """Kraken sends ``{"channel":"heartbeat"}`` about once a second to subscribed connections."""
        for conn in list(self.connections):
            if conn.subs:
                conn.send('{"channel":"heartbeat"}')


def _add_rest_routes(app: web.Application, venue: KrakenVenue) -> None:
    def pair(market: Market) -> dict[str, Any]:
        spec = market.spec
        base_id, base_alt = asset_ids(spec.base)
        quote_id, quote_alt = asset_ids(spec.quote)
        return {
            "altname": base_alt + quote_alt, "wsname": f"{base_alt}/{quote_alt}", "aclass_base": "currency",
            "base": base_id, "aclass_quote": "currency", "quote": quote_id, "lot": "unit",
            "cost_decimals": 5, "pair_decimals": decimals_of(spec.tick), "lot_decimals": decimals_of(spec.lot),
            "lot_multiplier": 1, "leverage_buy": [], "leverage_sell": [],
            "fees": [[0, 0.4], [10000, 0.35]], "fees_maker": [[0, 0.25], [10000, 0.2]],
            "fee_volume_currency": "ZUSD", "margin_call": 80, "margin_stop": 40, "ordermin": plain(spec.lot),
            "costmin": plain(spec.min_notional), "tick_size": plain(spec.tick), "status": "online",
        }

    def pick(request: web.Request) -> list[Market] | web.Response:
        names = [n for n in request.query.get("pair", "").split(",") if n]
        if not names:
            return list(venue.markets.by_symbol.values())
        found = []
        for name in names:
            market = find_pair(venue, name)
            if market is None:
                return web.json_response({"error": ["EQuery:Unknown asset pair"]})
            found.append(market)
        return found

    async def asset_pairs(request: web.Request) -> web.Response:
        markets = pick(request)
        if isinstance(markets, web.Response):
            return markets
        return web.json_response({"error": [], "result": {m.spec.rest_id or m.spec.venue_id: pair(m) for m in markets}})

    async def assets(request: web.Request) -> web.Response:
        codes = sorted({c for m in venue.markets.by_symbol.values() for c in (m.spec.base, m.spec.quote)})
        result = {asset_ids(c)[0]: {"aclass": "currency", "altname": asset_ids(c)[1], "decimals": 10,
                                    "display_decimals": 5, "collateral_value": 1, "status": "enabled"}
                  for c in codes}
        return web.json_response({"error": [], "result": result})

    async def ticker(request: web.Request) -> web.Response:
        markets = pick(request)
        if isinstance(markets, web.Response):
            return markets
        result = {}
        for m in markets:
            stats = m.stats()
            bid, bid_qty = m.best_bid()
            ask, ask_qty = m.best_ask()
            last = m.last_trade or None
            price = last.price if last else m.price
            vwap = stats.quote_volume / stats.volume if stats.volume else price
            result[m.spec.rest_id or m.spec.venue_id] = {
                "a": [plain(ask), "1", plain(ask_qty)], "b": [plain(bid), "1", plain(bid_qty)],
                "c": [plain(price), plain(last.qty if last else Decimal(0))],
                "v": [plain(stats.volume), plain(stats.volume)], "p": [plain(vwap), plain(vwap)],
                "t": [stats.count, stats.count], "l": [plain(stats.low), plain(stats.low)],
                "h": [plain(stats.high), plain(stats.high)], "o": plain(stats.open)}
        return web.json_response({"error": [], "result": result})

    async def depth(request: web.Request) -> web.Response:
        markets = pick(request)
        if isinstance(markets, web.Response):
            return markets
        count = int(request.query.get("count", "100") or 100)
        now = int(time.time())
        m = markets[0]
        return web.json_response({"error": [], "result": {m.spec.rest_id or m.spec.venue_id: {
            "asks": [[plain(p), plain(q), now] for p, q in m.top("ask", count)],
            "bids": [[plain(p), plain(q), now] for p, q in m.top("bid", count)]}}})

    async def ohlc(request: web.Request) -> web.Response:
        markets = pick(request)
        if isinstance(markets, web.Response):
            return markets
        interval = int(request.query.get("interval", "1"))
        since = int(request.query.get("since", "0")) * 1000
        m = markets[0]
        bars = [b for b in m.klines(interval * 60_000, limit=720) if b.open_ms >= since]
        rows = [[b.open_ms // 1000, plain(b.open), plain(b.high), plain(b.low), plain(b.close),
                 plain(b.quote_volume / b.volume if b.volume else b.close), plain(b.volume), b.trades]
                for b in bars]
        last = bars[-1].open_ms // 1000 if bars else 0
        return web.json_response({"error": [], "result": {m.spec.rest_id or m.spec.venue_id: rows, "last": last}})

    async def server_time(request: web.Request) -> web.Response:
        now = time.time()
        stamp = time.strftime("%a, %d %b %y %H:%M:%S +0000", time.gmtime(now))
        return web.json_response({"error": [], "result": {"unixtime": int(now), "rfc1123": stamp}})

    async def status(request: web.Request) -> web.Response:
        return web.json_response({"error": [], "result": {"status": "online", "timestamp": iso_us()}})

    base = "/kraken/0/public"
    for path, handler in (("/AssetPairs", asset_pairs), ("/Assets", assets), ("/Ticker", ticker),
                          ("/Depth", depth), ("/OHLC", ohlc), ("/Time", server_time), ("/SystemStatus", status)):
        app.router.add_get(base + path, handler)
        app.router.add_post(base + path, handler)


