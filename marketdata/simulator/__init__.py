"""Loopback exchange simulator: Binance spot, Coinbase Advanced Trade and Kraken WebSocket v2.

Pure: imports nothing from the rest of the project (not ``marketdata.exchanges``, ``feeds`` or
Django), so it checks the adapters independently. One aiohttp server on one port serves every venue.

URL layout (``PORT`` from ``port=0``; ``wss``/``https`` instead when ``tls=True``)::

    binance   ws://H:PORT/binance/ws            raw streams; /binance/ws/<stream> subscribes on connect
              ws://H:PORT/binance/stream        combined {"stream","data"}; ?streams=a/b subscribes
              http://H:PORT/binance             REST base: /api/v3/{ping,time,exchangeInfo,depth,
                                                ticker/bookTicker,ticker/24hr,ticker/price,klines,trades}
                                                signed (HMAC-SHA256): /api/v3/{order,openOrders,myTrades,
                                                account}, /sapi/v1/account/apiRestrictions
    coinbase  ws://H:PORT/coinbase/ws           Advanced Trade (advanced-trade-ws shape)
              http://H:PORT/coinbase            /api/v3/brokerage/market/{products,products/<id>,
                                                products/<id>/ticker,products/<id>/candles,product_book},
                                                /api/v3/brokerage/time, /v2/{currencies,currencies/crypto,
                                                exchange-rates}; ES256 JWT (coinbase_auth): /api/v3/brokerage/
                                                {orders,orders/batch_cancel,orders/historical/{batch,fills,<id>},
                                                accounts,transaction_summary,key_permissions}
    kraken    ws://H:PORT/kraken/v2             WebSocket v2
              http://H:PORT/kraken              /0/public/{AssetPairs,Assets,Ticker,Depth,OHLC,Time,SystemStatus}
                                                API-Key/API-Sign: /0/private/{AddOrder,CancelOrder,CancelAll,
                                                OpenOrders,ClosedOrders,QueryOrders,TradesHistory,Balance,
                                                BalanceEx,TradeVolume,WithdrawMethods,WithdrawInfo}

ccxt: ``binance.urls['api']['ws']['spot'] = urls['binance'].stream`` (ccxt needs ``/stream`` in the URL
to treat it as spot) and ``urls['api'][k] = urls['binance'].rest + '/api/v3'`` for ``public``,
``private``, ``v1`` (options ``fetchMarkets={'types':['spot']}``, ``fetchMargins=False``,
``fetchCurrencies=False``), ``['sapi'] = rest + '/sapi/v1'``; ``coinbase.urls['api']['ws']`` /
``['rest']`` (keys from ``coinbase_auth.generate_key()``: name + EC PEM; option ``fetchBalance=
'v3PrivateGetBrokerageAccounts'``); ``kraken.urls['api']['ws']['publicV2']``, ``['public']`` and
``['private']`` (secret: base64).

Markets (``markets={"binance": [MarketSpec(...)], ...}``, defaults in :func:`default_specs`): BTC/USDT,
ETH/USDT, SOL/USDT on binance; BTC-USD, ETH-USD on coinbase; BTC/USD, ETH/USD on kraken. A
:class:`MarketSpec` sets start ``price``, ``tick``, ``lot``, ``size`` (typical level quantity),
``levels`` per side (raise it for multi-MB Coinbase snapshots), ``gap_ticks`` (deeper levels sit on a
fixed grid), ``spread_ticks`` (2: best bid = P - tick, best ask = P + tick), ``volatility`` and
``drift`` of the seeded log-normal walk, ``min_notional``. Every ``update_interval`` seconds each
unpaused market takes one step: new price, book moved onto it (a few level changes), one trade,
candles updated; each venue pushes it to its subscribers.

Control API (``sim`` a started :class:`Simulator`)::

    sim = Simulator(host="127.0.0.1", port=0, seed=7, tls=False, update_interval=0.1,
                    markets=None, replay=None, speed=1.0, replay_venue="binance", replay_symbol=None,
                    ping_interval=20.0, heartbeat_interval=1.0, cert_dir=None,
                    pong_timeout=None (3 x ping_interval), binance_message_limit=None (Binance: 5/s),
                    max_connection_age=None (Binance: 86400), venues=("binance", "coinbase", "kraken"))
    Binance-only socket rules: pings every ping_interval, disconnect after pong_timeout without a pong,
    optional disconnect above binance_message_limit client frames per second or after max_connection_age.
    await sim.start() -> sim;  await sim.stop();  async with Simulator(...) as sim: ...
    sim.urls[venue].ws / .rest / .stream (Binance combined) ; sim.plain_urls (ws/http even with tls)
    sim.port ; sim.cert_path (PEM, its own CA: ssl.create_default_context(cafile=sim.cert_path))

    prices    sim.price(venue, symbol) -> Decimal ; sim.best_bid_ask(venue, symbol) -> (bid, ask)
              await sim.set_price(venue, symbol, price, qty=None)  # rebuild book, print a trade, push
              sim.pause(venue=None, symbol=None) ; sim.resume(...) ; await sim.step(venue=None, count=1)
              sim.market(venue, symbol) -> Market (.price, .top("bid"|"ask", n), .best_bid(), .update_id)
              With spread_ticks=2 a price P gives bid P - tick and ask P + tick.
    faults    sim.drop_connections(venue, clean=False) ; sim.stall(venue, seconds=None) ; sim.unstall(venue)
              sim.send_malformed(venue) ; sim.sequence_gap(venue, symbol=None, size=5)
              sim.bad_checksum(symbol=None, count=1)  # Kraken ; sim.slow_acks(venue, seconds)
              sim.refuse_connections(venue, seconds)  # handshake answered with HTTP 503
              sim.connection_count(venue) ; sim.subscriptions(venue) ; sim.clear_faults()
              await sim.reset()  # faults off, walk resumed, sockets dropped, accounts and orders gone
    orders    Every venue (``sim.binance``, ``sim.coinbase``, ``sim.kraken``) shares one matching engine
              (matching.py: orders, balances, fills, permissions, rate limits) behind its own REST shapes:
              sim.<venue>.add_account(api_key, secret, balances={"USD": "10000"}, maker_fee=None, taker_fee=None,
                                      permissions=("read", "trade"))  # + "withdraw"; fees default per venue
              sim.<venue>.balances(api_key) -> {asset: (free, locked)} ; sim.<venue>.orders(api_key)
              sim.<venue>.set_permissions(api_key, ("read",)) ; sim.<venue>.limit_requests(api_key, n, window=1.0)
              sim.<venue>.rate_limit_next(count=1, api_key=None)  # the venue's own rate-limit answer
              sim.<venue>.create_orphan_order(api_key, symbol, side, quantity, price=None, client_order_id=None)
              sim.<venue>.trading (MatchingEngine: .accounts, .orders, .clock_offset_ms, .submit(...))
              sim.binance.delay_order_acks(seconds, count=None) ; sim.binance.fail_next_orders(n, 500, -1001)
              sim.binance.drop_next_order_responses(n=1, mode="close"|"hang") ; sim.binance.clear_order_faults()
              sim.binance.trading.place(account, binance_params)  # Binance's own parameters
    bench     await sim.firehose(count, symbol="BTC/USDT")  # pre-encoded bookTicker to its subscribers
              await sim.paced(rate, duration, symbol="BTC/USDT")  # E/T = send ms, sim_ns = send ns

    SimulatorThread(**same kwargs): ``with SimulatorThread(seed=7) as sim:`` runs it on a background
    loop; every call above works synchronously (``sim.set_price(...)``, ``sim.binance.add_account(...)``).

Command: ``python manage.py simulator [--host] [--port] [--replay FILE] [--speed X] [--seed S] [--tls]``
prints ``<venue> <websocket URL> <REST base URL>`` per venue once ready.
"""

from .model import MarketSpec, default_specs
from .server import Simulator, VenueUrls
from .thread import SimulatorThread

__all__ = ["MarketSpec", "Simulator", "SimulatorThread", "VenueUrls", "default_specs"]
