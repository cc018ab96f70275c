"""Binance spot WebSocket streams: ``/ws`` and ``/stream`` endpoints, JSON-RPC subscribe, depth ids."""

from __future__ import annotations

import asyncio
import json
import time
from collections import defaultdict
from decimal import Decimal
from typing import Any

from aiohttp import web

from ..matching import Order
from ..model import MarketEvent, VenueMarkets
from ..venue import Connection, Venue, VenueHost
from ..wire import dumps, now_ms, ws_text_frame
from . import public, signed, streams
from .trading import TradingEngine, order_dict

MAX_STREAMS = 1024  # Binance's limit of streams per connection


class BinanceVenue(Venue):
    """Binance spot: market streams, public REST and the signed order endpoints."""

    name = "binance"
    trading: TradingEngine

    def __init__(self, sim: VenueHost, markets: VenueMarkets) -> None:
        super().__init__(sim, markets)
        # stream name -> subscribed connections, so an event builds each payload once
        self.subscribers: dict[str, set[Connection]] = defaultdict(set)
        self.slow_depth: dict[str, list[Any]] = {}  # venue id -> [first U, last u, {(side, price): qty}]
        self.trading = TradingEngine(self)

    def add_routes(self, app: web.Application) -> None:
        """``/binance/ws[/<stream>]``, ``/binance/stream[?streams=a/b]`` and ``/binance/api/v3/*``."""
        app.router.add_get("/binance/ws", self.handle_raw)
        app.router.add_get("/binance/ws/{tail:.*}", self.handle_raw)
        app.router.add_get("/binance/stream", self.handle_combined)
        app.router.add_get("/binance/stream/{tail:.*}", self.handle_combined)
        public.add_routes(app, self)
        signed.add_routes(app, self)

    async def handle_raw(self, request: web.Request) -> web.StreamResponse:
        """Raw endpoint: payloads without the ``{"stream","data"}`` wrapper."""
        initial = [s for s in request.match_info.get("tail", "").split("/") if s]
        return await self.serve_ws(request, self.sim.ping_interval, {"combined": False, "initial": initial})

    async def handle_combined(self, request: web.Request) -> web.StreamResponse:
        """Combined endpoint: every payload wrapped as ``{"stream": name, "data": payload}``."""
        initial = [s for s in request.query.get("streams", "").split("/") if s]
        return await self.serve_ws(request, self.sim.ping_interval, {"combined": True, "initial": initial})

    async def on_open(self, conn: Connection) -> None:
        """Subscribe the streams named in the URL."""
        self._subscribe(conn, [s for s in conn.state.pop("initial", []) if streams.parse_stream(s)])

    def _subscribe(self, conn: Connection, names: list[str]) -> None:
        for name in names:
            conn.subs.add(name)
            self.subscribers[name].add(conn)

    def _unsubscribe(self, conn: Connection, names: list[str]) -> None:
        for name in names:
            conn.subs.discard(name)
            self.subscribers.get(name, set()).discard(conn)

    def on_close(self, conn: Connection) -> None:
        """Forget the connection's streams."""
        self._unsubscribe(conn, list(conn.subs))

    async def on_text(self, conn: Connection, text: str) -> None:
        """JSON-RPC: SUBSCRIBE, UNSUBSCRIBE, LIST_SUBSCRIPTIONS, SET_PROPERTY, GET_PROPERTY."""
        try:
            msg = json.loads(text)
        except ValueError:
            conn.send(dumps({"error": {"code": 3, "msg": "Invalid JSON: expected value at line 1 column 1"},
                             "id": None}))
            return
        if not isinstance(msg, dict):
            conn.send(dumps({"error": {"code": 3, "msg": "Invalid request: request must be an object"},
                             "id": None}))
            return
        req_id, method, params = msg.get("id"), msg.get("method"), msg.get("params", [])
        if method in ("SUBSCRIBE", "UNSUBSCRIBE"):
            bad = [p for p in params if not isinstance(p, str) or streams.parse_stream(p) is None] \
                if isinstance(params, list) else [params]
            if bad:
                conn.send(dumps({"error": {"code": 2, "msg": f"Invalid request: unknown variant `{bad[0]}`"},
                                 "id": req_id}))
                return
            if method == "SUBSCRIBE" and len(conn.subs | set(params)) > MAX_STREAMS:
                conn.send(dumps({"error": {"code": 2, "msg": "Invalid request: too many streams"}, "id": req_id}))
                return
            await self.maybe_delay_ack()
            (self._subscribe if method == "SUBSCRIBE" else self._unsubscribe)(conn, params)
            conn.send(dumps({"result": None, "id": req_id}))
        elif method == "LIST_SUBSCRIPTIONS":
            conn.send(dumps({"result": sorted(conn.subs), "id": req_id}))
        elif method == "SET_PROPERTY" and isinstance(params, list) and params[:1] == ["combined"]:
            conn.state["combined"] = bool(params[1]) if len(params) > 1 else False
            conn.send(dumps({"result": None, "id": req_id}))
        elif method == "GET_PROPERTY" and params == ["combined"]:
            conn.send(dumps({"result": conn.state["combined"], "id": req_id}))
        else:
            conn.send(dumps({"error": {"code": 2, "msg": f"Invalid request: unknown method {method!r}"},
                             "id": req_id}))

    # -- publishing -----------------------------------------------------------------------------------
    def _send(self, name: str, payload: dict[str, Any] | list[Any], conns: set[Connection]) -> None:
        raw = dumps(payload)
        wrapped = f'{{"stream":"{name}","data":{raw}}}'
        for conn in list(conns):
            conn.send(wrapped if conn.state.get("combined") else raw)

    def publish(self, event: MarketEvent) -> None:
        """Send one model step to the ``<sym>@...`` subscribers."""
        market = event.market
        venue_id = market.spec.venue_id
        gap = self.gap_pending.pop(market.spec.symbol, 0)
        if gap:  # fault: burn ids so U != previous u + 1 (the REST snapshot stays consistent)
            event.first_id += gap
            event.last_id += gap
            market.update_id += gap
        changes = {(side, price): qty for side, price, qty in event.changes}
        slow = self.slow_depth.get(venue_id)
        if slow is None:
            self.slow_depth[venue_id] = [event.first_id, event.last_id, dict(changes)]
        else:
            slow[1] = event.last_id
            slow[2].update(changes)
        sym = venue_id.lower()
        ms = event.time_ns // 1_000_000
        for kind in ("bookTicker", "depth@100ms", "trade", "aggTrade", "ticker", "miniTicker"):
            conns = self.subscribers.get(f"{sym}@{kind}")
            if not conns:
                continue
            if kind == "bookTicker":
                payload = streams.book_ticker(market)
            elif kind == "depth@100ms":
                if not changes:
                    continue
                payload = streams.depth_update(market, event.first_id, event.last_id, changes, ms)
            elif kind in ("trade", "aggTrade"):
                if event.trade is None:
                    continue
                build = streams.trade if kind == "trade" else streams.agg_trade
                payload = build(market, event.trade, ms)
            elif kind == "ticker":
                payload = streams.ticker_24h(market, ms)
            else:
                payload = streams.mini_ticker(market, ms)
            self._send(f"{sym}@{kind}", payload, conns)
        for levels in (5, 10, 20):
            conns = self.subscribers.get(f"{sym}@depth{levels}@100ms")
            if conns:
                self._send(f"{sym}@depth{levels}@100ms", streams.partial_depth(market, levels), conns)
        for interval in streams.INTERVALS_MS:
            conns = self.subscribers.get(f"{sym}@kline_{interval}")
            if conns:
                self._send(f"{sym}@kline_{interval}", streams.kline(market, interval, ms), conns)
        self.trading.on_market(market)

    def send_replayed(self, raw: str) -> int:
        """A recorded combined frame goes to its stream's subscribers (unwrapped for ``/ws`` clients)."""
        try:
            frame = json.loads(raw)
            name = frame["stream"]
            data = json.dumps(frame["data"], separators=(",", ":"))
        except (ValueError, KeyError, TypeError):
            return super().send_replayed(raw)
        conns = [c for c in self.subscribers.get(name, ()) if not c.closed]
        for conn in conns:
            conn.send(raw if conn.state.get("combined") else data)
        return len(conns)

    def on_second(self) -> None:
        """Once a second: the 1000 ms depth streams."""
        self.flush_slow()

    def flush_slow(self) -> None:
        """Once a second: the 1000 ms depth diffs and partial books."""
        ms = now_ms()
        pending, self.slow_depth = self.slow_depth, {}
        for venue_id, (first, last, changes) in pending.items():
            market = self.markets.by_id[venue_id]
            sym = venue_id.lower()
            for name in (f"{sym}@depth", f"{sym}@depth@1000ms"):
                conns = self.subscribers.get(name)
                if conns and changes:
                    self._send(name, streams.depth_update(market, first, last, changes, ms), conns)
            for levels in (5, 10, 20):
                for name in (f"{sym}@depth{levels}", f"{sym}@depth{levels}@1000ms"):
                    conns = self.subscribers.get(name)
                    if conns:
                        self._send(name, streams.partial_depth(market, levels), conns)

    # -- accounts and order-entry faults (issue 4) -------------------------------------------------------
    def render_order(self, order: Order) -> dict[str, Any]:
        """The ``GET /api/v3/order`` shape."""
        return order_dict(order)

    def failure_body(self, code: int | None) -> Any:
        """``{"code": -1001, "msg": "Internal error; ..."}``."""
        return {"code": code if code is not None else -1001, "msg": signed.INTERNAL_ERROR}

    # -- benchmark modes ------------------------------------------------------------------------------
    def _targets(self, symbol: str) -> tuple[str, list[Connection]]:
        market = self.market(symbol)
        if market is None:
            raise KeyError(f"binance has no market {symbol!r}")
        name = f"{market.spec.venue_id.lower()}@bookTicker"
        return name, [c for c in self.subscribers.get(name, ()) if not c.closed]

    async def firehose(self, symbol: str, count: int, chunk: int = 2000) -> int:
        """Write ``count`` pre-encoded bookTicker frames to each subscriber as fast as TCP takes them."""
        name, conns = self._targets(symbol)
        market = self.market(symbol)
        assert market is not None
        bid, ask = market.best_bid()[0], market.best_ask()[0]
        raw, combined = [], []
        for i in range(chunk):
            frame = (f'{{"u":{i},"s":"{market.spec.venue_id}","b":"{streams.px(bid)}","B":"1.00000000",'
                     f'"a":"{streams.px(ask)}","A":"{streams.px(Decimal(i % 97 + 1))}"}}')
            raw.append(ws_text_frame(frame))
            combined.append(ws_text_frame(f'{{"stream":"{name}","data":{frame}}}'))
        blocks = {False: b"".join(raw), True: b"".join(combined)}
        per_frame = {False: raw, True: combined}
        for conn in conns:
            transport = conn.request.transport
            if transport is None:
                continue
            sent, combined_flag = 0, bool(conn.state.get("combined"))
            while sent < count and not transport.is_closing():
                left = count - sent
                data = blocks[combined_flag] if left >= chunk else b"".join(per_frame[combined_flag][:left])
                transport.write(data)
                sent += min(chunk, left)
                while transport.get_write_buffer_size() > 1 << 20 and not transport.is_closing():
                    await asyncio.sleep(0.0005)
            conn.sent += sent
        return count * len(conns)

    async def paced(self, symbol: str, rate: float, duration: float) -> int:
        """Send bookTicker frames at ``rate``/s for ``duration`` s, each stamped with its send time.

        ``E`` and ``T`` carry the send time in ms and ``sim_ns`` in ns (``time.time_ns()``).
        """
        name, conns = self._targets(symbol)
        market = self.market(symbol)
        assert market is not None
        venue_id = market.spec.venue_id
        bid, ask = streams.px(market.best_bid()[0]), streams.px(market.best_ask()[0])
        start = time.perf_counter()
        total = int(rate * duration)
        sent = 0
        while sent < total:
            due = min(total, int((time.perf_counter() - start) * rate) + 1)
            while sent < due:
                ns = time.time_ns()
                frame = (f'{{"u":{sent},"s":"{venue_id}","b":"{bid}","B":"1.00000000","a":"{ask}",'
                         f'"A":"1.00000000","E":{ns // 1_000_000},"T":{ns // 1_000_000},"sim_ns":{ns}}}')
                for conn in conns:
                    transport = conn.request.transport
                    if transport is None or transport.is_closing():
                        continue
                    text = f'{{"stream":"{name}","data":{frame}}}' if conn.state.get("combined") else frame
                    transport.write(ws_text_frame(text))
                sent += 1
            await asyncio.sleep(max(0.0, start + sent / rate - time.perf_counter()))
        return sent * len(conns)
