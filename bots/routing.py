"""WebSocket routes (the portal's live-update consumers)."""

from django.urls import path, re_path

from marketdata.consumers import FeedHealthConsumer, MarketPriceConsumer

from . import converters  # noqa: F401  (registers <id:...>)
from .consumers import BotConsumer, LiveConsumer, UnknownSocketConsumer

websocket_urlpatterns: list = [
    path("ws/live/", LiveConsumer.as_asgi()),
    path("ws/bots/<id:bot_id>/", BotConsumer.as_asgi()),
    path("ws/market/", FeedHealthConsumer.as_asgi()),
    path("ws/market/<str:exchange>/<str:symbol>/", MarketPriceConsumer.as_asgi()),
    re_path(r"^ws/", UnknownSocketConsumer.as_asgi()),  # last: everything else is refused with a code
]
