"""Position check: what our open positions on an account hold against the exchange's balances."""

from __future__ import annotations

from decimal import Decimal

from bots.reconcile.plan import Finding
from marketdata.feeds.serialize import decimal_text

from ..models import ExchangeAccount, Position
from .reconcile_apply import record_finding

# Dust below this many base units is not a difference worth a row (fee rounding, step remainders).
TOLERANCE = Decimal("0.00000001")


def check_positions(balances: dict[ExchangeAccount, dict[str, Decimal]]) -> int:
    """Report, per account and asset, where our open positions hold more than the exchange has.

    Holding more on the exchange than our bots do is normal (the user's own coins); the reverse means
    a fill or a withdrawal we do not know about. Returns the number of new ``Discrepancy`` rows.
    """
    created = 0
    for account, held in balances.items():
        ours: dict[str, tuple[Decimal, str]] = {}  # asset -> (quantity, a symbol); Decimal sums in Python
        for base, symbol, qty in Position.objects.open().filter(bot__account=account).values_list(
                "market__base", "market__symbol", "quantity"):
            ours[base] = (ours.get(base, (Decimal(0), symbol))[0] + qty, symbol)
        for asset, (qty, symbol) in ours.items():
            theirs = held.get(asset, Decimal(0))
            if qty - theirs <= TOLERANCE:
                continue
            finding = Finding(
                "position_mismatch", f"acct:{account.id}:position:{asset}:{qty.normalize()}:{theirs.normalize()}",
                f"Our positions hold {decimal_text(qty)} {asset} but the exchange has {decimal_text(theirs)}",
                {"asset": asset, "ours": decimal_text(qty), "exchange": decimal_text(theirs)})
            created += record_finding(finding, owner_id=account.owner_id, account_id=account.id, bot_id=None,
                                      symbol=symbol)
    return created
