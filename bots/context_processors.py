"""Template context shared by every portal page."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from django.utils.functional import SimpleLazyObject

from .models import Discrepancy


def discrepancies(request: HttpRequest) -> dict[str, Any]:
    """The user's unresolved reconciliation findings, counted only if a template shows them."""
    user = request.user
    return {"open_discrepancies": SimpleLazyObject(lambda: Discrepancy.objects.for_user(user).unresolved().count())}
