"""WebSocket routes (the portal's live-update consumers)."""

websocket_urlpatterns: list = []
