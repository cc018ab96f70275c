"""Loopback exchange simulator (pure: imports nothing from the rest of the project)."""

from .server import Simulator, VenueUrls

__all__ = ["Simulator", "VenueUrls"]
