"""The one ownership gate's building block, shared by every owned model (``bots.models`` re-exports it)."""

from __future__ import annotations

from django.db import models


class OwnedQuerySet(models.QuerySet):
    """Rows scoped to a user: the one ownership gate's building block."""

    owner_path = "owner"

    def for_user(self, user: object) -> OwnedQuerySet:
        if not getattr(user, "is_authenticated", False):
            return self.none()
        return self.filter(**{self.owner_path: user})
