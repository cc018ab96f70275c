"""Paper trading: fills against the live top of book as a careful exchange would.

Market orders fill at the opposite best price plus configurable slippage (taker fee); limit orders
that cross on arrival fill at the opposite best (taker), otherwise rest and fill at their limit when
the book crosses them (maker fee); stop orders become market orders when the price touches them.
Each bot has its own paper balances; an order the balance cannot pay for is rejected, and a resting
order holds what it may spend (``balance`` is what is free).
"""

from __future__ import annotations

from decimal import Decimal

from marketdata.exchanges.base import Fees
from marketdata.exchanges.registry import ADAPTERS
from marketdata.feeds.types import Instrument, Ticker

from ..ports import Clock, UpdateHandler
from ..positions import Position
from ..types import ZERO, BotSpec, Fill, Order, OrderUpdate, amount

# Each venue's published base tier, as its adapter declares it (the host adds codes such as the simulator).
DEFAULT_FEES: dict[str, Fees] = {code: make().fee_schedule for code, make in ADAPTERS.items()}


def fees_for(fees: dict[str, Fees], exchange: str) -> Fees:
    """The rates charged on ``exchange``; an exchange nobody declared pays the highest known taker rate."""
    return fees.get(exchange) or max(fees.values(), key=lambda f: f.taker)


BPS = Decimal(10_000)


