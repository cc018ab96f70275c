"""Model fields of the bots app: encrypted secrets at rest (and AmountField, defined once)."""

from __future__ import annotations

from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.db import models

from marketdata.fields import AmountField

__all__ = ["AmountField", "EncryptedTextField", "fernet"]

_PREFIX = "fernet:"


def fernet() -> MultiFernet:
    """The Fernet keys from settings; the first encrypts, all decrypt (key rotation)."""
    keys = [k.strip() for k in settings.FIELD_ENCRYPTION_KEY.split(",") if k.strip()]
    return MultiFernet([Fernet(k.encode()) for k in keys])


class EncryptedTextField(models.TextField):
    """Text encrypted with Fernet before it reaches the database; decrypted on load."""

    def get_prep_value(self, value: Any) -> str | None:
        value = super().get_prep_value(value)
        if value is None or value == "":
            return value
        return _PREFIX + fernet().encrypt(value.encode()).decode()

    def from_db_value(self, value: Any, expression: Any, connection: Any) -> str | None:
        if value is None or value == "":
            return value
        if not value.startswith(_PREFIX):
            raise ValueError("An encrypted column holds a value that was not encrypted.")
        try:
            return fernet().decrypt(value[len(_PREFIX):].encode()).decode()
        except InvalidToken as exc:
            raise ValueError("Cannot decrypt a secret: FIELD_ENCRYPTION_KEY does not match.") from exc
