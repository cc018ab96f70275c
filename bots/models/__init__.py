"""The bots app's rows, one module per concern; import them from here (``from bots.models import Bot``).

- ``trading``: exchange accounts, bots, orders and their events, fills, positions, the bots' audit log;
- ``accounting``: reconciliation's discrepancies and the daily P&L snapshots;
- ``users``: per-user notification settings, notifications and account-wide limits;
- ``backtest``: backtest runs and parameter sweeps.

Readers are named queryset methods (``Bot.objects.for_user(user)``); writers live in
``bots/services``. Constraints are in the database, not only in forms.
"""

from .accounting import DailyPnlSnapshot, Discrepancy, DiscrepancyKind, DiscrepancyStatus
from .backtest import BacktestRun, BacktestSweep, RunStatus
from .trading import (
    ENGINE_DOWN_REASON,
    Bot,
    BotEvent,
    BotMode,
    BotStatus,
    ExchangeAccount,
    Fill,
    Order,
    OrderEvent,
    OrderSide,
    OrderStatus,
    OrderType,
    Position,
)
from .users import Notification, NotificationKind, NotificationSettings, NotificationStatus, UserLimits

__all__ = [
    "ENGINE_DOWN_REASON",
    "BacktestRun",
    "BacktestSweep",
    "Bot",
    "BotEvent",
    "BotMode",
    "BotStatus",
    "DailyPnlSnapshot",
    "Discrepancy",
    "DiscrepancyKind",
    "DiscrepancyStatus",
    "ExchangeAccount",
    "Fill",
    "Notification",
    "NotificationKind",
    "NotificationSettings",
    "NotificationStatus",
    "Order",
    "OrderEvent",
    "OrderSide",
    "OrderStatus",
    "OrderType",
    "Position",
    "RunStatus",
    "UserLimits",
]
