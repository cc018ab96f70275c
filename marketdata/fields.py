"""AmountField: the one Decimal column definition for prices, quantities and money.

PostgreSQL stores it as ``numeric(28, 12)``: exact. SQLite's NUMERIC affinity keeps only 15
significant digits (it goes through a REAL), so there the column is TEXT holding the canonical
decimal string (``decimal_text``: no exponent, no trailing zeros, zero as ``0``): exact for every value, and
comparisons with zero in CHECK constraints still hold. Range filters and ORDER BY on an amount are
exact only on PostgreSQL; the platform does its amount arithmetic in Python with ``Decimal``.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

from django import forms
from django.core import validators
from django.core.exceptions import ValidationError
from django.db import models

from marketdata.feeds.serialize import decimal_text

MAX_DIGITS = 28
DECIMAL_PLACES = 12


def to_decimal(value: Any) -> Decimal:
    """Strictly convert wire or form input to a finite Decimal; never via float."""
    if isinstance(value, Decimal):
        result = value
    elif isinstance(value, bool):
        raise ValidationError("Expected a decimal amount, got a boolean.")
    elif isinstance(value, int | str):
        try:
            result = Decimal(str(value).strip())
        except InvalidOperation as exc:
            raise ValidationError(f"{value!r} is not a decimal amount.") from exc
    elif isinstance(value, float):
        raise ValidationError("Amounts must not be floats; pass a Decimal or a string.")
    else:
        raise ValidationError(f"{value!r} is not a decimal amount.")
    if not result.is_finite():
        raise ValidationError("Amounts must be finite (no NaN or infinity).")
    return result


class AmountField(models.Field):
    """An exact decimal amount (28 digits, 12 decimal places) on PostgreSQL and SQLite."""

    description = "Exact decimal amount"

    def __init__(self, *args: Any, max_digits: int = MAX_DIGITS, decimal_places: int = DECIMAL_PLACES,
                 **kwargs: Any) -> None:
        self.max_digits = max_digits
        self.decimal_places = decimal_places
        super().__init__(*args, **kwargs)
        self.validators.append(validators.DecimalValidator(max_digits, decimal_places))

    def deconstruct(self) -> tuple:
        name, path, args, kwargs = super().deconstruct()
        if self.max_digits != MAX_DIGITS:
            kwargs["max_digits"] = self.max_digits
        if self.decimal_places != DECIMAL_PLACES:
            kwargs["decimal_places"] = self.decimal_places
        return name, path, args, kwargs

    def db_type(self, connection: Any) -> str:
        if connection.vendor == "sqlite":
            return "text"
        return f"numeric({self.max_digits}, {self.decimal_places})"

    def to_python(self, value: Any) -> Decimal | None:
        if value is None or value == "":
            return None
        return to_decimal(value)

    def get_prep_value(self, value: Any) -> Decimal | None:
        value = super().get_prep_value(value)
        if value is None:
            return None
        return to_decimal(value)

    def get_db_prep_value(self, value: Any, connection: Any, prepared: bool = False) -> Any:
        if not prepared:
            value = self.get_prep_value(value)
        if value is None:
            return None
        if connection.vendor == "sqlite":
            return decimal_text(value)
        return value

    def from_db_value(self, value: Any, expression: Any, connection: Any) -> Decimal | None:
        if value is None:
            return None
        if isinstance(value, float):  # an SQL aggregate over the text column on SQLite
            return Decimal(repr(value))
        return value if isinstance(value, Decimal) else Decimal(str(value))

    def formfield(self, **kwargs: Any) -> forms.Field:
        defaults = {
            "form_class": forms.DecimalField,
            "max_digits": self.max_digits,
            "decimal_places": self.decimal_places,
        }
        defaults.update(kwargs)
        return super().formfield(**defaults)
