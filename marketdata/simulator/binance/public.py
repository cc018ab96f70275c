"""Binance spot public REST: ping, time, exchangeInfo, depth, tickers, klines, trades."""

from __future__ import annotations

import json
from typing import Any, Protocol

from aiohttp import web

from ..model import Market, VenueMarkets
from ..wire import decimals_of, now_ms
from . import streams
from .streams import px
from .trading import TradingEngine


class PublicHost(Protocol):
    """What the public REST endpoints read from the Binance venue."""

    markets: VenueMarkets
    trading: TradingEngine
    replay: Any  # a Replayer serving recorded REST replies, if any


def error(status: int, code: int, msg: str) -> web.Response:
    """Binance's error body ``{"code": -1121, "msg": "Invalid symbol."}``."""
    return web.json_response({"code": code, "msg": msg}, status=status)


def symbol_of(venue: PublicHost, request: web.Request) -> Market | web.Response:
    """The market named by the mandatory ``?symbol=``, or Binance's error response."""
    if not request.query.get("symbol"):
        return error(400, -1102, "Mandatory parameter 'symbol' was not sent, was empty/null, or malformed.")
    return _named(venue, request.query["symbol"])


def _named(venue: PublicHost, name: str) -> Market | web.Response:
    market = venue.markets.by_id.get(name)
    return market if market is not None else error(400, -1121, "Invalid symbol.")


def symbols_of(venue: PublicHost, request: web.Request) -> list[Market] | web.Response:
    """Markets from ``symbol`` or ``symbols=["A","B"]``; all when neither is given."""
    if "symbols" in request.query:
        try:
            names = json.loads(request.query["symbols"])
        except ValueError:
            return error(400, -1100, "Illegal characters found in parameter 'symbols'.")
        found = [venue.markets.by_id.get(n) for n in names]
        if any(m is None for m in found):
            return error(400, -1121, "Invalid symbol.")
        return [m for m in found if m is not None]
    if not request.query.get("symbol"):
        return list(venue.markets.by_symbol.values())
    one = _named(venue, request.query["symbol"])
    return one if isinstance(one, web.Response) else [one]


def exchange_symbol(market: Market) -> dict[str, Any]:
    """One ``exchangeInfo`` symbol entry with the filters ccxt and the adapters read."""
    spec = market.spec
    return {
        "symbol": spec.venue_id, "status": "TRADING", "baseAsset": spec.base, "baseAssetPrecision": 8,
        "quoteAsset": spec.quote, "quotePrecision": 8, "quoteAssetPrecision": 8,
        "baseCommissionPrecision": 8, "quoteCommissionPrecision": 8,
        "orderTypes": ["LIMIT", "LIMIT_MAKER", "MARKET", "STOP_LOSS_LIMIT", "TAKE_PROFIT_LIMIT"],
        "icebergAllowed": True, "ocoAllowed": True, "otoAllowed": True,
        "quoteOrderQtyMarketAllowed": True, "allowTrailingStop": True, "cancelReplaceAllowed": True,
        "amendAllowed": True, "isSpotTradingAllowed": True, "isMarginTradingAllowed": False,
        "filters": [
            {"filterType": "PRICE_FILTER", "minPrice": px(spec.tick), "maxPrice": "1000000.00000000",
             "tickSize": px(spec.tick)},
            {"filterType": "LOT_SIZE", "minQty": px(spec.lot), "maxQty": "9000.00000000", "stepSize": px(spec.lot)},
            {"filterType": "NOTIONAL", "minNotional": px(spec.min_notional), "applyMinToMarket": True,
             "maxNotional": "9000000.00000000", "applyMaxToMarket": False, "avgPriceMins": 5},
            {"filterType": "MARKET_LOT_SIZE", "minQty": "0.00000000", "maxQty": "100.00000000",
             "stepSize": "0.00000000"},
            {"filterType": "MAX_NUM_ORDERS", "maxNumOrders": 200_000},
        ],
        "permissions": [], "permissionSets": [["SPOT"]],
        "defaultSelfTradePreventionMode": "EXPIRE_MAKER",
        "allowedSelfTradePreventionModes": ["NONE", "EXPIRE_TAKER", "EXPIRE_MAKER", "EXPIRE_BOTH"],
        "pricePrecision": decimals_of(spec.tick), "quantityPrecision": decimals_of(spec.lot),
    }


def book_ticker(market: Market) -> dict[str, Any]:
    """REST bookTicker entry."""
    bid, bid_qty = market.best_bid()
    ask, ask_qty = market.best_ask()
    return {"symbol": market.spec.venue_id, "bidPrice": px(bid), "bidQty": px(bid_qty),
            "askPrice": px(ask), "askQty": px(ask_qty)}


