"""The built-in exchange and market catalogue (plain data, loaded by ``services.load_catalogue``).

Trading rules are the venues' common ones for these pairs; ``refresh_markets`` may update them
from the exchange later. The simulator serves the same symbols.
"""

from __future__ import annotations

from decimal import Decimal as D

EXCHANGES: list[dict] = [
    {"code": "binance", "name": "Binance", "protocol": "binance"},
    {"code": "coinbase", "name": "Coinbase", "protocol": "coinbase"},
    {"code": "kraken", "name": "Kraken", "protocol": "kraken"},
    {"code": "simulator", "name": "Simulator (Binance protocol)", "protocol": "binance"},
]

_BINANCE_MARKETS = [
    ("BTC/USDT", "BTCUSDT", "BTC", "USDT", D("0.01"), D("0.00001"), D("5")),
    ("ETH/USDT", "ETHUSDT", "ETH", "USDT", D("0.01"), D("0.0001"), D("5")),
    ("SOL/USDT", "SOLUSDT", "SOL", "USDT", D("0.01"), D("0.001"), D("5")),
]

MARKETS: dict[str, list[tuple]] = {
    "binance": _BINANCE_MARKETS,
    "simulator": _BINANCE_MARKETS,
    "coinbase": [
        ("BTC/USD", "BTC-USD", "BTC", "USD", D("0.01"), D("0.00000001"), D("1")),
        ("ETH/USD", "ETH-USD", "ETH", "USD", D("0.01"), D("0.00000001"), D("1")),
    ],
    "kraken": [
        ("BTC/USD", "BTC/USD", "BTC", "USD", D("0.1"), D("0.00000001"), D("0.5")),
        ("ETH/USD", "ETH/USD", "ETH", "USD", D("0.01"), D("0.00000001"), D("0.5")),
    ],
}
