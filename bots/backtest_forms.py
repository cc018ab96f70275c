"""Forms of the backtest pages: one backtest (a strategy and its parameters, or a bot's settings) and
a sweep (parameter ranges, an in-sample range and an optional out-of-sample one)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django import forms

from bots.engine.strategies import STRATEGIES, ParamsError, validate_params
from bots.forms import MIRRORED_PARAMS, StrategyParamsMixin, param_field_name
from marketdata.klines import INTERVAL_MS
from marketdata.models import Market

MAX_SETS = 500
RISK_FIELDS = {"order_size": "order_size", "quantity": "order_quantity", "stop_loss_pct": "stop_loss_pct",
               "take_profit_pct": "take_profit_pct", "trailing_stop_pct": "trailing_stop_pct",
               "max_daily_loss": "max_daily_loss", "max_position": "max_position"}


def _when(label: str) -> forms.DateTimeField:
    return forms.DateTimeField(label=label, required=False, help_text="UTC, e.g. 2026-01-01 00:00",
                               widget=forms.DateTimeInput(attrs={"type": "text", "placeholder": "2026-01-01 00:00"}))


def _amount(label: str, help_text: str = "") -> forms.DecimalField:
    return forms.DecimalField(label=label, required=False, min_value=Decimal("0.00000001"), max_digits=28,
                              decimal_places=12, help_text=help_text)


class _Common(forms.Form):
    """What a backtest and a sweep share: strategy, market and range, money and risk."""

    strategy = forms.ChoiceField(choices=[(n, c.title) for n, c in STRATEGIES.items()])
    market = forms.ModelChoiceField(queryset=Market.objects.active().select_related("exchange"))
    timeframe = forms.ChoiceField(choices=[(k, k) for k in INTERVAL_MS], initial="1m",
                                  help_text="of the stored candles")
    since = _when("From")
    until = _when("Until")
    capital = forms.DecimalField(min_value=Decimal("0.01"), max_digits=28, decimal_places=12, initial=Decimal(1000))
    order_size = _amount("Order size", "quote per entry; empty: all the capital")
    quantity = _amount("Fixed quantity", "base per entry, instead of the order size")
    stop_loss_pct = _amount("Stop-loss %")
    take_profit_pct = _amount("Take-profit %")
    trailing_stop_pct = _amount("Trailing stop %")
    max_daily_loss = _amount("Max daily loss", "quote")
    max_position = _amount("Max position", "base")
    slippage_bps = forms.DecimalField(min_value=Decimal(0), max_value=Decimal(1000), initial=Decimal(5),
                                      label="Slippage (bps)")

    def risk(self) -> dict[str, Any]:
        return {target: self.cleaned_data.get(name) for name, target in RISK_FIELDS.items()}

    def check_params(self, data: dict[str, Any], raw: dict[str, Any]) -> dict[str, Any]:
        """The strategy's validated parameters; each error lands on its parameter's input."""
        strategy = data.get("strategy")
        if not strategy:
            return raw
        try:
            return validate_params(strategy, raw)
        except ParamsError as exc:
            for name, errors in exc.errors.items():
                field = MIRRORED_PARAMS.get((strategy, name)) or param_field_name(strategy, name)
                self.add_error(field if field in self.fields else None, errors)
        return raw

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        since, until = data.get("since"), data.get("until")
        if since and until and until <= since:
            self.add_error("until", "Must be after the start.")
        return data


class BacktestForm(StrategyParamsMixin, _Common):
    """One backtest: the strategy's parameters as one input each, built from its schema."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.add_param_fields()

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        data["params"] = self.check_params(data, self.raw_params(data))
        return data


def span(name: str, lo: Decimal, hi: Decimal, step: Decimal) -> list[Any]:
    """``lo``, ``lo + step``, ... up to ``hi``; ValueError for an empty or oversized range."""
    if step <= 0 or hi < lo or (hi - lo) / step > MAX_SETS:
        raise ValueError(f"Bad range for {name}.")
    values: list[Any] = []
    v = lo
    while v <= hi:
        values.append(int(v) if v == v.to_integral_value() else str(v))
        v += step
    return values


