"""Coinbase Advanced Trade API keys: an ES256 JWT per request, signed with the key's EC (P-256) private key.

What the simulator checks, as Coinbase does (and as ccxt's ``create_auth_token`` builds it): the header
``alg`` is ES256 and ``kid`` names a known key; the signature (raw r || s, 64 bytes) verifies with the
key's public key; ``sub`` is the key name, ``iss`` is ``cdp`` or ``coinbase-cloud``; ``nbf`` is not in
the future and ``exp`` (ccxt: ``nbf`` + 120 s) not in the past by the exchange clock; ``uri`` is the
request's ``METHOD host/path`` (ccxt strips only ``https://``, so over plain HTTP ``http://`` may lead).
Any failure answers HTTP 401 ``Unauthorized``, as Coinbase does.
"""

from __future__ import annotations

import base64
import binascii
import json
import uuid
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

NBF_SKEW_S = 5  # tolerate a client clock this far ahead before calling a token "not yet valid"


class Unauthorized(Exception):
    """The request's bearer token does not authenticate it."""


def generate_key(organization: str = "sim-org") -> tuple[str, str]:
    """A new (key name, EC private key PEM) pair, shaped like a Coinbase Developer Platform key."""
    private = ec.generate_private_key(ec.SECP256R1())
    pem = private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
                                serialization.NoEncryption()).decode()
    return f"organizations/{organization}/apiKeys/{uuid.uuid4()}", pem


def public_key(pem: str) -> ec.EllipticCurvePublicKey:
    """The public half of a PEM EC private key (the simulator keeps only what verifies)."""
    private = serialization.load_pem_private_key(pem.encode(), password=None)
    if not isinstance(private, ec.EllipticCurvePrivateKey):
        raise ValueError("a Coinbase key is an EC private key")
    return private.public_key()


def _b64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def verify_token(header_value: str, keys: dict[str, Any], method: str, host: str, path: str,
                 now_s: float) -> str:
    """Check an ``Authorization: Bearer <jwt>`` header; return the key name it authenticates.

    ``keys`` maps key names to their public keys.
    """
    if not header_value.startswith("Bearer "):
        raise Unauthorized("no bearer token")
    parts = header_value[7:].strip().split(".")
    if len(parts) != 3:
        raise Unauthorized("malformed token")
    try:
        header = json.loads(_b64url(parts[0]))
        claims = json.loads(_b64url(parts[1]))
        raw = _b64url(parts[2])
    except (ValueError, binascii.Error) as exc:
        raise Unauthorized("malformed token") from exc
    if not isinstance(header, dict) or not isinstance(claims, dict) or header.get("alg") != "ES256":
        raise Unauthorized("unsupported algorithm")
    name = header.get("kid")
    verifier = keys.get(name) if isinstance(name, str) else None
    if verifier is None or len(raw) != 64:
        raise Unauthorized("unknown key")
    signature = encode_dss_signature(int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big"))
    try:
        verifier.verify(signature, f"{parts[0]}.{parts[1]}".encode(), ec.ECDSA(hashes.SHA256()))
    except InvalidSignature as exc:
        raise Unauthorized("bad signature") from exc
    if claims.get("sub") != name or claims.get("iss") not in ("cdp", "coinbase-cloud"):
        raise Unauthorized("wrong subject or issuer")
    nbf, exp = claims.get("nbf"), claims.get("exp")
    if not isinstance(nbf, int | float) or not isinstance(exp, int | float):
        raise Unauthorized("no validity window")
    if nbf > now_s + NBF_SKEW_S or exp <= now_s:
        raise Unauthorized("token expired or not yet valid")
    uri = claims.get("uri")
    if uri not in (f"{method} {host}{path}", f"{method} http://{host}{path}"):
        raise Unauthorized("token was made for another request")
    return str(name)
