"""The sandbox bank's signing scheme: HMAC-SHA256, hex, timestamped like Stripe's.

Redirect parameters are signed over ``k=v`` pairs sorted by key and joined by
``&``; callbacks over ``"{t}.{raw body}"`` and sent as
``X-Sandbox-Signature: t=<unix seconds>,v1=<hex>``.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Mapping

SIGNATURE_HEADER = "X-Sandbox-Signature"
TOLERANCE_SECONDS = 300


class BadSignature(ValueError):
    """Missing, malformed, stale or wrong signature."""


def _hmac(secret: str, message: bytes) -> str:
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def canonical(params: Mapping[str, str]) -> bytes:
    """Return the signed form of redirect parameters (every key but ``sig``)."""
    return "&".join(f"{k}={params[k]}" for k in sorted(params) if k != "sig").encode()


def sign_params(secret: str, params: Mapping[str, str]) -> str:
    """Return the ``sig`` for redirect parameters."""
    return _hmac(secret, canonical(params))


def verify_params(secret: str, params: Mapping[str, str]) -> None:
    """Raise :class:`BadSignature` unless ``params['sig']`` signs the other parameters."""
    if not secret:
        raise BadSignature("no secret configured")
    if not hmac.compare_digest(params.get("sig", ""), sign_params(secret, params)):
        raise BadSignature("signature does not match")


def sign_body(secret: str, body: bytes, timestamp: int | None = None) -> str:
    """Return the callback signature header value for ``body``."""
    t = int(time.time()) if timestamp is None else timestamp
    return f"t={t},v1={_hmac(secret, f'{t}.'.encode() + body)}"


def verify_body(secret: str, body: bytes, header: str, now: float | None = None) -> None:
    """Raise :class:`BadSignature` unless ``header`` signs ``body`` within the tolerance."""
    # An empty secret would verify against an empty key, which anyone can forge.
    if not secret:
        raise BadSignature("no secret configured")
    parts = dict(p.split("=", 1) for p in header.split(",") if "=" in p)
    try:
        t = int(parts["t"])
        given = parts["v1"]
    except (KeyError, ValueError):
        raise BadSignature("malformed signature header") from None
    if abs((time.time() if now is None else now) - t) > TOLERANCE_SECONDS:
        raise BadSignature("signature timestamp outside tolerance")
    if not hmac.compare_digest(given, _hmac(secret, f"{t}.".encode() + body)):
        raise BadSignature("signature does not match")
