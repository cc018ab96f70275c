"""A tiny shared async HTTP GET for the venues' public REST endpoints (aiohttp, bounded by a timeout)."""

from __future__ import annotations

import aiohttp

from marketdata.exchanges.base import ParseError


class PublicHttp:
    """GETs relative paths under a base URL; one aiohttp session, created on first use."""

    def __init__(self, base_url: str, timeout: float = 10.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = aiohttp.ClientTimeout(total=timeout)
        self._session: aiohttp.ClientSession | None = None

    async def get(self, path: str, params: dict[str, str] | None = None) -> bytes:
        """The body of a 200 reply; anything else raises ``ParseError`` with the status."""
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(timeout=self.timeout)
        async with self._session.get(self.base_url + path, params=params) as resp:
            body = await resp.read()
            if resp.status != 200:
                raise ParseError(f"GET {path} -> HTTP {resp.status}: {body[:200]!r}")
            return body

    async def close(self) -> None:
        """Close the HTTP session."""
        if self._session is not None:
            await self._session.close()
            self._session = None
