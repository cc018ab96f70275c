"""Demo data for the single-machine mode: a demo user, paper bots on the simulator, and one live bot per
venue (Binance protocol, Coinbase, Kraken) on simulator keys. Live bots there trade on the loopback
simulator's signed REST, never on a real venue: the engine registers the keys on its simulator when it
starts, and outside live market data nothing calls a venue without an endpoint set."""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction

from marketdata.models import Exchange, Market
from marketdata.services import load_catalogue
from marketdata.simulator.keys import new_key

from ..models import Bot, BotMode, BotStatus, ExchangeAccount

DEMO_USERNAME = "demo"
DEMO_PASSWORD = "demo-trader-2026"  # printed by `make run`; the demo refuses to run in production
ADMIN_USERNAME = "admin"
ADMIN_PASSWORD = "admin-2026"

DEMO_BOTS = [
    # name, exchange, symbol, strategy, params: on every tick, so a newcomer sees trades in seconds
    ("BTC fast crossover", "simulator", "BTC/USDT", "crossover",
     {"fast_period": 3, "slow_period": 8, "timeframe": "tick"}),
    ("ETH RSI reversion", "simulator", "ETH/USDT", "rsi",
     {"period": 14, "oversold": "35", "overbought": "65", "timeframe": "tick"}),
]


SIMULATOR_KEYS = "Simulator keys"  # the label prefix of the demo's accounts; they hold no real money
# exchange code, symbol, strategy and parameters of the live demo bots (one per venue protocol)
LIVE_DEMO_BOTS = [
    ("simulator", "BTC/USDT", "crossover", {"fast_period": 4, "slow_period": 12, "timeframe": "tick"}),
    ("coinbase", "BTC/USD", "crossover", {"fast_period": 4, "slow_period": 12, "timeframe": "tick"}),
    ("kraken", "ETH/USD", "crossover", {"fast_period": 4, "slow_period": 12, "timeframe": "tick"}),
]
SIMULATOR_BALANCES = {"USDT": "100000", "USD": "100000", "BTC": "1", "ETH": "10", "SOL": "100"}
# Seconds between a live demo bot's entries. A round trip on Kraken (entry, protective stop, its cancel, exit,
# each order with its query and fills) spends 8 points of a starter key's REST counter, which decays 0.33 a
# second: one every 24 s at most. Every 10 s, its orders queued behind the budget past the send timeout.
LIVE_DEMO_COOLDOWN = {"kraken": 30}


def _live_demo_bots(demo: object) -> None:
    for code, symbol, strategy, params in LIVE_DEMO_BOTS:
        exchange = Exchange.objects.get(code=code)
        account = ExchangeAccount.objects.filter(owner=demo, exchange=exchange,
                                                 label__startswith=SIMULATOR_KEYS).first()
        if account is None:
            key, secret = new_key(exchange.protocol, "demo")
            account = ExchangeAccount.objects.create(
                owner=demo, exchange=exchange, label=f"{SIMULATOR_KEYS} ({exchange.name})", api_key=key,
                api_secret=secret, key_permissions={"read": True, "trade": True, "withdraw": False,
                                                    "detail": "simulator keys: no real money"})
        Bot.objects.get_or_create(owner=demo, name=f"LIVE on the simulator: {symbol} ({exchange.name})", defaults={
            "exchange": exchange, "market": Market.objects.get(exchange=exchange, symbol=symbol),
            "strategy": strategy, "params": params, "mode": BotMode.LIVE, "account": account,
            "live_confirmed": True, "capital": Decimal("5000"), "order_size": Decimal("500"),
            "max_position": Decimal("1"), "stop_loss_pct": Decimal("1.5"), "take_profit_pct": Decimal("3"),
            "max_open_orders": 2, "cooldown_seconds": LIVE_DEMO_COOLDOWN.get(code, 10), "status": BotStatus.RUNNING})


def simulator_accounts() -> list[tuple[str, str, str]]:
    """(protocol, api key, secret) of every stored account, for the engine to register on its simulator
    (simulator mode only: there no real venue is reachable, so any account trades on the simulator)."""
    return [(a.exchange.protocol, a.api_key, a.api_secret) for a in ExchangeAccount.objects.select_related("exchange")]


@transaction.atomic
def create_demo_data() -> dict[str, str]:
    """Idempotently create the catalogue, a superuser, a demo user and running paper bots."""
    if settings.PRODUCTION:
        raise RuntimeError("Demo data is for the single-machine mode, not production.")
    load_catalogue()
    users = get_user_model().objects
    admin = users.filter(username=ADMIN_USERNAME).first()
    if admin is None:
        users.create_superuser(ADMIN_USERNAME, "admin@example.invalid", ADMIN_PASSWORD)
    demo = users.filter(username=DEMO_USERNAME).first()
    if demo is None:
        demo = users.create_user(DEMO_USERNAME, "demo@example.invalid", DEMO_PASSWORD)
    for name, code, symbol, strategy, params in DEMO_BOTS:
        exchange = Exchange.objects.get(code=code)
        market = Market.objects.get(exchange=exchange, symbol=symbol)
        Bot.objects.get_or_create(
            owner=demo,
            name=name,
            defaults={
                "exchange": exchange, "market": market, "strategy": strategy, "params": params,
                "capital": Decimal("10000"), "order_size": Decimal("1000"), "max_position": Decimal("1"),
                "stop_loss_pct": Decimal("1.5"), "take_profit_pct": Decimal("3"),
                "trailing_stop_pct": Decimal("1"), "max_daily_loss": Decimal("500"),
                "max_open_orders": 2, "cooldown_seconds": 5, "status": BotStatus.RUNNING,
            },
        )
    _live_demo_bots(demo)
    return {
        "admin": f"{ADMIN_USERNAME} / {ADMIN_PASSWORD}",
        "demo": f"{DEMO_USERNAME} / {DEMO_PASSWORD}",
    }


def login_hint() -> str:
    """What `make run` prints under the URL so a newcomer can log in."""
    users = get_user_model().objects
    if not users.filter(username=DEMO_USERNAME).exists():
        return "Create a user with: python manage.py createsuperuser"
    return (f"Log in as {DEMO_USERNAME} / {DEMO_PASSWORD} (portal) or "
            f"{ADMIN_USERNAME} / {ADMIN_PASSWORD} (admin). Ctrl-C stops everything.")


def demo_accounts() -> list[tuple[str, str, str]]:
    """(username, password, what for) of the demo accounts, for the login page: only outside
    production and only once ``manage.py demo`` created them."""
    if settings.PRODUCTION:
        return []
    names = set(get_user_model().objects.filter(username__in=[DEMO_USERNAME, ADMIN_USERNAME])
                .values_list("username", flat=True))
    accounts = [(DEMO_USERNAME, DEMO_PASSWORD, "a trader with two running paper bots"),
                (ADMIN_USERNAME, ADMIN_PASSWORD, "the administrator, also for /admin/")]
    return [a for a in accounts if a[0] in names]
