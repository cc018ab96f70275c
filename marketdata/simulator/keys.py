"""Fresh API keys in each simulated venue's own form, for demos and tests: Binance an HMAC key and
secret, Coinbase a key name and an EC private key (ES256 JWTs), Kraken a key and a base64 secret."""

from __future__ import annotations

import base64
import secrets

from .coinbase_auth import generate_key


def new_key(venue: str, prefix: str = "sim") -> tuple[str, str]:
    """(api key, secret) for ``venue`` ("binance", "coinbase", "kraken")."""
    if venue == "coinbase":
        return generate_key(prefix)
    if venue == "kraken":
        return f"{prefix}-{secrets.token_hex(8)}", base64.b64encode(secrets.token_bytes(64)).decode()
    return f"{prefix}-{secrets.token_hex(16)}", secrets.token_hex(32)
