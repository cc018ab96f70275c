"""Path converters shared by the portal's URLs and WebSocket routes."""

from __future__ import annotations

from django.urls import register_converter


class IdConverter:
    """A database id in a path: 1 to 18 ASCII digits. ``<int:>`` takes any length, and an id past
    the 64-bit range fails in the database driver (a 500) instead of giving a 404."""

    regex = "[0-9]{1,18}"

    def to_python(self, value: str) -> int:
        return int(value)

    def to_url(self, value: int) -> str:
        return str(int(value))


register_converter(IdConverter, "id")
