"""ASGI entry point: HTTP through Django, WebSockets through Channels (session auth + origin check)."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "botplatform.settings")
django_asgi_app = get_asgi_application()

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402

from botplatform.security import SettingsOriginValidator, answer_long_request_lines  # noqa: E402
from bots.routing import websocket_urlpatterns  # noqa: E402

answer_long_request_lines()  # 414, not a dropped connection, for a request line over 16 KB

application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        "websocket": SettingsOriginValidator(AuthMiddlewareStack(URLRouter(websocket_urlpatterns))),
    }
)