def ticker_24h(market: Market) -> dict[str, Any]:
    """REST 24hr ticker entry, from the same numbers as the ``@ticker`` stream."""
    s = streams.ticker_24h(market, now_ms())
    return {
        "symbol": s["s"], "priceChange": s["p"], "priceChangePercent": s["P"], "weightedAvgPrice": s["w"],
        "prevClosePrice": s["x"], "lastPrice": s["c"], "lastQty": s["Q"], "bidPrice": s["b"],
        "bidQty": s["B"], "askPrice": s["a"], "askQty": s["A"], "openPrice": s["o"], "highPrice": s["h"],
        "lowPrice": s["l"], "volume": s["v"], "quoteVolume": s["q"], "openTime": s["O"], "closeTime": s["C"],
        "firstId": s["F"], "lastId": s["L"], "count": s["n"],
    }


def add_routes(app: web.Application, venue: PublicHost) -> None:
    """Register the public endpoints under ``/binance/api/v3``."""

    async def ping(request: web.Request) -> web.Response:
        return web.json_response({})

    async def server_time(request: web.Request) -> web.Response:
        return web.json_response({"serverTime": venue.trading.server_ms()})

    async def exchange_info(request: web.Request) -> web.Response:
        markets = symbols_of(venue, request)
        if isinstance(markets, web.Response):
            return markets
        return web.json_response({
            "timezone": "UTC", "serverTime": now_ms(),
            "rateLimits": [
                {"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1, "limit": 6000},
                {"rateLimitType": "ORDERS", "interval": "SECOND", "intervalNum": 10, "limit": 100},
                {"rateLimitType": "RAW_REQUESTS", "interval": "MINUTE", "intervalNum": 5, "limit": 61000},
            ],
            "exchangeFilters": [], "symbols": [exchange_symbol(m) for m in markets],
        })

    async def depth(request: web.Request) -> web.Response:
        recorded = venue.replay.rest_reply("/api/v3/depth", dict(request.query)) if venue.replay else None
        if recorded is not None:
            return web.Response(text=recorded, content_type="application/json")
        market = symbol_of(venue, request)
        if not isinstance(market, Market):
            return market
        try:
            limit = min(max(int(request.query.get("limit", "100")), 1), 5000)
        except ValueError:
            return error(400, -1100, "Illegal characters found in parameter 'limit'; legal range is '^[0-9]{1,20}$'.")
        return web.json_response({
            "lastUpdateId": market.update_id,
            "bids": [[px(p), px(q)] for p, q in market.top("bid", limit)],
            "asks": [[px(p), px(q)] for p, q in market.top("ask", limit)],
        })

    async def book_tickers(request: web.Request) -> web.Response:
        markets = symbols_of(venue, request)
        if isinstance(markets, web.Response):
            return markets
        rows = [book_ticker(m) for m in markets]
        return web.json_response(rows[0] if "symbol" in request.query else rows)

    async def tickers(request: web.Request) -> web.Response:
        markets = symbols_of(venue, request)
        if isinstance(markets, web.Response):
            return markets
        rows = [ticker_24h(m) for m in markets]
        return web.json_response(rows[0] if "symbol" in request.query else rows)

    async def prices(request: web.Request) -> web.Response:
        markets = symbols_of(venue, request)
        if isinstance(markets, web.Response):
            return markets
        rows = [{"symbol": m.spec.venue_id, "price": px(m.price)} for m in markets]
        return web.json_response(rows[0] if "symbol" in request.query else rows)

    async def klines(request: web.Request) -> web.Response:
        market = symbol_of(venue, request)
        if not isinstance(market, Market):
            return market
        interval = request.query.get("interval", "")
        span = streams.INTERVALS_MS.get(interval)
        if span is None:
            return error(400, -1120, "Invalid interval.")
        limit = min(max(int(request.query.get("limit", "500")), 1), 1000)
        start = int(request.query["startTime"]) if "startTime" in request.query else None
        end = int(request.query["endTime"]) if "endTime" in request.query else None
        bars = market.klines(span, limit=100_000, end_ms=end)
        if start is not None:
            bars = [b for b in bars if b.open_ms >= start][:limit]
        else:
            bars = bars[-limit:]
        return web.json_response([streams.kline_row(b, span) for b in bars])

    async def trades(request: web.Request) -> web.Response:
        market = symbol_of(venue, request)
        if not isinstance(market, Market):
            return market
        limit = min(max(int(request.query.get("limit", "500")), 1), 1000)
        rows = [{"id": t.id, "price": px(t.price), "qty": px(t.qty), "quoteQty": px(t.price * t.qty),
                 "time": t.time_ns // 1_000_000, "isBuyerMaker": t.side == "sell", "isBestMatch": True}
                for t in list(market.recent_trades)[-limit:]]
        return web.json_response(rows)

    base = "/binance/api/v3"
    for path, handler in (("/ping", ping), ("/time", server_time), ("/exchangeInfo", exchange_info),
                          ("/depth", depth), ("/ticker/bookTicker", book_tickers), ("/ticker/24hr", tickers),
                          ("/ticker/price", prices), ("/klines", klines), ("/trades", trades)):
        app.router.add_get(base + path, handler)
