"""Demo data for the single-machine mode: a demo user and paper bots on the simulator."""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction

from marketdata.models import Exchange, Market
from marketdata.services import load_catalogue

from ..models import Bot, BotStatus

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
