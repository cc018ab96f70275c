"""The web shell's guards: WebSocket origins, query-string size, the Content-Security-Policy, and a
clear answer from daphne (Twisted) when a request line is too long.

Wiring only: each piece reads its numbers from settings (see the "Portal hardening" block).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from channels.security.websocket import OriginValidator
from django.conf import settings
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest
from django.template.loader import render_to_string


class SettingsOriginValidator(OriginValidator):
    """Channels' origin check against ``settings.WEBSOCKET_ALLOWED_ORIGINS``, read per handshake
    (so ``run --host`` and tests can change it). A missing or ``null`` Origin is refused: browsers
    always send one, and ``null`` is what a sandboxed frame or a file page sends."""

    def __init__(self, application: Any) -> None:
        super().__init__(application, [])

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> Any:
        self.allowed_origins = list(settings.WEBSOCKET_ALLOWED_ORIGINS)
        return await super().__call__(scope, receive, send)

    def valid_origin(self, parsed_origin: Any) -> bool:
        if parsed_origin is None or not parsed_origin.hostname:  # no Origin, or "null"
            return False
        return super().valid_origin(parsed_origin)


class BadRequestMiddleware:
    """Clear answers to malformed requests, not 500s.

    - 414 with a page saying why, for a query string longer than ``MAX_QUERY_STRING_BYTES``: no page
      here takes more than a few short filters, and a huge one only costs parsing time.
    - 400 when a number from the request overflows the database driver (``OverflowError``): the
      portal's own parameters are bounded by forms and converters, but the admin's list filters
      (``?bot=<60 digits>``) pass straight to the ORM."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if len(request.META.get("QUERY_STRING", "")) > settings.MAX_QUERY_STRING_BYTES:
            body = render_to_string("errors/414.html", {"limit": settings.MAX_QUERY_STRING_BYTES}, request=None)
            return HttpResponse(body, status=414)
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if isinstance(exception, OverflowError):
            return HttpResponseBadRequest(render_to_string("400.html", request=None))
        return None


class ContentSecurityPolicyMiddleware:
    """Adds ``settings.CONTENT_SECURITY_POLICY`` to every HTML response: scripts, styles, images and
    fonts from our own origin only, no inline script, WebSockets back to the page's host only.
    (Django 5.2 has no built-in CSP; this is the whole of what the portal needs.)"""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        policy = settings.CONTENT_SECURITY_POLICY
        if policy and "Content-Security-Policy" not in response:
            # connect-src names the page's own ws(s):// origin: older browsers do not let 'self' cover it.
            host = request.get_host() if request.META.get("HTTP_HOST") else ""
            scheme = "wss" if request.is_secure() else "ws"
            sockets = f" {scheme}://{host}" if host else ""
            response["Content-Security-Policy"] = policy.replace("{sockets}", sockets)
        return response


def answer_long_request_lines() -> None:
    """Make daphne's HTTP parser answer a request line or header over its 16 KB line limit with
    ``414 URI Too Long`` (or ``431``) instead of silently dropping the connection (Twisted's default
    for ``LineReceiver``). Applied when the ASGI application is imported, so ``daphne`` and ``run``
    both get it."""
    from twisted.web import http

    if getattr(http.HTTPChannel, "_portal_line_limit", False):
        return

    def line_length_exceeded(self: Any, line: bytes) -> None:
        first = getattr(self, "_HTTPChannel__first_line", 1)
        status = b"414 URI Too Long" if first else b"431 Request Header Fields Too Large"
        body = b"The request line is too long." if first else b"A request header is too long."
        self.transport.write(b"HTTP/1.1 " + status + b"\r\nContent-Type: text/plain\r\nConnection: close\r\n"
                             + b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body)
        self.loseConnection()

    http.HTTPChannel.lineLengthExceeded = line_length_exceeded
    http.HTTPChannel._portal_line_limit = True
