"""The errors every WebSocket transport raises (their own module, so transports import no factory)."""


class TransportClosed(Exception):
    """The socket closed (cleanly or not)."""


class HandshakeFailed(TransportClosed):
    """The server did not upgrade the connection to a WebSocket (for example HTTP 503)."""
