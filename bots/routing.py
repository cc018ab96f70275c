"""WebSocket routes (the portal's live-update consumers)."""

from django.urls import path

from marketdata.consumers import FeedHealthConsumer, MarketPriceConsumer

from .consumers import BotConsumer, LiveConsumer

websocket_urlpatterns: list = [
    path("ws/live/", LiveConsumer.as_asgi()),
    path("ws/bots/<int:bot_id>/", BotConsumer.as_asgi()),
    path("ws/market/", FeedHealthConsumer.as_asgi()),
    path("ws/market/<str:exchange>/<str:symbol>/", MarketPriceConsumer.as_asgi()),
]