class PaperBroker:
    """One broker shared by every paper bot in the engine; it implements the Gateway port."""

    protective_stops = False  # the engine's own exits protect a paper position

    def __init__(self, clock: Clock, *, slippage_bps: Decimal = Decimal(5),
                 fees: dict[str, Fees] | None = None) -> None:
        self.clock = clock
        self.slippage = slippage_bps / BPS
        self.fees = dict(fees or DEFAULT_FEES)  # the host adds its exchange codes (the simulator's)
        self.books: dict[Instrument, tuple[Decimal | None, Decimal | None]] = {}
        self.resting: dict[Instrument, dict[str, Order]] = {}
        self.balances: dict[int, dict[str, Decimal]] = {}
        self.handlers: dict[int, UpdateHandler] = {}
        self.assets: dict[int, tuple[str, str]] = {}

    # GatewayFactory -------------------------------------------------------------------------------
    def for_bot(self, spec: BotSpec, on_update: UpdateHandler) -> PaperBroker:
        """Open (or keep) the bot's paper account, funded with its capital in the quote asset."""
        self.handlers[spec.id] = on_update
        base, quote = spec.instrument.symbol.split("/") if "/" in spec.instrument.symbol else ("BASE", "QUOTE")
        self.assets[spec.id] = (base, quote)
        self.balances.setdefault(spec.id, {quote: spec.capital, base: ZERO})
        return self

    def sync_account(self, spec: BotSpec, position: Position) -> None:
        """Set the paper balances from a position rebuilt after a restart."""
        base, quote = self.assets[spec.id]
        self.balances[spec.id] = {quote: spec.capital + position.realized_total - position.cost,
                                  base: position.quantity}

    def adopt(self, order: Order) -> None:
        """Put a resting limit or stop order restored after a restart back on the paper book."""
        if order.type != "market" and order.price and order.status in ("open", "partially_filled", "unknown"):
            order.status = "open"
            self._lock(order)
            self.resting.setdefault(order.instrument, {})[order.client_order_id] = order

    def release(self, bot_id: int) -> None:
        """Forget a stopped bot's update handler (its balances stay for a restart)."""
        self.handlers.pop(bot_id, None)

    def forget(self, bot_id: int) -> None:
        """Drop a bot's resting orders from this book: the bot moved to another host, which adopts them."""
        for resting in self.resting.values():
            for coid in [c for c, o in resting.items() if o.bot_id == bot_id]:
                del resting[coid]

    def taker_fee(self, exchange: str) -> Decimal:
        """The taker fee rate charged on ``exchange``."""
        return fees_for(self.fees, exchange).taker

    def taker_cost(self, exchange: str) -> Decimal:
        """What a market order may cost beyond the quoted price, as a rate: slippage and the taker fee.
        The risk check leaves this much headroom, so a whole-balance buy is not refused here."""
        return (1 + self.slippage) * (1 + self.taker_fee(exchange)) - 1

    def balance(self, bot_id: int, asset: str) -> Decimal | None:
        """The bot's free paper balance of ``asset``."""
        return self.balances.get(bot_id, {}).get(asset, ZERO)

    # Market data ----------------------------------------------------------------------------------
    def on_ticker(self, t: Ticker) -> None:
        """Record the top of book and fill resting orders the new prices cross."""
        self.on_book(Instrument(t.exchange, t.symbol), t)

    def on_book(self, inst: Instrument, t: Ticker) -> None:
        """``on_ticker`` for a ticker routed to ``inst`` (the engine's key for the market)."""
        self.books[inst] = (t.bid if t.bid is not None else t.last, t.ask if t.ask is not None else t.last)
        resting = self.resting.get(inst)
        if resting:
            self._match(inst, resting)

    def _match(self, inst: Instrument, resting: dict[str, Order]) -> None:
        bid, ask = self.books[inst]
        for order in list(resting.values()):
            price = self._crossing_price(order, bid, ask)
            if price is None:
                continue
            del resting[order.client_order_id]
            self._unlock(order)
            maker = order.type == "limit"
            fill = self._fill(order, price, maker=maker)
            handler = self.handlers.get(order.bot_id)
            if handler is not None:
                handler(OrderUpdate(order.client_order_id, "filled", order.exchange_order_id, [fill]))

    def _crossing_price(self, order: Order, bid: Decimal | None, ask: Decimal | None) -> Decimal | None:
        p = order.price
        assert p is not None
        if order.type == "limit":
            if order.side == "buy" and ask is not None and ask <= p:
                return p
            if order.side == "sell" and bid is not None and bid >= p:
                return p
        elif order.type == "stop":
            if order.side == "buy" and ask is not None and ask >= p:
                return ask * (1 + self.slippage)
            if order.side == "sell" and bid is not None and bid <= p:
                return bid * (1 - self.slippage)
        return None

    # Gateway --------------------------------------------------------------------------------------
    async def submit(self, order: Order) -> OrderUpdate:
        """Fill, rest or reject a new order."""
        return self.execute(order)

    def execute(self, order: Order) -> OrderUpdate:
        """``submit`` without the await: the one fill model, shared by paper trading and backtests."""
        coid = order.client_order_id
        exchange_id = f"paper-{coid}"  # from the client order id: unique across engine restarts
        bid, ask = self.books.get(order.instrument, (None, None))
        opposite = ask if order.side == "buy" else bid
        if order.type == "market":
            if opposite is None:
                return OrderUpdate(coid, "rejected", exchange_id, error="No market price")
            sign = 1 if order.side == "buy" else -1
            price = opposite * (1 + sign * self.slippage)
            if (error := self._check_funds(order, price)):
                return OrderUpdate(coid, "rejected", exchange_id, error=error)
            return OrderUpdate(coid, "filled", exchange_id, [self._fill(order, price, maker=False)])
        if order.price is None or order.price <= 0:
            return OrderUpdate(coid, "rejected", exchange_id, error="A price is required")
        if (error := self._check_funds(order, order.price)):
            return OrderUpdate(coid, "rejected", exchange_id, error=error)
        if order.type == "limit" and opposite is not None and (
                (order.side == "buy" and opposite <= order.price)
                or (order.side == "sell" and opposite >= order.price)):
            return OrderUpdate(coid, "filled", exchange_id, [self._fill(order, opposite, maker=False)])
        order.exchange_order_id = exchange_id
        self._lock(order)
        self.resting.setdefault(order.instrument, {})[coid] = order
        return OrderUpdate(coid, "open", exchange_id)

    async def cancel(self, order: Order) -> OrderUpdate:
        """Cancel a resting order."""
        resting = self.resting.get(order.instrument, {})
        if resting.pop(order.client_order_id, None) is None:
            return OrderUpdate(order.client_order_id, order.status, order.exchange_order_id,
                               error="Order is not open")
        self._unlock(order)
        return OrderUpdate(order.client_order_id, "canceled", order.exchange_order_id)

    async def fetch(self, order: Order) -> OrderUpdate:
        """The paper order's current status (a paper order is never lost)."""
        if order.client_order_id in self.resting.get(order.instrument, {}):
            return OrderUpdate(order.client_order_id, "open", order.exchange_order_id)
        status = order.status if order.status not in ("pending_submit", "submitted", "unknown") else "expired"
        return OrderUpdate(order.client_order_id, status, order.exchange_order_id)

    def _locked(self, order: Order) -> tuple[str, Decimal]:
        """What a resting order holds: the quote it may spend (taker fee included) or the base it sells."""
        base, quote = self.assets[order.bot_id]
        if order.side == "buy":
            assert order.price is not None
            return quote, order.quantity * order.price * (1 + self._rates(order).taker)
        return base, order.quantity

    def _lock(self, order: Order) -> None:
        asset, held = self._locked(order)
        balances = self.balances[order.bot_id]
        balances[asset] = balances.get(asset, ZERO) - held

    def _unlock(self, order: Order) -> None:
        asset, held = self._locked(order)
        balances = self.balances[order.bot_id]
        balances[asset] = balances.get(asset, ZERO) + held

    def _check_funds(self, order: Order, price: Decimal) -> str:
        base, quote = self.assets[order.bot_id]
        balances = self.balances[order.bot_id]
        if order.side == "buy":
            need = order.quantity * price * (1 + self._rates(order).taker)
            if need > balances.get(quote, ZERO):
                return f"Insufficient {quote} balance"
        elif order.quantity > balances.get(base, ZERO):
            return f"Insufficient {base} balance"
        return ""

    def _rates(self, order: Order) -> Fees:
        return fees_for(self.fees, order.instrument.exchange)

    def _fill(self, order: Order, price: Decimal, *, maker: bool) -> Fill:
        base, quote = self.assets[order.bot_id]
        rates = self._rates(order)
        price = amount(price)
        notional = order.quantity * price
        fee = amount(notional * (rates.maker if maker else rates.taker))
        balances = self.balances[order.bot_id]
        if order.side == "buy":
            balances[quote] = balances.get(quote, ZERO) - notional - fee
            balances[base] = balances.get(base, ZERO) + order.quantity
        else:
            balances[quote] = balances.get(quote, ZERO) + notional - fee
            balances[base] = balances.get(base, ZERO) - order.quantity
        return Fill(order.client_order_id, f"pt-{order.client_order_id}", order.side, price, order.quantity, fee,
                    quote, self.clock.now(), is_maker=maker)