def parse_ranges(text: str) -> dict[str, list[Any]]:
    """``name = 5, 10, 15`` or ``name = 5..20 step 5`` per line -> {name: values}; ValueError otherwise."""
    ranges: dict[str, list[Any]] = {}
    for raw in text.splitlines():
        line = raw.strip()
        if not line:
            continue
        name, sep, spec = line.partition("=")
        name = name.strip()
        if not sep or not name:
            raise ValueError(f"Write each line as name = values: {line!r}")
        spec = spec.strip()
        if ".." in spec:
            lo_text, _, rest = spec.partition("..")
            hi_text, _, step_text = rest.partition("step")
            values = span(name, Decimal(lo_text.strip()), Decimal(hi_text.strip()), Decimal(step_text.strip() or "1"))
        else:
            values = [int(v) if v.lstrip("-").isdigit() else v for v in (x.strip() for x in spec.split(",")) if v]
        if not values:
            raise ValueError(f"No values for {name}.")
        ranges[name] = values
    return ranges


class SweepForm(StrategyParamsMixin, _Common):
    """A grid: from/to/step for the numeric parameters (built from the strategy's schema), a list of
    values for any parameter, the strategy's other inputs fixed for every set."""

    ranges = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), required=False, label="Lists of values",
                             help_text="one parameter a line, e.g. average = sma, ema (or fast_period = 5..20 step 5)")
    oos_since = _when("Out-of-sample from")
    oos_until = _when("Out-of-sample until")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.add_param_fields()
        self.range_fields: dict[str, tuple[str, str, str]] = {}  # param field -> its from/to/step fields
        for strategy, cls in STRATEGIES.items():
            for p in cls.params:
                name = param_field_name(strategy, p.name)
                if p.kind not in ("int", "decimal") or name not in self.fields:
                    continue
                parts = tuple(f"{name}-{part}" for part in ("from", "to", "step"))
                for part, label in zip(parts, ("from", "to", "step"), strict=True):
                    self.fields[part] = forms.DecimalField(
                        label=f"{self.fields[name].label} {label}", required=False, max_digits=28, decimal_places=12,
                        widget=forms.NumberInput(attrs={"step": "any", "class": "range-part"}))
                self.range_fields[name] = parts  # type: ignore[assignment]

    def sweep_groups(self) -> list[dict[str, Any]]:
        """For the template: each strategy's inputs, a numeric one with its from/to/step beside it."""
        groups = self.param_groups_bound()
        for g in groups:
            g["items"] = [(f, [self[n] for n in self.range_fields.get(f.name, ())]) for f in g["fields"]]
        return groups

    def _schema_ranges(self, data: dict[str, Any]) -> dict[str, list[Any]]:
        strategy, ranges = data.get("strategy"), {}
        for p in STRATEGIES[strategy].params if strategy else ():
            parts = self.range_fields.get(param_field_name(strategy, p.name))
            lo, hi, step = (data.get(n) for n in parts) if parts else (None, None, None)
            if lo is None and hi is None:
                continue
            try:
                ranges[p.name] = span(p.name, lo if lo is not None else hi, hi if hi is not None else lo,
                                      step or Decimal(1))
            except ValueError as exc:
                self.add_error(parts[0], str(exc))
        return ranges

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        try:
            data["ranges"] = {**self._schema_ranges(data), **parse_ranges(data.get("ranges") or "")}
        except (ValueError, ArithmeticError) as exc:
            self.add_error("ranges", str(exc))
            return data
        if not data["ranges"]:
            self.add_error(None, "Give at least one parameter a range (from, to, step) or a list of values.")
        strategy = data.get("strategy")
        known = {p.name for p in STRATEGIES[strategy].params} if strategy else set()
        unknown = sorted(set(data["ranges"]) - known)
        if unknown:
            self.add_error("ranges", f"Not a parameter of {strategy}: {', '.join(unknown)}.")
        data["base_params"] = self.raw_params(data, skip=tuple(data["ranges"]))
        total = 1
        for values in data["ranges"].values():
            total *= len(values)
        if total > MAX_SETS:
            self.add_error("ranges", f"{total} parameter sets: at most {MAX_SETS}.")
        if data.get("oos_since") and (data.get("until") is None or data["oos_since"] < data["until"]):
            self.add_error("oos_since", "Give the in-sample range an end, and start the out-of-sample range after it.")
        return data
