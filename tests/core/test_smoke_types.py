from decimal import Decimal

from marketdata.feeds.types import Ticker


def test_ticker_price_prefers_last_then_mid():
    t = Ticker("binance", "BTC/USDT", Decimal("1"), Decimal("3"), None, None, None, None, None, 0)
    assert t.price == Decimal("2")
    t.last = Decimal("2.5")
    assert t.price == Decimal("2.5")
